// The sync contract as the README states it, called the way an app calls it: save, then sync at once;
// from a second store instance, after a reopen, from a service worker; autoSync pushing local changes;
// the API taking back what it gives (list's cursor loop, null and undefined as "absent"). No test here
// waits for settled() except the one about hashing itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { useCloud, setup, listObjects } from "./cloud.mjs";

const env = useCloud();

test("save, then sync at once: the report says pushed > 0 and complete, every recording is synced, another device gets the bytes", async () => {
  const { page, cloud, user } = await setup(env());
  const out = await page.evaluate(async (cloud) => {
    const { device, remote, saveMany, states, snapshot } = kit;
    const r = remote(tapesync, cloud);
    const a = await device(tapesync, "now-a");
    const ids = await saveMany(a, 5, "now-");
    const report = await a.sync(r);   // no settled(): straight after the saves
    const b = await device(tapesync, "now-b");
    const pulled = await b.sync(r);
    return { ids, report, states: await states(a), a: await snapshot(a), b: await snapshot(b) };
  }, cloud);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.ok(out.report.pushed > 0, `pushed ${out.report.pushed}`);
  assert.equal(out.report.uploaded, 5, JSON.stringify(out.report));
  assert.deepEqual(out.report.failed, []);
  assert.deepEqual(Object.values(out.states), Array(5).fill("synced"), JSON.stringify(out.states));
  for (const id of out.ids) {
    assert.equal(out.b[id]?.audio, out.a[id].audio, `${id}: the other device has the same bytes`);
    assert.equal(out.b[id].audio, out.b[id].contentHash, `${id}: and they match their hash`);
  }
  const blobs = await listObjects(user, `users/${user.uid}/recordings/blobs/`);
  assert.equal(blobs.length, 5, blobs.join("\n"));
});

test("a second RecordingStore.open of the same database syncs what the first instance saved", async () => {
  const { page, cloud } = await setup(env());
  const out = await page.evaluate(async (cloud) => {
    const { device, remote, saveMany, states } = kit;
    const first = await device(tapesync, "two-instances");
    const second = await device(tapesync, "two-instances");
    const ids = await saveMany(first, 3, "first-");
    const report = await second.sync(remote(tapesync, cloud));
    return { ids, report, viaFirst: await states(first), viaSecond: await states(second) };
  }, cloud);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.report.uploaded, 3, JSON.stringify(out.report));
  assert.ok(out.report.pushed > 0);
  for (const s of [out.viaFirst, out.viaSecond]) assert.deepEqual(s, Object.fromEntries(out.ids.map((id) => [id, "synced"])));
});

test("save, close, reopen, sync: nothing pending is lost across the close", async () => {
  const { page, cloud } = await setup(env());
  const out = await page.evaluate(async (cloud) => {
    const { device, remote, saveMany, states } = kit;
    let a = await device(tapesync, "reopen");
    const ids = await saveMany(a, 4, "closed-");
    a.close();   // closed straight after saving, background hashing or not
    a = await device(tapesync, "reopen");
    const report = await a.sync(remote(tapesync, cloud));
    return { ids, report, states: await states(a) };
  }, cloud);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.report.uploaded, 4, JSON.stringify(out.report));
  assert.deepEqual(out.states, Object.fromEntries(out.ids.map((id) => [id, "synced"])));
});

test("a page saves and its module service worker syncs it", async () => {
  const { page, cloud } = await setup(env());
  const out = await page.evaluate(async (cloud) => {
    const { device, saveMany, states } = kit;
    let a = await device(tapesync, "from-sw");
    const ids = await saveMany(a, 3, "sw-");
    a.close();   // the page is done (e.g. navigated away): only the worker is left to push them
    const reg = await navigator.serviceWorker.register("/tests/js/pages/sync-sw.js", { type: "module", scope: "/tests/js/pages/" });
    await navigator.serviceWorker.ready;
    const worker = reg.active ?? reg.waiting ?? reg.installing;
    const answer = await new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (e) => resolve(e.data);
      worker.postMessage({ name: "from-sw", cloud }, [channel.port2]);
    });
    a = await device(tapesync, "from-sw");
    return { ids, answer, page: await states(a) };
  }, cloud);
  assert.equal(out.answer.error, undefined, out.answer.error);
  assert.equal(out.answer.report.outcome.kind, "complete", JSON.stringify(out.answer.report));
  assert.equal(out.answer.report.uploaded, 3, JSON.stringify(out.answer.report));
  const want = Object.fromEntries(out.ids.map((id) => [id, "synced"]));
  assert.deepEqual(out.answer.states, want, "synced as the worker sees it");
  assert.deepEqual(out.page, want, "and as the page sees it");
});

test("list({ limit: 7, cursor }) in the natural loop, starting from cursor null, visits every recording once", async () => {
  const { page } = await setup(env());
  const out = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "paging");
    const ids = await kit.saveMany(a, 23, "p-", 100);
    const seen = [];
    const sizes = [];
    let cursor = null;
    let pages = 0;
    do {
      const page = await a.list({ limit: 7, cursor });
      seen.push(...page.items.map((r) => r.id));
      sizes.push(page.items.length);
      cursor = page.cursor;
      if (++pages > 10) break;   // a cursor that never ends would loop forever
    } while (cursor);
    return { ids, seen, sizes };
  });
  assert.deepEqual(out.sizes, [7, 7, 7, 2]);
  assert.equal(new Set(out.seen).size, out.seen.length, "no recording twice");
  assert.deepEqual([...out.seen].sort(), [...out.ids].sort(), "every recording");
});

test("update() of an unknown id rejects with NotFound and leaves no uncaught error in the page", async () => {
  const { page } = await setup(env());
  const out = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "unknown");
    const update = await kit.rejection(a.update("no-such-id", { name: "x" }));
    const replace = await kit.rejection(a.replaceAudio("no-such-id", kit.audio(10)));
    // Give an uncaught error event a chance to surface (the afterEach check reports it).
    await new Promise((ok) => setTimeout(ok, 300));
    return { update, replace };
  });
  assert.equal(out.update.code, "NotFound", JSON.stringify(out.update));
  assert.equal(out.update.name, "TapesyncError");
  assert.equal(out.replace.code, "NotFound", JSON.stringify(out.replace));
});

test("null and undefined are accepted as 'absent' for every optional option", async () => {
  const { page, cloud } = await setup(env());
  const out = await page.evaluate(async (cloud) => {
    const { rejection, audio } = kit;
    const ok = async (p) => {
      try {
        await p;
        return "ok";
      } catch (e) {
        return `${e.code}: ${e.message}`;
      }
    };
    const results = {};
    const a = await tapesync.RecordingStore.open({ name: "absent" });
    for (const absent of [null, undefined]) {
      const tag = String(absent);
      results[`open options ${tag}`] = await ok(tapesync.RecordingStore.open(absent).then((s) => s.close()));
      results[`open ${tag}`] = await ok(tapesync.RecordingStore.open({ name: absent }).then((s) => s.close()));
      results[`save options ${tag}`] = await ok(a.save(audio(10, 1), absent));
      results[`save fields ${tag}`] = await ok(a.save(audio(10, 2), {
        id: absent, name: absent, mimeType: absent, durationMs: absent, createdAt: absent, tags: absent, custom: absent,
      }));
      results[`list options ${tag}`] = await ok(a.list(absent));
      results[`list fields ${tag}`] = await ok(a.list({ limit: absent, cursor: absent, syncState: absent, order: absent }));
      results[`count fields ${tag}`] = await ok(a.count({ syncState: absent }));
      const rec = await a.save(audio(10, 3));
      results[`update fields ${tag}`] = await ok(a.update(rec.id, { name: absent, durationMs: absent, tags: absent, custom: absent }));
      results[`startCapture fields ${tag}`] = await ok(a.startCapture({ mimeType: "audio/webm", name: absent }).then(
        (cap) => cap.discard()));
      const cap = await a.startCapture({ mimeType: "audio/webm" });
      await cap.append(audio(10, 4));
      results[`finish fields ${tag}`] = await ok(cap.finish({ name: absent, durationMs: absent, createdAt: absent, tags: absent, custom: absent }));
      const options = { bucket: cloud.bucket, prefix: `users/${cloud.uid}/recordings`, getToken: async () => cloud.token, baseUrl: cloud.baseUrl };
      results[`FirebaseRemote fields ${tag}`] = await ok((async () => new tapesync.FirebaseRemote({ ...options, timeoutMs: absent }))());
      const remote = new tapesync.FirebaseRemote(options);
      results[`sync options ${tag}`] = await ok(a.sync(remote, absent));
      results[`sync fields ${tag}`] = await ok(a.sync(remote, {
        policy: absent, conflictCopies: absent, direction: absent, concurrency: absent, chunkSize: absent, signal: absent,
      }));
      results[`autoSync fields ${tag}`] = await ok((async () => {
        a.autoSync(remote, { onStart: false, onOnline: absent, onVisible: absent, onChange: absent, intervalMs: absent, policy: absent }).stop();
      })());
    }
    // What the API hands out comes back in: a recording without a duration keeps it absent.
    const rec = await a.save(audio(10, 5), { durationMs: null });
    results["durationMs null kept"] = (await a.get(rec.id)).durationMs === null ? "ok" : "not null";
    const stillBad = await rejection(a.list({ cursor: "not-a-cursor" }));
    return { results, stillBad };
  }, cloud);
  const refused = Object.entries(out.results).filter(([, result]) => result !== "ok");
  assert.deepEqual(refused, [], "every absent option accepted");
  assert.equal(out.stillBad.code, "InvalidArgument", "a cursor that is present but wrong is still refused");
});

test("settled() (hashing itself): resolves once every saved recording's contentHash is known and right", async () => {
  const { page } = await setup(env());
  const out = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "hashing");
    const blobs = [kit.audio(100_000, 1), kit.audio(1, 2), kit.audio(3 * 1024 * 1024, 3)];
    for (const [i, b] of blobs.entries()) await a.save(b, { id: `h${i}` });
    await a.settled();
    const got = [];
    for (const [i, b] of blobs.entries()) got.push([(await a.get(`h${i}`)).contentHash, await kit.digest(b)]);
    return got;
  });
  for (const [have, want] of out) assert.equal(have, want);
});

/** Counts the store's rounds ("syncing" syncstate events) in `window.rounds`. */
const TRACK = () => {
  window.rounds = { starts: [], ends: [] };
  window.a.addEventListener("syncstate", (e) => {
    if (e.detail.state === "syncing") rounds.starts.push(Date.now());
    else rounds.ends.push({ at: Date.now(), state: e.detail.state, report: kit.plain(e.detail.report) });
  });
};

test("autoSync pushes local changes on its own after ~2 s of quiet (coalesced): a save, a finished capture, an update, a delete", { timeout: 120_000 }, async () => {
  const { page, cloud } = await setup(env());
  await page.evaluate(async (cloud) => {
    window.a = await kit.device(tapesync, "on-change");
    window.b = await kit.device(tapesync, "on-change-peer");
    window.r = kit.remote(tapesync, cloud);
  }, cloud);
  await page.evaluate(TRACK);
  const saved = await page.evaluate(async () => {
    // Every other trigger off, onChange left at its default.
    window.auto = a.autoSync(r, { onStart: false, onOnline: false, onVisible: false, intervalMs: 0 });
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) {
      await a.save(kit.audio(2000, i), { id: `c${i}` });
      await new Promise((ok) => setTimeout(ok, 500));   // saves half a second apart: one quiet period
    }
    const lastSave = Date.now();
    await kit.until(async () => Object.values(await kit.states(a)).every((s) => s === "synced"), 15_000, "the saves to sync");
    return { t0, lastSave, starts: [...rounds.starts], synced: Date.now() };
  });
  assert.equal(saved.starts.length, 1, `three saves in quick succession make one push: ${saved.starts.map((t) => t - saved.t0)}`);
  assert.ok(saved.starts[0] - saved.lastSave >= 1000, `the push waited for quiet: ${saved.starts[0] - saved.lastSave} ms after the last save`);
  assert.ok(saved.synced - saved.lastSave < 12_000, "synced within a few seconds");

  const captured = await page.evaluate(async () => {
    const cap = await a.startCapture({ mimeType: "audio/webm", name: "captured" });
    await cap.append(kit.audio(1000, 7));
    await cap.append(kit.audio(1000, 8));
    const rec = await cap.finish({ durationMs: 2000 });
    await kit.until(async () => (await a.get(rec.id))?.syncState === "synced", 15_000, "the capture to sync");
    return rec.id;
  });
  assert.ok(captured);

  const edited = await page.evaluate(async () => {
    await a.update("c0", { name: "renamed" });
    const pendingAfterEdit = (await a.get("c0")).syncState;
    await kit.until(async () => (await a.get("c0")).syncState === "synced", 15_000, "the update to sync");
    await a.delete("c1");
    const before = rounds.starts.length;
    await kit.until(() => rounds.starts.length > before && rounds.ends.length >= rounds.starts.length, 15_000, "the delete to be pushed");
    // The other device sees the rename and the delete: they really were published.
    await b.pull(r);
    return { pendingAfterEdit, renamed: (await b.get("c0"))?.name, deleted: await b.get("c1"), kept: !!(await b.get("c2")) };
  });
  assert.equal(edited.pendingAfterEdit, "pending");
  assert.equal(edited.renamed, "renamed");
  assert.equal(edited.deleted, null);
  assert.equal(edited.kept, true);
  await page.evaluate(() => auto.stop());
});

test("autoSync with onChange: false leaves local changes pending", async () => {
  const { page, cloud } = await setup(env());
  await page.evaluate(async (cloud) => {
    window.a = await kit.device(tapesync, "no-on-change");
    window.r = kit.remote(tapesync, cloud);
  }, cloud);
  await page.evaluate(TRACK);
  const out = await page.evaluate(async () => {
    const auto = a.autoSync(r, { onStart: false, onOnline: false, onVisible: false, intervalMs: 0, onChange: false });
    await a.save(kit.audio(2000, 1), { id: "stays" });
    await new Promise((ok) => setTimeout(ok, 6000));
    auto.stop();
    return { rounds: rounds.starts.length, state: (await a.get("stays")).syncState };
  });
  assert.deepEqual(out, { rounds: 0, state: "pending" });
});
