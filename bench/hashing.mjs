// The cost of content hashing per recording, for comparing two builds of the package on one
// machine: saves N tiny recordings one after another, then times `settled()` (the hashing still
// queued). Run it against two checkouts back to back, e.g. the current one and an older one
// built with `make pkg` in a git worktree:
//
//   node bench/hashing.mjs . 2000
//   node bench/hashing.mjs ../tapesync-old 2000
//
// Prints one JSON line: { root, n, saveMs, settleMs, perRecordingMs, hashed }.
import { chromium } from "playwright-core";
import { resolve } from "node:path";
import { serve } from "../scripts/serve.mjs";

const root = resolve(process.argv[2] ?? ".");
const n = Number(process.argv[3] ?? 2000);
const server = await serve({ root });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}/tests/js/pages/blank.html`);
  const out = await page.evaluate(async (n) => {
    const m = await import("/pkg/tapesync.js");
    await m.default();
    const store = await m.RecordingStore.open({ name: `hashing-${Math.random()}` });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await store.save(new Blob([new Uint8Array(16).fill(i & 255)], { type: "audio/webm" }), { name: `t${i}` });
    }
    const saved = performance.now();
    await store.settled();
    const settled = performance.now();
    const hashed = (await store.list({ limit: n })).items.filter((r) => r.contentHash).length;
    store.close();
    return { saveMs: saved - t0, settleMs: settled - saved, hashed };
  }, n);
  if (out.hashed !== n) throw new Error(`only ${out.hashed} of ${n} recordings were hashed`);
  console.log(JSON.stringify({ root, n, ...out, perRecordingMs: out.settleMs / n }));
} finally {
  await browser.close();
  await server.close();
}
