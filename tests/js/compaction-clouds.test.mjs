// Log compaction (docs/sync.md "Snapshots") against the local S3 and the Firebase Storage emulator, as
// tests/js/compaction.test.mjs does against the local Supabase: each cloud lists, reads and deletes the
// snapshot folders (`log/{device}.snap-{upto}/`) through its own listing code. A device's 70 syncs publish 70
// segments and compact them; a new device's first pull reads the snapshot's parts and the few segments after
// it, and ends with every recording, its newest name and its bytes. Through the public API only.
//
//   node --test tests/js/compaction-clouds.test.mjs     (Firebase: under the e2e lock, the emulators' ports are fixed)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { clouds, installRemote } from "./chaos-clouds.mjs";

const SYNCS = 70;
// Every cloud names objects by their key in the URL (Firebase: URL-encoded in the path).
const key = (url) => decodeURIComponent(new URL(url).pathname + new URL(url).search);
const SNAPSHOT_PART = /log\/[^/.]+\.snap-\d{20}\/\d{20}\.json/;
const SEGMENT = /log\/[^/.]+\/\d{20}\.json/;

let env;
before(async () => { env = await launch(); }, { timeout: 120_000 });
after(async () => { await env?.close(); });

/** A page with the package loaded and `window.chaosRemote(options)` (the README's remotes). */
async function device() {
  const page = await env.page();
  await page.evaluate(() => window.tapesyncReady);
  await installRemote(page);
  const requests = [];
  page.on("request", (q) => requests.push({ method: q.method(), key: key(q.url()) }));
  return { page, requests };
}

for (const name of ["s3", "firebase"]) {
  test(`${name}: after 64 segments a device compacts its log; a new device's first pull reads the snapshot and gets everything`, { timeout: 600_000 }, async () => {
    const cloud = clouds[name]();
    await cloud.start();
    try {
      const account = await cloud.account();
      const options = account.remote(cloud.target);
      const a = await device();
      const written = await a.page.evaluate(async ({ options, n }) => {
        const digest = async (blob) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()))]
          .map((b) => b.toString(16).padStart(2, "0")).join("");
        const store = await tapesync.RecordingStore.open({ name: "compact-a" });
        const remote = chaosRemote(options);
        const out = {};
        for (let i = 0; i < n; i++) {
          const bytes = new Uint8Array(1500 + i).map((_, k) => (k * 31 + i * 7) & 255);
          const blob = new Blob([bytes], { type: "audio/webm" });
          const rec = await store.save(blob, { id: `c${i}`, name: `take ${i}` });
          out[rec.id] = { name: `take ${i}`, audio: await digest(blob) };
          if (i % 10 === 9) {
            await store.update(`c${i - 5}`, { name: `renamed ${i - 5}` });
            out[`c${i - 5}`].name = `renamed ${i - 5}`;
          }
          const report = await store.sync(remote);
          if (report.outcome.kind !== "complete") throw new Error(`sync ${i}: ${JSON.stringify(report.outcome)}`);
        }
        store.close();
        return out;
      }, { options, n: SYNCS });
      const putParts = a.requests.filter((r) => r.method !== "GET" && r.method !== "OPTIONS" && SNAPSHOT_PART.test(r.key));
      const deletedSegments = a.requests.filter((r) => r.method === "DELETE" && SEGMENT.test(r.key));
      assert.ok(putParts.length >= 1, "a snapshot part was written");
      assert.ok(deletedSegments.length >= 60, `the segments the snapshot covers were deleted: ${deletedSegments.length}`);
      assert.equal((await account.blobs()).length, SYNCS, "one blob per take, none lost");

      const b = await device();
      const got = await b.page.evaluate(async (options) => {
        const digest = async (blob) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()))]
          .map((x) => x.toString(16).padStart(2, "0")).join("");
        const store = await tapesync.RecordingStore.open({ name: "compact-b" });
        const report = await store.sync(chaosRemote(options));
        const out = {};
        for (const r of (await store.list({ limit: 1000 })).items) {
          out[r.id] = { name: r.name, audio: await digest(await store.getBlob(r.id)) };
        }
        store.close();
        return { outcome: report.outcome.kind, unreadable: report.unreadable.length, out };
      }, options);
      assert.equal(got.outcome, "complete");
      assert.equal(got.unreadable, 0);
      assert.deepEqual(got.out, written, "every recording, its newest name and its bytes");
      const logReads = b.requests.filter((r) => r.method === "GET" && (SNAPSHOT_PART.test(r.key) || SEGMENT.test(r.key)));
      assert.ok(logReads.some((r) => SNAPSHOT_PART.test(r.key)), "the first pull read the snapshot");
      assert.ok(logReads.length < SYNCS / 2, `${logReads.length} log reads, not one per segment of ${SYNCS}`);
      await a.page.context().close();
      await b.page.context().close();
    } finally {
      await cloud.stop();
    }
  });
}
