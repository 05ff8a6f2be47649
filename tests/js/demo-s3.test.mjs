// End to end: the demo PWA (www/?backend=s3) against the local S3 (emulators/s3, on free ports), through the
// demo server's presign backend (scripts/s3-sign.mjs: POST /sign, GET /s3-config), in Debian's Chromium with a
// fake microphone, as `BACKEND=s3 make demo` runs it. Needs no lock: every port is a free one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { launch, ROOT } from "./browser.mjs";
import { serve } from "../../scripts/serve.mjs";
import { s3DemoRoutes } from "../../scripts/s3-sign.mjs";
import { startS3 } from "../../emulators/s3/harness.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 };
const OUT = `${ROOT}/test-output`;

let s3;
let demo;
let env;
const contexts = [];

before(async () => {
  s3 = await startS3({ port: 0, adminPort: 0, motoPort: 0 });
  demo = await serve({ root: ROOT, routes: s3DemoRoutes(s3.info()) });
  env = await launch();
  await mkdir(OUT, { recursive: true });
}, { timeout: 900_000 });

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await env?.close();
  await demo?.close();
  await s3?.stop();
});

/** The official SDK, as `user` of the local S3. */
const sdk = (user) =>
  new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.users[user] });

async function newDevice() {
  const context = await env.context(PHONE);
  contexts.push(context);
  return context;
}

async function openApp(context) {
  const page = await context.newPage();
  await page.goto(`${demo.url}/www/?backend=s3`);
  await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
  assert.equal(await page.getAttribute("body", "data-ready"), "true", await page.textContent("#fatal"));
  return page;
}

const rows = (page) =>
  page.$$eval("[data-testid=recording]", (els) => els.map((e) => ({ id: e.dataset.id, name: e.dataset.name, state: e.dataset.syncState })));

const waitForText = (page, selector, text, timeout = 30_000) =>
  page.waitForFunction(([sel, t]) => document.querySelector(sel)?.textContent === t, [selector, text], { timeout });

const allSynced = (page, n, timeout) =>
  page.waitForFunction(
    (n) => {
      const els = [...document.querySelectorAll("[data-testid=recording]")];
      return els.length === n && els.every((e) => e.dataset.syncState === "synced");
    },
    n,
    { timeout },
  );

async function record(page, seconds = 2.5) {
  const before = (await rows(page)).length;
  await page.click("[data-testid=record]");
  await page.waitForSelector("[data-testid=record][data-state=recording]");
  await page.waitForTimeout(seconds * 1000);
  await page.click("[data-testid=record]");
  await page.waitForFunction((n) => document.querySelectorAll("[data-testid=recording]").length === n, before + 1, { timeout: 15_000 });
  await page.waitForSelector("[data-testid=record][data-state=idle]");
}

/** Chooses the local S3 user `id` in the account panel. */
async function useUser(page, id) {
  await page.click("#account summary");
  await page.fill("[data-testid=account-email]", id);
  await page.click("[data-testid=account-signin]");
  await waitForText(page, "[data-testid=account-status]", id);
  await page.click("#account summary");
}

/** Every key under `prefix`, listed with the official SDK as `user`. */
async function keysUnder(user, prefix) {
  const out = await sdk(user).send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((c) => ({ key: c.Key, size: c.Size }));
}

test("a clip recorded online syncs to users/{id}/ with nothing pressed, one recorded offline when the network returns; another profile choosing the same id gets both", { timeout: 240_000 }, async () => {
  const devices = {};
  try {
    const a = (devices.a = await openApp(await newDevice()));
    // A first start is the local S3's first user, and the start sync is over.
    await waitForText(a, "[data-testid=account-status]", "alice");
    await a.waitForSelector("[data-testid=sync-status][data-state=idle][data-last-sync]", { state: "attached", timeout: 30_000 });
    await useUser(a, "bob");
    await a.waitForSelector("[data-testid=sync-status][data-state=idle][data-last-sync]", { state: "attached", timeout: 30_000 });
    await a.evaluate(() => {
      window.__syncPresses = 0;
      document.querySelector("[data-testid=sync-now]").addEventListener("click", () => window.__syncPresses++);
    });
    const since = s3.lastRequest();
    await record(a);
    const recordedAt = Date.now();
    await allSynced(a, 1, 30_000);
    assert.ok(Date.now() - recordedAt < 30_000);
    assert.match(await a.textContent("[data-testid=sync-status]"), /^Synced /);
    assert.equal(await a.evaluate(() => window.__syncPresses), 0, "the Sync button was never pressed");
    const [clip] = await rows(a);
    const pageRequests = s3.requests({ since });   // before the SDK's own requests below
    // Every request reached S3 presigned (the page has no keys), and none was refused.
    const seen = pageRequests.filter((r) => !r.preflight);
    assert.ok(seen.length > 0);
    assert.deepEqual(seen.filter((r) => !JSON.stringify(r.query ?? "").includes("X-Amz-Signature")).map((r) => `${r.method} ${r.key}`), [], "all presigned");
    assert.deepEqual(seen.filter((r) => r.status === 401 || r.status === 403).map((r) => `${r.method} ${r.key} ${r.status} ${r.code}`), []);

    // The official SDK (as bob) finds the audio under users/bob/: its size and type are the recording's.
    const saved = await a.evaluate(async (id) => {
      const { RecordingStore } = await import("/pkg/tapesync.js");
      const store = await RecordingStore.open({ name: "demo-bob" });
      const rec = await store.get(id);
      store.close();
      return { size: rec.size, mimeType: rec.mimeType };
    }, clip.id);
    const keys = await keysUnder("bob", "users/bob/recordings/");
    const audio = keys.filter((k) => k.key.includes(clip.id) && k.size === saved.size);
    assert.equal(audio.length, 1, `one object of the clip's size under users/bob/: ${JSON.stringify(keys)}`);
    const got = await sdk("bob").send(new GetObjectCommand({ Bucket: s3.bucket, Key: audio[0].key }));
    assert.equal((await got.Body.transformToByteArray()).length, saved.size);
    assert.equal(got.ContentType, saved.mimeType);
    assert.deepEqual((await keysUnder("alice", "users/alice/")).filter((k) => k.key.includes(clip.id)), [], "nothing of it in alice's folder");

    // Offline, a clip waits (the sign route is out of reach too); when the network returns it syncs unpressed.
    const cdp = await a.context().newCDPSession(a);
    await cdp.send("Network.enable");
    const network = (offline) => cdp.send("Network.emulateNetworkConditions", { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await network(true);
    await a.waitForSelector("[data-testid=net-status][data-online=false]");
    await record(a);
    await a.waitForTimeout(4000);
    assert.equal((await rows(a))[0].state, "pending");
    await network(false);
    await a.waitForSelector("[data-testid=net-status][data-online=true]");
    await allSynced(a, 2, 60_000);
    assert.equal(await a.evaluate(() => window.__syncPresses), 0, "the Sync button was never pressed");

    // Another browser profile starts as alice (an empty folder), then chooses bob and gets the clip.
    const b = (devices.b = await openApp(await newDevice()));
    await waitForText(b, "[data-testid=account-status]", "alice");
    await b.waitForSelector("[data-testid=sync-status][data-state=idle][data-last-sync]", { state: "attached", timeout: 30_000 });
    assert.equal((await rows(b)).length, 0, "alice has no recordings");
    await useUser(b, "bob");
    await allSynced(b, 2, 60_000);
    assert.deepEqual((await rows(b)).map((r) => r.id).sort(), (await rows(a)).map((r) => r.id).sort());
    const credentialsInPage = await b.evaluate(() => JSON.stringify({ ...localStorage }));
    for (const user of Object.values(s3.users)) {
      assert.ok(!credentialsInPage.includes(user.secretAccessKey) && !credentialsInPage.includes(user.accessKeyId), "no S3 keys in the page's storage");
    }
  } finally {
    for (const [name, page] of Object.entries(devices)) {
      if (page.isClosed()) continue;
      await page.screenshot({ path: `${OUT}/demo-s3-device-${name}.png` }).catch(() => {});
      await writeFile(`${OUT}/demo-s3-device-${name}.log`, `${page.logs.join("\n")}\n`).catch(() => {});
    }
  }
});

test("the sign route signs only the user's own prefix: 403 elsewhere, 401 without a user; /s3-config has no keys", async () => {
  const sign = (user, request) =>
    fetch(`${demo.url}/sign`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(user ? { "x-demo-user": user } : {}) },
      body: JSON.stringify({ query: {}, headers: {}, expiresIn: 60, ...request }),
    });
  const own = await sign("alice", { method: "PUT", key: "users/alice/recordings/x.json", headers: { "if-none-match": "*" } });
  assert.equal(own.status, 200);
  const url = await own.text();
  assert.ok(url.startsWith(`${s3.endpoint}/${s3.bucket}/users/alice/recordings/x.json?`), url);
  assert.match(url, /X-Amz-Signature=/);
  // The signed URL works: S3 takes the create-only PUT it binds.
  const put = await fetch(url, { method: "PUT", headers: { "if-none-match": "*" }, body: "{}" });
  assert.equal(put.status, 200, await put.text());

  for (const [user, request, status] of [
    ["alice", { method: "GET", key: "users/bob/recordings/x.json" }, 403],          // another user's key
    ["alice", { method: "PUT", key: "users/alice2/x" }, 403],                         // a prefix that only starts alike
    ["alice", { method: "GET", key: "", query: { "list-type": "2", prefix: "users/" } }, 403],   // listing everyone
    ["alice", { method: "GET", key: "", query: { "list-type": "2" } }, 403],          // listing the whole bucket
    ["alice", { method: "POST", key: "", query: { delete: "" } }, 403],              // DeleteObjects
    ["alice", { method: "PUT", key: "users/alice/x", query: { acl: "" } }, 403],     // not a tapesync request
    ["mallory", { method: "GET", key: "users/mallory/x" }, 403],                      // not a user of the demo
    [null, { method: "GET", key: "users/alice/x" }, 401],                             // no user
  ]) {
    const res = await sign(user, request);
    assert.equal(res.status, status, `${user} ${JSON.stringify(request)}: ${res.status} ${await res.text()}`);
  }
  // Bucket-level listing inside the own prefix is signed.
  const list = await sign("alice", { method: "GET", key: "", query: { "list-type": "2", prefix: "users/alice/recordings/" } });
  assert.equal(list.status, 200);
  assert.equal((await fetch(await list.text())).status, 200);

  const config = await (await fetch(`${demo.url}/s3-config`)).json();
  assert.deepEqual(config, { endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, users: ["alice", "bob"] });
});
