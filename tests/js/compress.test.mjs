// Compression of PCM audio (issue 16) in Debian's Chromium, through the built package as apps use
// it: WAV saved with `compress` comes back as FLAC that decodes (the browser's own decodeAudioData)
// to the same samples, or as Ogg Opus that decodes and plays; broken WAV is refused with nothing
// saved; PCM captures store compressed chunks as they come and survive a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";

let env;
before(async () => {
  env = await launch();
}, { timeout: 120_000 });
after(async () => {
  await env?.close();
});

/** A fresh page (own storage) with the package and the kit loaded. */
async function page() {
  const p = await env.page();
  await p.evaluate(async () => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/compress-kit.js");
  });
  return p;
}

for (const [format, channels, rate] of [["i16", 1, 16000], ["i24", 2, 44100], ["u8", 1, 8000], ["f32", 2, 48000]]) {
  test(`WAV (${format}, ${channels} ch, ${rate} Hz) saved with compress "flac" decodes to the same samples`, async () => {
    const p = await page();
    const r = await p.evaluate(async ({ format, channels, rate }) => {
      const store = await tapesync.RecordingStore.open({ name: "flac" });
      const pcm = kit.signal({ seconds: 3.3, sampleRate: rate, channels });
      const wav = kit.wav(pcm, rate, format);
      const rec = await store.save(wav, { name: "take", compress: "flac" });
      const back = await store.getBlob(rec.id);
      const flac = await kit.decode(back, rate);
      const orig = await kit.decode(wav, rate);
      const listed = await store.get(rec.id);
      return {
        mimeType: rec.mimeType, size: rec.size, blobSize: back.size, blobType: back.type, wavSize: wav.size,
        durationMs: rec.durationMs, listedType: listed.mimeType, compression: rec.compression,
        lengths: [flac.length, orig.length], channels: flac.channels.length,
        diff: kit.maxDiff(flac, orig), count: await store.count(),
        intDiff: format === "f32" ? null : kit.intDiff(flac, await kit.ints(wav, format, channels), { u8: 8, i16: 16, i24: 24 }[format]),
        magic: new TextDecoder().decode(await back.slice(0, 4).arrayBuffer()),
      };
    }, { format, channels, rate });
    assert.equal(r.mimeType, "audio/flac");
    assert.equal(r.listedType, "audio/flac");
    assert.equal(r.blobType, "audio/flac");
    assert.equal(r.magic, "fLaC");
    assert.equal(r.size, r.blobSize);
    assert.equal(r.channels, channels);
    assert.equal(r.lengths[0], r.lengths[1], "same number of samples");
    assert.equal(Math.round(r.durationMs), 3300);
    if (format === "f32") {
      // Floats are stored as 24-bit integers: within half a 24-bit step.
      assert.ok(r.diff <= 1 / (1 << 23), `max difference ${r.diff}`);
    } else {
      // Lossless: the very samples the browser decodes from the WAV, or, where Chromium scales the
      // two formats to floats differently (8-bit), the same integers as in the WAV.
      assert.ok(r.diff === 0 || r.intDiff === 0, `lossless: differences ${r.diff} (float), ${r.intDiff} (integer steps)`);
    }
    assert.ok(r.size < r.wavSize * 0.8, `compressed ${r.size} of ${r.wavSize}`);
    assert.equal(r.compression.format, "flac");
    assert.equal(r.compression.originalSize, r.wavSize);
    assert.equal(r.compression.size, r.size);
    assert.ok(Math.abs(r.compression.ratio - r.size / r.wavSize) < 1e-9);
    assert.equal(r.count, 1);
    await p.context().close();
  });
}

test('WAV saved with compress "opus" is Ogg Opus that decodes to the same length and loudness, and plays', async () => {
  const p = await page();
  const r = await p.evaluate(async () => {
    const store = await tapesync.RecordingStore.open({ name: "opus" });
    const pcm = kit.signal({ seconds: 4, sampleRate: 16000, channels: 1 });
    const wav = kit.wav(pcm, 16000, "i16", "audio/x-wav");
    const rec = await store.save(wav, { compress: { format: "opus", bitrate: 32000 } });
    const back = await store.getBlob(rec.id);
    const opus = await kit.decode(back, 48000);
    const orig = await kit.decode(wav, 48000);
    const played = await kit.plays(back);
    return {
      mimeType: rec.mimeType, size: rec.size, wavSize: wav.size, durationMs: rec.durationMs,
      compression: rec.compression, duration: opus.duration, origDuration: orig.duration,
      rms: [kit.rms(opus, 0, 0.5, 3.5), kit.rms(orig, 0, 0.5, 3.5)], played,
      magic: new TextDecoder().decode(await back.slice(0, 4).arrayBuffer()),
    };
  });
  assert.equal(r.mimeType, "audio/ogg; codecs=opus");
  assert.equal(r.magic, "OggS");
  assert.equal(Math.round(r.durationMs), 4000);
  assert.ok(Math.abs(r.duration - r.origDuration) < 0.03, `decoded ${r.duration} s of ${r.origDuration} s`);
  assert.ok(Math.abs(r.rms[0] / r.rms[1] - 1) < 0.25, `loudness ${r.rms[0]} vs ${r.rms[1]}`);
  // 32 kbit/s for 4 s is ~16 KB (plus Ogg overhead) of a 128 KB WAV.
  assert.ok(r.size < 24_000, `opus ${r.size} bytes`);
  assert.equal(r.compression.format, "opus");
  assert.ok(r.compression.ratio < 0.2);
  assert.ok(Math.abs(r.played.duration - 4) < 0.05, `<audio> duration ${r.played.duration}`);
  assert.ok(r.played.advanced > 0, "<audio> played");
  await p.context().close();
});

test('compress "auto" picks Opus in Chromium; other audio is stored as given; replaceAudio compresses too', async () => {
  const p = await page();
  const r = await p.evaluate(async () => {
    const store = await tapesync.RecordingStore.open({ name: "auto" });
    const wav = kit.wav(kit.signal({ seconds: 2, sampleRate: 48000, channels: 2 }), 48000, "i16", "audio/wave");
    const auto = await store.save(wav, { compress: "auto" });
    const webm = new Blob([new Uint8Array(5000).fill(7)], { type: "audio/webm;codecs=opus" });
    const plain = await store.save(webm, { compress: "auto" });
    const plainBack = await store.getBlob(plain.id);
    const take = kit.wav(kit.signal({ seconds: 1.5, sampleRate: 22050, channels: 1, seed: 3 }), 22050, "i16");
    const replaced = await store.replaceAudio(plain.id, take, { compress: "flac" });
    const replacedBack = await store.getBlob(plain.id);
    const decoded = await kit.decode(replacedBack, 22050);
    const orig = await kit.decode(take, 22050);
    // The size before compression stays in the local metadata, also once the recording was hashed
    // (its sync entry made), and goes when a take that was not compressed replaces it.
    await store.settled();
    const kept = { auto: (await store.get(auto.id)).originalSize, replaced: (await store.get(plain.id)).originalSize };
    const listed = (await store.list()).items.find((x) => x.id === auto.id).originalSize;
    const uncompressed = await store.replaceAudio(auto.id, webm);
    const dropped = (await store.get(auto.id)).originalSize ?? null;
    return {
      kept, listed, wavSize: wav.size, takeSize: take.size, dropped, uncompressed: uncompressed.originalSize ?? null,
      plainOriginal: plain.originalSize ?? null,
      auto: auto.mimeType, plain: plain.mimeType, plainSize: plainBack.size, plainCompression: plain.compression ?? null,
      replaced: replaced.mimeType, replacedDuration: replaced.durationMs, replacedSize: replaced.size,
      replacedBlob: replacedBack.size, diff: kit.maxDiff(decoded, orig), reportFormat: replaced.compression.format,
    };
  });
  assert.equal(r.auto, "audio/ogg; codecs=opus");
  assert.equal(r.plain, "audio/webm;codecs=opus");
  assert.equal(r.plainSize, 5000);
  assert.equal(r.plainCompression, null);
  assert.equal(r.replaced, "audio/flac");
  assert.equal(Math.round(r.replacedDuration), 1500);
  assert.equal(r.replacedSize, r.replacedBlob);
  assert.equal(r.diff, 0);
  assert.equal(r.reportFormat, "flac");
  assert.deepEqual(r.kept, { auto: r.wavSize, replaced: r.takeSize }, "originalSize is kept in the metadata");
  assert.equal(r.listed, r.wavSize);
  assert.equal(r.plainOriginal, null, "audio stored as given has no originalSize");
  assert.equal(r.dropped, null, "an uncompressed take replacing it drops originalSize");
  assert.equal(r.uncompressed, null);
  await p.context().close();
});

test("a truncated or wrong WAV is an InvalidArgument and nothing is saved", async () => {
  const p = await page();
  const r = await p.evaluate(async () => {
    const store = await tapesync.RecordingStore.open({ name: "bad" });
    const good = kit.wav(kit.signal({ seconds: 1, sampleRate: 16000, channels: 1 }), 16000, "i16");
    const cases = {
      truncated: new Blob([await good.slice(0, good.size - 1000).arrayBuffer()], { type: "audio/wav" }),
      headerOnly: new Blob([kit.header("i16", 1, 16000, 0, 32000)], { type: "audio/wav" }),
      notRiff: new Blob([new Uint8Array(4000).fill(65)], { type: "audio/wav" }),
      mulaw: new Blob([(() => { const h = kit.header("i16", 1, 8000, 0); h[20] = 7; return h; })()], { type: "audio/wav" }),
      sixChannels: new Blob([kit.header("i16", 6, 8000, 0)], { type: "audio/wav" }),
    };
    const out = {};
    for (const [name, blob] of Object.entries(cases)) {
      try {
        await store.save(blob, { compress: "flac" });
        out[name] = "saved";
      } catch (e) {
        out[name] = `${e.name}/${e.code}: ${e.message}`;
      }
    }
    let option;
    try {
      await store.save(good, { compress: "mp3" });
    } catch (e) {
      option = `${e.name}/${e.code}`;
    }
    let replace;
    const kept = await store.save(good, { name: "kept" });
    try {
      await store.replaceAudio(kept.id, cases.truncated, { compress: "opus" });
    } catch (e) {
      replace = `${e.code}`;
    }
    const after = await store.getBlob(kept.id);
    return { out, option, replace, count: await store.count(), keptSize: after.size, goodSize: good.size,
      keptType: after.type };
  });
  for (const [name, result] of Object.entries(r.out)) {
    assert.match(result, /^TapesyncError\/InvalidArgument: /, `${name}: ${result}`);
  }
  assert.match(r.out.truncated, /truncated/);
  assert.equal(r.option, "TapesyncError/InvalidArgument");
  assert.equal(r.replace, "InvalidArgument");
  assert.equal(r.count, 1, "only the recording saved without compression");
  assert.equal(r.keptSize, r.goodSize, "the failed replaceAudio left the audio as it was");
  assert.equal(r.keptType, "audio/wav");
  await p.context().close();
});

test("a PCM capture stores FLAC as it goes, survives a reload, and finishes to the same samples", async () => {
  const p = await page();
  const rate = 48000;
  const r = await p.evaluate(async (rate) => {
    const store = await tapesync.RecordingStore.open({ name: "pcm" });
    const pcm = kit.signal({ seconds: 3, sampleRate: rate, channels: 1, seed: 5 });
    const cap = await store.startCapture({ mimeType: "audio/pcm", sampleRate: rate, channels: 1, name: "live" });
    // As an AudioWorklet gives them: 128 frames, [Float32Array] per call, not awaited.
    const worklet = new Float32Array(128);
    const appends = [];
    for (let at = 0; at < pcm[0].length; at += 128) {
      worklet.set(pcm[0].subarray(at, at + 128));
      appends.push(cap.append([worklet.subarray(0, Math.min(128, pcm[0].length - at))]));
    }
    await Promise.all(appends);
    const stored = (await store.listCaptures())[0].info;
    const rec = await cap.finish();
    const back = await store.getBlob(rec.id);
    const decoded = await kit.decode(back, rate);
    // The reference: the same floats as 24-bit integers, as FLAC stores them.
    const expected = pcm[0].map((v) => Math.round(v * 8388608) / 8388608);
    let diff = 0;
    for (let i = 0; i < expected.length; i++) diff = Math.max(diff, Math.abs(decoded.channels[0][i] - expected[i]));
    return { mimeType: rec.mimeType, infoType: stored.mimeType, chunks: stored.chunks, durationMs: rec.durationMs,
      length: decoded.length, expected: expected.length, diff, name: rec.name };
  }, rate);
  assert.equal(r.mimeType, "audio/flac");
  assert.equal(r.infoType, "audio/flac");
  // About one stored chunk a second, not one per 128-frame append.
  assert.ok(r.chunks >= 2 && r.chunks <= 4, `${r.chunks} chunks stored`);
  assert.equal(r.length, r.expected);
  assert.ok(r.diff < 1e-6, `max difference ${r.diff}`);
  assert.equal(r.durationMs, 3000);
  assert.equal(r.name, "live");

  // A tab that dies mid-recording: what was stored before is a playable FLAC.
  await p.evaluate(async (rate) => {
    const store = await tapesync.RecordingStore.open({ name: "pcm-crash" });
    const pcm = kit.signal({ seconds: 2.5, sampleRate: rate, channels: 2, seed: 6 });
    const cap = await store.startCapture({ mimeType: "audio/pcm", sampleRate: rate, channels: 2 });
    for (let at = 0; at < pcm[0].length; at += 4800) {
      await cap.append([pcm[0].subarray(at, at + 4800), pcm[1].subarray(at, at + 4800)]);
    }
  }, rate);
  await p.reload();
  const after = await p.evaluate(async (rate) => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/compress-kit.js");
    const store = await tapesync.RecordingStore.open({ name: "pcm-crash" });
    const [cap] = await store.listCaptures();
    const rec = await cap.finish({ durationMs: 2000 });
    const decoded = await kit.decode(await store.getBlob(rec.id), rate);
    return { mimeType: rec.mimeType, seconds: decoded.length / rate, channels: decoded.channels.length,
      rms: kit.rms(decoded, 1, 0.2, 1.8) };
  }, rate);
  assert.equal(after.mimeType, "audio/flac");
  assert.equal(after.channels, 2);
  // The whole seconds stored before the reload (chunks are about a second each).
  assert.ok(after.seconds >= 1.9 && after.seconds <= 2.5, `${after.seconds} s kept`);
  assert.ok(after.rms > 0.01, "the kept audio is the signal, not silence");
  await p.context().close();
});

test("a PCM capture of Int16Array chunks can be Opus, and its options are checked", async () => {
  const p = await page();
  const r = await p.evaluate(async () => {
    const store = await tapesync.RecordingStore.open({ name: "pcm-opus" });
    const pcm = kit.signal({ seconds: 2, sampleRate: 16000, channels: 1, seed: 8 });
    const cap = await store.startCapture({ mimeType: "audio/pcm", sampleRate: 16000, compress: "opus" });
    for (let at = 0; at < pcm[0].length; at += 1600) {
      const chunk = Int16Array.from(pcm[0].subarray(at, at + 1600), (v) => Math.round(v * 32767));
      await cap.append(chunk);
    }
    const rec = await cap.finish();
    const decoded = await kit.decode(await store.getBlob(rec.id), 48000);
    const errors = {};
    for (const [name, options] of Object.entries({
      noRate: { mimeType: "audio/pcm" },
      noCompress: { mimeType: "audio/pcm", sampleRate: 16000, compress: false },
      rateOnWebm: { mimeType: "audio/webm", sampleRate: 16000 },
      channels: { mimeType: "audio/pcm", sampleRate: 16000, channels: 3 },
    })) {
      try {
        await store.startCapture(options);
        errors[name] = "started";
      } catch (e) {
        errors[name] = e.code;
      }
    }
    const mono = await store.startCapture({ mimeType: "audio/pcm", sampleRate: 8000, channels: 2 });
    try {
      await mono.append(new Float32Array(100));
      errors.stereoFloat = "appended";
    } catch (e) {
      errors.stereoFloat = e.code;
    }
    try {
      await mono.append(new Blob(["x"]));
      errors.blob = "appended";
    } catch (e) {
      errors.blob = e.code;
    }
    await mono.discard();
    return { mimeType: rec.mimeType, durationMs: rec.durationMs, seconds: decoded.duration, errors,
      captures: (await store.listCaptures()).length };
  });
  assert.equal(r.mimeType, "audio/ogg; codecs=opus");
  assert.equal(r.durationMs, 2000);
  assert.ok(Math.abs(r.seconds - 2) < 0.03, `${r.seconds} s decoded`);
  for (const [name, code] of Object.entries(r.errors)) assert.equal(code, "InvalidArgument", name);
  assert.equal(r.captures, 0);
  await p.context().close();
});

test("the encoder module is a separate download, fetched only by the first save that compresses", async () => {
  const p = await env.page();
  const fetched = [];
  p.on("request", (req) => fetched.push(new URL(req.url()).pathname));
  await p.evaluate(async () => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/compress-kit.js");
    const store = await tapesync.RecordingStore.open({ name: "lazy" });
    const wav = kit.wav(kit.signal({ seconds: 0.5, sampleRate: 8000, channels: 1 }), 8000);
    await store.save(wav);
    await store.save(new Blob(["x"], { type: "audio/webm" }), { compress: "auto" });
  });
  assert.deepEqual(fetched.filter((u) => u.includes("/compress/")), [], "nothing of pkg/compress/ before it is needed");
  await p.evaluate(async () => {
    const store = await tapesync.RecordingStore.open({ name: "lazy" });
    await store.save(kit.wav(kit.signal({ seconds: 0.5, sampleRate: 8000, channels: 1 }), 8000), { compress: "flac" });
  });
  const loaded = fetched.filter((u) => u.includes("/compress/"));
  assert.ok(loaded.includes("/pkg/compress/index.js"), loaded.join(", "));
  assert.ok(loaded.includes("/pkg/compress/worker.js"), "the worker was started");
  assert.ok(loaded.includes("/pkg/compress/tapesync_compress_bg.wasm"), "the encoder's wasm");
  const { readFile } = await import("node:fs/promises");
  const base = await readFile(new URL("../../pkg/tapesync_bg.wasm", import.meta.url));
  assert.equal(base.includes(Buffer.from("OpusHead")), false, "no encoder code in the base wasm");
  const dts = await readFile(new URL("../../pkg/tapesync.d.ts", import.meta.url), "utf8");
  assert.match(dts, /compress\?: Compress;/);
  assert.match(dts, /replaceAudio\(id: string, blob: Blob, options\?: ReplaceAudioOptions \| null\): Promise<Recording>;/);
  await p.context().close();
});

test("where no worker can start, encoding runs on the calling thread in short slices", async () => {
  const p = await env.page();
  const r = await p.evaluate(async () => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/compress-kit.js");
    // As in a service worker: no Worker constructor.
    delete window.Worker;
    const store = await tapesync.RecordingStore.open({ name: "inline" });
    const pcm = kit.signal({ seconds: 20, sampleRate: 48000, channels: 1, seed: 4 });
    const wav = kit.wav(pcm, 48000, "i16");
    let worst = 0;
    let ticks = 0;
    let last = performance.now();
    let ticking = true;
    const tick = () => {
      const t = performance.now();
      worst = Math.max(worst, t - last);
      last = t;
      ticks++;
      if (ticking) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const t0 = performance.now();
    const rec = await store.save(wav, { compress: "flac" });
    const total = performance.now() - t0;
    ticking = false;
    const decoded = await kit.decode(await store.getBlob(rec.id), 48000);
    const orig = await kit.decode(wav, 48000);
    return { mimeType: rec.mimeType, worst, total, ticks, diff: kit.maxDiff(decoded, orig), length: decoded.length, expected: orig.length };
  });
  assert.equal(r.mimeType, "audio/flac");
  assert.equal(r.diff, 0);
  assert.equal(r.length, r.expected);
  // 1.9 MB in slices of 128 KiB: the page's timer runs between the slices (about 15 of them). Done in
  // one piece, it would run once or twice. How long the gaps are is a matter of the machine's load,
  // not of the code: the longest task is measured by `make bench` (bench/compress.mjs), not here.
  assert.ok(r.ticks >= 10, `the page's timer ran ${r.ticks} times while encoding (longest gap ${r.worst.toFixed(0)} of ${r.total.toFixed(0)} ms)`);
  await p.context().close();
});

test("in a service worker (static import of tapesync/compress, no Worker) \"auto\" saves FLAC that the page decodes", async () => {
  const p = await env.page();
  const r = await p.evaluate(async () => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/compress-kit.js");
    const reg = await navigator.serviceWorker.register("/tests/js/pages/compress-sw.js", { type: "module", scope: "/tests/js/pages/" });
    await navigator.serviceWorker.ready;
    const worker = reg.active ?? reg.waiting ?? reg.installing;
    const wav = kit.wav(kit.signal({ seconds: 3, sampleRate: 16000, channels: 1, seed: 9 }), 16000, "i16");
    const ask = (compress) => new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (e) => resolve(e.data);
      worker.postMessage({ name: "sw", wav, compress }, [channel.port2]);
    });
    const auto = await ask("auto");
    const opus = await ask("opus");
    const store = await tapesync.RecordingStore.open({ name: "sw" });
    const decoded = auto.rec ? await kit.decode(await store.getBlob(auto.rec.id), 16000) : null;
    const orig = await kit.decode(wav, 16000);
    return { auto, opus, diff: decoded ? kit.maxDiff(decoded, orig) : null, count: await store.count() };
  });
  assert.equal(r.auto.error, undefined, r.auto.error);
  assert.equal(r.auto.rec.mimeType, "audio/flac", "no WebCodecs in a service worker: FLAC");
  assert.equal(r.auto.rec.compression.format, "flac");
  assert.equal(r.diff, 0);
  assert.match(r.opus.error, /^InvalidArgument: /);
  assert.equal(r.count, 1);
  await p.context().close();
});

test("encoding streams: a 3-minute WAV (17 MB) grows the encoder's wasm memory by far less than the file", async () => {
  const p = await page();
  const r = await p.evaluate(async () => {
    // The code the worker runs, on the page, where its wasm memory is visible.
    const enc = await import("/pkg/compress/encoder.js");
    const wasm = await enc.load();
    const second = kit.wav(kit.signal({ seconds: 1, sampleRate: 48000, channels: 1, seed: 2 }), 48000, "i16");
    const body = await second.slice(44).arrayBuffer();
    const wav = new Blob([kit.header("i16", 1, 48000, body.byteLength * 180), ...Array(180).fill(body)], { type: "audio/wav" });
    const before = wasm.memory.buffer.byteLength;
    const out = await enc.transcode(wav, { format: "flac" });
    return { before, after: wasm.memory.buffer.byteLength, wav: wav.size, flac: out.size, durationMs: out.durationMs };
  });
  assert.equal(r.durationMs, 180_000);
  assert.ok(r.flac < r.wav / 2, `${r.flac} of ${r.wav}`);
  assert.ok(r.after - r.before < 8 * 2 ** 20, `wasm memory grew from ${r.before} to ${r.after} bytes`);
  await p.context().close();
});

test("where <audio> plays Opus in WebM but not in Ogg (Safari), Opus is muxed into WebM; where neither, \"auto\" is FLAC", async () => {
  const p = await page();
  const r = await p.evaluate(async () => {
    // As Safari answers: no Ogg. (Only the answer changes: Chromium still decodes and plays both.)
    const real = HTMLMediaElement.prototype.canPlayType;
    let refuse = /ogg/;
    HTMLMediaElement.prototype.canPlayType = function (type) {
      return refuse.test(type) ? "" : real.call(this, type);
    };
    const store = await tapesync.RecordingStore.open({ name: "webm" });
    const wav = kit.wav(kit.signal({ seconds: 3, sampleRate: 24000, channels: 2, seed: 12 }), 24000, "i16");
    const rec = await store.save(wav, { compress: "opus" });
    const blob = await store.getBlob(rec.id);
    const decoded = await kit.decode(blob, 48000);
    const orig = await kit.decode(wav, 48000);
    const played = await kit.plays(blob);
    const cap = await store.startCapture({ mimeType: "audio/pcm", sampleRate: 16000, compress: "auto" });
    const pcm = kit.signal({ seconds: 2.5, sampleRate: 16000, channels: 1, seed: 13 });
    for (let at = 0; at < pcm[0].length; at += 800) await cap.append(pcm[0].subarray(at, at + 800));
    const captured = await cap.finish();
    const capDecoded = await kit.decode(await store.getBlob(captured.id), 48000);
    refuse = /ogg|webm/;
    const auto = await store.save(wav, { compress: "auto" });
    let opus;
    try {
      await store.save(wav, { compress: "opus" });
      opus = "saved";
    } catch (e) {
      opus = e.code;
    }
    HTMLMediaElement.prototype.canPlayType = real;
    return {
      mimeType: rec.mimeType, magic: [...new Uint8Array(await blob.slice(0, 4).arrayBuffer())],
      seconds: decoded.duration, origSeconds: orig.duration,
      rms: [kit.rms(decoded, 1, 0.5, 2.5), kit.rms(orig, 1, 0.5, 2.5)], played,
      capType: captured.mimeType, capSeconds: capDecoded.duration, auto: auto.mimeType, opus,
    };
  });
  assert.equal(r.mimeType, "audio/webm; codecs=opus");
  assert.deepEqual(r.magic, [0x1a, 0x45, 0xdf, 0xa3], "an EBML header");
  assert.ok(Math.abs(r.seconds - r.origSeconds) < 0.03, `decoded ${r.seconds} s of ${r.origSeconds} s`);
  assert.ok(Math.abs(r.rms[0] / r.rms[1] - 1) < 0.25, `loudness ${r.rms[0]} vs ${r.rms[1]}`);
  assert.ok(Math.abs(r.played.duration - 3) < 0.05, `<audio> duration ${r.played.duration}`);
  assert.ok(r.played.advanced > 0, "<audio> played");
  assert.equal(r.capType, "audio/webm; codecs=opus");
  assert.ok(Math.abs(r.capSeconds - 2.5) < 0.03, `the capture decoded to ${r.capSeconds} s`);
  assert.equal(r.auto, "audio/flac");
  assert.equal(r.opus, "InvalidArgument");
  await p.context().close();
});
