// A compressed recording syncs like any other and another device plays it: the Firebase Auth and
// Storage emulators on 127.0.0.1 (run this file under the shared lock: flock /tmp/tapesync-e2e.lock),
// two browser contexts (two devices with their own storage) in Debian's Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useCloud, setup, listObjects } from "./cloud.mjs";

const env = useCloud();

async function withKit(page) {
  await page.evaluate(async () => {
    window.compressKit = await import("/tests/js/pages/compress-kit.js");
  });
}

test("WAV saved as FLAC and as Opus on one device syncs; the other device pulls the same bytes, decodes and plays them", async () => {
  const a = await setup(env());
  await withKit(a.page);
  const sent = await a.page.evaluate(async (cloud) => {
    const k = compressKit;
    const store = await kit.device(tapesync, "phone");
    const pcm = k.signal({ seconds: 5, sampleRate: 44100, channels: 1, seed: 11 });
    const wav = k.wav(pcm, 44100, "i16");
    const flac = await store.save(wav, { id: "lossless", name: "FLAC take", compress: "flac" });
    const opus = await store.save(wav, { id: "speech", name: "Opus take", compress: "opus" });
    const result = await store.sync(kit.remote(tapesync, cloud));
    return {
      outcome: result.outcome.kind, wavSize: wav.size,
      flac: { size: flac.size, hash: await kit.digest(await store.getBlob("lossless")) },
      opus: { size: opus.size, hash: await kit.digest(await store.getBlob("speech")) },
    };
  }, a.cloud);
  assert.equal(sent.outcome, "complete");
  const objects = await listObjects(a.user, `users/${a.user.uid}/recordings/`);
  assert.ok(objects.length >= 2, `objects in the bucket: ${objects.join(", ")}`);

  // The other device: its own browser context, the same user.
  const page = await env().page();
  await page.evaluate(async () => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/sync-kit.js");
    window.compressKit = await import("/tests/js/pages/compress-kit.js");
  });
  const got = await page.evaluate(async (cloud) => {
    const k = compressKit;
    const store = await kit.device(tapesync, "laptop");
    const result = await store.sync(kit.remote(tapesync, cloud));
    const out = { outcome: result.outcome.kind, downloaded: result.downloaded };
    for (const id of ["lossless", "speech"]) {
      const rec = await store.get(id);
      const blob = await store.getBlob(id);
      const decoded = await k.decode(blob, 44100);
      out[id] = { mimeType: rec.mimeType, durationMs: rec.durationMs, size: blob.size, type: blob.type,
        hash: await kit.digest(blob), seconds: decoded.duration, played: await k.plays(blob) };
    }
    // The lossless one is the very samples of the WAV.
    const pcm = k.signal({ seconds: 5, sampleRate: 44100, channels: 1, seed: 11 });
    const orig = await k.decode(k.wav(pcm, 44100, "i16"), 44100);
    out.diff = k.maxDiff(await k.decode(await store.getBlob("lossless"), 44100), orig);
    return out;
  }, a.cloud);
  assert.equal(got.outcome, "complete");
  assert.equal(got.downloaded, 2);
  assert.equal(got.lossless.mimeType, "audio/flac");
  assert.equal(got.lossless.type, "audio/flac");
  assert.equal(got.lossless.hash, sent.flac.hash, "the FLAC bytes arrived unchanged");
  assert.equal(got.lossless.durationMs, 5000);
  assert.equal(got.diff, 0, "the other device decodes the WAV's samples");
  assert.equal(got.speech.mimeType, "audio/ogg; codecs=opus");
  assert.equal(got.speech.hash, sent.opus.hash, "the Opus bytes arrived unchanged");
  assert.ok(sent.opus.size < sent.wavSize / 10, `opus ${sent.opus.size} of ${sent.wavSize}`);
  for (const id of ["lossless", "speech"]) {
    assert.ok(Math.abs(got[id].seconds - 5) < 0.03, `${id}: decoded ${got[id].seconds} s`);
    assert.ok(Math.abs(got[id].played.duration - 5) < 0.05, `${id}: <audio> duration ${got[id].played.duration}`);
    assert.ok(got[id].played.advanced > 0, `${id}: <audio> played`);
  }
});
