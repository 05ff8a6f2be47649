// `make bench`, startup: the time from `import` of the package to the first `list()` resolving, against
// raw IndexedDB's open + getAll of the same 100 records, in Debian's headless Chromium with the DevTools
// protocol's 4x CPU throttling (a mid-range phone). Each run is a fresh page with the HTTP cache off, so
// the wasm is fetched and compiled every time (the cold start a PWA pays after an update), and the two
// sides alternate. Prints the medians, the difference and the ratio; writes them into BENCHMARKS.md.
//
// Environment: CHROMIUM (default /usr/bin/chromium); BENCH_QUICK=1 for fewer runs (not written).
import { chromium } from "playwright-core";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { serve } from "../scripts/serve.mjs";
import { machine, resultTable, writeSection } from "./report.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const QUICK = process.env.BENCH_QUICK === "1";
const RUNS = QUICK ? 3 : 15;
const RECORDS = 100;
const THROTTLE = Number(process.env.BENCH_THROTTLE ?? 4);
const ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// The empty page each run starts from: nothing of tapesync is loaded before the timer starts.
const PAGE = "<!doctype html><meta charset=utf-8><title>startup</title>";

// Fills both databases once: tapesync's through its API, the raw one with records of the same
// metadata shape and a small Blob each.
async function fill(page) {
  await page.evaluate(async (n) => {
    const { default: init, RecordingStore } = await import("/pkg/tapesync.js");
    await init();
    const store = await RecordingStore.open({ name: "startup" });
    if ((await store.count()) < n) {
      for (let i = 0; i < n; i++) {
        await store.save(new Blob([new Uint8Array(256)], { type: "audio/webm" }), { name: `take ${i}` });
      }
    }
    // Hashed in the background once saves pause: waited for, or every timed open would find the
    // hash queue full and start draining it (work a start after an idle app does not have).
    const deadline = Date.now() + 120000;
    while ((await store.list()).items.some((r) => !r.contentHash)) {
      if (Date.now() > deadline) throw new Error("the recordings were not hashed within 120 s");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const sample = (await store.list({ limit: 1 })).items[0];
    store.close();
    await new Promise((resolve, reject) => {
      const open = indexedDB.open("startup-raw", 1);
      open.onupgradeneeded = () => open.result.createObjectStore("recordings", { keyPath: "id" }).createIndex("createdAt", "createdAt");
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        const tx = db.transaction("recordings", "readwrite");
        const os = tx.objectStore("recordings");
        for (let i = 0; i < n; i++) {
          os.put({ ...sample, id: `r${i}`, name: `take ${i}`, createdAt: i, blob: new Blob([new Uint8Array(256)]) });
        }
        tx.oncomplete = () => { db.close(); resolve(); };
        tx.onerror = () => reject(tx.error);
      };
    });
  }, RECORDS);
}

async function tapesyncRun(page) {
  return page.evaluate(async (n) => {
    const t0 = performance.now();
    const { default: init, RecordingStore } = await import("/pkg/tapesync.js");
    const t1 = performance.now();
    await init();
    const t2 = performance.now();
    const store = await RecordingStore.open({ name: "startup" });
    const t3 = performance.now();
    const { items } = await store.list({ limit: n });
    const t4 = performance.now();
    if (items.length !== n) throw new Error(`listed ${items.length} of ${n}`);
    store.close();
    return { total: t4 - t0, phases: { import: t1 - t0, init: t2 - t1, open: t3 - t2, list: t4 - t3 } };
  }, RECORDS);
}

// The IndexedDB work of open and of the first list(), counted once in an untimed page by wrapping
// `IDBDatabase.prototype.transaction` and the request methods: what the phases wait for.
async function countRun(page) {
  return page.evaluate(async (n) => {
    const counts = { open: { tx: 0, requests: 0 }, list: { tx: 0, requests: 0 } };
    let phase = null;
    const originals = [];
    const wrap = (proto, name, count) => {
      const original = proto[name];
      if (typeof original !== "function") return;
      originals.push([proto, name, original]);
      proto[name] = function (...args) {
        if (phase) counts[phase][count]++;
        return original.apply(this, args);
      };
    };
    wrap(IDBDatabase.prototype, "transaction", "tx");
    for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype]) {
      for (const m of ["get", "getAll", "getAllKeys", "getKey", "count", "openCursor", "openKeyCursor", "put", "add", "delete"]) {
        wrap(proto, m, "requests");
      }
    }
    try {
      const { default: init, RecordingStore } = await import("/pkg/tapesync.js");
      await init();
      phase = "open";
      const store = await RecordingStore.open({ name: "startup" });
      phase = "list";
      await store.list({ limit: n });
      phase = null;
      store.close();
    } finally {
      for (const [proto, name, original] of originals) proto[name] = original;
    }
    return counts;
  }, RECORDS);
}

async function rawRun(page) {
  return page.evaluate(async (n) => {
    const t0 = performance.now();
    const items = await new Promise((resolve, reject) => {
      const open = indexedDB.open("startup-raw", 1);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        const req = db.transaction("recordings").objectStore("recordings").index("createdAt").getAll(null, n);
        req.onsuccess = () => { db.close(); resolve(req.result); };
        req.onerror = () => reject(req.error);
      };
    });
    const t = performance.now() - t0;
    if (items.length !== n) throw new Error(`raw listed ${items.length} of ${n}`);
    return t;
  }, RECORDS);
}

async function main() {
  const started = Date.now();
  const load = os.loadavg()[0];
  const server = await serve({
    root: ROOT,
    routes: { "GET /startup.html": (_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(PAGE) },
  });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ARGS });
  try {
    const context = await browser.newContext();
    const setup = await context.newPage();
    await setup.goto(`${server.url}/startup.html`);
    await fill(setup);
    await setup.close();
    const times = { tapesync: [], raw: [] };
    const phases = {};
    const errors = [];
    for (let i = 0; i < RUNS; i++) {
      for (const side of i % 2 ? ["raw", "tapesync"] : ["tapesync", "raw"]) {
        const page = await context.newPage();
        page.on("pageerror", (e) => errors.push(e.message));
        const cdp = await context.newCDPSession(page);
        await cdp.send("Network.enable");
        await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
        await page.goto(`${server.url}/startup.html`);
        await cdp.send("Emulation.setCPUThrottlingRate", { rate: THROTTLE });
        if (side === "tapesync") {
          const { total, phases: p } = await tapesyncRun(page);
          times.tapesync.push(total);
          for (const [k, v] of Object.entries(p)) (phases[k] ??= []).push(v);
        } else {
          times.raw.push(await rawRun(page));
        }
        await page.close();
      }
    }
    const counting = await context.newPage();
    counting.on("pageerror", (e) => errors.push(e.message));
    await counting.goto(`${server.url}/startup.html`);
    const work = await countRun(counting);
    await counting.close();
    if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
    const t = median(times.tapesync);
    const r = median(times.raw);
    const extra = t - r;
    const fmt = (x) => `${x.toFixed(0)} ms`;
    const parts = Object.entries(phases).map(([k, v]) => `${k} ${median(v).toFixed(0)} ms`).join(", ");
    const idb = ["open", "list"].map((k) => `${k} ${work[k].tx} transaction${work[k].tx === 1 ? "" : "s"}, ${work[k].requests} request${work[k].requests === 1 ? "" : "s"}`).join("; ");
    console.log(`startup (${THROTTLE}x CPU throttling, ${RECORDS} records, median of ${RUNS}): tapesync ${fmt(t)}, raw IndexedDB ${fmt(r)}: +${fmt(extra)} (${(t / r).toFixed(1)}x); tapesync's phases: ${parts}; IndexedDB work: ${idb}`);
    if (!QUICK) {
      writeSection(new URL("../BENCHMARKS.md", import.meta.url), {
        start: "<!-- startup:start -->",
        end: "<!-- startup:end -->",
        heading: "## Startup",
        lines: [
          "",
          `From \`import\` of the package to the first \`list({ limit: ${RECORDS} })\` resolving, against raw IndexedDB's open and`,
          `\`getAll\` of the same ${RECORDS} records, in headless Chromium with ${THROTTLE}x CPU throttling (DevTools protocol), a fresh page`,
          "and no HTTP cache each run (the wasm is fetched and compiled each time, streaming), median of " + RUNS + " alternating runs.",
          `Taken ${new Date().toISOString().slice(0, 10)} on ${machine()}, load ${load.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at end, in ${((Date.now() - started) / 1000).toFixed(0)} s.`,
          "",
          ...resultTable([{
            pass: extra <= 100,
            figure: "import to first list()",
            value: fmt(t),
            baseline: `${fmt(r)} (raw IndexedDB)`,
            ratio: `+${fmt(extra)} (${(t / r).toFixed(1)}x)`,
            target: "at most +100 ms",
          }]),
          "",
          `tapesync's phases (medians): ${parts}. IndexedDB work (counted in one more, untimed page): ${idb}.`,
          "",
        ],
      });
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
