// Log compaction (issue 13, docs/sync.md "Snapshots") end to end: the built package in Debian's Chromium
// against the local Supabase on a free port, through the public API only. A device that has published 64
// segments compacts its own log into a snapshot at its next sync and deletes the segments it covers; a new
// device's first pull then reads the snapshot's parts and the few segments after it, not the whole history,
// and ends with every recording, its edits and its audio. The simulation (tests/simulation.rs) proves the
// rules under faults; this proves the objects are written, listed, read and deleted by a real server.
//
//   node --test tests/js/compaction.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start } from "./audio-cloud.mjs";

let cloud;
before(async () => { cloud = await start(); }, { timeout: 120_000 });
after(async () => { await cloud?.close(); });

const SEGMENT = /\/log\/[^/.]+\/\d{20}\.json /;
const SNAPSHOT_PART = /\/log\/[^/.]+\.snap-\d{20}\/\d{20}\.json /;
const SYNCS = 70;

test("after 64 segments a device compacts its log; a new device's first pull reads the snapshot and gets everything", { timeout: 300_000 }, async () => {
  const user = await cloud.user();
  const { page: a } = await cloud.page(user);
  const errors = [];
  a.on("pageerror", (e) => errors.push(e.message));
  // One change per sync: a save, and every tenth time a rename of an earlier take, so the snapshot
  // must keep the newest name; each sync publishes one segment.
  const written = await a.evaluate(async (n) => {
    const store = await tapesync.RecordingStore.open({ name: "compact-a" });
    const remote = makeRemote(cloud);
    const out = {};
    for (let i = 0; i < n; i++) {
      const blob = kit.audio(1500 + i, i);
      const rec = await store.save(blob, { id: `c${i}`, name: `take ${i}` });
      out[rec.id] = { name: `take ${i}`, audio: await kit.digest(blob) };
      if (i % 10 === 9) {
        await store.update(`c${i - 5}`, { name: `renamed ${i - 5}` });
        out[`c${i - 5}`].name = `renamed ${i - 5}`;
      }
      const report = await store.sync(remote);
      if (report.outcome.kind !== "complete") throw new Error(`sync ${i}: ${JSON.stringify(report.outcome)}`);
    }
    store.close();
    return out;
  }, SYNCS);
  assert.deepEqual(errors, []);

  const objects = await cloud.objects(user);
  const parts = objects.filter((o) => SNAPSHOT_PART.test(o));
  const segments = objects.filter((o) => SEGMENT.test(o));
  assert.ok(parts.length >= 1, `a snapshot was written:\n${objects.filter((o) => o.includes("/log/")).join("\n")}`);
  assert.ok(segments.length < SYNCS - 60, `the segments the snapshot covers were deleted: ${segments.length} of ${SYNCS} left`);
  assert.equal(objects.filter((o) => o.includes("/blobs/")).length, SYNCS, "one blob per take, none lost");

  // A new device of the same account: its first pull.
  const { page: b } = await cloud.page(user);
  b.on("pageerror", (e) => errors.push(e.message));
  const logReads = [];
  b.on("request", (q) => {
    if (q.method() === "GET" && /\/object\/authenticated\/.*\/recordings\/log\//.test(q.url())) logReads.push(q.url());
  });
  const got = await b.evaluate(async () => {
    const store = await tapesync.RecordingStore.open({ name: "compact-b" });
    const report = await store.sync(makeRemote(cloud));
    const out = {};
    for (const r of (await store.list({ limit: 1000 })).items) {
      out[r.id] = { name: r.name, audio: await kit.digest(await store.getBlob(r.id)) };
    }
    return { outcome: report.outcome.kind, unreadable: report.unreadable.length, out };
  });
  assert.deepEqual(errors, []);
  assert.equal(got.outcome, "complete");
  assert.equal(got.unreadable, 0);
  assert.deepEqual(got.out, written, "every recording, its newest name and its bytes");
  // The snapshot's parts, the segments after it and a "not found" or two: far fewer than one read per
  // segment ever written.
  assert.ok(logReads.length <= parts.length + segments.length + 3,
    `${logReads.length} log reads for ${parts.length} parts and ${segments.length} segments`);
  assert.ok(logReads.length < SYNCS / 2, `${logReads.length} log reads, not one per segment of ${SYNCS}`);
});
