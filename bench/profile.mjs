// A CPU profile of one save benchmark run, to see where the page's main thread spends its time
// (idle waiting for IndexedDB, the JS glue, wasm, GC). Not part of `make bench`.
//
// Usage: node bench/profile.mjs [impl=tapesync] [mode=seq] [n=1000]
//   impl: tapesync | raw | dexie | localforage; mode: seq | all
// Prints self time per category and the top functions. wasm function names are stripped in the
// size-optimised package, so wasm shows up as one category.
import { chromium } from "playwright-core";
import { fileURLToPath } from "node:url";
import { serve } from "../scripts/serve.mjs";

const [impl = "tapesync", mode = "seq", n = "1000"] = process.argv.slice(2);
const ROOT = process.env.BENCH_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--js-flags=--expose-gc",
];

const server = await serve({ root: ROOT });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ARGS });
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}/bench/index.html`);
  await page.evaluate(() => window.benchReady);
  const run = (count) => page.evaluate((a) => window.bench.saveRun(a), { impl, mode, n: count, size: 65536 });
  await run(100); // warm-up
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  await cdp.send("Profiler.start");
  const result = await run(Number(n));
  const { profile } = await cdp.send("Profiler.stop");

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const category = (f) => {
    if (f.url.startsWith("wasm://") || f.url.endsWith(".wasm")) return "wasm (tapesync_bg.wasm)";
    if (f.url.endsWith("/pkg/tapesync.js")) return "tapesync.js glue";
    if (f.url.includes("dexie")) return "dexie";
    if (f.url.includes("localforage")) return "localforage";
    if (f.url.endsWith("/bench/page.mjs")) return "bench page";
    if (f.url === "") return `${f.functionName || "(native)"}${f.functionName.startsWith("(") ? "" : " (native)"}`;
    return f.url;
  };
  const cats = new Map();
  const funcs = new Map();
  for (const [id, ms] of self) {
    const f = byId.get(id).callFrame;
    const c = category(f);
    cats.set(c, (cats.get(c) ?? 0) + ms);
    const key = `${f.functionName || "(anonymous)"}  ${c}`;
    funcs.set(key, (funcs.get(key) ?? 0) + ms);
  }
  const pct = (ms) => `${ms.toFixed(0).padStart(6)} ms ${((ms / total) * 100).toFixed(1).padStart(5)}%`;
  console.log(`${impl} ${mode} ${n} saves: ${result.ms.toFixed(0)} ms until saved` +
    (result.settledMs ? `, ${result.settledMs.toFixed(0)} ms until settled()` : "") + `; profiled ${total.toFixed(0)} ms`);
  console.log("\nself time by category:");
  for (const [c, ms] of [...cats].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(ms)}  ${c}`);
  console.log("\ntop functions (self time):");
  for (const [k, ms] of [...funcs].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${pct(ms)}  ${k}`);
} finally {
  await browser.close();
  await server.close();
}
