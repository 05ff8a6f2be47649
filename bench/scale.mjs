// The scale benchmarks of issue 13, in one page (bench/scale.html, bench/scale-page.mjs) of Debian's
// headless Chromium driven by playwright-core, against the local Supabase (emulators/supabase, in this
// process, on a free port). `make bench` runs it; `node bench/scale.mjs` runs it alone.
//
// 1. Local costs at BIG and at BASE recordings, each store filled through `store.save` in batches
//    (64-byte audio) and hashed: the median time of list's first page, list all, count, count of one
//    state, find pending (list pending, first page), save, update. These stores keep audio as
//    `audioStorage: "chunks"`: Chromium's read-write commits get slower with every Blob the database
//    holds (BENCHMARKS.md, "Every read-write commit gets slower..."), which made a 50,000-Blob fill
//    take over an hour; the Blob form is measured in 2.
// 2. Sync at SYNCED and at BASE recordings (default audio storage, Blobs in Chromium): the stores
//    are filled, pushed once, then the same local costs and a quiet sync (nothing changed: requests
//    and time). The first push of the SYNCED store is "a sync of SYNCED recordings": the longest
//    main-thread task during it (PerformanceObserver `longtask`) is reported.
// 3. A new device's first pull of BIG recordings' metadata: the cloud is filled by writing the
//    bucket's objects directly (docs/sync.md's layout: log segments of 500 changes of one device,
//    made from a template segment tapesync itself pushed: the most a reader accepts, as earlier builds
//    sealed them; today's writers seal 100, and readers apply 500 in five commits), then a fresh store pulls; timed until the
//    metadata has landed (the round leaves its pull stage), then cancelled before the audio. Against
//    the same at BASE; requests and the longest task counted.
// Every figure is printed at both sizes with the ratio: a cost that grows with what changed, not
// with what exists, stays near 1×.
//
// Environment: SCALE_BIG (default 50000), SCALE_BASE (1000), SCALE_SYNCED (5000), SCALE_REPS (7);
// BENCH_QUICK=1 for a smoke run (5000 / 500 / 1000, 3 reps) that leaves BENCHMARKS.md unchanged.
// Otherwise writes its block into BENCHMARKS.md (between the bench:scale markers).
import { chromium } from "playwright-core";
import os from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { serve } from "../scripts/serve.mjs";
import { ANON_KEY, BUCKET, signUp, startSupabase, stopSupabase } from "../emulators/supabase/harness.mjs";
import { machine, writeSection } from "./report.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const REPORT = new URL("../BENCHMARKS.md", import.meta.url);
const QUICK = process.env.BENCH_QUICK === "1";
const num = (name, quick, full) => Number(process.env[name] ?? (QUICK ? quick : full));
const BIG = num("SCALE_BIG", 5000, 50000);
const BASE = num("SCALE_BASE", 500, 1000);
const SYNCED = num("SCALE_SYNCED", 1000, 5000);
const REPS = num("SCALE_REPS", 3, 7);
const AUDIO = 64;
// SCALE_ONLY=local,synced,pull runs only those parts and prints their figures (no report).
const ONLY = process.env.SCALE_ONLY ? new Set(process.env.SCALE_ONLY.split(",")) : null;
const runs = (part) => !ONLY || ONLY.has(part);
const PER_SEGMENT = 500;

const ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const log = (...a) => console.log(...a);
const ms = (x) => (x == null ? "-" : x >= 100 ? `${x.toFixed(0)} ms` : x >= 10 ? `${x.toFixed(1)} ms` : `${x.toFixed(2)} ms`);
const secs = (x) => `${(x / 1000).toFixed(1)} s`;
const ratio = (big, base) => (base > 0 ? `${(big / base).toFixed(2)}×` : "-");
const COUNTS = new Set(["total", "pending", "quietRequests"]);
const show = (m) => Object.entries(m).filter(([k]) => k !== "quietTally").map(([k, v]) => `${k} ${COUNTS.has(k) ? v : ms(v)}`).join(", ");
const describe = (t) => Object.entries(t).sort().map(([k, v]) => `${v} ${k}`).join(", ") || "none";

/** What one request to the local Supabase is. */
function kind(method, url) {
  const p = new URL(url).pathname;
  if (method === "OPTIONS") return "preflight";
  if (/\/object\/list/.test(p)) return "list";
  const what = /\/log\//.test(p) ? "segment" : /\/blobs\//.test(p) ? "blob" : "object";
  return `${method} ${what}`;
}
const tally = (reqs) => {
  const out = {};
  for (const r of reqs) if (r !== "preflight") out[r] = (out[r] ?? 0) + 1;
  return out;
};

export async function main() {
  if (!existsSync(new URL("../pkg/tapesync.js", import.meta.url))) {
    throw new Error("pkg/ is missing: run `make pkg` (or `make bench`, which builds it) first");
  }
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
  const loads = [os.loadavg()[0]];
  log(`\ntapesync scale benchmarks${QUICK ? " (BENCH_QUICK: smoke run)" : ""}: ${BIG} vs ${BASE} recordings; syncs of ${SYNCED} vs ${BASE}`);
  const sb = await startSupabase({ port: 0 });
  const server = await serve({ root: ROOT });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ARGS });
  const lines = [];
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error" && /status of 404|Failed to load resource/.test(m.text())) return;
      if (m.type() === "error" || m.type() === "warning") log(`  [page ${m.type()}] ${m.text()}`);
    });
    let reqs = [];
    page.on("request", (r) => r.url().startsWith(sb.url + "/") && reqs.push(kind(r.method(), r.url())));
    await page.goto(`${server.url}/bench/scale.html`);
    await page.evaluate(() => window.scale.ready);
    const call = async (fn, ...args) => {
      const out = await page.evaluate(([f, a]) => window.scale[f](...a), [fn, args]);
      if (pageErrors.length) throw new Error(`page error: ${pageErrors.join("; ")}`);
      return out;
    };
    const counted = async (fn, ...args) => {
      await new Promise((ok) => setTimeout(ok, 100));
      reqs = [];
      const out = await call(fn, ...args);
      await new Promise((ok) => setTimeout(ok, 100));
      const seen = reqs;
      reqs = [];
      return { out, requests: seen.filter((r) => r !== "preflight").length, tally: tally(seen) };
    };
    const cloudFor = async () => {
      const u = await signUp();
      return { url: sb.url, apikey: ANON_KEY, bucket: BUCKET, prefix: `users/${u.id}/recordings`, token: u.accessToken };
    };
    if (!(await call("longtaskSupported"))) log("  note: this Chromium has no PerformanceObserver longtask: no long-task figures");

    // 1. Local costs at BIG and BASE (audio as chunks, see the header).
    const local = {};
    for (const n of runs("local") ? [BASE, BIG] : []) {
      const name = `local-${n}-${Date.now()}`;
      await call("open", name, { audioStorage: "chunks" });
      const fill = await call("fill", name, n, AUDIO);
      log(`  [${elapsed()}] local ${n}: saved in ${secs(fill.saved)}, hashed +${secs(fill.hashed)}`);
      local[n] = await call("measure", name, REPS);
      log(`  [${elapsed()}] local ${n}: ${show(local[n])}`);
      await call("close", name);
      loads.push(os.loadavg()[0]);
    }

    // 2. Synced stores at SYNCED and BASE (Blobs): local costs, a quiet sync; long tasks of the first push.
    const synced = {};
    let task;
    for (const n of runs("synced") ? [BASE, SYNCED] : []) {
      const cloud = await cloudFor();
      await call("setRemote", cloud);
      const name = `synced-${n}-${Date.now()}`;
      await call("open", name);
      const fill = await call("fill", name, n, AUDIO);
      log(`  [${elapsed()}] synced ${n}: saved in ${secs(fill.saved)}, hashed +${secs(fill.hashed)}`);
      const push = await counted("sync", name, {}, n === SYNCED);
      if (push.out.report.outcome.kind !== "complete") throw new Error(`first push of ${n}: ${JSON.stringify(push.out.report.outcome)}`);
      log(`  [${elapsed()}] synced ${n}: first push ${secs(push.out.ms)}, ${push.requests} requests (${describe(push.tally)})` +
        (push.out.tasks ? `; longest task ${ms(push.out.tasks.longest)} (${push.out.tasks.over50} over 50 ms, ${ms(push.out.tasks.total)} in long tasks)` : ""));
      if (n === SYNCED) task = { ms: push.out.ms, requests: push.requests, tasks: push.out.tasks };
      loads.push(os.loadavg()[0]);
      const m = await call("measure", name, REPS);
      // Quiet sync: push the edits `measure` made, then syncs with nothing changed (the median of 3).
      await call("sync", name, {});
      const quiet = [];
      for (let i = 0; i < 3; i++) quiet.push(await counted("sync", name, {}));
      const q = quiet.sort((x, y) => x.out.ms - y.out.ms)[1];
      m.quietSync = q.out.ms;
      m.quietRequests = q.requests;
      m.quietTally = q.tally;
      synced[n] = m;
      log(`  [${elapsed()}] synced ${n}: ${show(m)}; quiet sync requests: ${describe(q.tally)}`);
      await call("close", name);
      loads.push(os.loadavg()[0]);
    }

    // 3. A new device's first pull of the metadata, the cloud written directly.
    const pulls = {};
    for (const n of runs("pull") ? [BASE, BIG] : []) {
      const cloud = await cloudFor();
      await call("setRemote", cloud);
      const template = await segmentTemplate(call, cloud, `tmpl-${n}-${Date.now()}`);
      const t0 = Date.now();
      const written = await writeSegments(cloud, template, n);
      log(`  [${elapsed()}] pull ${n}: wrote ${written} segments (${n} recordings' metadata) into the bucket in ${secs(Date.now() - t0)}`);
      const name = `pull-${n}-${Date.now()}`;
      await call("open", name);
      const pull = await counted("firstPull", name);
      if (pull.out.landed == null) throw new Error(`first pull of ${n}: the round never left its pull stage: ${JSON.stringify(pull.out.report)}`);
      pulls[n] = { landed: pull.out.landed, requests: pull.requests, tally: pull.tally, tasks: pull.out.tasks };
      log(`  [${elapsed()}] pull ${n}: metadata landed after ${secs(pull.out.landed)}, ${pull.requests} requests (${describe(pull.tally)}); ` +
        `longest task ${ms(pull.out.tasks?.longest)} (${pull.out.tasks?.over50 ?? "-"} over 50 ms)`);
      await call("close", name);
      loads.push(os.loadavg()[0]);
    }

    if (ONLY) return;
    // Report.
    const rows = [
      ["list, first page (50)", "listFirstPage"],
      ["list all", "listAll"],
      ["count()", "count"],
      ["count({ syncState: \"pending\" })", "countPending"],
      ["find pending (list pending, first page)", "findPending"],
      ["save (64 bytes)", "save"],
      ["update", "update"],
    ];
    const pair = (fig, big, base, k) => `| ${fig} | ${ms(base[k])} | ${ms(big[k])} | ${ratio(big[k], base[k])} |`;
    const load = `load average (1 min) ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)} during the run`;
    const [sa, sb2] = [synced[BASE], synced[SYNCED]];
    lines.push(
      `Chromium ${browser.version()}, ${machine()}, ${load}; ${new Date().toISOString().slice(0, 10)}; ` +
        `\`node bench/scale.mjs\` (SCALE_BIG=${BIG}, SCALE_BASE=${BASE}, SCALE_SYNCED=${SYNCED}, ${REPS} reps, medians).`,
      "",
      `Local costs, audio as \`audioStorage: "chunks"\` (see bench/scale.mjs's header for why):`,
      "",
      `| Figure | ${BASE} | ${BIG} | ${BIG}/${BASE} |`,
      "|---|---|---|---|",
      ...rows.map(([label, k]) => pair(label, local[BIG], local[BASE], k)),
      "",
      `Synced stores, audio as Blobs (Chromium's default), pushed once:`,
      "",
      `| Figure | ${BASE} | ${SYNCED} | ${SYNCED}/${BASE} |`,
      "|---|---|---|---|",
      ...rows.map(([label, k]) => pair(label, sb2, sa, k)),
      pair("quiet sync: time", sb2, sa, "quietSync"),
      `| quiet sync: requests | ${sa.quietRequests} | ${sb2.quietRequests} | ${ratio(sb2.quietRequests, sa.quietRequests)} |`,
      "",
      `A new device's first pull of the metadata (the bucket written directly; timed until the round leaves its pull stage):`,
      "",
      `| Figure | ${BASE} | ${BIG} | ${BIG}/${BASE} |`,
      "|---|---|---|---|",
      `| time | ${secs(pulls[BASE].landed)} | ${secs(pulls[BIG].landed)} | ${ratio(pulls[BIG].landed, pulls[BASE].landed)} |`,
      `| requests | ${pulls[BASE].requests} | ${pulls[BIG].requests} | ${ratio(pulls[BIG].requests, pulls[BASE].requests)} |`,
      `| longest main-thread task | ${ms(pulls[BASE].tasks?.longest)} | ${ms(pulls[BIG].tasks?.longest)} | |`,
      "",
      `- Long tasks (PerformanceObserver \`longtask\`) during the first push of ${SYNCED} recordings (${secs(task.ms)}, ${task.requests} requests): ` +
        `longest ${ms(task.tasks?.longest)}, ${task.tasks?.over50 ?? "-"} over 50 ms, ${ms(task.tasks?.total)} in long tasks.`,
      `- Quiet sync requests: ${describe(sb2.quietTally)} (at ${SYNCED}); ${describe(sa.quietTally)} (at ${BASE}).`,
      `- First pull requests at ${BIG}: ${describe(pulls[BIG].tally)}.`,
    );
    log("\n" + lines.join("\n"));
  } finally {
    await browser.close();
    await server.close();
    await stopSupabase();
  }
  if (!QUICK && !ONLY) {
    writeSection(REPORT, { start: "<!-- bench:scale start -->", end: "<!-- bench:scale end -->", heading: "## Scale", lines });
    log("\nwrote the Scale section of BENCHMARKS.md");
  }
}

const pad = (seq) => String(seq).padStart(20, "0");
const objectUrl = (cloud, key) => `${cloud.url}/storage/v1/object/${cloud.bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
const auth = (cloud) => ({ apikey: cloud.apikey, authorization: `Bearer ${cloud.token}` });

/**
 * A segment tapesync wrote: one recording pushed by a store of its own; returns its first change
 * as JSON text and the device id, the template of the segments written directly.
 */
async function segmentTemplate(call, cloud, name) {
  await call("open", name);
  await call("fill", name, 1, AUDIO);
  await call("sync", name, {});
  const device = await call("deviceId", name);
  await call("close", name);
  for (const seq of [0, 1]) {
    const res = await fetch(objectUrl(cloud, `${cloud.prefix}/log/${device}/${pad(seq)}.json`), { headers: auth(cloud) });
    if (res.ok) {
      const seg = await res.json();
      return { device, change: JSON.stringify(seg.changes[0]), firstSeq: seq, id: seg.changes[0].id };
    }
    await res.arrayBuffer();
  }
  throw new Error("the template device's segment was not found");
}

/** Writes `n` recordings' metadata as segments of another device: PER_SEGMENT changes each. */
async function writeSegments(cloud, template, n) {
  const device = "bench-device-" + Math.random().toString(36).slice(2, 10);
  const jobs = [];
  for (let i = 0, seq = template.firstSeq; i < n; i += PER_SEGMENT, seq++) {
    const changes = [];
    for (let j = i; j < Math.min(n, i + PER_SEGMENT); j++) {
      changes.push(template.change.split(template.id).join(`bench-${j}`).split(template.device).join(device));
    }
    jobs.push({ seq, body: `{"v":1,"device":"${device}","seq":${seq},"changes":[${changes.join(",")}]}` });
  }
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const res = await fetch(objectUrl(cloud, `${cloud.prefix}/log/${device}/${pad(job.seq)}.json`), {
        method: "POST",
        headers: { ...auth(cloud), "content-type": "application/json" },
        body: job.body,
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`writing segment ${job.seq}: HTTP ${res.status} ${text}`);
    }
  }));
  return jobs.length;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
