// `make bench`, the other engines: the store figures of bench/run.mjs (saves, listing, pending among many)
// in Firefox and WebKit on-disk, each as a ratio against hand-written raw IndexedDB in the same engine,
// run by the same page (bench/index.html, bench/page.mjs) driven over WebDriver (tests/js/engines.mjs);
// then, in WebKit on-disk, the Blob fallback (audio as ArrayBuffer chunks, forced by the open option
// `audioStorage: "chunks"`) against Blob storage: save and read throughput.
//
// Prints ratios only: no targets, no timed assertions, nothing written to BENCHMARKS.md. Exit status
// non-zero only when the harness breaks (an engine that does not start, a page error, wrong counts).
//
// Environment: BENCH_QUICK=1 for a smoke run with small sizes; BENCH_ENGINES=firefox,webkit to choose.
import { existsSync } from "node:fs";
import { launchEngine } from "../tests/js/engines.mjs";

const QUICK = process.env.BENCH_QUICK === "1";
const ENGINES = (process.env.BENCH_ENGINES ?? "firefox,webkit").split(",").filter(Boolean);
// Smaller than Chromium's run (bench/run.mjs): two engines over WebDriver, in the same `make bench`.
const CFG = QUICK
  ? { save: { n: 100, size: 65536, warm: 10, reps: 1 }, list: { n: 1000, reps: 3 },
      pending: { small: 500, big: 2000, pending: 10, samples: 3, batch: 5 }, fallback: { n: 20, size: 1 << 20, reps: 1 } }
  : { save: { n: 500, size: 65536, warm: 50, reps: 3 }, list: { n: 5000, reps: 7 },
      pending: { small: 1000, big: 20000, pending: 10, samples: 7, batch: 10 }, fallback: { n: 40, size: 4 << 20, reps: 3 } };
const IMPLS = ["tapesync", "raw"];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** The median over rounds of a[i] / b[i] (both measured in the same round). */
const paired = (a, b) => median(a.map((x, i) => x / b[i]));
const ms = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)) + " ms";
const log = (...a) => console.log(...a);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;

/** The store figures in `engine`; returns result lines { figure, value, baseline, ratio }. */
async function storeFigures(engine) {
  const env = await launchEngine(engine);
  const rows = [];
  try {
    const d = await env.device({ open: false });
    await d.goto("/bench/index.html");
    // WebKit's driver may answer the navigation before the page's module ran: wait for it.
    await d.evaluate(async () => {
      for (let i = 0; !window.benchReady; i++) {
        if (i > 300) throw new Error("bench/page.mjs did not run within 30 s");
        await new Promise((ok) => setTimeout(ok, 100));
      }
      await window.benchReady;
    });
    const call = (fn, arg) => d.evaluate(([f, a]) => window.bench[f](a), [fn, arg]);
    const info = await call("env");
    log(`\n== ${engine}: ${info.userAgent}; getAll({direction}): ${info.hasDirectionalGetAll ? "yes" : "no"}`);

    const c = CFG.save;
    for (const mode of ["seq", "all"]) {
      log(`[${elapsed()}] save ${c.n} × ${c.size / 1024} KiB, ${mode === "seq" ? "one after another" : "all at once"}; median of ${c.reps}`);
      for (const impl of IMPLS) await call("saveRun", { impl, mode, n: c.warm, size: c.size });
      const t = Object.fromEntries(IMPLS.map((i) => [i, []]));
      for (let r = 0; r < c.reps; r++) {
        for (let k = 0; k < IMPLS.length; k++) {
          const impl = IMPLS[(k + r) % IMPLS.length];
          t[impl].push((await call("saveRun", { impl, mode, n: c.n, size: c.size })).ms);
        }
      }
      const rate = (x) => `${((c.n / x) * 1000).toFixed(0)} saves/s`;
      rows.push({ figure: `save ${c.n} × ${c.size / 1024} KiB, ${mode === "seq" ? "sequential" : "all at once"}: throughput`,
        value: rate(median(t.tapesync)), baseline: `raw ${rate(median(t.raw))}`, ratio: paired(t.raw, t.tapesync) });
    }

    const l = CFG.list;
    log(`[${elapsed()}] list the metadata of ${l.n} recordings; median of ${l.reps}`);
    await call("listSetup", { n: l.n });
    const times = await call("listRuns", { reps: l.reps });
    await call("listTeardown");
    const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
    const descRaw = ["raw desc getAll+reverse", "raw desc getAll(prev)"].filter((k) => k in m).sort((a, b) => m[a] - m[b])[0];
    for (const [order, base] of [["desc", descRaw], ["asc", "raw asc getAll"]]) {
      rows.push({ figure: `list ${l.n}, ${order === "desc" ? "newest first (default)" : "oldest first"}: time`,
        value: ms(m[`tapesync ${order}`]), baseline: `${base} ${ms(m[base])}`, ratio: paired(times[`tapesync ${order}`], times[base]), lowerIsBetter: true });
    }

    const p = CFG.pending;
    log(`[${elapsed()}] list({ syncState: "pending" }): ${p.pending} pending among ${p.small} vs ${p.big} synced`);
    await call("pendingSetup", { label: "small", synced: p.small, pending: p.pending });
    await call("pendingSetup", { label: "big", synced: p.big, pending: p.pending });
    const { small, big } = await call("pendingRuns", { labels: ["small", "big"], samples: p.samples, batch: p.batch, expect: p.pending });
    await call("pendingTeardown");
    rows.push({ figure: `pending among ${p.big} + ${p.pending}: time`, value: ms(median(big.tapesync)),
      baseline: `raw bySyncState getAll ${ms(median(big.raw))}`, ratio: paired(big.tapesync, big.raw), lowerIsBetter: true });
    rows.push({ figure: `  … growth ${p.small} → ${p.big} synced (tapesync)`, value: ms(median(big.tapesync)),
      baseline: `${ms(median(small.tapesync))}`, ratio: paired(big.tapesync, small.tapesync), lowerIsBetter: true });

    const left = await call("leftovers");
    if (left.length) throw new Error(`${engine}: databases left behind: ${left.join(", ")}`);
    const errors = await d.takeErrors();
    if (errors.length) throw new Error(`${engine}: page errors: ${errors.join("; ")}`);
  } finally {
    await env.close();
  }
  return rows;
}

/**
 * WebKit on-disk: `n` recordings of `size` bytes saved, then read back whole (getBlob + arrayBuffer), with
 * Blob storage (the default where IndexedDB takes Blobs) and with the fallback forced. Null when the
 * package has no `audioStorage` option yet.
 */
async function fallbackFigures() {
  const env = await launchEngine("webkit");
  const rows = [];
  try {
    const d = await env.device();
    const c = CFG.fallback;
    log(`\n== webkit: the Blob fallback, ${c.n} × ${c.size >> 20} MiB saved then read; median of ${c.reps}`);
    const run = (storage) => d.evaluate(async ({ storage, n, size }) => {
      const { RecordingStore } = tapesync;
      const name = `bench-fallback-${storage}-${Date.now()}`;
      const store = await RecordingStore.open(storage === "blobs" ? { name } : { name, audioStorage: storage });
      const blobs = Array.from({ length: n }, (_, i) => kit.audio(size, i));
      try {
        let t0 = performance.now();
        for (let i = 0; i < n; i++) await store.save(blobs[i], { id: `r${i}` });
        const save = performance.now() - t0;
        await store.settled();
        t0 = performance.now();
        let bytes = 0;
        for (let i = 0; i < n; i++) bytes += (await (await store.getBlob(`r${i}`)).arrayBuffer()).byteLength;
        const read = performance.now() - t0;
        if (bytes !== n * size) throw new Error(`read ${bytes} bytes, expected ${n * size}`);
        return { save, read };
      } finally {
        store.close();
        await RecordingStore.destroy(name);
      }
    }, { storage, n: c.n, size: c.size });
    try {
      await run("chunks");
    } catch (e) {
      if (e.code === "InvalidArgument" && /audioStorage/.test(e.pageMessage ?? "")) {
        log(`  skipped: this build has no open option audioStorage ("${e.pageMessage}")`);
        return null;
      }
      throw e;
    }
    const t = { blobs: { save: [], read: [] }, chunks: { save: [], read: [] } };
    for (let r = 0; r < c.reps; r++) {
      for (const storage of r % 2 ? ["chunks", "blobs"] : ["blobs", "chunks"]) {
        const out = await run(storage);
        t[storage].save.push(out.save);
        t[storage].read.push(out.read);
      }
    }
    const mibs = (x) => `${((c.n * c.size) / (1 << 20) / (x / 1000)).toFixed(0)} MiB/s`;
    for (const what of ["save", "read"]) {
      rows.push({ figure: `fallback (chunks) ${what} ${c.n} × ${c.size >> 20} MiB: throughput`, value: mibs(median(t.chunks[what])),
        baseline: `Blob storage ${mibs(median(t.blobs[what]))}`, ratio: paired(t.blobs[what], t.chunks[what]) });
    }
    const errors = await d.takeErrors();
    if (errors.length) throw new Error(`webkit: page errors: ${errors.join("; ")}`);
  } finally {
    await env.close();
  }
  return rows;
}

function print(title, rows) {
  log(`\n${title}`);
  const w = Math.max(...rows.map((r) => r.figure.length));
  for (const r of rows) {
    const ratio = `${r.ratio.toFixed(2)}×${r.lowerIsBetter ? " time" : ""}`;
    log(`  ${r.figure.padEnd(w)}  ${String(r.value).padStart(14)}  vs ${r.baseline.padEnd(34)}  ${ratio.padStart(12)}`);
  }
}

async function main() {
  if (!existsSync(new URL("../pkg/tapesync.js", import.meta.url))) throw new Error("pkg/ is missing: run `make pkg` first");
  log(`tapesync store benchmarks in Firefox and WebKit${QUICK ? " (BENCH_QUICK: smoke run)" : ""}: ratios against raw IndexedDB in the same engine`);
  log("(throughput ratios: tapesync / raw, higher is better; time ratios: tapesync / raw, lower is better)");
  const results = [];
  for (const engine of ENGINES.filter((e) => e !== "webkit-ephemeral")) results.push([engine, await storeFigures(engine)]);
  const fallback = ENGINES.includes("webkit") ? await fallbackFigures() : null;
  for (const [engine, rows] of results) print(`${engine}: tapesync against raw IndexedDB`, rows);
  if (fallback) print("webkit on-disk: the Blob fallback against Blob storage (chunks / Blobs, higher is better)", fallback);
  log(`\n(${elapsed()})`);
}

main().catch((e) => {
  console.error(`bench/engines: the harness failed: ${e?.stack ?? e}`);
  process.exit(1);
});
