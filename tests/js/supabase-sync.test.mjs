// Sync with Supabase Storage end to end: the local Supabase (emulators/supabase, REST + the real @tus/server) on a
// free loopback port, the built package (scripts/pkg.sh) in Debian's Chromium, several devices, faults, policies.
// The scenarios every cloud shares are in scenarios.mjs; the ones only Supabase has are here.
//
//   node --test --test-concurrency=1 tests/js/supabase-sync.test.mjs
//
// No e2e lock is needed: nothing here uses the Firebase emulators' fixed ports.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { StorageClient } from "@supabase/storage-js";
import { launch } from "./browser.mjs";
import { ANON_KEY, BUCKET, TUS_CHUNK_SIZE, adminHooks, signUp, startSupabase, stopSupabase, userToken } from "../../emulators/supabase/harness.mjs";
import * as scenarios from "./scenarios.mjs";

const MiB = 1024 * 1024;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
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

const headers = (token) => ({ apikey: ANON_KEY, authorization: `Bearer ${token}` });
const PATHS = {
  "blob-upload": "^/storage/v1/object/[^/]+/users/[^/]+/recordings/blobs/",
  "segment-upload": "^/storage/v1/object/[^/]+/users/[^/]+/recordings/log/",
  "tus-patch": "^/storage/v1/upload/resumable/",
  "list-v2": "^/storage/v1/object/list-v2/",
};
const METHODS = { "blob-upload": "POST", "segment-upload": "POST", "tus-patch": "PATCH", "list-v2": "POST" };

/** The adapter scenarios.mjs runs against (see its header). */
const supabase = {
  name: "supabase",
  chunkSize: TUS_CHUNK_SIZE,
  get origin() {
    return url;
  },
  get env() {
    return env;
  },
  async user() {
    const u = await signUp();
    return { ...u, cloud: { url, apikey: ANON_KEY, bucket: BUCKET, prefix: `users/${u.id}/recordings`, token: u.accessToken } };
  },
  install: (page) =>
    page.evaluate(() => {
      window.makeRemote = (c) =>
        new tapesync.SupabaseRemote({
          url: c.url,
          apikey: c.apikey,
          bucket: c.bucket,
          prefix: c.prefix,
          timeoutMs: c.timeoutMs,
          getToken: async () => (typeof c.token === "function" ? c.token() : c.token),
        });
    }),
  /** Full names of the objects directly in the folder (REST list v1, as the user). */
  async objects(user, folder) {
    const res = await fetch(`${url}/storage/v1/object/list/${BUCKET}`, {
      method: "POST",
      headers: { ...headers(user.accessToken), "content-type": "application/json" },
      body: JSON.stringify({ prefix: `${user.cloud.prefix}/${folder}/`, limit: 1000 }),
    });
    assert.equal(res.status, 200);
    return (await res.json()).filter((o) => o.id !== null).map((o) => `${folder}/${o.name}`);
  },
  async download(user, key) {
    const res = await fetch(`${url}/storage/v1/object/authenticated/${BUCKET}/${user.cloud.prefix}/${key}`, { headers: headers(user.accessToken) });
    assert.equal(res.status, 200, await res.clone().text());
    return { bytes: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get("content-type") };
  },
  expiredToken: (user) => userToken(user.id, { expiresIn: -60 }),
  fault: ({ to, mode, status, times = 1, body }) =>
    adminHooks.addFault({ method: METHODS[to], path: PATHS[to], times, mode: mode === "lost-response" ? "drop-after" : mode, status, body }),
  async attempts(to) {
    const re = new RegExp(PATHS[to]);
    return (await adminHooks.requests()).filter((r) => r.method === METHODS[to] && re.test(r.path)).length;
  },
  clearAttempts: () => adminHooks.clearRequests(),
};

test("two devices push and pull both ways, and a third device starting empty pulls everything", () => scenarios.twoDevicesBothWays(supabase));

for (const [policy, expected] of [["merge", "B"], ["local-wins", "A"], ["cloud-wins", "B"]]) {
  test(`policy ${policy}: concurrent renames settle on ${expected} everywhere, other fields merge`, () =>
    scenarios.concurrentRenames(supabase, policy, expected));
}

test("concurrent re-recordings keep the losing take as a conflict copy on every device", () => scenarios.conflictCopies(supabase));

for (const [policy, survives] of [["merge", false], ["local-wins", false], ["cloud-wins", true]]) {
  test(`policy ${policy}: a delete against a concurrent edit ${survives ? "is withdrawn" : "wins"}`, () =>
    scenarios.deleteAgainstEdit(supabase, policy, survives));
}

test("a delete on one device removes the recording on the other, and its audio from the cloud", () => scenarios.deletePropagates(supabase));

/** Bytes the resumable chunks of `requests` carried (each PATCH sends one chunk from its Upload-Offset). */
const patched = (requests, size) =>
  requests.filter((q) => q.startsWith("PATCH ")).reduce((sum, q) => sum + Math.min(TUS_CHUNK_SIZE, size - Number(q.split(" @")[1])), 0);

test("a 20 MiB recording's TUS upload cut off midway resumes after a reload, re-sending at most one chunk", async () => {
  const size = 20 * MiB;
  const { first, second, before, requests } = await scenarios.resumableAfterReload(supabase, { size });
  const heads = requests.filter((q) => q.startsWith("HEAD "));
  assert.equal(heads.length, 1, `one HEAD reads the offset after the reload:\n${requests.join("\n")}`);
  assert.ok(!requests.some((q) => q.startsWith("POST ") && q.endsWith("/upload/resumable")), "no new upload was created");
  const start = second.resumed[0];
  assert.ok(start >= TUS_CHUNK_SIZE && start < size, `the second run started where the server was: ${second.resumed}`);
  const acked = Math.max(...first.sent.filter((s) => s < size));
  assert.ok(start >= acked, `nothing acknowledged is sent again (${start} < ${acked})`);
  assert.equal(requests.filter((q) => q.startsWith("PATCH ")).length, Math.ceil((size - start) / TUS_CHUNK_SIZE), "only the missing chunks");
  const sent = patched(before, size) + patched(requests, size);
  assert.ok(sent - size <= TUS_CHUNK_SIZE, `re-sent ${sent - size} bytes:\n${[...before, ...requests].join("\n")}`);
});

test("an expired TUS upload URL starts over with a new upload after the reload", async () => {
  const size = 13 * MiB;
  const { second, requests } = await scenarios.resumableAfterReload(supabase, { size, beforeResume: () => adminHooks.expireUploads() });
  assert.equal(second.resumed[0], 0, `started over: ${second.resumed}`);
  const creates = requests.filter((q) => q.startsWith("POST ") && q.endsWith("/upload/resumable"));
  assert.equal(creates.length, 1, requests.join("\n"));
  assert.equal(requests.filter((q) => q.startsWith("PATCH ")).length, 3, "all three chunks");
});

test("a TUS offset conflict (409) re-reads the offset and the upload goes on", async () => {
  const { page, cloud, user, done } = await scenarios.setup(supabase);
  await supabase.fault({ to: "tus-patch", mode: "respond", status: 409, times: 1, body: { message: "Upload-Offset conflict" } });
  await supabase.clearAttempts();
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "conflict");
    const blob = kit.audio(7 * 1024 * 1024, 9);
    await a.save(blob, { id: "c" });
    const report = await a.sync(makeRemote(cloud));
    return { report, hash: await kit.digest(blob) };
  }, cloud);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  const log = await adminHooks.requests();
  assert.equal(log.filter((r) => r.method === "HEAD").length, 1, "one HEAD after the conflict");
  assert.equal(log.filter((r) => r.method === "PATCH").length, 3, "the refused PATCH, then two chunks");
  assert.equal(sha256((await supabase.download(user, `blobs/c/${out.hash}`)).bytes), out.hash);
  done();
});

test("a lost response (the server took the write, the client never heard) leads to no duplicate object", () =>
  scenarios.lostResponseNoDuplicate(supabase));

test("a user signed in as B cannot sync into A's folder: Forbidden, and no retry storm", async () => {
  const requests = await scenarios.intruderForbidden(supabase);
  assert.ok(requests.some((q) => q.startsWith("POST ")), "it tried to write once");
});

test("an expired JWT (HTTP 400, statusCode 403, the exp message) asks getToken once more and the sync goes on", async () => {
  const u = await signUp();
  const expired = await supabase.expiredToken(u);
  await scenarios.tokenAskedAgainOnce(supabase, expired);
});

test("a 401 asks getToken once more and the sync goes on", async () => {
  await supabase.fault({ to: "segment-upload", mode: "respond", status: 401, body: { message: "Unauthorized" } });
  await scenarios.tokenAskedAgainOnce(supabase);
  await adminHooks.clearFaults();
});

test("server errors (5xx) are retried with backoff until they pass", () => scenarios.serverErrorsRetried(supabase));

test("a quiet sync costs the same requests with 10 and with 1,000 recordings", { timeout: 600_000 }, async (t) => {
  const few = await scenarios.quietSyncCostIndependentOfCount(supabase);
  t.diagnostic(`a quiet sync: ${few.join(", ")}`);
  assert.ok(few.length <= 6, `a quiet sync is a handful of requests: ${few.join("\n")}`);
});

test("a server without list-v2 (400, statusCode 404, Bucket not found) is listed with offset paging", async () => {
  await adminHooks.clearRequests();
  await supabase.fault({
    to: "list-v2",
    mode: "respond",
    status: 400,
    times: 100,
    body: { statusCode: "404", error: "Bucket not found", message: "Bucket not found", code: "NoSuchBucket" },
  });
  try {
    await scenarios.twoDevicesBothWays(supabase);
  } finally {
    await adminHooks.clearFaults();
  }
  const log = await adminHooks.requests();
  const v2 = log.filter((r) => r.path.includes("/object/list-v2/"));
  const v1 = log.filter((r) => r.path.includes("/object/list/"));
  assert.ok(v1.length > 0, "listed with list (v1)");
  // The first listings of a round go out together; once one is refused, the remote lists with v1 only.
  assert.ok(v2.length <= 4, `list-v2 is given up at once: ${v2.length} tries, ${v1.length} v1 listings`);
});

test("@supabase/storage-js downloads what tapesync pushed: same bytes and content type", async () => {
  const { page, cloud, user, done } = await scenarios.setup(supabase);
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "sdk");
    const small = kit.audio(33_333, 9, "audio/webm;codecs=opus");
    const big = kit.audio(7 * 1024 * 1024, 4, "audio/ogg");
    await a.save(small, { id: "small" });
    await a.save(big, { id: "big" });
    const report = await a.sync(makeRemote(cloud));
    return { report, small: (await a.get("small")).contentHash, big: (await a.get("big")).contentHash };
  }, cloud);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  const files = new StorageClient(`${url}/storage/v1`, { apikey: ANON_KEY, Authorization: `Bearer ${user.accessToken}` }).from(BUCKET);
  for (const [id, size, type] of [["small", 33_333, "audio/webm;codecs=opus"], ["big", 7 * 1024 * 1024, "audio/ogg"]]) {
    const { data, error } = await files.download(`${cloud.prefix}/blobs/${id}/${out[id]}`);
    assert.equal(error, null);
    const bytes = Buffer.from(await data.arrayBuffer());
    assert.equal(bytes.length, size);
    assert.equal(sha256(bytes), out[id]);
    assert.equal(data.type, type, `${id}: the content type`);
  }
  done();
});

test("chunkSize other than 6 MiB, and bad SupabaseRemote options, are InvalidArgument with clear messages", async () => {
  const { page, cloud, done } = await scenarios.setup(supabase);
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "chunks");
    const r = makeRemote(cloud);
    const attempt = (fn) => Promise.resolve().then(fn).then(() => "ok", (e) => `${e.code}: ${e.message}`);
    const ctor = (o) => () => new tapesync.SupabaseRemote({ url: cloud.url, apikey: cloud.apikey, bucket: "recordings", getToken: () => "t", ...o });
    return {
      quarter: await attempt(() => a.sync(r, { chunkSize: 256 * 1024 })),
      double: await attempt(() => a.sync(r, { chunkSize: 12 * 1024 * 1024 })),
      exact: await attempt(() => a.sync(r, { chunkSize: 6 * 1024 * 1024 })),
      http: await attempt(ctor({ url: "http://storage.example.com" })),
      noKey: await attempt(ctor({ apikey: "" })),
      bucket: await attempt(ctor({ bucket: "a/b" })),
      prefix: await attempt(ctor({ prefix: "../x" })),
      token: await attempt(ctor({ getToken: "t" })),
      unknown: await attempt(ctor({ baseUrl: "x" })),
      keyNotShown: await attempt(ctor({ apikey: "secret key with spaces" })),
    };
  }, cloud);
  assert.match(out.quarter, /^InvalidArgument: .*6291456/);
  assert.match(out.double, /^InvalidArgument: .*6291456/);
  assert.equal(out.exact, "ok");
  for (const k of ["http", "noKey", "bucket", "prefix", "token", "unknown", "keyNotShown"]) assert.match(out[k], /^InvalidArgument: /, k);
  assert.match(out.http, /https:\/\//);
  assert.ok(!out.keyNotShown.includes("secret"), "the apikey is never in a message");
  done();
});

/** The bytes of the sync kit's `audio(n, seed)` (tests/js/pages/sync-kit.js), made in Node. */
const kitAudio = (n, seed) => Buffer.from(Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));

test("audio already in the cloud under its key (Duplicate, statusCode 409) counts as uploaded once its size is confirmed", async () => {
  const { page, cloud, user, done } = await scenarios.setup(supabase);
  const bytes = kitAudio(12_345, 6);
  const key = `${cloud.prefix}/blobs/pre/${sha256(bytes)}`;
  const put = await fetch(`${url}/storage/v1/object/${BUCKET}/${key}`, {
    method: "POST",
    headers: { ...headers(user.accessToken), "content-type": "audio/webm", "x-upsert": "false" },
    body: bytes,
  });
  assert.equal(put.status, 200);
  await supabase.clearAttempts();
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "dup");
    await a.save(kit.audio(12_345, 6), { id: "pre" });
    const report = await a.sync(makeRemote(cloud));
    return { report, state: (await a.get("pre")).syncState };
  }, cloud);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.deepEqual(out.report.failed, []);
  assert.equal(out.state, "synced");
  const log = await adminHooks.requests();
  const onKey = log.filter((r) => r.path.endsWith(key) && r.method !== "OPTIONS").map((r) => `${r.method} ${r.path.includes("/info/") ? "info" : "object"} ${r.status}`);
  assert.deepEqual(onKey, ["POST object 400", "GET info 200"], "refused as a duplicate, then its size read; nothing overwritten");
  done();
});

test("a chunk whose connection is dropped is sent again from the server's offset", async () => {
  const { page, cloud, user, done } = await scenarios.setup(supabase);
  await supabase.fault({ to: "tus-patch", mode: "drop", times: 1 });
  await supabase.clearAttempts();
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "dropped");
    const blob = kit.audio(8 * 1024 * 1024, 2);
    await a.save(blob, { id: "d" });
    const report = await a.sync(makeRemote(cloud));
    return { report, hash: await kit.digest(blob), state: (await a.get("d")).syncState };
  }, cloud);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  assert.equal(await supabase.attempts("tus-patch"), 3, "two chunks, one of them twice");
  const copy = await supabase.download(user, `blobs/d/${out.hash}`);
  assert.equal(copy.bytes.length, 8 * 1024 * 1024);
  assert.equal(sha256(copy.bytes), out.hash);
  done();
});

test("an object too large for the bucket (statusCode 413) fails that recording as InvalidArgument; the others sync", async () => {
  const { page, cloud, done } = await scenarios.setup(supabase);
  await supabase.fault({
    to: "blob-upload",
    mode: "respond",
    status: 400,
    body: { statusCode: "413", error: "Payload too large", message: "The object exceeded the maximum allowed size", code: "EntityTooLarge" },
  });
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "large");
    await a.save(kit.audio(3000, 1), { id: "first" });
    const report = await a.sync(makeRemote(cloud), { concurrency: 1 });
    await a.save(kit.audio(3000, 2), { id: "second" });
    const next = await a.sync(makeRemote(cloud));
    return { report, next, first: (await a.get("first")).syncState, second: (await a.get("second")).syncState };
  }, cloud);
  assert.deepEqual(out.report.failed.map((f) => [f.id, f.code, f.status]), [["first", "InvalidArgument", 413]], JSON.stringify(out.report));
  assert.equal(out.first, "failed");
  assert.equal(out.second, "synced");
  done();
});
