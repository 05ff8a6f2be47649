// Sync with S3 end to end: the local S3 (moto behind the fidelity proxy, emulators/s3/) on free
// loopback ports, the built package (scripts/pkg.sh) in Debian's Chromium, several devices, faults,
// policies, and the official AWS SDK reading what tapesync pushed. The API is called as the README
// shows: save, then sync at once.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { S3Client, GetObjectCommand, PutObjectCommand, ListObjectsV2Command, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { launch } from "./browser.mjs";
import { startS3 } from "../../emulators/s3/harness.mjs";
import { createPresigner } from "../../s3/presign-backend.example.mjs";
import * as scenarios from "./scenarios.mjs";

let s3;
let env;
before(async () => {
  s3 = await startS3({ port: 0, adminPort: 0, motoPort: 0 });
  env = await launch();
}, { timeout: 600_000 });
after(async () => {
  await env?.close();
  await s3?.stop();
});
beforeEach(async () => {
  await s3.reset();
});

const PREFIX = "users/alice/recordings";
const client = (credentials) => new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials });
/** The endpoint's requests since `since`, preflights left out. */
const requests = (since) =>
  s3.requests({ since }).filter((r) => !r.preflight).map((r) => ({ ...r, query: Object.fromEntries(new URLSearchParams(r.query ?? "")) }));

/**
 * A page with the package and the sync kit loaded, and `window.s3remote(extra)` building an S3Remote
 * for alice's prefix with temporary credentials from `window.getCredentials()` (a test binding that
 * calls AssumeRole, counting the calls in `calls.credentials`).
 */
async function setup({ user = "alice", durationSeconds = 3600 } = {}) {
  const page = await env.page();
  const calls = { credentials: 0 };
  await page.exposeFunction("getCredentials", async (who) => {
    calls.credentials++;
    return s3.assumeRole(who ?? user, { durationSeconds });
  });
  await page.evaluate(async ({ endpoint, region, bucket, prefix }) => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/sync-kit.js");
    window.s3remote = (extra = {}) =>
      new tapesync.S3Remote({ endpoint, region, bucket, prefix, credentials: () => window.getCredentials(extra.user), ...extra.options });
  }, { endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, prefix: PREFIX });
  return { page, calls };
}

async function listKeys(prefix, credentials = s3.users.alice) {
  const out = await client(credentials).send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((c) => c.Key);
}

test("two devices push and pull both ways, a third starting empty pulls everything; the AWS SDK reads the same bytes", async () => {
  const { page } = await setup();
  const out = await page.evaluate(async () => {
    const { device, audio, snapshot } = kit;
    const r = s3remote();
    const a = await device(tapesync, "a");
    const b = await device(tapesync, "b");
    await a.save(audio(50_000, 1), { id: "from-a", name: "A's take", tags: ["x"], custom: { mic: "usb" } });
    const ra = await a.sync(r);
    await b.save(audio(70_000, 2, "audio/ogg"), { id: "from-b", name: "B's take" });
    const rb = await b.sync(r);
    const ra2 = await a.sync(r);
    const c = await device(tapesync, "c");
    const rc = await c.sync(s3remote());
    const quiet = await a.sync(r);
    return { ra, rb, ra2, rc, quiet, a: await snapshot(a), b: await snapshot(b), c: await snapshot(c) };
  });
  for (const k of ["ra", "rb", "ra2", "rc"]) assert.equal(out[k].outcome.kind, "complete", `${k}: ${JSON.stringify(out[k])}`);
  assert.equal(Object.keys(out.a).length, 2);
  assert.deepEqual(out.a, out.b, "A and B hold the same recordings");
  assert.deepEqual(out.c, out.a, "C pulled everything");
  assert.equal(out.c["from-a"].audio, out.c["from-a"].contentHash);
  assert.equal(out.c["from-b"].mimeType, "audio/ogg");
  assert.equal(out.quiet.pushed + out.quiet.uploaded + out.quiet.pulled, 0, "a quiet sync moves nothing");

  // The official SDK reads what tapesync pushed: same bytes, same content type.
  const key = `${PREFIX}/blobs/from-b/${out.a["from-b"].contentHash}`;
  const got = await client(s3.users.alice).send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  const bytes = Buffer.from(await got.Body.transformToByteArray());
  const expected = Buffer.alloc(70_000);
  for (let i = 0; i < expected.length; i++) expected[i] = (i * 31 + 2) & 255;
  assert.ok(bytes.equals(expected), "the SDK gets the bytes saved in the browser");
  assert.equal(got.ContentType, "audio/ogg");
});

/** The adapter tests/js/scenarios.mjs runs the scenarios every cloud shares against (see its header). */
const s3cloud = {
  name: "s3",
  chunkSize: 6 * 1024 * 1024,
  get origin() {
    return s3.endpoint;
  },
  get env() {
    return env;
  },
  async user() {
    const { accessKeyId, secretAccessKey } = s3.users.alice;
    return { cloud: { endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, prefix: PREFIX, accessKeyId, secretAccessKey } };
  },
  install: (page) =>
    page.evaluate(() => {
      window.makeRemote = (c) =>
        new tapesync.S3Remote({
          endpoint: c.endpoint,
          region: c.region,
          bucket: c.bucket,
          prefix: c.prefix,
          credentials: () => ({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }),
        });
    }),
  async objects(_user, folder) {
    return (await listKeys(`${PREFIX}/${folder}/`)).map((key) => key.slice(PREFIX.length + 1));
  },
};

for (const [policy, expected] of [["merge", "B"], ["local-wins", "A"], ["cloud-wins", "B"]]) {
  test(`policy ${policy}: concurrent renames settle on ${expected} everywhere, other fields merge`, () =>
    scenarios.concurrentRenames(s3cloud, policy, expected));
}

test("concurrent re-recordings keep the losing take as a conflict copy on every device", () => scenarios.conflictCopies(s3cloud));

for (const [policy, survives] of [["merge", false], ["local-wins", false], ["cloud-wins", true]]) {
  test(`policy ${policy}: a delete against a concurrent edit ${survives ? "is withdrawn" : "wins"}`, () =>
    scenarios.deleteAgainstEdit(s3cloud, policy, survives));
}

test("a delete on one device removes the recording on the other, and its audio from the cloud", () => scenarios.deletePropagates(s3cloud));

test("a 20 MiB recording interrupted midway resumes after reopening, from the parts S3 holds", async () => {
  const { page } = await setup();
  const since = s3.lastRequest();
  const out = await page.evaluate(async () => {
    const { device, audio, digest } = kit;
    let a = await device(tapesync, "big");
    const blob = audio(20 * 1024 * 1024, 5);
    await a.save(blob, { id: "big" });
    const controller = new AbortController();
    a.addEventListener("syncprogress", (e) => {
      if (e.detail.phase === "upload" && e.detail.sent >= 12 * 1024 * 1024 && e.detail.sent < e.detail.total) controller.abort();
    });
    let code = "resolved";
    try {
      await a.sync(s3remote(), { signal: controller.signal });
    } catch (e) {
      code = e.code;
    }
    a.close();
    // Like a reload: a new connection, a new remote, the upload session from IndexedDB.
    a = await device(tapesync, "big");
    const resumed = [];
    a.addEventListener("syncprogress", (e) => e.detail.phase === "upload" && resumed.push(e.detail.sent));
    const report = await a.sync(s3remote());
    return { code, resumed, report, hash: await digest(blob), state: (await a.get("big")).syncState };
  });
  assert.equal(out.code, "Aborted");
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  assert.ok(out.resumed[0] >= 12 * 1024 * 1024, `the second run started where the server was: ${out.resumed}`);
  const log = requests(since);
  const parts = log.filter((r) => r.method === "PUT" && r.query?.partNumber);
  assert.ok(parts.length <= 5, `4 parts of 6 MiB, at most one sent twice: ${parts.length}`);
  assert.equal(log.filter((r) => r.method === "POST" && "uploads" in r.query).length, 1, "one multipart upload, resumed");
  assert.ok(log.some((r) => r.method === "GET" && r.query?.uploadId), "ListParts asked what the server holds");
  const got = await client(s3.users.alice).send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/blobs/big/${out.hash}` }));
  const bytes = Buffer.from(await got.Body.transformToByteArray());
  assert.equal(bytes.length, 20 * 1024 * 1024);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), out.hash, "cloud bytes equal local bytes");
  const open = await client(s3.admin).send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
  assert.equal((open.Uploads ?? []).length, 0, "no multipart upload left open");
});

test("an upload that cannot be resumed (another part size since) is aborted, and starts over", async () => {
  const { page } = await setup();
  const since = s3.lastRequest();
  const out = await page.evaluate(async () => {
    let a = await kit.device(tapesync, "resized");
    await a.save(kit.audio(13 * 1024 * 1024, 8), { id: "resized" });
    const controller = new AbortController();
    a.addEventListener("syncprogress", (e) => {
      if (e.detail.phase === "upload" && e.detail.sent > 0 && e.detail.sent < e.detail.total) controller.abort();
    });
    const first = await a.sync(s3remote(), { signal: controller.signal }).then(() => "resolved", (e) => e.code);
    a.close();
    a = await kit.device(tapesync, "resized");
    const report = await a.sync(s3remote(), { chunkSize: 5 * 1024 * 1024 });
    return { first, report, state: (await a.get("resized")).syncState };
  });
  assert.equal(out.first, "Aborted");
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  const log = requests(since);
  assert.equal(log.filter((r) => r.method === "POST" && "uploads" in r.query).length, 2, "a second multipart upload");
  assert.ok(log.some((r) => r.method === "DELETE" && r.query.uploadId), "the first one was aborted");
  const open = await client(s3.admin).send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
  assert.equal((open.Uploads ?? []).length, 0, "no multipart upload left open");
});

test("a lost response (the write happened, the answer never came) makes no duplicate", async () => {
  const { page } = await setup();
  s3.fault({ action: "reset-after", method: "PUT", keyContains: "/log/", times: 1 });
  s3.fault({ action: "reset-after", method: "PUT", keyContains: "/blobs/", times: 1 });
  const out = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "lossy");
    await a.save(kit.audio(20_000, 3), { id: "once" });
    const report = await a.sync(s3remote());
    const again = await a.sync(s3remote());
    return { report, again, state: (await a.get("once")).syncState, device: a.deviceId };
  });
  assert.equal(out.state, "synced", JSON.stringify(out));
  assert.equal((await listKeys(`${PREFIX}/blobs/once/`)).length, 1, "one audio object");
  assert.equal((await listKeys(`${PREFIX}/log/${out.device}/`)).length, 1, "one log segment");
  assert.ok(requests(0).some((r) => r.fault === "reset-after"), "the faults happened");
});

test("a create-only write refused with 412 (the object is there) counts as done once HeadObject finds its size", async () => {
  const { page } = await setup();
  const bytes = Buffer.alloc(4000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 9) & 255;
  const hash = createHash("sha256").update(bytes).digest("hex");
  // The same audio already in the cloud (an earlier attempt whose answer was lost, say).
  await client(s3.users.alice).send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/blobs/there/${hash}`, Body: bytes, ContentType: "audio/webm" }));
  const since = s3.lastRequest();
  const out = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "refused");
    await a.save(kit.audio(4000, 9), { id: "there" });
    const report = await a.sync(s3remote());
    return { report, state: (await a.get("there")).syncState };
  });
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  const log = requests(since);
  assert.ok(log.some((r) => r.method === "PUT" && r.key?.includes("/blobs/there/") && r.status === 412), "S3 refused the overwrite");
  assert.ok(log.some((r) => r.method === "HEAD" && r.key?.includes("/blobs/there/")), "then the size was checked");
});

test("user B on A's prefix gets Forbidden, and stops without a retry storm", async () => {
  const { page } = await setup();
  await page.evaluate(async () => {
    const a = await kit.device(tapesync, "owner");
    await a.save(kit.audio(1000, 1), { id: "private" });
    await a.sync(s3remote());
  });
  const since = s3.lastRequest();
  const out = await page.evaluate(async () => {
    const intruder = await kit.device(tapesync, "intruder");
    await intruder.save(kit.audio(1000, 2), { id: "mine" });
    const report = await intruder.sync(s3remote({ user: "bob" }));
    return { report, mine: (await intruder.get("mine")).syncState, pulled: await intruder.get("private") };
  });
  assert.equal(out.report.outcome.kind, "stopped", JSON.stringify(out.report));
  assert.equal(out.report.outcome.error.code, "Forbidden");
  assert.equal(out.report.outcome.error.status, 403);
  assert.equal(out.pulled, null, "nothing of A's reached B");
  assert.notEqual(out.mine, "synced");
  const seen = requests(since);
  assert.ok(seen.length <= 4, `a refusal is not retried: ${seen.map((r) => `${r.method} ${r.key ?? ""} ${r.status}`)}`);
});

test("expired credentials are asked for again (before expiration, and after ExpiredToken)", async () => {
  const { page, calls } = await setup();
  await page.evaluate(async () => {
    window.a = await kit.device(tapesync, "expiring");
    window.r = s3remote();
    await a.save(kit.audio(2000, 1), { id: "one" });
    window.first = await a.sync(r);
  });
  assert.equal(calls.credentials, 1, "one AssumeRole for a whole sync");
  assert.ok(s3.expireSessions({ user: "alice" }) >= 1);
  const since = s3.lastRequest();
  const out = await page.evaluate(async () => {
    await a.save(kit.audio(2000, 2), { id: "two" });
    const report = await a.sync(r);
    return { first, report, state: (await a.get("two")).syncState };
  });
  assert.equal(out.first.outcome.kind, "complete");
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  assert.equal(calls.credentials, 2, "asked again once after ExpiredToken");
  assert.ok(requests(since).some((r) => r.code === "ExpiredToken"), "S3 did refuse the old session");
});

test("credentials close to their expiration are asked for again before use", async () => {
  // Sessions of 30 s are within the one-minute margin: every request asks first (but never twice at once).
  const { page, calls } = await setup({ durationSeconds: 30 });
  const since = s3.lastRequest();
  const out = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "short");
    await a.save(kit.audio(2000, 1), { id: "one" });
    return a.sync(s3remote());
  });
  assert.equal(out.outcome.kind, "complete");
  assert.ok(calls.credentials >= 2, `asked again before expiration: ${calls.credentials}`);
  assert.ok(!requests(since).some((r) => r.code === "ExpiredToken"));
});

test("a device whose clock is hours off still syncs (RequestTimeTooSkewed corrected once from Date)", async () => {
  const { page } = await setup();
  s3.setClockOffset(3 * 3600_000);
  const since = s3.lastRequest();
  const out = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "skewed");
    const r = s3remote();
    await a.save(kit.audio(3000, 1), { id: "late" });
    const one = await a.sync(r);
    await a.save(kit.audio(3000, 2), { id: "later" });
    const two = await a.sync(r);
    return { one, two, state: (await a.get("later")).syncState };
  });
  assert.equal(out.one.outcome.kind, "complete", JSON.stringify(out.one));
  assert.equal(out.two.outcome.kind, "complete");
  assert.equal(out.state, "synced");
  const skewed = requests(since).filter((r) => r.code === "RequestTimeTooSkewed");
  assert.equal(skewed.length, 1, "corrected once, the offset kept");
});

test("503 SlowDown is retried", async () => {
  const { page } = await setup();
  // On S3 requests only (not on the AssumeRole behind the page's credentials()).
  s3.fault({ times: 2, status: 503, code: "SlowDown", retryAfter: 1, method: ["GET", "PUT", "HEAD", "DELETE"] });
  const out = await page.evaluate(async () => {
    const a = await kit.device(tapesync, "slow");
    await a.save(kit.audio(3000, 1), { id: "s" });
    const report = await a.sync(s3remote());
    return { report, state: (await a.get("s")).syncState };
  });
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  assert.equal(requests(0).filter((r) => r.fault === "error" && r.status === 503).length, 2, "two 503 SlowDown answers, then success");
});

test("presign mode: the app's backend signs, tapesync syncs both ways without credentials in the page", async () => {
  const { page } = await setup();
  const presigner = createPresigner({ endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, credentials: s3.admin, pathStyle: true });
  const asked = [];
  await page.exposeFunction("signForAlice", async (request) => {
    asked.push(request);
    return presigner("alice", request);
  });
  const out = await page.evaluate(async ({ endpoint, region, bucket, prefix }) => {
    const remote = () => new tapesync.S3Remote({ endpoint, region, bucket, prefix, presign: (req) => window.signForAlice(req) });
    const a = await kit.device(tapesync, "pa");
    const b = await kit.device(tapesync, "pb");
    await a.save(kit.audio(9000, 4), { id: "p", name: "presigned" });
    const ra = await a.sync(remote());
    const rb = await b.sync(remote());
    await b.delete("p");
    const rb2 = await b.sync(remote());
    const ra2 = await a.sync(remote());
    return { ra, rb, rb2, ra2, got: (await kit.snapshot(b)), gone: await a.get("p") };
  }, { endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, prefix: PREFIX });
  for (const k of ["ra", "rb", "rb2", "ra2"]) assert.equal(out[k].outcome.kind, "complete", `${k}: ${JSON.stringify(out[k])}`);
  assert.equal(out.gone, null, "the delete travelled");
  assert.ok(asked.some((q) => q.key === "" && q.query["list-type"] === "2"), "listings signed as bucket-level requests");
  assert.ok(asked.some((q) => q.method === "PUT" && q.headers["if-none-match"] === "*"), "create-only writes bind If-None-Match");
  assert.ok(asked.every((q) => q.key === "" || q.key.startsWith(`${PREFIX}/`)));
  assert.equal((await listKeys(`${PREFIX}/blobs/p/`)).length, 0, "deleted per key");
});

test("a presigned URL on another origin is refused (tokens go only to their own service)", async () => {
  const { page } = await setup();
  const out = await page.evaluate(async ({ endpoint, region, bucket, prefix }) => {
    const remote = new tapesync.S3Remote({ endpoint, region, bucket, prefix, presign: () => "http://localhost:1/elsewhere" });
    const a = await kit.device(tapesync, "evil");
    await a.save(kit.audio(100, 1), { id: "x" });
    return a.sync(remote).then((r) => r, (e) => ({ thrown: e.code }));
  }, { endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, prefix: PREFIX });
  assert.notEqual(out.outcome?.kind, "complete", JSON.stringify(out));
});

test("a quiet sync costs the same requests with 10 and with 1,000 recordings", { timeout: 900_000 }, async () => {
  const { page } = await setup();
  const quiet = async (n) => {
    await page.evaluate(async (n) => {
      const a = await kit.device(tapesync, `many-${n}`);
      const r = s3remote({ options: { prefix: `users/alice/quiet-${n}` } });
      for (let i = 0; i < n; i++) await a.save(kit.audio(64, i), { id: `r${i}` });
      const report = await a.sync(r);
      if (report.outcome.kind !== "complete") throw new Error(JSON.stringify(report.outcome));
      window.quietDevice = a;
      window.quietRemote = r;
    }, n);
    const since = s3.lastRequest();
    const report = await page.evaluate(() => quietDevice.sync(quietRemote));
    assert.equal(report.outcome.kind, "complete");
    return requests(since).map((r) => `${r.method} ${r.query["list-type"] ? "list" : "object"}`);
  };
  const ten = await quiet(10);
  const thousand = await quiet(1000);
  assert.deepEqual(thousand, ten, `10: ${ten.length} requests, 1000: ${thousand.length}`);
});

test("a prefix holding ':' (a Cognito identity id) syncs, and the keys keep it", async () => {
  const { page } = await setup();
  const prefix = "users/alice/eu-west-1:7d3c0a12-4b5e-4f60-9a7b-0123456789ab/recordings";
  const out = await page.evaluate(async (prefix) => {
    const a = await kit.device(tapesync, "cognito");
    await a.save(kit.audio(1500, 3), { id: "c" });
    const one = await a.sync(s3remote({ options: { prefix } }));
    const b = await kit.device(tapesync, "cognito-b");
    const two = await b.sync(s3remote({ options: { prefix } }));
    return { one, two, got: (await b.get("c"))?.syncState };
  }, prefix);
  assert.equal(out.one.outcome.kind, "complete", JSON.stringify(out.one));
  assert.equal(out.two.outcome.kind, "complete");
  assert.equal(out.got, "synced");
  assert.equal((await listKeys(`${prefix}/blobs/c/`)).length, 1);
});

test("S3Remote checks its options", async () => {
  const { page } = await setup();
  const out = await page.evaluate(({ endpoint }) => {
    const tryIt = (o) => {
      try {
        new tapesync.S3Remote(o);
        return "ok";
      } catch (e) {
        return e.code;
      }
    };
    const base = { endpoint, region: "us-east-1", bucket: "tapesync-test", credentials: () => ({}) };
    return {
      ok: tryIt(base),
      cognito: tryIt({ ...base, prefix: "users/eu-west-1:7d3c0a12-aaaa/recordings" }),
      http: tryIt({ ...base, endpoint: "http://s3.example.com" }),
      both: tryIt({ ...base, presign: () => "" }),
      neither: tryIt({ endpoint, region: "us-east-1", bucket: "tapesync-test" }),
      prefix: tryIt({ ...base, prefix: "a/../b" }),
      bucket: tryIt({ ...base, bucket: "Bad_Bucket" }),
      typo: tryIt({ ...base, regoin: "x" }),
    };
  }, { endpoint: s3.endpoint });
  assert.deepEqual(out, { ok: "ok", cognito: "ok", http: "InvalidArgument", both: "InvalidArgument", neither: "InvalidArgument", prefix: "InvalidArgument", bucket: "InvalidArgument", typo: "InvalidArgument" });
});
