// Metadata first, audio by policy (issue 13), end to end: the built package in Debian's Chromium against the
// local Supabase on a free port. A pull lands every recording's metadata before any audio; `audio: "eager"`
// downloads the rest in the same round, "lazy" on getBlob (through the running autoSync) or fetchAudio,
// "none" only on fetchAudio; a recording whose audio is not here says `audioHere: false`; downloads are checked.
//
//   node --test --test-concurrency=1 tests/js/audio-policy.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { countBlobGets, start } from "./audio-cloud.mjs";

let cloud;
before(async () => { cloud = await start(); }, { timeout: 120_000 });
after(async () => { await cloud?.close(); });

/** A user whose cloud holds three recordings pushed by device "a" of a first page: { user, hashes }. */
async function seeded() {
  const { page, user } = await cloud.page();
  const hashes = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "a");
    const out = {};
    for (const [i, size] of [[0, 40_000], [1, 60_000], [2, 80_000]]) {
      const blob = kit.audio(size, 10 + i);
      await a.save(blob, { id: `r${i}`, name: `take ${i}` });
      out[`r${i}`] = await kit.digest(blob);
    }
    const report = await a.sync(makeRemote(cloud));
    if (report.outcome.kind !== "complete" || report.uploaded !== 3) throw new Error(JSON.stringify(report));
    return out;
  });
  await page.context().close();
  return { user, hashes };
}

test("a pull lands every recording's metadata before any audio; eager then downloads it all in the round", async () => {
  const { user, hashes } = await seeded();
  const { page } = await cloud.page(user);
  // Hold every audio download until the list has been looked at.
  let release;
  const gate = new Promise((ok) => { release = ok; });
  await page.route(/\/recordings\/blobs\//, async (route) => { await gate; await route.continue(); });
  await page.evaluate(() => {
    window.b = null;
    window.running = (async () => {
      window.b = await kit.device(tapesync, "b");
      return b.sync(makeRemote(cloud));
    })();
  });
  const early = await page.evaluate(() =>
    kit.until(async () => {
      const items = b ? (await b.list()).items : [];
      return items.length === 3 && items.map((r) => ({ id: r.id, audioHere: r.audioHere, size: r.size, name: r.name }));
    }, 20_000, "the metadata of all three recordings"));
  assert.deepEqual(early.map((r) => r.audioHere), [false, false, false], "no audio yet");
  assert.deepEqual(early.map((r) => r.name).sort(), ["take 0", "take 1", "take 2"]);
  release();
  const { report, items, audio } = await page.evaluate(async () => {
    const report = await running;
    const items = (await b.list()).items;
    const audio = {};
    for (const r of items) audio[r.id] = await kit.digest(await b.getBlob(r.id));
    return { report, items, audio };
  });
  assert.equal(report.outcome.kind, "complete", JSON.stringify(report));
  assert.equal(report.downloaded, 3);
  assert.equal(report.restored, true, "a fresh database whose prefix holds data: restored");
  assert.ok(items.every((r) => r.audioHere === true), JSON.stringify(items));
  assert.deepEqual(audio, hashes, "the bytes are the ones saved");
});

test('audio: "lazy" moves metadata only; getBlob fetches through the running autoSync, fetchAudio prefetches', async () => {
  const { user, hashes } = await seeded();
  const { page } = await cloud.page(user);
  const gets = countBlobGets(page);
  const out = await page.evaluate(async () => {
    const store = await kit.device(tapesync, "lazy");
    const remote = makeRemote(cloud);
    const noAuto = await kit.rejection(store.getBlob("r0"));
    const first = await store.sync(remote, { audio: "lazy" });
    const listed = (await store.list({ order: "asc" })).items.map((r) => r.audioHere);
    const got = await kit.rejection(store.getBlob("r1"));   // no autoSync yet: AudioNotHere
    const auto = store.autoSync(remote, { audio: "lazy", onStart: false, onVisible: false, onOnline: false, intervalMs: 0 });
    const blob = await store.getBlob("r1");
    const afterGet = (await store.list({ order: "asc" })).items.map((r) => r.audioHere);
    const quiet = await store.sync(remote, { audio: "lazy" });
    const fetched = await store.fetchAudio(["r0", "r1", "r2", "missing"], remote);
    const all = {};
    for (const r of (await store.list()).items) all[r.id] = { here: r.audioHere, hash: await kit.digest(await store.getBlob(r.id)) };
    auto.stop();
    return { noAuto, first, listed, got, r1: await kit.digest(blob), afterGet, quiet, fetched, all };
  });
  assert.equal(out.noAuto, "resolved", "an unknown id is null, as before");
  assert.equal(out.first.outcome.kind, "complete", JSON.stringify(out.first));
  assert.equal(out.first.downloaded, 0);
  assert.equal(out.first.pulled, 3);
  assert.deepEqual(out.listed, [false, false, false]);
  assert.equal(out.got.code, "AudioNotHere", JSON.stringify(out.got));
  assert.equal(out.r1, hashes.r1);
  assert.deepEqual(out.afterGet, [false, true, false], "only r1 came");
  assert.equal(out.quiet.downloaded, 0, "a lazy round does not download what it left in the cloud");
  assert.deepEqual(out.fetched, { downloaded: 2, failed: [] }, "r1 is here already, 'missing' does not exist");
  assert.deepEqual(out.all, Object.fromEntries(Object.entries(hashes).map(([id, hash]) => [id, { here: true, hash }])));
  assert.equal(gets.count, 3, "each take downloaded once");
  gets.stop();
});

test('audio: "none" fetches only on fetchAudio; offline getBlob rejects with Offline', async () => {
  const { user, hashes } = await seeded();
  const { page } = await cloud.page(user);
  const out = await page.evaluate(async () => {
    const store = await kit.device(tapesync, "none");
    const remote = makeRemote(cloud);
    const report = await store.sync(remote, { audio: "none" });
    let auto = store.autoSync(remote, { audio: "none", onStart: false, onVisible: false, onOnline: false, intervalMs: 0 });
    const withNone = await kit.rejection(store.getBlob("r0"));
    auto.stop();
    auto = store.autoSync(remote, { audio: "lazy", onStart: false, onVisible: false, onOnline: false, intervalMs: 0 });
    store.setOnline(false);
    const offline = await kit.rejection(store.getBlob("r0"));
    const offlineFetch = await kit.rejection(store.fetchAudio(["r0"], remote));
    store.setOnline(true);
    const online = await kit.digest(await store.getBlob("r0"));
    auto.stop();
    const stopped = await kit.rejection(store.getBlob("r2"));
    const fetched = await store.fetchAudio(["r2"], remote);
    const r2 = await kit.digest(await store.getBlob("r2"));
    const bad = await kit.rejection(store.fetchAudio("r2", remote));
    return { report, withNone, offline, offlineFetch, online, stopped, fetched, r2, bad };
  });
  assert.equal(out.report.downloaded, 0);
  assert.equal(out.withNone.code, "AudioNotHere");
  assert.equal(out.withNone.name, "TapesyncError");
  assert.equal(out.offline.code, "Offline", JSON.stringify(out.offline));
  assert.equal(out.offlineFetch.code, "Offline");
  assert.equal(out.online, hashes.r0);
  assert.equal(out.stopped.code, "AudioNotHere", "a stopped autoSync fetches nothing");
  assert.equal(out.fetched.downloaded, 1);
  assert.equal(out.r2, hashes.r2);
  assert.equal(out.bad.code, "InvalidArgument");
});

test("downloaded audio whose bytes are not the log's take never lands", async () => {
  const { user, hashes } = await seeded();
  const { page } = await cloud.page(user);
  // Every download of r1's take answers other bytes of the same length.
  await page.route(/\/recordings\/blobs\/r1\//, (route) =>
    route.fulfill({ status: 200, contentType: "audio/webm", body: Buffer.alloc(60_000, 7) }));
  const out = await page.evaluate(async () => {
    const store = await kit.device(tapesync, "checked");
    const remote = makeRemote(cloud);
    await store.sync(remote, { audio: "lazy" });
    const auto = store.autoSync(remote, { audio: "lazy", onStart: false, onVisible: false, onOnline: false, intervalMs: 0 });
    const bad = await kit.rejection(store.getBlob("r1"));
    const fetched = await store.fetchAudio(["r1", "r0"], remote);
    const r1 = await store.get("r1");
    auto.stop();
    return { bad, fetched, r1here: r1.audioHere };
  });
  assert.equal(out.bad.code, "Remote", JSON.stringify(out.bad));
  assert.match(out.bad.message, /SHA-256/);
  assert.equal(out.fetched.downloaded, 1, "r0 came");
  assert.deepEqual(out.fetched.failed.map((f) => [f.id, f.code]), [["r1", "Remote"]]);
  assert.equal(out.r1here, false, "nothing wrong was stored");
  await page.unroute(/\/recordings\/blobs\/r1\//);
  const good = await page.evaluate(async () => {
    const store = await kit.device(tapesync, "checked");
    return kit.digest(await store.getBlob("r1").catch(async () => {
      await store.fetchAudio(["r1"], makeRemote(cloud));
      return store.getBlob("r1");
    }));
  });
  assert.equal(good, hashes.r1);
});

test("setMetered(true): syncs move metadata only; unmetered, the next sync downloads the audio", async () => {
  const { user } = await seeded();
  const { page } = await cloud.page(user);
  const out = await page.evaluate(async () => {
    const store = await kit.device(tapesync, "metered");
    const remote = makeRemote(cloud);
    store.setMetered(true);
    const metered = await store.sync(remote);
    const here = (await store.list()).items.map((r) => r.audioHere);
    store.setMetered(false);
    const unmetered = await store.sync(remote);
    const after = (await store.list()).items.map((r) => r.audioHere);
    const bad = (() => { try { store.setMetered("yes"); return "accepted"; } catch (e) { return e.code; } })();
    return { metered, here, unmetered, after, bad };
  });
  assert.equal(out.metered.outcome.kind, "complete");
  assert.equal(out.metered.pulled, 3);
  assert.equal(out.metered.downloaded, 0);
  assert.deepEqual(out.here, [false, false, false]);
  assert.equal(out.unmetered.downloaded, 3, JSON.stringify(out.unmetered));
  assert.deepEqual(out.after, [true, true, true]);
  assert.equal(out.bad, "InvalidArgument");
});

const SIZE = 3 * 1024 * 1024;
const HALF = SIZE / 2;

/**
 * Device `${id}-a` pushes a take of SIZE bytes as recording `id`; device `${id}-b` pulls it through a proxy in
 * front of the local Supabase whose first download of the take stops after half its body (the headers with the
 * full Content-Length, half the bytes, then the connection drops). `dropContinuation`: the second download (the
 * ranged continuation) drops the connection after the answer's headers too, a phone going into a tunnel; a
 * request Chromium does not send again by itself (it resends one whose connection drops before any answer).
 * Resolves to { out: { report, hash }, hash, seen: [{ range, status }] per download of the take, sent }.
 */
async function cutDownload(id, seed, { dropContinuation = false } = {}) {
  const { page: seeder, user } = await cloud.page();
  const hash = await seeder.evaluate(async ({ id, seed, size }) => {
    const a = await kit.device(tapesync, `${id}-a`);
    const blob = kit.audio(size, seed);
    await a.save(blob, { id, name: "long interview" });
    const report = await a.sync(makeRemote(cloud));
    if (report.uploaded !== 1) throw new Error(JSON.stringify(report));
    return kit.digest(blob);
  }, { id, seed, size: SIZE });
  await seeder.context().close();
  const upstream = new URL(cloud.url);
  const takePath = new RegExp(`/object/authenticated/.*/blobs/${id}/`);
  const seen = [];
  let sent = 0;
  const proxy = http.createServer((req, res) => {
    const forward = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method,
      headers: { ...req.headers, host: upstream.host } }, (up) => {
      const take = req.method === "GET" && takePath.test(req.url);
      if (take) seen.push({ range: req.headers.range ?? null, status: up.statusCode });
      if (take && dropContinuation && seen.length === 2) {
        up.destroy();
        res.writeHead(up.statusCode, up.headers);
        res.flushHeaders();
        return setTimeout(() => res.socket?.destroy(), 50);
      }
      res.writeHead(up.statusCode, up.headers);
      if (!take) return up.pipe(res);
      const cut = seen.length === 1;
      let mine = 0;
      up.on("data", (chunk) => {
        const part = cut ? chunk.subarray(0, Math.max(0, HALF - mine)) : chunk;
        mine += part.length;
        sent += part.length;
        if (!(cut && mine >= HALF)) return part.length && res.write(part);
        // The half is on its way: drop the connection once it has been handed to the socket.
        up.destroy();
        res.write(part, () => setTimeout(() => res.socket?.destroy(), 50));
      });
      up.on("end", () => res.end());
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  await new Promise((ok) => proxy.listen(0, "127.0.0.1", ok));
  try {
    const { page } = await cloud.page(user);
    const out = await page.evaluate(async ({ id, url }) => {
      const store = await kit.device(tapesync, `${id}-b`);
      const report = await store.sync(makeRemote({ ...cloud, url }));
      return { report, hash: await kit.digest(await store.getBlob(id)) };
    }, { id, url: `http://127.0.0.1:${proxy.address().port}` });
    return { out, hash, seen, sent };
  } finally {
    await new Promise((ok) => proxy.close(ok));
  }
}

test("a large download cut off midway resumes with a ranged GET instead of starting over", async () => {
  const { out, hash, seen, sent } = await cutDownload("big", 77);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.report.downloaded, 1);
  assert.equal(out.hash, hash, "the joined bytes are the take");
  assert.equal(seen.length, 2, JSON.stringify(seen));
  assert.deepEqual(seen[0], { range: null, status: 200 });
  const from = Number(/^bytes=(\d+)-$/.exec(seen[1].range)?.[1]);
  assert.ok(from > 0 && from <= HALF, `the second GET asked for the rest: ${seen[1].range}`);
  assert.equal(seen[1].status, 206);
  assert.ok(sent <= SIZE + 64 * 1024, `about one take's bytes crossed the wire (${sent} for ${SIZE})`);
});

test("a download cut off whose continuation fails too keeps its bytes: the retry goes on from them", async () => {
  const { out, hash, seen, sent } = await cutDownload("big2", 78, { dropContinuation: true });
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.report.downloaded, 1);
  assert.equal(out.hash, hash, "the joined bytes are the take");
  assert.equal(seen.length, 3, JSON.stringify(seen));
  assert.deepEqual(seen[0], { range: null, status: 200 });
  const from = Number(/^bytes=(\d+)-$/.exec(seen[1].range)?.[1]);
  assert.ok(from > 0 && from <= HALF, `the continuation asked for the rest: ${seen[1].range}`);
  assert.equal(seen[2].range, seen[1].range, "the engine's retry went on from the kept bytes");
  assert.equal(seen[2].status, 206);
  assert.ok(sent <= SIZE + 64 * 1024, `about one take's bytes crossed the wire (${sent} for ${SIZE})`);
});
