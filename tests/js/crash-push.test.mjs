// Chromium killed (SIGKILL, on-disk profile) in the middle of a push, CRASH_RUNS times (default 10) at random
// moments, then started again on the same profile (tests/js/crash.mjs says how and why it is spawned that way).
// Each run, on a fresh store and account of the local Supabase (CRASH_CLOUD=s3 for the local S3), through the
// chaos proxy without faults (it counts what the browser sends):
//   - saves five recordings (one of 13-19 MiB: three or four TUS chunks / multipart parts; one of ~1 MiB; small
//     ones), starts a sync, and kills the browser when the proxy has received a random share of the audio bytes
//     (or, one run in five, at a random moment in the first 400 ms: hashing, listing, the first requests);
//   - restarted: every recording is there with its bytes and metadata;
//   - the next sync completes, the cloud holds exactly the five takes, with the right bytes;
//   - bytes re-sent (received by the proxy over both sessions, minus the recording's size) stay within one chunk
//     per interrupted upload, plus the whole of an upload that finished within the last 2-second confirmation
//     window before the kill (docs/sync.md: finished uploads are recorded locally every 2 s); 2 s of slack for a
//     loaded machine's timers.
//
//   node --test tests/js/crash-push.test.mjs
//   CRASH_RUNS=50 CRASH_SEED=7 node --test tests/js/crash-push.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startChaosProxy } from "../../emulators/chaos/proxy.mjs";
import { clouds } from "./chaos-clouds.mjs";
import { prng } from "./chaos.mjs";
import { CHUNK, audioBytes, openPage, runs, startChromium, workspace } from "./crash.mjs";

const MiB = 1024 * 1024;
const WINDOW_MS = 2000;
const SLACK_MS = 2000;
const cloud = clouds[process.env.CRASH_CLOUD ?? "supabase"]();
const seed = Number(process.env.CRASH_SEED ?? 15);
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

test(`${runs()} SIGKILLs of Chromium mid-push (${cloud.name}): nothing lost, uploads resume from what the server has, the next sync converges`, { timeout: 120_000 + runs() * 60_000 }, async (t) => {
  const rand = prng(seed);
  const figures = { runs: 0, killedAtMs: [], interrupted: 0, finishedInWindow: 0, resentBytes: 0, violations: [] };
  for (let run = 0; run < runs(); run++) {
    const v = (m) => figures.violations.push(`run ${run}: ${m}`);
    const account = await cloud.account();
    const remote = { ...account.remote(proxy.url), timeoutMs: 30_000 };
    const errors = [];
    const name = `push-${seed}-${run}`;
    const plan = [
      { id: `big-${run}`, size: 13 * MiB + rand.int(6 * MiB), seed: seed * 1000 + run * 10 + 1, name: "big" },
      { id: `mid-${run}`, size: 700_000 + rand.int(600_000), seed: seed * 1000 + run * 10 + 2, name: "mid" },
      ...[3, 4, 5].map((k) => ({ id: `small-${run}-${k}`, size: 1000 + rand.int(60_000), seed: seed * 1000 + run * 10 + k, name: `small ${k}` })),
    ];
    const total = plan.reduce((s, r) => s + r.size, 0);
    let b = await startChromium(ws.dir);
    let page = await openPage(b, ws.url, errors);
    await page.evaluate(({ name, remote }) => crash.open(name, remote), { name, remote });
    const saved = await page.evaluate((plan) => crash.save(plan), plan);
    proxy.clearLog();
    const byTime = rand() < 0.2;
    const atMs = rand.int(400);
    const atBytes = Math.floor(rand() * total);
    const t0 = Date.now();
    await page.evaluate(() => {
      window.pushing = crash.store.sync(crash.remote);
      return null;
    });
    while (Date.now() - t0 < 20_000) {
      if (byTime ? Date.now() - t0 >= atMs : proxy.stats.bytesReceived >= atBytes) break;
      await new Promise((ok) => setTimeout(ok, 2));
    }
    const killedAt = Date.now();
    await b.kill();
    figures.killedAtMs.push(killedAt - t0);
    const before = proxy.log.slice();
    // What the server holds at the kill: an upload it finished, or one cut short.
    const atKill = new Set(await account.blobs());
    proxy.clearLog();

    b = await startChromium(ws.dir);
    page = await openPage(b, ws.url, errors);
    await page.evaluate(({ name, remote }) => crash.open(name, remote), { name, remote });
    const reopened = await page.evaluate(() => crash.snapshot());
    for (const r of saved) {
      const got = reopened[r.id];
      if (!got) v(`${r.id} was saved and is gone after the kill`);
      else if (got.audio !== r.hash || got.name !== r.name || got.size !== r.size) v(`${r.id} came back different: ${JSON.stringify(got)}`);
    }
    const report = await page.evaluate(() => crash.sync());
    if (report.rejected || report.outcome?.kind !== "complete") v(`the sync after the restart: ${JSON.stringify(report)}`);
    const after = proxy.log.slice();
    const final = await page.evaluate(() => crash.snapshot());
    for (const r of saved) if (final[r.id]?.syncState !== "synced") v(`${r.id} is ${final[r.id]?.syncState} after the sync`);
    const want = saved.map((r) => `blobs/${r.id}/${r.hash}`).sort();
    const have = await account.blobs();
    if (JSON.stringify(have) !== JSON.stringify(want)) v(`the cloud holds ${JSON.stringify(have)}, want ${JSON.stringify(want)}`);

    // Bytes re-sent, per recording.
    const sentBefore = audioBytes(before);
    const sentAfter = audioBytes(after);
    for (const r of saved) {
      const a = sentBefore.get(r.id) ?? { bytes: 0, okAt: null };
      const z = sentAfter.get(r.id) ?? { bytes: 0 };
      const resent = a.bytes + z.bytes - r.size;
      const finished = atKill.has(`blobs/${r.id}/${r.hash}`);
      const inWindow = finished && a.okAt !== null && killedAt - a.okAt <= WINDOW_MS + SLACK_MS;
      const interrupted = !finished && a.bytes > 0;
      if (interrupted) figures.interrupted++;
      if (inWindow) figures.finishedInWindow++;
      const allowed = (interrupted ? Math.min(CHUNK, r.size) : 0) + (inWindow ? r.size : 0);
      figures.resentBytes += Math.max(0, resent);
      if (resent > allowed) {
        v(`${r.id} (${r.size} bytes): ${resent} bytes re-sent (${a.bytes} before the kill, ${z.bytes} after), allowed ${allowed}` +
          ` (${finished ? `finished ${killedAt - (a.okAt ?? killedAt)} ms before the kill` : interrupted ? "interrupted" : "not started"})`);
      }
    }
    if (errors.length) v(`page errors: ${errors.join(" | ")}`);
    await b.close();
    figures.runs++;
  }
  t.diagnostic(`crash-push figures ${JSON.stringify({ ...figures, violations: figures.violations.length })}`);
  assert.deepEqual(figures.violations, [], `replay: CRASH_SEED=${seed} CRASH_RUNS=${runs()} CRASH_CLOUD=${cloud.name} node --test tests/js/crash-push.test.mjs`);
});
