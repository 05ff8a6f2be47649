// End-to-end sync scenarios that are the same for every cloud, written once against a small backend adapter and
// run by each backend's test file (tests/js/supabase-sync.test.mjs runs them for Supabase). The built package runs
// in Debian's Chromium; apps' calls are made exactly as the README shows them (save, then sync at once).
//
// An adapter is
//   {
//     name,                         // "supabase", ...
//     origin,                       // the cloud's origin: requests to it are counted
//     chunkSize,                    // the resumable chunk the backend takes (bytes)
//     env,                          // launch() from tests/js/browser.mjs
//     user(),                       // a new signed-up user: { id, cloud } (cloud: what page-side makeRemote takes)
//     install(page),                // defines window.makeRemote(cloud) in the page; cloud.token may be a function there
//     objects(user, folder),        // Node side: full names of the objects directly in `${prefix}/${folder}`
//     download(user, key),          // Node side: { bytes: Buffer, contentType } of `${prefix}/${key}`
//     expiredToken(user),           // a token of `user` the cloud says has expired
//     fault({ to, mode, status, times }),  // the next `times` requests to `to` ("blob-upload", "segment-upload")
//                                   // fail: mode "lost-response" (done, answer lost) or "respond" with `status`
//     attempts(to),                 // how many requests went to `to` since clearAttempts()
//     clearAttempts(),
//   }
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** A fresh page with the package, the sync kit and `makeRemote`, and a fresh user; page errors fail the test. */
export async function setup(adapter) {
  const page = await adapter.env.page();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await prepare(page, adapter);
  const user = await adapter.user();
  const done = () => assert.deepEqual(errors, [], `page errors:\n${page.logs.join("\n")}`);
  return { page, user, cloud: user.cloud, done };
}

async function prepare(page, adapter) {
  await page.evaluate(async () => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/sync-kit.js");
  });
  await adapter.install(page);
}

/** Counts the page's requests to the cloud (preflights left out) while `fn` runs. */
async function counting(page, adapter, fn) {
  const seen = [];
  // "METHOD url", and " @offset" for a resumable chunk (its Upload-Offset).
  const listener = (q) => {
    if (!q.url().startsWith(adapter.origin) || q.method() === "OPTIONS") return;
    const offset = q.headers()["upload-offset"];
    seen.push(`${q.method()} ${q.url()}${offset === undefined ? "" : ` @${offset}`}`);
  };
  page.on("request", listener);
  try {
    const out = await fn();
    await new Promise((ok) => setTimeout(ok, 100));
    return { out, requests: seen };
  } finally {
    page.off("request", listener);
  }
}

export async function twoDevicesBothWays(adapter) {
  const { page, cloud, done } = await setup(adapter);
  const result = await page.evaluate(async (cloud) => {
    const { device, audio, snapshot } = kit;
    const r = makeRemote(cloud);
    const a = await device(tapesync, "a");
    const b = await device(tapesync, "b");
    await a.save(audio(50_000, 1), { id: "from-a", name: "A's take", tags: ["x"], custom: { mic: "usb" } });
    await b.save(audio(70_000, 2, "audio/ogg"), { id: "from-b", name: "B's take" });
    const ra = await a.sync(r);
    const rb = await b.sync(r);
    const ra2 = await a.sync(r);
    const c = await device(tapesync, "c");
    const rc = await c.sync(r);
    const out = { ra, rb, ra2, rc, a: await snapshot(a), b: await snapshot(b), c: await snapshot(c) };
    out.quiet = await a.sync(r);
    return out;
  }, cloud);
  for (const k of ["ra", "rb", "ra2", "rc"]) assert.equal(result[k].outcome.kind, "complete", `${k}: ${JSON.stringify(result[k])}`);
  assert.equal(Object.keys(result.a).length, 2);
  assert.deepEqual(result.a, result.b, "A and B hold the same recordings");
  assert.deepEqual(result.c, result.a, "C, starting empty, pulled everything");
  assert.equal(result.a["from-a"].syncState, "synced");
  assert.equal(result.a["from-b"].mimeType, "audio/ogg");
  assert.equal(result.c["from-a"].audio, result.c["from-a"].contentHash, "audio bytes match their hash");
  assert.deepEqual(result.c["from-a"].custom, { mic: "usb" });
  assert.equal(result.rc.downloaded, 2);
  assert.equal(result.quiet.pushed + result.quiet.uploaded + result.quiet.pulled, 0, "a quiet sync moves nothing");
  done();
}

/** Two devices `a` and `b` in the page that both hold recording "r", synced through `window.r`. */
async function twoSynced(page, cloud) {
  return page.evaluate(async (cloud) => {
    const { device, audio } = kit;
    window.r = makeRemote(cloud);
    window.a = await device(tapesync, "a");
    window.b = await device(tapesync, "b");
    await a.save(audio(30_000, 7), { id: "r", name: "original", tags: ["t"] });
    await a.sync(r);
    await b.sync(r);
    return (await b.get("r"))?.syncState;
  }, cloud);
}

export async function concurrentRenames(adapter, policy, expected) {
  const { page, cloud, done } = await setup(adapter);
  assert.equal(await twoSynced(page, cloud), "synced");
  const out = await page.evaluate(async (policy) => {
    await a.update("r", { name: "A" });
    await new Promise((ok) => setTimeout(ok, 5));
    await b.update("r", { name: "B", tags: ["from-b"] });
    const conflicts = [];
    a.addEventListener("syncconflict", (e) => conflicts.push(e.detail));
    await b.sync(r, { policy });
    const ra = await a.sync(r, { policy });
    await b.sync(r, { policy });
    return { a: await a.get("r"), b: await b.get("r"), ra, conflicts };
  }, policy);
  assert.equal(out.a.name, expected);
  assert.equal(out.b.name, expected, "both devices agree");
  assert.deepEqual(out.a.tags, ["from-b"], "a field only B changed keeps B's value");
  assert.equal(out.a.syncState, "synced");
  assert.equal(out.conflicts.length, 1, JSON.stringify(out.conflicts));
  assert.equal(out.conflicts[0].kept, policy === "local-wins" ? "local" : "cloud");
  done();
}

export async function conflictCopies(adapter) {
  const { page, cloud, done } = await setup(adapter);
  await twoSynced(page, cloud);
  const out = await page.evaluate(async () => {
    const { audio, snapshot, digest } = kit;
    const takeA = audio(40_000, 11);
    const takeB = audio(45_000, 12);
    await a.replaceAudio("r", takeA);
    await b.replaceAudio("r", takeB);
    await b.sync(r);
    await a.sync(r);
    await b.sync(r);
    await a.sync(r);
    return { a: await snapshot(a), b: await snapshot(b), hashA: await digest(takeA), hashB: await digest(takeB) };
  });
  assert.deepEqual(out.a, out.b, "both devices converge");
  const ids = Object.keys(out.a);
  assert.equal(ids.length, 2, `the original and one conflict copy: ${ids}`);
  assert.deepEqual(Object.values(out.a).map((r) => r.audio).sort(), [out.hashA, out.hashB].sort(), "neither take is lost");
  const copy = Object.entries(out.a).find(([id]) => id !== "r")[1];
  assert.equal(copy.custom.conflictOf, "r", "the copy names its origin");
  done();
}

export async function deleteAgainstEdit(adapter, policy, survives) {
  const { page, cloud, done } = await setup(adapter);
  await twoSynced(page, cloud);
  const out = await page.evaluate(async (policy) => {
    await a.delete("r");
    await b.update("r", { name: "edited" });
    await b.sync(r, { policy });
    await a.sync(r, { policy });
    await b.sync(r, { policy });
    return { a: await a.get("r"), b: await b.get("r"), bBlob: !!(await b.getBlob("r")) };
  }, policy);
  if (survives) {
    assert.equal(out.a?.name, "edited");
    assert.equal(out.b?.name, "edited");
  } else {
    assert.equal(out.a, null);
    assert.equal(out.b, null, "the deletion reached the other device");
    assert.equal(out.bBlob, false, "with its audio");
  }
  done();
}

export async function deletePropagates(adapter) {
  const { page, cloud, user, done } = await setup(adapter);
  await twoSynced(page, cloud);
  assert.equal((await adapter.objects(user, "blobs/r")).length, 1, "the audio is in the cloud");
  const out = await page.evaluate(async () => {
    await a.delete("r");
    const ra = await a.sync(r);
    const rb = await b.sync(r);
    return { ra, rb, b: await b.get("r"), count: await b.count() };
  });
  assert.equal(out.ra.outcome.kind, "complete", JSON.stringify(out.ra));
  assert.equal(out.b, null);
  assert.equal(out.count, 0);
  assert.deepEqual(await adapter.objects(user, "blobs/r"), [], "the deleted recording's audio is gone from the cloud");
  done();
}

/**
 * A recording of `size` bytes (several chunks) whose upload is cut off after `cutAfter` acknowledged bytes; the page
 * reloads, and the next sync resumes. Returns what was sent, for the caller's checks.
 */
export async function resumableAfterReload(adapter, { size = 20 * 1024 * 1024, beforeResume } = {}) {
  const { page, cloud, user, done } = await setup(adapter);
  const chunk = adapter.chunkSize;
  const { out: first, requests: before } = await counting(page, adapter, () => page.evaluate(async ({ cloud, size }) => {
    const { device, audio, digest } = kit;
    const a = await device(tapesync, "big");
    const blob = audio(size, 5);
    await a.save(blob, { id: "big" });
    const controller = new AbortController();
    const sent = [];
    a.addEventListener("syncprogress", (e) => {
      if (e.detail.phase !== "upload") return;
      sent.push(e.detail.sent);
      // Midway: after the first chunk the server acknowledged.
      if (e.detail.sent > 0 && e.detail.sent < e.detail.total) controller.abort();
    });
    let code = "resolved";
    try {
      await a.sync(makeRemote(cloud), { signal: controller.signal });
    } catch (e) {
      code = e.code;
    }
    a.close();
    return { code, sent, hash: await digest(blob) };
  }, { cloud, size }));
  assert.equal(first.code, "Aborted");
  assert.ok(first.sent.some((s) => s > 0 && s < size), `the first run sent part of it: ${first.sent}`);
  if (beforeResume) await beforeResume();
  // A reload: the page, the module and the remote are new; the upload session comes from IndexedDB.
  await page.reload();
  await prepare(page, adapter);
  const { out, requests } = await counting(page, adapter, () =>
    page.evaluate(async (cloud) => {
      const a = await kit.device(tapesync, "big");
      const resumed = [];
      a.addEventListener("syncprogress", (e) => e.detail.phase === "upload" && resumed.push(e.detail.sent));
      const report = await a.sync(makeRemote(cloud));
      return { resumed, report, state: (await a.get("big")).syncState };
    }, cloud),
  );
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  const cloudCopy = await adapter.download(user, `blobs/big/${first.hash}`);
  assert.equal(cloudCopy.bytes.length, size);
  assert.equal(sha256(cloudCopy.bytes), first.hash, "the cloud's bytes equal the local ones");
  done();
  return { first, second: out, before, requests, chunk };
}

export async function lostResponseNoDuplicate(adapter) {
  const { page, cloud, user, done } = await setup(adapter);
  // The first audio upload and the first log segment reach the cloud, and their answers are lost.
  await adapter.fault({ to: "blob-upload", mode: "lost-response", times: 1 });
  await adapter.fault({ to: "segment-upload", mode: "lost-response", times: 1 });
  await adapter.clearAttempts();
  const { out, requests } = await counting(page, adapter, () =>
    page.evaluate(async (cloud) => {
      const a = await kit.device(tapesync, "lossy");
      await a.save(kit.audio(20_000, 3), { id: "once" });
      const report = await a.sync(makeRemote(cloud));
      const again = await a.sync(makeRemote(cloud));
      return { report, again, state: (await a.get("once")).syncState, device: a.deviceId };
    }, cloud),
  );
  // tapesync sent each write once and settled the lost answers by reading what the cloud holds. (The cloud may
  // see a write twice: Chromium itself resends a request whose reused connection was reset; a create-only write
  // refuses the copy.)
  const writes = (what) => requests.filter((q) => /^(POST|PUT) /.test(q) && q.includes(what) && !q.includes("/list"));
  assert.equal(writes("/blobs/").length, 1, `the audio was sent once:\n${requests.join("\n")}`);
  assert.equal(writes("/log/").length, 1, `the log segment was sent once:\n${requests.join("\n")}`);
  assert.ok((await adapter.attempts("blob-upload")) >= 1 && (await adapter.attempts("segment-upload")) >= 1);
  assert.equal(out.state, "synced", JSON.stringify(out));
  assert.equal((await adapter.objects(user, "blobs/once")).length, 1, "one audio object");
  const segments = await adapter.objects(user, `log/${out.device}`);
  assert.equal(segments.length, 1, `one log segment: ${segments}`);
  done();
}

export async function intruderForbidden(adapter) {
  const { page, cloud, done } = await setup(adapter);
  const other = await adapter.user();
  await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "owner");
    await a.save(kit.audio(1000, 1), { id: "private" });
    await a.sync(makeRemote(cloud));
  }, cloud);
  const { out, requests } = await counting(page, adapter, () =>
    page.evaluate(async (cloud) => {
      const intruder = await kit.device(tapesync, "intruder");
      window.intruder = intruder;
      window.stolen = makeRemote(cloud);
      await intruder.save(kit.audio(1000, 2), { id: "mine" });
      const states = [];
      intruder.addEventListener("syncstate", (e) => states.push(e.detail.state));
      const report = await intruder.sync(stolen);
      return { report, states, mine: (await intruder.get("mine")).syncState, pulled: await intruder.get("private") };
    }, { ...cloud, token: other.cloud.token }),
  );
  // The cloud refuses B's writes with 403. Where reads are refused too (Firebase), the round stops; where they look
  // like absence (Supabase's row-level security hides A's objects), the refused upload fails B's recording.
  const { outcome, failed } = out.report;
  if (outcome.kind === "stopped") {
    assert.equal(outcome.error.code, "Forbidden", JSON.stringify(outcome));
    assert.deepEqual(out.states, ["syncing", "error"]);
  } else {
    assert.equal(outcome.kind, "complete", JSON.stringify(out.report));
    assert.deepEqual(failed.map((f) => [f.id, f.code, f.status]), [["mine", "Forbidden", 403]], JSON.stringify(out.report));
    assert.equal(out.mine, "failed");
  }
  assert.equal(out.pulled, null, "nothing of A's reached B");
  assert.notEqual(out.mine, "synced");
  assert.ok(requests.length <= 8, `no retry storm: ${requests.length} requests\n${requests.join("\n")}`);
  // The next sync does not try the refused write again (only the app can fix it).
  const { requests: again } = await counting(page, adapter, () => page.evaluate(() => intruder.sync(stolen).catch((e) => e.code)));
  const writes = again.filter((q) => !q.startsWith("GET ") && !/\/list(-v2)?\/|\?prefix=/.test(q));
  assert.deepEqual(writes, [], `a second sync writes nothing: ${again.join("\n")}`);
  done();
  return requests;
}

/** getToken first gives `firstToken` (e.g. an expired one); the sync asks once more and goes on. */
export async function tokenAskedAgainOnce(adapter, firstToken) {
  const { page, cloud, done } = await setup(adapter);
  const out = await page.evaluate(async ({ cloud, first }) => {
    let asked = 0;
    const a = await kit.device(tapesync, "token");
    await a.save(kit.audio(2000, 1), { id: "t" });
    const report = await a.sync(makeRemote({ ...cloud, token: () => (++asked === 1 ? first : cloud.token) }));
    return { report, asked, state: (await a.get("t")).syncState };
  }, { cloud, first: firstToken ?? cloud.token });
  assert.equal(out.asked, 2, "the first token, then one fresh one");
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  done();
}

export async function serverErrorsRetried(adapter) {
  const { page, cloud, done } = await setup(adapter);
  await adapter.fault({ to: "segment-upload", mode: "respond", status: 503, times: 2 });
  await adapter.clearAttempts();
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "flaky");
    await a.save(kit.audio(2000, 1), { id: "f" });
    const report = await a.sync(makeRemote(cloud));
    return { report, state: (await a.get("f")).syncState };
  }, cloud);
  assert.equal(await adapter.attempts("segment-upload"), 3, "two 503s, then success");
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  done();
}

/** The requests of a quiet sync (nothing to do) of a device holding `n` synced recordings. */
async function quietCost(adapter, n) {
  const { page, cloud, done } = await setup(adapter);
  const first = await page.evaluate(async ({ cloud, n }) => {
    const a = await kit.device(tapesync, `quiet-${n}`);
    window.a = a;
    window.r = makeRemote(cloud);
    for (let i = 0; i < n; i++) await a.save(kit.audio(64, i), { id: `q${i}` });
    const report = await a.sync(r, { concurrency: 16 });
    return { report, synced: await a.count({ syncState: "synced" }) };
  }, { cloud, n });
  assert.equal(first.report.outcome.kind, "complete", JSON.stringify(first.report));
  assert.equal(first.synced, n);
  const { out, requests } = await counting(page, adapter, () => page.evaluate(() => a.sync(r)));
  assert.equal(out.pushed + out.pulled + out.uploaded + out.downloaded, 0);
  done();
  // What is asked, without the user's folder (which differs).
  return requests.map((q) => q.replaceAll(cloud.prefix ?? "", "<prefix>"));
}

export async function quietSyncCostIndependentOfCount(adapter) {
  const few = await quietCost(adapter, 10);
  const many = await quietCost(adapter, 1000);
  assert.ok(few.length > 0);
  assert.deepEqual(many, few, "a quiet sync costs the same with 10 and with 1,000 recordings");
  return few;
}
