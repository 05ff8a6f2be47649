// The chaos proxy itself (emulators/chaos/proxy.mjs), against a tiny upstream in this process: reproducible from
// its seed, faults at the rate asked for, and each fault does what it says (the chaos scenarios rely on it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { KINDS, startChaosProxy } from "../../emulators/chaos/proxy.mjs";

let upstream;
let target;
const seen = [];
const BODY = Buffer.from(JSON.stringify({ name: "users/u/recordings/blobs/r/abc", size: "123", pad: "x".repeat(2000) }));

before(async () => {
  upstream = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, bytes: Buffer.concat(chunks).length, host: req.headers.host });
      res.writeHead(200, { "content-type": "application/json", "content-length": BODY.length, location: `${target}/upload/next` });
      res.end(BODY);
    });
    req.on("error", () => {});
  });
  await new Promise((ok) => upstream.listen(0, "127.0.0.1", ok));
  target = `http://127.0.0.1:${upstream.address().port}`;
});
after(() => new Promise((ok) => upstream.close(ok)));

/** One request through the proxy; resolves { status, headers, body } or { error }. */
function send(proxy, path, body) {
  return new Promise((resolve) => {
    const req = http.request(`${proxy.url}${path}`, { method: body ? "POST" : "GET", agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", (e) => resolve({ error: e.code ?? e.message, status: res.statusCode }));
      res.on("aborted", () => resolve({ error: "aborted", status: res.statusCode }));
    });
    req.on("error", (e) => resolve({ error: e.code ?? e.message }));
    req.end(body);
  });
}

async function run(seed, rate, n = 120) {
  const proxy = await startChaosProxy({ target, seed, rate, stallMs: [5, 20] });
  const faults = [];
  try {
    for (let i = 0; i < n; i++) {
      await send(proxy, `/v0/b/bucket/o/users%2F${seed}-${i % 7}%2Fblobs?alt=media`, i % 2 ? Buffer.alloc(3000, 1) : undefined);
      faults.push(proxy.log.at(-1).fault);
    }
    return { faults, stats: proxy.stats };
  } finally {
    await proxy.close();
  }
}

test("the same seed gives the same faults (user ids normalised away); another seed other faults; rate 0 none", async () => {
  const a = await run(7, 0.3);
  const b = await run(7, 0.3);
  assert.deepEqual(a.faults.map((f, i) => [i, f]).filter(([, f]) => f), b.faults.map((f, i) => [i, f]).filter(([, f]) => f));
  const c = await run(8, 0.3);
  assert.notDeepEqual(c.faults, a.faults);
  const none = await run(7, 0);
  assert.equal(none.stats.faulted, 0);
  const share = a.stats.faulted / a.stats.requests;
  assert.ok(share > 0.15 && share < 0.45, `about 30% faulted: ${share}`);
});

test("each fault does what it says: answered, reset before or after the cloud acted, cut short, damaged", async () => {
  for (const kind of KINDS) {
    const proxy = await startChaosProxy({ target, seed: 1, rate: 1, weights: { [kind]: 1 }, stallMs: [30, 30] });
    const before = seen.length;
    const got = await send(proxy, "/o/thing", Buffer.alloc(4000, 2));
    const reached = seen.slice(before);
    await proxy.close();
    const ok = !got.error && got.status === 200;
    switch (kind) {
      case "error5xx":
        assert.ok([500, 502, 504].includes(got.status), kind);
        assert.equal(reached.length, 0, `${kind}: not forwarded`);
        break;
      case "throttle429":
      case "unavailable503":
        assert.equal(got.status, kind === "throttle429" ? 429 : 503);
        assert.match(got.headers["retry-after"], /^[12]$/);
        assert.match(got.headers["access-control-expose-headers"], /Retry-After/);
        assert.equal(reached.length, 0);
        break;
      case "resetBefore":
        assert.ok(got.error, kind);
        assert.equal(reached.length, 0, `${kind}: the cloud never saw it`);
        break;
      case "resetMidUpload":
        assert.ok(got.error, kind);
        assert.ok(reached.length === 0 || reached[0].bytes < 4000, `${kind}: the cloud got part of the body at most`);
        break;
      case "lostResponse":
        assert.ok(got.error, kind);
        assert.equal(reached.length, 1, `${kind}: the cloud acted`);
        assert.equal(reached[0].bytes, 4000);
        break;
      case "resetMidBody":
        assert.ok(got.error || got.body.length < BODY.length, kind);
        assert.equal(reached.length, 1);
        break;
      case "truncate":
        assert.ok(ok, kind);
        assert.equal(got.body.length, BODY.length >> 1, `${kind}: half the body, as a complete answer`);
        break;
      case "corrupt":
        assert.ok(ok, kind);
        assert.equal(got.body.length, BODY.length);
        assert.notDeepEqual(got.body, BODY);
        assert.throws(() => JSON.parse(got.body.toString("utf8")), `${kind}: a JSON body no longer parses`);
        break;
      case "stall":
        assert.ok(ok, kind);
        assert.deepEqual(got.body, BODY, `${kind}: late, not damaged`);
        break;
      default:
        assert.fail(`untested fault ${kind}`);
    }
  }
});

test("the Host header passes unchanged (S3 signs it) and the cloud's own URLs are rewritten to the proxy's", async () => {
  const proxy = await startChaosProxy({ target, seed: 1, rate: 0 });
  const before = seen.length;
  const got = await send(proxy, "/upload", Buffer.alloc(10));
  await proxy.close();
  assert.equal(seen[before].host, new URL(proxy.url).host);
  assert.equal(got.headers.location, `${proxy.url}/upload/next`);
});

test("lostAfterHeaders: the cloud acted, the status line and headers arrive, then the connection is reset", async () => {
  const proxy = await startChaosProxy({ target, seed: 1, rate: 1, weights: { lostResponse: 1 }, lostAfterHeaders: true });
  const before = seen.length;
  const got = await send(proxy, "/o/chunk", Buffer.alloc(4000, 3));
  await proxy.close();
  assert.equal(seen.length - before, 1, "the cloud acted once");
  assert.equal(got.status, 200);
  assert.ok(got.error || got.body.length < BODY.length, `the answer never completes: ${JSON.stringify({ ...got, body: got.body?.length })}`);
});
