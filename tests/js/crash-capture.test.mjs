// Chromium killed (SIGKILL, on-disk profile) in the middle of a capture, CRASH_RUNS times (default 10) at random
// moments, then started again on the same profile (tests/js/crash.mjs says how and why). Each run, on a fresh
// store: two recordings saved, then a capture appending chunks of 1-120 KiB every few milliseconds, as
// MediaRecorder's dataavailable would (awaited or not: chunks keep the order of the calls), killed 150-2500 ms in.
// Restarted:
//   - the saved recordings are there with their bytes;
//   - the capture is offered (store.listCaptures()): exactly one, holding at least every chunk whose append()
//     had resolved before the kill, and exactly the first `chunks` chunks appended, in order (its size and, once
//     finished, its bytes' SHA-256 say so);
//   - finish() makes it a recording, and the next sync (local Supabase, CRASH_CLOUD=s3 for the local S3)
//     completes and puts exactly the three takes in the cloud.
//
//   node --test tests/js/crash-capture.test.mjs
//   CRASH_RUNS=50 CRASH_SEED=7 node --test tests/js/crash-capture.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startChaosProxy } from "../../emulators/chaos/proxy.mjs";
import { clouds } from "./chaos-clouds.mjs";
import { prng } from "./chaos.mjs";
import { bytes, openPage, runs, startChromium, workspace } from "./crash.mjs";

const cloud = clouds[process.env.CRASH_CLOUD ?? "supabase"]();
const seed = Number(process.env.CRASH_SEED ?? 16);
let ws;
let proxy;

before(async () => {
  await cloud.start();
  proxy = await startChaosProxy({ target: cloud.target, seed, rate: 0 });
  ws = await workspace();
}, { timeout: 600_000 });
after(async () => {
  await proxy?.close();
  await ws?.done();
  await cloud.stop();
});

test(`${runs()} SIGKILLs of Chromium mid-capture (${cloud.name}): every appended chunk kept, the capture offered and finished, synced`, { timeout: 120_000 + runs() * 60_000 }, async (t) => {
  const rand = prng(seed);
  const figures = { runs: 0, chunksKept: [], chunksResolved: [], violations: [] };
  for (let run = 0; run < runs(); run++) {
    const v = (m) => figures.violations.push(`run ${run}: ${m}`);
    const account = await cloud.account();
    const remote = { ...account.remote(proxy.url), timeoutMs: 30_000 };
    const errors = [];
    const name = `capture-${seed}-${run}`;
    // The chunks the capture will append: sizes and seeds fixed up front, so the bytes can be checked here.
    const chunks = Array.from({ length: 400 }, (_, k) => ({ size: 1024 + rand.int(120 * 1024), seed: seed * 100_000 + run * 1000 + k }));
    const pauses = chunks.map(() => rand.int(25));
    const killAfterMs = 150 + rand.int(2350);
    let b = await startChromium(ws.dir);
    let page = await openPage(b, ws.url, errors);
    await page.evaluate(({ name, remote }) => crash.open(name, remote), { name, remote });
    const saved = await page.evaluate((plan) => crash.save(plan), [
      { id: `before-${run}-a`, size: 40_000 + rand.int(100_000), seed: seed * 1000 + run * 10 + 1, name: "a" },
      { id: `before-${run}-b`, size: 2_000 + rand.int(10_000), seed: seed * 1000 + run * 10 + 2, name: "b" },
    ]);
    let resolved = 0;
    await page.exposeFunction("appended", (k) => {
      resolved = Math.max(resolved, k + 1);
    });
    const captureId = await page.evaluate(async ({ chunks, pauses }) => {
      const cap = await crash.store.startCapture({ mimeType: "audio/webm;codecs=opus", name: "live" });
      (async () => {
        for (let k = 0; k < chunks.length; k++) {
          // Not awaited one by one, as an ondataavailable handler would not: the order of calls is the order kept.
          cap.append(new Blob([crash.bytes(chunks[k].size, chunks[k].seed)], { type: "audio/webm;codecs=opus" })).then(() => window.appended(k));
          await new Promise((ok) => setTimeout(ok, pauses[k]));
        }
      })();
      return cap.id;
    }, { chunks, pauses });
    await new Promise((ok) => setTimeout(ok, killAfterMs));
    const resolvedAtKill = resolved;
    await b.kill();

    b = await startChromium(ws.dir);
    page = await openPage(b, ws.url, errors);
    await page.evaluate(({ name, remote }) => crash.open(name, remote), { name, remote });
    const out = await page.evaluate(async () => {
      const caps = await crash.store.listCaptures();
      const infos = caps.map((c) => JSON.parse(JSON.stringify(c.info)));
      let finished = null;
      if (caps.length === 1) {
        const rec = await caps[0].finish({ durationMs: 1000 });
        finished = { id: rec.id, size: rec.size, audio: await crash.digest(await crash.store.getBlob(rec.id)) };
      }
      return { infos, finished, snapshot: await crash.snapshot() };
    });
    for (const r of saved) if (out.snapshot[r.id]?.audio !== r.hash) v(`${r.id} was saved and is ${JSON.stringify(out.snapshot[r.id])} after the kill`);
    if (out.infos.length !== 1 || out.infos[0].id !== captureId) {
      v(`listCaptures() offers ${JSON.stringify(out.infos)}, want the one capture ${captureId}`);
    } else {
      const kept = out.infos[0].chunks;
      figures.chunksKept.push(kept);
      figures.chunksResolved.push(resolvedAtKill);
      if (kept < resolvedAtKill) v(`${resolvedAtKill} appends had resolved, the capture kept ${kept} chunks`);
      const prefix = chunks.slice(0, kept);
      const size = prefix.reduce((s, c) => s + c.size, 0);
      if (out.infos[0].size !== size) v(`the capture's size ${out.infos[0].size} is not that of its first ${kept} chunks (${size})`);
      const hash = createHash("sha256");
      for (const c of prefix) hash.update(bytes(c.size, c.seed));
      const want = hash.digest("hex");
      if (out.finished?.audio !== want || out.finished?.size !== size) v(`the finished capture's bytes are not its first ${kept} chunks in order`);
    }
    const report = await page.evaluate(() => crash.sync());
    if (report.rejected || report.outcome?.kind !== "complete") v(`the sync after the restart: ${JSON.stringify(report)}`);
    const final = await page.evaluate(() => crash.snapshot());
    const want = Object.entries(final).map(([id, r]) => `blobs/${id}/${r.contentHash}`).sort();
    if (Object.keys(final).length !== 3) v(`${Object.keys(final).length} recordings after finish(), want 3`);
    const have = await account.blobs();
    if (JSON.stringify(have) !== JSON.stringify(want)) v(`the cloud holds ${JSON.stringify(have)}, want ${JSON.stringify(want)}`);
    if (errors.length) v(`page errors: ${errors.join(" | ")}`);
    await b.close();
    figures.runs++;
  }
  t.diagnostic(`crash-capture figures ${JSON.stringify({ ...figures, violations: figures.violations.length })}`);
  assert.deepEqual(figures.violations, [], `replay: CRASH_SEED=${seed} CRASH_RUNS=${runs()} CRASH_CLOUD=${cloud.name} node --test tests/js/crash-capture.test.mjs`);
});

test("appends not awaited, then finish() at once (as MediaRecorder's onstop does): the recording is every chunk, in call order", async () => {
  const errors = [];
  const b = await startChromium(ws.dir);
  try {
    const page = await openPage(b, ws.url, errors);
    const out = await page.evaluate(async () => {
      const store = await tapesync.RecordingStore.open({ name: "capture-order" });
      const cap = await store.startCapture({ mimeType: "audio/webm" });
      const sizes = [];
      const parts = [];
      for (let k = 0; k < 120; k++) {
        const bytes = crash.bytes(500 + ((k * 7919) % 40_000), 900 + k);
        sizes.push(bytes.length);
        parts.push(bytes);
        cap.append(new Blob([bytes], { type: "audio/webm" }));
        // Some appends in the same task, some after a timer: both orders of wakeups.
        if (k % 3 === 0) await new Promise((ok) => setTimeout(ok, 0));
      }
      const rec = await cap.finish({ durationMs: 1 });
      const want = await crash.digest(new Blob(parts));
      const got = await crash.digest(await store.getBlob(rec.id));
      store.close();
      return { size: rec.size, want: sizes.reduce((a, n) => a + n, 0), same: got === want };
    });
    assert.equal(out.size, out.want, "finish() saw every chunk appended before it");
    assert.ok(out.same, "the chunks are in call order");
    assert.deepEqual(errors, []);
  } finally {
    await b.close();
  }
});
