// Quota and eviction (issue 13), end to end: the built package in Debian's Chromium against the local Supabase on
// a free port. `evict({ keepBytes })` frees the least recently played synced audio and never audio the cloud does
// not hold; `maxLocalBytes` does the same by itself; evicted audio comes back on demand; and a site whose storage
// the browser cleared (here through the DevTools protocol) gets everything back at its next sync, `restored: true`,
// with the cloud unchanged.
//
//   node --test --test-concurrency=1 tests/js/eviction.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { countBlobGets, install, start } from "./audio-cloud.mjs";

let cloud;
before(async () => { cloud = await start(); }, { timeout: 120_000 });
after(async () => { await cloud?.close(); });

const here = (items) => Object.fromEntries(items.map((r) => [r.id, r.audioHere]));

test("evict({ keepBytes }) frees the least recently played synced audio, never pending audio; it comes back on demand", async () => {
  const { page, user } = await cloud.page();
  const gets = countBlobGets(page);
  const out = await page.evaluate(async () => {
    const store = await kit.device(tapesync, "phone");
    const remote = makeRemote(cloud);
    const hashes = {};
    for (let i = 0; i < 4; i++) {
      const blob = kit.audio(40_000, 20 + i);
      await store.save(blob, { id: `r${i}`, name: `take ${i}` });
      hashes[`r${i}`] = await kit.digest(blob);
    }
    const pushed = await store.sync(remote);
    await store.save(kit.audio(40_000, 99), { id: "pending", name: "not synced yet" });
    // r2, then r0 played: r1 and r3 were never played, so they go first.
    await store.getBlob("r2");
    await store.getBlob("r0");
    const events = [];
    store.addEventListener("change", (e) => e.detail.kind === "evict" && events.push(e.detail.ids));
    const first = await store.evict({ keepBytes: 80_000 });
    const afterFirst = (await store.list()).items;
    const second = await store.evict({ keepBytes: 0 });
    const afterSecond = (await store.list()).items;
    const pendingBlob = await kit.digest(await store.getBlob("pending"));
    const noRemote = await kit.rejection(store.getBlob("r1"));
    const quiet = await store.sync(remote);
    const auto = store.autoSync(remote, { onStart: false, onVisible: false, onOnline: false, intervalMs: 0 });
    const back = await kit.digest(await store.getBlob("r1"));
    auto.stop();
    const r1 = await store.get("r1");
    const bad = await kit.rejection(store.evict({ keepBytes: -1 }));
    const missing = await kit.rejection(store.evict({}));
    return { hashes, pushed, first, afterFirst, second, afterSecond, pendingBlob, noRemote, quiet, back, r1, events, bad, missing };
  });
  assert.equal(out.pushed.outcome.kind, "complete");
  assert.deepEqual(out.first, { evicted: 2, freedBytes: 80_000, keptBytes: 80_000 });
  assert.deepEqual(here(out.afterFirst), { r0: true, r1: false, r2: true, r3: false, pending: true }, "the two never played went");
  assert.ok(out.afterFirst.every((r) => r.name && r.size === 40_000), "metadata stays");
  assert.deepEqual(out.second, { evicted: 2, freedBytes: 80_000, keptBytes: 0 });
  assert.deepEqual(here(out.afterSecond), { r0: false, r1: false, r2: false, r3: false, pending: true }, "pending audio is never evicted");
  assert.equal(out.afterSecond.find((r) => r.id === "r0").syncState, "synced");
  assert.deepEqual(out.events.map((ids) => ids.sort()), [["r1", "r3"], ["r0", "r2"]]);
  assert.ok(out.pendingBlob);
  assert.equal(out.noRemote.code, "AudioNotHere");
  assert.equal(out.quiet.downloaded, 0, "an eager sync leaves evicted audio in the cloud");
  assert.equal(out.quiet.deleted, 0);
  assert.equal(out.back, out.hashes.r1, "evicted audio comes back through the autoSync's remote");
  assert.equal(out.r1.audioHere, true);
  assert.equal(out.bad.code, "InvalidArgument");
  assert.equal(out.missing.code, "InvalidArgument");
  assert.equal(gets.count, 1, "only r1 was downloaded again");
  const blobs = (await cloud.objects(user)).filter((o) => o.includes("/blobs/r")).map((o) => o.split("/blobs/")[1]);
  const expected = ["r0", "r1", "r2", "r3"].map((id) => `${id}/${out.hashes[id]} 40000`);
  assert.deepEqual(blobs, expected, "eviction deletes nothing in the cloud");
  gets.stop();
});

test("maxLocalBytes keeps the audio here within budget by itself, after saves and after pulls", async () => {
  const { page, user } = await cloud.page();
  const out = await page.evaluate(async () => {
    const remote = makeRemote(cloud);
    const store = await tapesync.RecordingStore.open({ name: "budget", maxLocalBytes: 100_000 });
    for (let i = 0; i < 4; i++) await store.save(kit.audio(40_000, 30 + i), { id: `r${i}` });
    const beforeSync = (await store.list()).items.filter((r) => r.audioHere).length;
    await store.sync(remote);
    const settled = await kit.until(async () => {
      const items = (await store.list()).items;
      return items.filter((r) => r.audioHere).length === 2 && items;
    }, 10_000, "the budget applied after the push");
    // A second device with the same budget pulls all four (eager), then keeps two.
    const other = await tapesync.RecordingStore.open({ name: "budget-2", maxLocalBytes: 100_000 });
    const pulled = await other.sync(remote);
    const otherItems = await kit.until(async () => {
      const items = (await other.list()).items;
      return items.filter((r) => r.audioHere).length === 2 && items;
    }, 10_000, "the budget applied after the pull");
    await new Promise((ok) => setTimeout(ok, 1500));
    const stillTwo = (await other.list()).items.filter((r) => r.audioHere).length;
    const bad = await kit.rejection(tapesync.RecordingStore.open({ name: "budget-3", maxLocalBytes: -5 }));
    return { beforeSync, settled: here(settled), pulled, other: otherItems.length, stillTwo, bad };
    function here(items) { return Object.fromEntries(items.map((r) => [r.id, r.audioHere])); }
  });
  assert.equal(out.beforeSync, 4, "unsynced audio is never evicted, over budget or not");
  assert.deepEqual(out.settled, { r0: false, r1: false, r2: true, r3: true }, "oldest (never played) first");
  assert.equal(out.pulled.downloaded, 4);
  assert.equal(out.other, 4, "all metadata stays");
  assert.equal(out.stillTwo, 2, "the evicted audio is not downloaded again");
  assert.equal(out.bad.code, "InvalidArgument");
  assert.ok(user);
});

test("site data cleared by the browser: the next sync restores everything (restored: true, an event), the cloud unchanged", async () => {
  const { page, user } = await cloud.page();
  const saved = await page.evaluate(async () => {
    const store = await tapesync.RecordingStore.open({ name: "my-app" });
    const remote = makeRemote(cloud);
    const first = await store.sync(remote);   // an empty prefix: nothing to restore
    const hashes = {};
    for (let i = 0; i < 3; i++) {
      const blob = kit.audio(30_000 + i, 40 + i);
      await store.save(blob, { id: `r${i}`, name: `take ${i}`, tags: ["kept"] });
      hashes[`r${i}`] = await kit.digest(blob);
    }
    await store.update("r1", { name: "renamed" });
    const report = await store.sync(remote);
    store.close();
    return { hashes, first, report };
  });
  assert.equal(saved.first.restored, false);
  assert.equal(saved.report.restored, false);
  assert.equal(saved.report.outcome.kind, "complete");
  const objects = await cloud.objects(user);
  assert.ok(objects.length >= 4, objects.join("\n"));

  // What WebKit's 7-day rule or a user's "clear site data" does: the origin's storage is gone.
  const origin = new URL(page.url()).origin;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Storage.clearDataForOrigin", { origin, storageTypes: "all" });
  await page.reload();
  await install(page, user.cloud);
  const out = await page.evaluate(async () => {
    const store = await tapesync.RecordingStore.open({ name: "my-app" });
    const empty = (await store.list()).items.length;
    const events = [];
    store.addEventListener("restored", (e) => events.push(e.detail.pulled));
    const report = await store.sync(makeRemote(cloud));
    const items = {};
    for (const r of (await store.list()).items) {
      items[r.id] = { name: r.name, tags: r.tags, here: r.audioHere, state: r.syncState, hash: await kit.digest(await store.getBlob(r.id)) };
    }
    const again = await store.sync(makeRemote(cloud));
    return { empty, report, events, items, again };
  });
  assert.equal(out.empty, 0, "the database was cleared");
  assert.equal(out.report.restored, true, JSON.stringify(out.report));
  assert.equal(out.report.outcome.kind, "complete");
  assert.equal(out.report.pushed, 0, "nothing pushed");
  assert.equal(out.report.deleted, 0, "nothing deleted");
  assert.deepEqual(out.events, [out.report.pulled]);
  assert.deepEqual(out.items, {
    r0: { name: "take 0", tags: ["kept"], here: true, state: "synced", hash: saved.hashes.r0 },
    r1: { name: "renamed", tags: ["kept"], here: true, state: "synced", hash: saved.hashes.r1 },
    r2: { name: "take 2", tags: ["kept"], here: true, state: "synced", hash: saved.hashes.r2 },
  });
  assert.equal(out.again.restored, false, "only the first pull");
  assert.deepEqual(await cloud.objects(user), objects, "the cloud is exactly as it was");
});

test("resetSync() removes recordings whose audio is in the old folder only, and keeps the others, pending", async () => {
  const { page } = await cloud.page();
  const out = await page.evaluate(async () => {
    const store = await kit.device(tapesync, "switching");
    const remote = makeRemote(cloud);
    await store.save(kit.audio(20_000, 1), { id: "kept" });
    await store.save(kit.audio(20_000, 2), { id: "evicted" });
    await store.sync(remote);
    await store.getBlob("kept");
    await store.evict({ keepBytes: 20_000 });
    const before = Object.fromEntries((await store.list()).items.map((r) => [r.id, r.audioHere]));
    await store.resetSync();
    const after = Object.fromEntries((await store.list()).items.map((r) => [r.id, r.syncState]));
    return { before, after };
  });
  assert.deepEqual(out.before, { kept: true, evicted: false });
  assert.deepEqual(out.after, { kept: "pending" }, "nothing of 'evicted' is here to push to another account");
});
