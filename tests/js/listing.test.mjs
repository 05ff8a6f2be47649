// Listing reads at most 1,000 records per IndexedDB request (src/browser/listing.rs), so that a
// listing of tens of thousands is many short tasks instead of one long one. Checked here with more
// than two pages: every order, a sync-state filter, and cursors, against what was saved.
//
//   node --test tests/js/listing.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";

let env;
before(async () => {
  env = await launch();
});
after(async () => {
  await env?.close();
});

test("list() reads 2,345 recordings in pages, in order, filtered and with cursors", async () => {
  const page = await env.page();
  const out = await page.evaluate(async () => {
    await window.tapesyncReady;
    const store = await tapesync.RecordingStore.open({ name: "pages" });
    const n = 2345;
    for (let i = 0; i < n; i += 250) {
      await Promise.all(Array.from({ length: Math.min(250, n - i) }, (_, j) =>
        store.save(new Blob([`take ${i + j}`], { type: "audio/webm" }), { id: `r${String(i + j).padStart(5, "0")}`, createdAt: 1e12 + (i + j) })));
    }
    const ids = (items) => items.map((r) => r.id);
    const all = ids((await store.list()).items);
    const asc = ids((await store.list({ order: "asc" })).items);
    const pending = ids((await store.list({ syncState: "pending", order: "asc" })).items);
    const pendingDesc = ids((await store.list({ syncState: "pending" })).items);
    const paged = [];
    let cursor = null;
    do {
      const p = await store.list({ limit: 700, cursor, order: "asc" });
      paged.push(...ids(p.items));
      cursor = p.cursor;
    } while (cursor);
    const tail = ids((await store.list({ limit: 1500, cursor: (await store.list({ limit: 1000 })).cursor })).items);
    const none = ids((await store.list({ syncState: "synced" })).items);
    store.close();
    return { all, asc, pending, pendingDesc, paged, tail, none };
  });
  const expected = Array.from({ length: 2345 }, (_, i) => `r${String(i).padStart(5, "0")}`);
  assert.deepEqual(out.asc, expected);
  assert.deepEqual(out.all, [...expected].reverse());
  assert.deepEqual(out.pending, expected);
  assert.deepEqual(out.pendingDesc, [...expected].reverse());
  assert.deepEqual(out.paged, expected);
  assert.deepEqual(out.tail, [...expected].reverse().slice(1000, 2345));
  assert.deepEqual(out.none, []);
});

// What `RecordingStore.open` and the first `list()` cost in IndexedDB work (bench/startup.mjs times
// them): opening a database opened before reads what it needs in one read-only transaction (no
// read-write transaction, no commit), and the first page is one more; a new database still gets
// its device id, counts and hash queue. Counted by wrapping `IDBDatabase.prototype.transaction`.
test("opening a store opened before is one read-only transaction, and its first list() one more", async () => {
  const page = await env.page();
  const out = await page.evaluate(async () => {
    await window.tapesyncReady;
    const seen = [];
    const original = IDBDatabase.prototype.transaction;
    IDBDatabase.prototype.transaction = function (stores, mode) {
      seen.push(`${mode ?? "readonly"} ${[stores].flat().join(",")}`);
      return original.call(this, stores, mode);
    };
    const take = () => seen.splice(0);
    try {
      const first = await tapesync.RecordingStore.open({ name: "startup-tx" });
      const fresh = take();
      for (let i = 0; i < 3; i++) {
        await first.save(new Blob([`take ${i}`], { type: "audio/webm" }), { name: `take ${i}` });
      }
      // Hashed in the background once saves pause: wait, so that the next open finds no queue.
      const deadline = Date.now() + 10000;
      while ((await first.list()).items.some((r) => !r.contentHash) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const deviceId = first.deviceId;
      first.close();
      take();
      const store = await tapesync.RecordingStore.open({ name: "startup-tx" });
      const open = take();
      const { items } = await store.list({ limit: 10 });
      const list = take();
      const counts = [await store.count(), await store.count({ syncState: "pending" })];
      const again = { deviceId: store.deviceId, audioStorage: store.audioStorage };
      store.close();
      return { fresh, open, list, names: items.map((r) => r.name), hashed: items.every((r) => r.contentHash), counts, deviceId, again };
    } finally {
      IDBDatabase.prototype.transaction = original;
    }
  });
  // A new database: the startup read, then each missing step in a read-write transaction of its own.
  assert.equal(out.fresh[0], "readonly meta,unhashed");
  assert.ok(out.fresh.includes("readwrite meta"), `the device id is stored: ${out.fresh}`);
  assert.ok(out.fresh.includes("readwrite meta,recordings"), `the counts are made: ${out.fresh}`);
  assert.ok(out.hashed, "the recordings were hashed before the second open");
  assert.deepEqual(out.open, ["readonly meta,unhashed"]);
  assert.deepEqual(out.list, ["readonly recordings"]);
  assert.deepEqual(out.names, ["take 2", "take 1", "take 0"]);
  assert.deepEqual(out.counts, [3, 3]);
  assert.deepEqual(out.again, { deviceId: out.deviceId, audioStorage: "blob" });
});
