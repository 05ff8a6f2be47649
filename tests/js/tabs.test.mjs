// Tabs and workers: a change made through one store fires `change` in every other store of the same
// database (other tabs, workers, other store instances), through a BroadcastChannel
// (src/browser/broadcast.rs), so every open tab's list stays current.
//
//   node --test tests/js/tabs.test.mjs
//
// Two pages of one browser context are two tabs of one profile (one IndexedDB). The sync cases use the
// local Supabase on a free port: no e2e lock is needed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch, recentConsole } from "./browser.mjs";
import { ANON_KEY, BUCKET, signUp, startSupabase, stopSupabase } from "../../emulators/supabase/harness.mjs";

let env;
let supabaseUrl;

before(async () => {
  ({ url: supabaseUrl } = await startSupabase({ port: 0 }));
  env = await launch();
}, { timeout: 120_000 });
after(async () => {
  await env?.close();
  await stopSupabase();
});

/**
 * A tab with store `name` open as an app opens it, whose `change` listener does what an app's does:
 * notes the event and lists the recordings again (`changes`: [{ kind, ids, list }]).
 */
async function tab(context, name) {
  const page = await context.newPage();
  await page.goto(`${env.url}/tests/js/pages/blank.html`);
  await page.evaluate(async (name) => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/sync-kit.js");
    window.store = await tapesync.RecordingStore.open({ name });
    window.changes = [];
    store.addEventListener("change", async (e) => {
      const entry = { kind: e.detail.kind, ids: [...e.detail.ids] };
      changes.push(entry);
      try {
        entry.list = (await store.list()).items.map((r) => ({ id: r.id, name: r.name, syncState: r.syncState }));
      } catch (err) {
        entry.list = { error: `${err?.code}: ${err?.message}` };
      }
    });
  }, name);
  return page;
}

/** Waits until `page` saw a `change` of `kind` naming `id` whose list is read; resolves to it. */
async function seen(page, kind, id, what = `${kind} of ${id}`) {
  const handle = await page
    .waitForFunction(
      ([kind, id]) => changes.find((c) => c.kind === kind && c.ids.includes(id) && c.list),
      [kind, id],
      { timeout: 10_000, polling: 50 },
    )
    .catch(async (e) => {
      const got = await page.evaluate(() => JSON.stringify(changes));
      throw new Error(`no change "${what}" in the other tab: ${e.message}\nchanges: ${got}\nconsole:\n${recentConsole()}`);
    });
  return handle.jsonValue();
}

const changesOf = (page) => page.evaluate(() => changes.map(({ kind, ids }) => ({ kind, ids })));
const count = (changes, kind, id) => changes.filter((c) => c.kind === kind && c.ids.includes(id)).length;

/** A signed-up Supabase user's remote, made in `page` as `window.remote`. */
async function supabaseRemote(page, user) {
  await page.evaluate(({ url, apikey, bucket, prefix, token }) => {
    window.remote = new tapesync.SupabaseRemote({ url, apikey, bucket, prefix, getToken: async () => token });
  }, { url: supabaseUrl, apikey: ANON_KEY, bucket: BUCKET, prefix: `users/${user.id}/recordings`, token: user.accessToken });
}

test("a save, an update and a delete in one tab each fire change in the other tab, whose list is current", async () => {
  const context = await env.context();
  const [a, b] = [await tab(context, "tabs-edits"), await tab(context, "tabs-edits")];

  await a.evaluate(() => store.save(kit.audio(3000, 1), { id: "t1", name: "first" }));
  let change = await seen(b, "save", "t1");
  assert.deepEqual(change.ids, ["t1"]);
  assert.deepEqual(change.list.map((r) => [r.id, r.name]), [["t1", "first"]], "B's list has A's recording at once");

  await a.evaluate(() => store.update("t1", { name: "renamed" }));
  change = await seen(b, "update", "t1");
  assert.deepEqual(change.list.map((r) => [r.id, r.name]), [["t1", "renamed"]], "B's list shows A's edit");

  await a.evaluate(() => store.save(kit.audio(3000, 2), { id: "t2", name: "second" }));
  await seen(b, "save", "t2");
  await a.evaluate(() => store.delete("t1"));
  change = await seen(b, "delete", "t1");
  assert.deepEqual(change.list.map((r) => r.id), ["t2"], "B's list no longer has the deleted recording");

  // Each change reached B once, and A heard its own changes once each (no echo of its broadcast).
  const [inA, inB] = [await changesOf(a), await changesOf(b)];
  for (const [kind, id] of [["save", "t1"], ["update", "t1"], ["save", "t2"], ["delete", "t1"]]) {
    assert.equal(count(inA, kind, id), 1, `A fired ${kind} of ${id} once: ${JSON.stringify(inA)}`);
    assert.equal(count(inB, kind, id), 1, `B fired ${kind} of ${id} once: ${JSON.stringify(inB)}`);
  }
  // The other way round too: B's edit reaches A.
  await b.evaluate(() => store.update("t2", { tags: ["from-b"] }));
  await seen(a, "update", "t2");
  await context.close();
});

test("a sync in one tab (pushed, then pulled) fires change in the other tab, whose list shows the sync states", { timeout: 60_000 }, async () => {
  const user = await signUp();
  const context = await env.context();
  const [a, b] = [await tab(context, "tabs-sync"), await tab(context, "tabs-sync")];
  await supabaseRemote(a, user);

  await a.evaluate(() => kit.saveMany(store, 2, "p"));
  await seen(b, "save", "p1");
  const report = await a.evaluate(async () => JSON.parse(JSON.stringify(await store.sync(remote))));
  assert.equal(report.outcome.kind, "complete", JSON.stringify(report));
  assert.equal(report.pushed, 2);
  // Once pushed, the recordings are synced: B hears it and its list says so.
  const pushed = await b.waitForFunction(
    () => changes.find((c) => c.kind === "sync" && c.list && ["p0", "p1"].every((id) => c.list.find((r) => r.id === id)?.syncState === "synced")),
    null, { timeout: 10_000, polling: 50 },
  ).then((h) => h.jsonValue(), async () => assert.fail(`B never saw both synced: ${await b.evaluate(() => JSON.stringify(changes))}`));
  assert.ok(pushed.ids.length > 0);
  assert.deepEqual(await b.evaluate(() => kit.states(store)), { p0: "synced", p1: "synced" });

  // Another device (its own context: its own database) pushes a recording; tab A pulls it.
  const other = await tab(await env.context(), "tabs-sync");
  await supabaseRemote(other, user);
  await other.evaluate(async () => {
    await store.save(kit.audio(4000, 9), { id: "from-phone", name: "phone" });
    const r = await store.sync(remote);
    if (r.outcome.kind !== "complete") throw new Error(JSON.stringify(r));
  });
  const pull = await a.evaluate(async () => JSON.parse(JSON.stringify(await store.sync(remote))));
  assert.equal(pull.outcome.kind, "complete", JSON.stringify(pull));
  assert.ok(pull.pulled >= 1 && pull.downloaded === 1, JSON.stringify(pull));
  // The pulled metadata and then the landed audio each fire `change`; the recording is listed once its
  // audio is here, so the last of them must show it.
  await seen(b, "sync", "from-phone");
  const row = await b.waitForFunction(() => changes.findLast((c) => c.kind === "sync" && c.ids.includes("from-phone") && c.list)?.list
    .find((r) => r.id === "from-phone"), null, { timeout: 10_000, polling: 50 })
    .then((h) => h.jsonValue(), async () => assert.fail(`B's list never had the pulled recording: ${await b.evaluate(() => JSON.stringify(changes))}`));
  assert.deepEqual(row, { id: "from-phone", name: "phone", syncState: "synced" }, "B's list has the pulled recording");
  const blobInB = await b.evaluate(async () => kit.digest(await store.getBlob("from-phone")));
  assert.equal(blobInB, await other.evaluate(async () => kit.digest(await store.getBlob("from-phone"))), "B plays the pulled audio");
  await other.context().close();
  await context.close();
});

test("an automatic sync pushes only its own tab's edits: another tab's save is that tab's to push", { timeout: 60_000 }, async () => {
  const user = await signUp();
  const context = await env.context();
  const [a, b] = [await tab(context, "tabs-auto"), await tab(context, "tabs-auto")];
  for (const page of [a, b]) {
    await supabaseRemote(page, user);
    await page.evaluate(() => {
      window.rounds = 0;
      store.addEventListener("syncstate", (e) => { if (e.detail.state === "syncing") rounds++; });
      window.auto = store.autoSync(remote, { onStart: false, onOnline: false, onVisible: false, onChange: true, intervalMs: 0 });
    });
  }
  await a.evaluate(() => store.save(kit.audio(3000, 3), { id: "auto1" }));
  await seen(b, "save", "auto1");
  // A's own onChange push (about 2 s after the save) makes it synced, which B hears.
  await b.waitForFunction(() => changes.some((c) => c.kind === "sync" && c.list?.find((r) => r.id === "auto1")?.syncState === "synced"),
    null, { timeout: 15_000, polling: 100 });
  // B's onChange timer would have fired by now (2 s after the relayed save): it never started a round.
  await new Promise((ok) => setTimeout(ok, 2500));
  assert.equal(await a.evaluate(() => rounds), 1, "A pushed its save");
  assert.equal(await b.evaluate(() => rounds), 0, "B did not push A's save too");
  for (const page of [a, b]) await page.evaluate(() => auto.stop());
  await context.close();
});

test("a dedicated worker's save fires change in the tab", async () => {
  const context = await env.context();
  const a = await tab(context, "tabs-worker");
  const id = await a.evaluate(async (origin) => {
    const source = `
      import init, { RecordingStore } from "${origin}/pkg/tapesync.js";
      await init();
      const store = await RecordingStore.open({ name: "tabs-worker" });
      const rec = await store.save(new Blob([new Uint8Array(1000).fill(5)], { type: "audio/webm" }), { id: "w1" });
      store.close();
      postMessage(rec.id);`;
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })), { type: "module" });
    return new Promise((ok, fail) => {
      worker.onmessage = (e) => ok(e.data);
      worker.onerror = (e) => fail(new Error(e.message));
    });
  }, env.url);
  assert.equal(id, "w1");
  const change = await seen(a, "save", "w1");
  assert.deepEqual(change.list.map((r) => r.id), ["w1"]);
  await context.close();
});

test("a closed store neither hears nor tells; stores of other names hear nothing", async () => {
  const context = await env.context();
  const [a, b] = [await tab(context, "tabs-close"), await tab(context, "tabs-close")];
  const elsewhere = await tab(context, "tabs-close-other");
  await b.evaluate(() => store.close());
  await a.evaluate(() => store.save(kit.audio(3000, 4), { id: "c1" }));
  // A store opened in B after the close hears A's next save: the channel works, and the closed one...
  await b.evaluate(async () => {
    window.fresh = await tapesync.RecordingStore.open({ name: "tabs-close" });
    window.freshChanges = [];
    fresh.addEventListener("change", (e) => freshChanges.push(`${e.detail.kind}:${e.detail.ids}`));
  });
  await a.evaluate(() => store.save(kit.audio(3000, 5), { id: "c2" }));
  await b.waitForFunction(() => freshChanges.includes("save:c2"), null, { timeout: 10_000, polling: 50 });
  // ...heard neither save (nor the hashing after them).
  assert.deepEqual(await changesOf(b), [], "the closed store fired no change");
  assert.deepEqual(await changesOf(elsewhere), [], "a store of another name fired no change");
  // A closes: its later hashing or anything else of it is not relayed, and it hears B's fresh store no more.
  // (Its own hashing of c2 done first: a change that commits before close() may still be told.)
  await a.evaluate(async () => { await store.settled(); window.before = changes.length; store.close(); });
  await b.evaluate(() => fresh.save(new Blob([new Uint8Array(100)], { type: "audio/webm" }), { id: "c3" }));
  await b.evaluate(() => fresh.settled());
  await new Promise((ok) => setTimeout(ok, 500));
  assert.deepEqual(await a.evaluate(() => changes.slice(before)), [], "the closed store A fired no change");
  await context.close();
});

test("messages of another shape (another tapesync version, or not tapesync's) are ignored without an error", async () => {
  const context = await env.context();
  const a = await tab(context, "tabs-shapes");
  const b = await context.newPage();
  await b.goto(`${env.url}/tests/js/pages/blank.html`);
  await b.evaluate(() => {
    const channel = new BroadcastChannel("tapesync/tabs-shapes");
    const big = "x".repeat(300);
    for (const message of [
      null, 5, "save", [], { kind: "save" }, { ids: ["a"] }, { kind: "rename", ids: ["a"] }, { kind: "save", ids: "a" },
      { kind: "save", ids: [1] }, { kind: "save", ids: ["bad id!"] }, { kind: "save", ids: [big] }, { kind: "save", ids: ["ok", null] },
      { kind: 1, ids: [] }, new Uint8Array(8), { kind: "save", ids: { length: 1e9 } }, { kind: ["save"], ids: ["a"] },
    ]) channel.postMessage(message);
    // A newer version's extra fields are dropped; its known kind and ids are heard.
    channel.postMessage({ kind: "update", ids: ["n1", "n2"], version: 99, by: { tab: 1 } });
    channel.close();
  });
  await a.waitForFunction(() => changes.length > 0, null, { timeout: 10_000, polling: 50 });
  await new Promise((ok) => setTimeout(ok, 300));
  const got = await a.evaluate(() => changes.map(({ kind, ids }) => ({ kind, ids })));
  assert.deepEqual(got, [{ kind: "update", ids: ["n1", "n2"] }], "only the well-formed message fired, as { kind, ids }");
  await context.close();
});

test("without BroadcastChannel (Safari before 15.4) the store works as before, its change events its own", async () => {
  const context = await env.context();
  // Taken away before the package loads, in both tabs.
  await context.addInitScript(() => { delete globalThis.BroadcastChannel; });
  const [a, b] = [await tab(context, "tabs-none"), await tab(context, "tabs-none")];
  assert.equal(await a.evaluate(() => typeof BroadcastChannel), "undefined");
  await a.evaluate(async () => {
    await store.save(kit.audio(3000, 6), { id: "n1", name: "no channel" });
    await store.update("n1", { name: "still none" });
    await store.settled();
  });
  const local = await seen(a, "update", "n1");
  assert.deepEqual(local.list.map((r) => [r.id, r.name]), [["n1", "still none"]], "A's own change events fire");
  // B reads what A wrote; it was not told.
  assert.deepEqual(await b.evaluate(async () => (await store.list()).items.map((r) => r.name)), ["still none"]);
  assert.deepEqual(await changesOf(b), []);
  for (const page of [a, b]) await page.evaluate(() => store.close());
  await context.close();
});
