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
