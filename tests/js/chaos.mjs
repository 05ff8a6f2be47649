// The chaos scenario, the same for every cloud (tests/js/chaos-{firebase,supabase,s3}.test.mjs run it): three
// devices, each a browser context of its own (its own profile: IndexedDB, HTTP cache) in Debian's Chromium, make
// about 300 changes between them, at the same time: saves of mixed sizes (some over one resumable chunk), edits,
// re-recordings and deletes, with syncs in between, all through the chaos proxy (emulators/chaos/proxy.mjs) that
// puts a fault on about a fifth of the requests. Then the proxy heals, the devices sync until they are quiet, and
// the verdict is checked:
//
//   - every device holds the same recordings, each with the same metadata and audio bytes (SHA-256 of getBlob()
//     equals contentHash), all synced;
//   - nothing lost: every recording saved and never deleted is there; every take (audio) recorded is there
//     (as its recording's audio or as a conflict copy's), unless a device replaced or deleted it after seeing it
//     (docs/sync.md: a take deliberately replaced or deleted is not copied); no bytes that were never recorded;
//   - nothing duplicated: the recordings not saved by the scenario are conflict copies (custom.conflictOf), and
//     the cloud holds exactly one audio object per recording's current take: no orphans (docs/sync.md: replaced
//     and deleted takes are deleted once the segment that made them garbage is in the cloud);
//   - no retry storm: the requests stay within REQUEST_BOUND times those of the same changes without faults;
//   - no panic, no uncaught error (tests/js/browser.mjs checks every page), every API call resolved or rejected
//     with a TapesyncError.
//
// The seed decides the changes, their sizes, the devices' timing and the proxy's faults. A failing seed prints the
// command that replays it: CHAOS_SEEDS=<seed> node --test tests/js/chaos-<cloud>.test.mjs.
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startChaosProxy } from "../../emulators/chaos/proxy.mjs";
import { ROOT } from "./browser.mjs";
import { installRemote } from "./chaos-clouds.mjs";
import { installBytes } from "./pages/bytes.js";

const MiB = 1024 * 1024;

/**
 * With a fault on a fifth of the requests, each costs at most its retry plus a metadata read to settle a lost
 * answer, and an incomplete round is run again: REQUEST_BOUND x the fault-free run (plus a few requests per
 * sync for the rounds that end early) is the stated limit; measured figures are in docs/reliability.md.
 */
export const REQUEST_BOUND = 2.5;
export const REQUEST_SLACK_PER_SYNC = 4;

/** The seeds to run: CHAOS_SEEDS ("7", "1,2,3" or a range "1-20"), else `fallback`. */
export function seeds(fallback) {
  const v = process.env.CHAOS_SEEDS;
  if (!v) return fallback;
  const range = /^(\d+)-(\d+)$/.exec(v.trim());
  if (range) return Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i);
  return v.split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n));
}

/** A small seeded PRNG (mulberry32): the same seed, the same stream. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (xs) => xs[Math.floor(next() * xs.length)];
  return next;
}

/** Installed in each page: the device's store, its remote, and the operations the scenario makes. */
function pageKit() {
  const bytes = window.testBytes; // tests/js/pages/bytes.js, installed first
  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const digest = async (blob) => hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  const plain = (v) => JSON.parse(JSON.stringify(v ?? null));
  const failure = (e) => ({ name: e?.name, code: e?.code, message: String(e?.message ?? e), tapesync: e?.name === "TapesyncError" });
  const chaos = (window.chaos = {
    async open(name, remote) {
      chaos.store = await tapesync.RecordingStore.open({ name });
      chaos.remote = chaosRemote(remote);
      return chaos.store.deviceId;
    },
    async ids() {
      return (await chaos.store.list()).items.map((r) => r.id).sort();
    },
    async current(id) {
      const r = await chaos.store.get(id);
      if (!r) return null;
      return r.contentHash ?? (await digest(await chaos.store.getBlob(id)));
    },
    /** One operation; resolves what the checks need, or { error } (never rejects). */
    async op(op) {
      const s = chaos.store;
      try {
        if (op.kind === "save") {
          const blob = new Blob([bytes(op.size, op.seed)], { type: op.type });
          await s.save(blob, { id: op.id, name: op.name, tags: op.tags, custom: op.custom, durationMs: op.durationMs });
          return { id: op.id, hash: await digest(blob) };
        }
        if (op.kind === "sync") {
          const report = await s[op.direction](chaos.remote, { policy: "merge" });
          return { report: plain(report) };
        }
        const ids = await chaos.ids();
        if (ids.length === 0) return { skipped: true };
        const id = ids[op.pick % ids.length];
        if (op.kind === "update") {
          // As an app sets a custom key: the others (a copy's conflictOf) stay.
          const patch = { ...op.patch };
          if (patch.custom) patch.custom = { ...(await s.get(id)).custom, ...patch.custom };
          await s.update(id, patch);
          return { id };
        }
        const observed = await chaos.current(id);
        if (op.kind === "replace") {
          const blob = new Blob([bytes(op.size, op.seed)], { type: op.type });
          await s.replaceAudio(id, blob);
          return { id, observed, hash: await digest(blob) };
        }
        await s.delete(id);
        return { id, observed };
      } catch (e) {
        return { error: failure(e) };
      }
    },
    /** { id: { metadata, audio } } of every recording, the audio as the SHA-256 of getBlob(). */
    async snapshot() {
      const out = {};
      for (const r of (await chaos.store.list()).items) {
        const blob = await chaos.store.getBlob(r.id);
        const { synced, ...rest } = r;
        out[r.id] = { ...plain(rest), audio: blob ? await digest(blob) : null, blobType: blob?.type ?? null };
      }
      return out;
    },
    async counts() {
      return { all: await chaos.store.count(), listed: (await chaos.store.list()).items.length };
    },
  });
}

const TYPES = ["audio/webm;codecs=opus", "audio/ogg", "audio/mp4", "audio/webm"];
const WORDS = ["standup", "interview", "idea", "lecture", "song", "memo", "call", "draft"];

/** The size of a save or a take: mostly small, some hundreds of KiB, `big` over one 6 MiB chunk. */
function sizeOf(rand, big) {
  if (big) return 6 * MiB + 1 + rand.int(2 * MiB);
  const r = rand();
  if (r < 0.6) return 200 + rand.int(20_000);
  if (r < 0.92) return 20_000 + rand.int(300_000);
  return 300_000 + rand.int(1_700_000);
}

/**
 * The operations of one device: `changes` changes (saves, edits, re-recordings, deletes) with syncs in between.
 * `bigAt`: the change numbers that are saves or takes over one chunk.
 */
export function plan(seed, device, changes, bigAt = []) {
  const rand = prng(seed * 1009 + device * 7919 + 1);
  const ops = [];
  let saved = 0;
  for (let i = 0; i < changes; i++) {
    const big = bigAt.includes(i);
    const r = rand();
    // The first few changes are saves: there is something to edit.
    const kind = big ? (rand() < 0.7 ? "save" : "replace") : i < 4 || r < 0.42 ? "save" : r < 0.7 ? "update" : r < 0.87 ? "replace" : "delete";
    const op = { n: i, kind };
    if (kind === "save") {
      op.id = `s${seed}-d${device}-${saved++}`;
      op.size = sizeOf(rand, big);
      op.seed = seed * 100_000 + device * 10_000 + i;
      op.type = rand.pick(TYPES);
      op.name = `${rand.pick(WORDS)} ${i}`;
      op.tags = rand() < 0.5 ? [rand.pick(WORDS)] : [];
      op.custom = rand() < 0.4 ? { mic: rand.pick(["usb", "phone", "lavalier"]), take: i } : {};
      op.durationMs = 1000 + rand.int(600_000);
    } else {
      op.pick = rand.int(1 << 30);
      if (kind === "update") {
        const which = rand();
        op.patch = which < 0.4 ? { name: `${rand.pick(WORDS)} (edit ${device}.${i})` }
          : which < 0.6 ? { tags: [rand.pick(WORDS), rand.pick(WORDS)] }
          : which < 0.8 ? { custom: { rating: rand.int(5), by: `d${device}` } }
          : { name: `renamed ${device}.${i}`, durationMs: rand() < 0.3 ? null : rand.int(900_000) };
      }
      if (kind === "replace") {
        op.size = sizeOf(rand, big);
        op.seed = seed * 100_000 + device * 10_000 + i + 5000;
        op.type = rand.pick(TYPES);
      }
    }
    ops.push(op);
    // A sync after about one change in eight: mostly full rounds, some push or pull only.
    if (rand() < 0.125) {
      const d = rand();
      ops.push({ kind: "sync", direction: d < 0.7 ? "sync" : d < 0.85 ? "push" : "pull" });
    }
  }
  ops.push({ kind: "sync", direction: "sync" });
  return ops;
}

const sha256 = (b) => createHash("sha256").update(b).digest("hex");

/**
 * Runs one seed against `cloud` (chaos-clouds.mjs) in `env` (browser.mjs's launch()): a fault-free run of the
 * same plan first (for the request bound), then the run under faults. Resolves { violations, figures, replay }.
 */
export async function runSeed({ env, cloud, seed, changes = 300, rate = 0.2, devices = 3, timeoutMs = 20_000, log = () => {} }) {
  const perDevice = Math.ceil(changes / devices);
  // Two changes over one chunk in all: a save on device 0 early, a take on device 1 midway.
  const plans = Array.from({ length: devices }, (_, d) =>
    plan(seed, d, perDevice, d === 0 ? [4] : d === 1 ? [Math.floor(perDevice / 2)] : []));
  const replay = `CHAOS_SEEDS=${seed} node --test tests/js/chaos-${cloud.name}.test.mjs`;
  const proxy = await startChaosProxy({ target: cloud.target, seed, rate: 0, ...cloud.proxyOptions });
  const pages = [];
  try {
    for (let d = 0; d < devices; d++) {
      const page = await env.page();
      await page.evaluate(async () => {
        await window.tapesyncReady;
      });
      await installRemote(page);
      await installBytes(page);
      await page.evaluate(pageKit);
      pages.push(page);
    }
    const baseline = await runPhase({ pages, plans, proxy, cloud, rate: 0, store: `chaos-base-${seed}`, timeoutMs, log });
    const chaos = await runPhase({ pages, plans, proxy, cloud, rate, store: `chaos-${seed}`, timeoutMs, log });
    const bound = Math.ceil(REQUEST_BOUND * baseline.requests + REQUEST_SLACK_PER_SYNC * chaos.syncs);
    const violations = [...baseline.violations.map((v) => `fault-free run: ${v}`), ...chaos.violations];
    if (chaos.requests > bound) {
      violations.push(`retry storm: ${chaos.requests} requests under faults, ${baseline.requests} without; the bound is ${bound}`);
    }
    for (const page of pages) {
      const panics = (page.logs ?? []).filter((l) => /unreachable|panicked|RuntimeError/i.test(l));
      if (panics.length) violations.push(`panic in a page: ${panics.slice(0, 3).join(" | ")}`);
    }
    const figures = {
      cloud: cloud.name, seed, changes: chaos.changes, syncs: chaos.syncs, recordings: chaos.recordings,
      requests: chaos.requests, baselineRequests: baseline.requests, bound, faults: chaos.faults, byKind: chaos.byKind,
      convergeRounds: chaos.convergeRounds, ms: chaos.ms, violations: violations.length,
    };
    return { violations, figures, replay };
  } finally {
    for (const page of pages) await page.context().close().catch(() => {});
    await proxy.close();
  }
}

/** One run of the plans on fresh stores and a fresh account, the proxy at `rate`; then heal, converge, check. */
async function runPhase({ pages, plans, proxy, cloud, rate, store, timeoutMs, log }) {
  const t0 = Date.now();
  const account = await cloud.account();
  const remote = { ...account.remote(proxy.url), timeoutMs };
  const violations = [];
  const saved = new Set();
  const deleted = new Set();
  const takes = new Map(); // hash -> what recorded it
  const seen = new Set(); // hashes a device had in front of it when it replaced or deleted them
  let changes = 0;
  let syncs = 0;
  await Promise.all(pages.map((page, d) => page.evaluate(({ name, remote }) => chaos.open(name, remote), { name: `${store}-d${d}`, remote })));
  proxy.clearLog();
  proxy.rate = rate;
  const note = (d, op, out) => {
    if (out.error) {
      violations.push(`device ${d}: ${op.kind}${op.id ? ` ${op.id}` : ""} rejected: ${JSON.stringify(out.error)}`);
      return;
    }
    if (out.skipped) return;
    if (op.kind === "sync") {
      syncs++;
      const o = out.report.outcome;
      if (!["complete", "incomplete"].includes(o.kind)) violations.push(`device ${d}: a round ended ${JSON.stringify(o)}`);
      for (const f of out.report.failed) violations.push(`device ${d}: ${f.id} failed for good: ${JSON.stringify(f)}`);
      return;
    }
    changes++;
    if (op.kind === "save") {
      saved.add(out.id);
      takes.set(out.hash, `${out.id} (save, device ${d})`);
    }
    if (op.kind === "replace") takes.set(out.hash, `${out.id} (take, device ${d})`);
    if (op.kind === "delete") deleted.add(out.id);
    if (out.observed) seen.add(out.observed);
  };
  await Promise.all(pages.map(async (page, d) => {
    for (const op of plans[d]) {
      const out = await page.evaluate((op) => chaos.op(op), op);
      note(d, op, out);
    }
  }));
  const faults = proxy.stats.faulted;
  const byKind = { ...proxy.stats.byKind };
  // Healed: sync in turn until a whole pass moves nothing.
  proxy.rate = 0;
  let convergeRounds = 0;
  for (let pass = 0; pass < 6; pass++) {
    let moved = 0;
    let incomplete = 0;
    for (let d = 0; d < pages.length; d++) {
      const out = await pages[d].evaluate(() => chaos.op({ kind: "sync", direction: "sync" }));
      convergeRounds++;
      if (out.error) {
        violations.push(`device ${d}: converging sync rejected: ${JSON.stringify(out.error)}`);
        continue;
      }
      const r = out.report;
      moved += r.pushed + r.pulled + r.uploaded + r.downloaded + r.deleted;
      if (r.outcome.kind !== "complete") incomplete++;
      for (const f of r.failed) violations.push(`device ${d}: ${f.id} failed in a healed round: ${JSON.stringify(f)}`);
    }
    if (moved === 0 && incomplete === 0) break;
    if (pass === 5) violations.push(`no convergence after 6 healed passes (last: ${moved} moved, ${incomplete} incomplete)`);
  }
  const requests = proxy.stats.requests;
  const snaps = await Promise.all(pages.map((p) => p.evaluate(() => chaos.snapshot())));
  const counts = await Promise.all(pages.map((p) => p.evaluate(() => chaos.counts())));
  // Every device the same.
  for (let d = 1; d < snaps.length; d++) {
    const a = snaps[0];
    const b = snaps[d];
    for (const id of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[id]) !== JSON.stringify(b[id])) {
        violations.push(`device 0 and device ${d} differ on ${id}: ${JSON.stringify(a[id])} vs ${JSON.stringify(b[id])}`);
      }
    }
  }
  const final = snaps[0];
  counts.forEach((c, d) => {
    if (c.all !== c.listed || c.all !== Object.keys(snaps[d]).length) violations.push(`device ${d}: count() ${c.all}, list() ${c.listed}`);
  });
  const audio = new Map();
  for (const [id, r] of Object.entries(final)) {
    if (r.syncState !== "synced") violations.push(`${id} is ${r.syncState} after convergence`);
    if (r.audio !== r.contentHash) violations.push(`${id}: its bytes (${r.audio}) are not its contentHash (${r.contentHash})`);
    if (!takes.has(r.audio)) violations.push(`${id}: audio ${r.audio} was never recorded`);
    if (!saved.has(id) && r.custom?.conflictOf === undefined) violations.push(`${id}: neither saved nor a conflict copy`);
    if (deleted.has(id)) violations.push(`${id} was deleted and is back`);
    audio.set(r.audio, id);
  }
  for (const id of saved) if (!deleted.has(id) && !final[id]) violations.push(`${id} was saved, never deleted, and is lost`);
  for (const [hash, what] of takes) {
    if (!seen.has(hash) && !audio.has(hash)) violations.push(`the take ${hash.slice(0, 12)} of ${what} is lost (never replaced nor deleted by a device that saw it)`);
  }
  // The cloud: exactly one object per recording's take, nothing else under blobs/.
  const want = Object.entries(final).map(([id, r]) => `blobs/${id}/${r.contentHash}`).sort();
  const have = await account.blobs();
  const wantSet = new Set(want);
  const haveSet = new Set(have);
  const orphans = have.filter((k) => !wantSet.has(k));
  const missing = want.filter((k) => !haveSet.has(k));
  if (orphans.length) violations.push(`${orphans.length} orphan audio objects in the cloud: ${orphans.slice(0, 5).join(", ")}`);
  if (missing.length) violations.push(`${missing.length} takes missing from the cloud: ${missing.slice(0, 5).join(", ")}`);
  if (have.length !== haveSet.size) violations.push("an audio object is listed twice");
  const open = await account.openUploads();
  if (open && open.length) log(`${cloud.name}: ${open.length} multipart uploads left open (s3/lifecycle.json aborts them): ${open.slice(0, 3).join(", ")}`);
  if (violations.length) {
    // The proxy's log of the run, for the replay's post-mortem (test-output/ is not committed).
    const file = path.join(ROOT, "test-output", `chaos-${cloud.name}-${store}.json`);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(proxy.log, null, 0).replaceAll("},{", "},\n{"));
    log(`${cloud.name}: the proxy's log of this run is in ${path.relative(ROOT, file)}`);
  }
  log(`${cloud.name} ${rate ? "chaos" : "fault-free"} run: ${changes} changes, ${syncs} syncs, ${Object.keys(final).length} recordings, ${requests} requests, ${faults} faults, ${Date.now() - t0} ms`);
  return { violations, changes, syncs, recordings: Object.keys(final).length, requests, faults, byKind, convergeRounds, ms: Date.now() - t0, sha256 };
}
