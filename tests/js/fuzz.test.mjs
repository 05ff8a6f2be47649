// A seeded fuzzer of the public JS API in Chromium (the built package, as apps import it): FUZZ_CALLS calls
// (default 10,000; FUZZ_SEED picks the sequence) of every method and constructor with wrong types, huge strings
// and arrays, deep and cyclic objects, getters that throw or change on each read, revoked and trapping Proxies,
// calls on closed stores, re-entrant calls from event listeners, and a dozen calls at a time on the same few ids.
// The verdict (tests/js/fuzz-page.mjs): every failure is a TapesyncError with a documented code (README
// "Errors"), calls on a closed store reject with Closed, no call hangs, no wasm trap (a panic kills the module:
// WebAssembly.RuntimeError, caught or not), the module stays usable (a fresh store saves, reads, deletes after
// every batch), and every open store stays consistent (each listed recording has its audio of its size, get()
// finds it, count() matches list(), per-state counts add up, paging lists each once). No uncaught page error
// (tests/js/browser.mjs).
//
//   node --test tests/js/fuzz.test.mjs
//   FUZZ_CALLS=100000 FUZZ_SEED=7 node --test tests/js/fuzz.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { fuzzKit } from "./fuzz-page.mjs";

const CALLS = Number(process.env.FUZZ_CALLS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 1515);
const BATCH = 500;
let env;
before(async () => {
  env = await launch();
}, { timeout: 120_000 });
after(() => env?.close());

test(`${CALLS} hostile calls of the public API (seed ${SEED}): only documented TapesyncErrors, no panic, still usable, consistent`, { timeout: 60_000 + CALLS * 60 }, async (t) => {
  const page = await env.page();
  await page.evaluate(async () => {
    await window.tapesyncReady;
  });
  await page.evaluate(`(${fuzzKit.toString()})(${SEED})`);
  const violations = [];
  const methods = {};
  let calls = 0;
  for (let start = 0; start < CALLS && violations.length < 50; start += BATCH) {
    const out = await page.evaluate((count) => fuzz.batch({ count }), Math.min(BATCH, CALLS - start));
    calls += out.calls;
    for (const [name, m] of Object.entries(out.methods)) {
      const x = (methods[name] ??= { ok: 0, codes: {} });
      x.ok += m.ok;
      for (const [c, n] of Object.entries(m.codes)) x.codes[c] = (x.codes[c] ?? 0) + n;
    }
    violations.push(...out.violations.map((v) => `calls ${start}-${start + BATCH}: ${v}`));
    if (out.panic) break;
  }
  const recordings = await page.evaluate(() => fuzz.recordings());
  t.diagnostic(`fuzz figures ${JSON.stringify({ seed: SEED, calls, recordings, violations: violations.length })}`);
  t.diagnostic(`fuzz methods ${JSON.stringify(methods)}`);
  const distinct = [...new Set(violations.map((v) => v.replace(/^calls \d+-\d+: /, "").replace(/fz-\d+/g, "fz-N").slice(0, 160)))];
  assert.deepEqual(distinct, [], `replay: FUZZ_SEED=${SEED} FUZZ_CALLS=${CALLS} node --test tests/js/fuzz.test.mjs\n${violations.slice(0, 20).join("\n")}`);
});

test("open() and destroy() of one name racing, 40 times at varied offsets: both always settle (no destroy blocked by a half-open store)", { timeout: 120_000 }, async () => {
  const page = await env.page();
  const out = await page.evaluate(async () => {
    await window.tapesyncReady;
    const { RecordingStore } = tapesync;
    const settle = (p, ms) => Promise.race([p.then(() => "ok", (e) => e?.code ?? `not a TapesyncError: ${e}`), new Promise((ok) => setTimeout(() => ok("hung"), ms))]);
    const results = [];
    for (let i = 0; i < 40; i++) {
      const name = `race-${i % 4}`;
      const opening = RecordingStore.open({ name });
      // The destroy lands at different points of the open: before it, while it reads, after it took the lock.
      await new Promise((ok) => setTimeout(ok, i % 8));
      const destroying = RecordingStore.destroy(name);
      const [o, d] = await Promise.all([settle(opening, 10_000), settle(destroying, 10_000)]);
      results.push([o, d]);
      const store = await opening.catch(() => null);
      store?.close();
      // What is left is deletable once nobody holds it. (Right after an open, the open lock may still be on its way
      // to being granted, and released at once: a destroy then says Conflict; a moment later it goes through.)
      let cleanup;
      for (let tries = 0; tries < 20 && cleanup !== "ok"; tries++) {
        cleanup = await settle(RecordingStore.destroy(name), 10_000);
        if (cleanup === "Conflict") await new Promise((ok) => setTimeout(ok, 50));
      }
      if (cleanup !== "ok") results.push(["ok", `cleanup: ${cleanup}`]);
    }
    return results;
  });
  for (const [o, d] of out) {
    assert.ok(["ok", "Closed"].includes(o), `open: ${o} (${JSON.stringify(out)})`);
    assert.ok(["ok", "Conflict"].includes(d), `destroy: ${d} (${JSON.stringify(out)})`);
  }
});
