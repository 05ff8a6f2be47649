// The kept recording counts (src/browser/counts.rs): `store.count()` reads a value kept in the
// `meta` store, updated in the same transaction as every write. Checked here against raw IndexedDB's
// own counts of the same database after every write path (save, capture, update and replaceAudio
// before and after hashing, delete, hashing, a push, a pull landing on a second device, a conflict
// copy, resetSync), after writes that fail or abort (a reused id, a save over the quota, an invalid
// update, a cancelled sync), after reopening, and for a database written before counts were kept.
// The built package in Chromium, against the local Supabase on a free port (no e2e lock needed).
//
//   node --test tests/js/counts.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { ANON_KEY, BUCKET, signUp, startSupabase, stopSupabase } from "../../emulators/supabase/harness.mjs";

let url;
let env;
before(async () => {
  ({ url } = await startSupabase({ port: 0 }));
  env = await launch();
}, { timeout: 120_000 });
after(async () => {
  await env?.close();
  await stopSupabase();
});

const STATES = ["pending", "uploading", "synced", "conflict", "failed"];

/** A page with the package, `window.remote(cloud)`, `window.raw(name)` and `window.kept(store)`. */
async function device(context) {
  const page = context ? await context.newPage() : await env.page();
  if (context) await page.goto(env.url + "/tests/js/pages/blank.html");
  await page.evaluate((states) => {
    window.STATES = states;
    window.remote = (c) =>
      new tapesync.SupabaseRemote({ url: c.url, apikey: c.apikey, bucket: c.bucket, prefix: c.prefix, getToken: async () => c.token });
    // IndexedDB's own counts of the store's database: the oracle.
    window.raw = (name) =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open(`tapesync/${name}`);
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const tx = db.transaction("recordings");
          const recordings = tx.objectStore("recordings");
          const out = {};
          recordings.count().onsuccess = (e) => (out.total = e.target.result);
          for (const s of states) {
            recordings.index("bySyncState").count(IDBKeyRange.bound([s], [s, []])).onsuccess = (e) => (out[s] = e.target.result);
          }
          tx.oncomplete = () => { db.close(); resolve(out); };
          tx.onerror = () => reject(tx.error);
        };
      });
    window.kept = async (store) => {
      const out = { total: await store.count() };
      for (const s of states) out[s] = await store.count({ syncState: s });
      return out;
    };
  }, STATES);
  await page.evaluate(() => window.tapesyncReady);
  return page;
}

/** Asserts the store's counts equal IndexedDB's; returns them. */
async function check(page, name, what, expect) {
  const { kept, raw } = await page.evaluate(async (name) => ({ kept: await kept(window.stores[name]), raw: await raw(name) }), name);
  assert.deepEqual(kept, raw, `${what}: count() says ${JSON.stringify(kept)}, IndexedDB holds ${JSON.stringify(raw)}`);
  if (expect) {
    for (const [k, v] of Object.entries(expect)) assert.equal(kept[k], v, `${what}: ${k}`);
  }
  return kept;
}

const open = (page, name) =>
  page.evaluate(async (name) => {
    window.stores ??= {};
    window.stores[name] = await tapesync.RecordingStore.open({ name });
  }, name);

async function cloudFor() {
  const u = await signUp();
  return { url, apikey: ANON_KEY, bucket: BUCKET, prefix: `users/${u.id}/recordings`, token: u.accessToken };
}

test("count() stays exact across every write path, failed and aborted writes, and reopening", async () => {
  const cloud = await cloudFor();
  const a = await device();
  await open(a, "a");
  await check(a, "a", "a new store", { total: 0 });

  // Saves, before the background hashing gives them sync entries.
  const ids = await a.evaluate(async () => {
    const s = stores.a;
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push((await s.save(new Blob([`take ${i}`], { type: "audio/webm" }), { name: `r${i}` })).id);
    return ids;
  });
  await check(a, "a", "six saves", { total: 6, pending: 6 });

  // Writes that fail: nothing is counted.
  const failures = await a.evaluate(async (ids) => {
    const s = stores.a;
    const codes = [];
    const code = (p) => p.then(() => "ok", (e) => e.code);
    codes.push(await code(s.save(new Blob(["again"]), { id: ids[0] })));
    codes.push(await code(s.update(ids[0], { name: "x".repeat(5000) })));
    codes.push(await code(s.delete("no-such-id")));
    return codes;
  }, ids);
  assert.deepEqual(failures, ["Conflict", "InvalidArgument", "NotFound"]);
  await check(a, "a", "failed writes", { total: 6, pending: 6 });

  // Unhashed (no sync entry yet) update, replaceAudio and delete; a capture.
  await a.evaluate(async (ids) => {
    const s = stores.a;
    await s.update(ids[1], { name: "renamed" });
    await s.replaceAudio(ids[2], new Blob(["new take"], { type: "audio/webm" }));
    await s.delete(ids[3]);
    const cap = await s.startCapture({ mimeType: "audio/webm" });
    await cap.append(new Blob(["chunk 1"]));
    await cap.append(new Blob(["chunk 2"]));
    await cap.finish({ durationMs: 10 });
    await s.settled();
  }, ids);
  await check(a, "a", "unhashed edits, a capture, then hashing", { total: 6, pending: 6 });

  // Hashed: the same writes through sync entries.
  await a.evaluate(async (ids) => {
    const s = stores.a;
    await s.update(ids[1], { name: "renamed again" });
    await s.replaceAudio(ids[2], new Blob(["third take"], { type: "audio/webm" }));
    await s.delete(ids[4]);
  }, ids);
  await check(a, "a", "hashed edits", { total: 5, pending: 5 });

  // A push: pending -> uploading -> synced.
  const pushed = await a.evaluate((cloud) => stores.a.sync(remote(cloud)), cloud);
  assert.equal(pushed.outcome.kind, "complete", JSON.stringify(pushed));
  await check(a, "a", "after a push", { total: 5, synced: 5, pending: 0 });
  await a.evaluate(async (ids) => stores.a.update(ids[1], { name: "edited after sync" }), ids);
  await check(a, "a", "an edit of a synced recording", { total: 5, synced: 4, pending: 1 });

  // A second device pulls everything (downloads land in batches); then a conflict copy.
  const b = await device(await env.context());
  await open(b, "b");
  const pulled = await b.evaluate((cloud) => stores.b.sync(remote(cloud)), cloud);
  assert.equal(pulled.outcome.kind, "complete", JSON.stringify(pulled));
  await check(b, "b", "a first pull", { total: 5, synced: 5 });
  await a.evaluate(async (cloud) => {
    await stores.a.sync(remote(cloud));
  }, cloud);
  // Concurrent re-recordings of the same recording: the losing take becomes a conflict copy.
  await a.evaluate(async (id) => stores.a.replaceAudio(id, new Blob(["take from a"], { type: "audio/webm" })), ids[5]);
  await b.evaluate(async (id) => stores.b.replaceAudio(id, new Blob(["take from b"], { type: "audio/webm" })), ids[5]);
  await a.evaluate((cloud) => stores.a.sync(remote(cloud)), cloud);
  const conflicted = await b.evaluate((cloud) => stores.b.sync(remote(cloud)), cloud);
  assert.equal(conflicted.conflicts, 1, JSON.stringify(conflicted));
  const afterCopy = await check(b, "b", "a pull that made a conflict copy");
  await b.evaluate((cloud) => stores.b.sync(remote(cloud)), cloud);
  const settled = await check(b, "b", "the conflict copy pushed");
  assert.equal(settled.synced, settled.total, JSON.stringify(settled));
  assert.ok(settled.total >= afterCopy.total && afterCopy.total >= 5, JSON.stringify({ afterCopy, settled }));

  // A sync cancelled mid-way: whatever committed is counted, nothing half.
  await a.evaluate(async () => {
    const s = stores.a;
    for (let i = 0; i < 20; i++) await s.save(new Blob([`more ${i}`], { type: "audio/webm" }));
  });
  await a.evaluate(async (cloud) => {
    const ctl = new AbortController();
    const round = stores.a.sync(remote(cloud), { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 30);
    await round.catch(() => {});
  }, cloud);
  await check(a, "a", "a cancelled sync");

  // resetSync: every recording pending again.
  const before = await check(a, "a", "before resetSync");
  await a.evaluate(() => stores.a.resetSync());
  await check(a, "a", "resetSync", { total: before.total, pending: before.total });

  // Reopening reads the same counts.
  await a.evaluate(() => stores.a.close());
  await open(a, "a");
  await check(a, "a", "reopened", { total: before.total, pending: before.total });
  await a.evaluate(() => stores.a.close());
  await b.evaluate(() => stores.b.close());
});

test("a save that fails for quota aborts with nothing counted", async () => {
  const page = await device();
  const cdp = await page.context().newCDPSession(page);
  const origin = new URL(page.url()).origin;
  await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: 2 * 1024 * 1024 });
  try {
    await open(page, "q");
    await page.evaluate(() => stores.q.save(new Blob(["small"], { type: "audio/webm" })));
    await check(page, "q", "one save", { total: 1 });
    const code = await page.evaluate(async () => {
      const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
      return stores.q.save(new Blob([big], { type: "audio/webm" })).then(() => "saved", (e) => e.code);
    });
    assert.equal(code, "QuotaExceeded");
    await check(page, "q", "a save over the quota", { total: 1, pending: 1 });
  } finally {
    await cdp.send("Storage.overrideQuotaForOrigin", { origin });
  }
  await page.evaluate(() => stores.q.close());
});

test("a database written before counts were kept (schema 3) is counted once on open", async () => {
  const page = await device();
  await page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        // The stores and indexes of schema 3 (src/browser/schema.rs), three pending recordings
        // waiting to be hashed, as a release before the counts left them.
        const req = indexedDB.open("tapesync/old", 3);
        req.onupgradeneeded = () => {
          const db = req.result;
          const recordings = db.createObjectStore("recordings", { keyPath: "id" });
          recordings.createIndex("byCreated", ["createdAt", "id"]);
          recordings.createIndex("bySyncState", ["syncState", "createdAt", "id"]);
          for (const s of ["blobs", "chunks", "meta", "uploads", "unhashed"]) db.createObjectStore(s);
          db.createObjectStore("captures", { keyPath: "id" });
          db.createObjectStore("sync", { keyPath: "id" }).createIndex("byWork", "work");
        };
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          const tx = db.transaction(["recordings", "blobs", "unhashed", "meta"], "readwrite");
          for (let i = 0; i < 3; i++) {
            const id = `old-${i}`;
            tx.objectStore("recordings").put({
              id, name: "old", mimeType: "audio/webm", size: 3, durationMs: null, createdAt: 1700000000000 + i,
              updatedAt: 1700000000000, tags: [], custom: {}, contentHash: null, syncState: "pending", synced: false,
            });
            tx.objectStore("blobs").put(new Blob(["old"], { type: "audio/webm" }), id);
            tx.objectStore("unhashed").put(true, id);
          }
          tx.objectStore("meta").put(true, "hashQueue");
          tx.oncomplete = () => { db.close(); resolve(); };
          tx.onerror = () => reject(tx.error);
        };
      }),
  );
  await open(page, "old");
  await check(page, "old", "an old database opened", { total: 3, pending: 3 });
  await page.evaluate(async () => {
    await stores.old.save(new Blob(["new"], { type: "audio/webm" }));
    await stores.old.settled();
  });
  await check(page, "old", "a save into it, hashed", { total: 4, pending: 4 });
  await page.evaluate(() => stores.old.close());
});

test("syncs with more than a page (1,000) of pending recordings find them all, also spread among synced ones", async () => {
  const cloud = await cloudFor();
  const page = await device();
  await open(page, "many");
  const save = (n, from) =>
    page.evaluate(async ({ n, from }) => {
      const ids = [];
      for (let i = 0; i < n; i += 250) {
        const batch = await Promise.all(Array.from({ length: Math.min(250, n - i) }, (_, j) =>
          stores.many.save(new Blob([`take ${from + i + j}`], { type: "audio/webm" }))));
        ids.push(...batch.map((r) => r.id));
      }
      return ids;
    }, { n, from });
  const first = await save(1100, 0);
  const one = await page.evaluate((cloud) => stores.many.sync(remote(cloud), { concurrency: 8 }), cloud);
  assert.equal(one.outcome.kind, "complete", JSON.stringify(one.outcome));
  assert.equal(one.uploaded, 1100);
  await check(page, "many", "1,100 pushed", { total: 1100, synced: 1100 });
  // Three old ones edited (their ids sort first) and 1,000 new ones: the scan's key spans hold
  // synced entries between the pending ones.
  await page.evaluate(async (ids) => {
    for (const id of ids) await stores.many.update(id, { name: "edited" });
  }, [first[0], first[500], first[1099]]);
  await save(1000, 2000);
  await check(page, "many", "1,003 pending among 2,100", { total: 2100, pending: 1003 });
  const two = await page.evaluate((cloud) => stores.many.sync(remote(cloud), { concurrency: 8 }), cloud);
  assert.equal(two.outcome.kind, "complete", JSON.stringify(two.outcome));
  assert.equal(two.uploaded, 1000);
  assert.equal(two.pushed, 1003);
  await check(page, "many", "all pushed", { total: 2100, synced: 2100 });
  await page.evaluate(() => stores.many.close());
});
