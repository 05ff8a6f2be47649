// Sync with Firebase Storage end to end: the real Auth and Storage emulators on 127.0.0.1, the
// built package in Debian's Chromium, several devices (databases), faults and policies.
//
// Every scenario calls the API the way the README shows it: save, then sync at once. None waits for
// `settled()` (the background hashing): a sync pushes what was saved before it started, hashed or not.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { startEmulators, stopEmulators, signUp, BUCKET, STORAGE_URL } from "../../emulators/harness.mjs";
import { listObjects } from "./cloud.mjs";
import * as scenarios from "./scenarios.mjs";

let env;
before(async () => {
  await startEmulators();
  env = await launch();
}, { timeout: 300_000 });
after(async () => {
  await env?.close();
  await stopEmulators();
});

/** A fresh page with the package and the sync kit loaded, and a fresh user. */
async function setup() {
  const page = await env.page();
  const user = await signUp();
  await page.evaluate(async () => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/sync-kit.js");
  });
  const cloud = { bucket: BUCKET, uid: user.uid, token: user.idToken, baseUrl: STORAGE_URL };
  return { page, user, cloud };
}

/**
 * The adapter tests/js/scenarios.mjs runs the scenarios every cloud shares against (see its header); the
 * fault-injecting scenarios are written below for Firebase with the page's routes.
 */
const firebase = {
  name: "firebase",
  origin: STORAGE_URL,
  chunkSize: 6 * 1024 * 1024,
  get env() {
    return env;
  },
  async user() {
    const u = await signUp();
    return { ...u, cloud: { bucket: BUCKET, uid: u.uid, token: u.idToken, baseUrl: STORAGE_URL } };
  },
  install: (page) =>
    page.evaluate(() => {
      window.makeRemote = (c) => kit.remote(tapesync, c);
    }),
  async objects(user, folder) {
    const prefix = `users/${user.uid}/recordings/`;
    return (await listObjects(user, `${prefix}${folder}/`)).map((name) => name.slice(prefix.length));
  },
};

test("two devices push and pull both ways, and a third device starting empty pulls everything", () => scenarios.twoDevicesBothWays(firebase));

for (const [policy, expected] of [["merge", "B"], ["local-wins", "A"], ["cloud-wins", "B"]]) {
  test(`policy ${policy}: concurrent renames settle on ${expected} everywhere, other fields merge`, () =>
    scenarios.concurrentRenames(firebase, policy, expected));
}

test("concurrent re-recordings keep the losing take as a conflict copy on every device", () => scenarios.conflictCopies(firebase));

for (const [policy, survives] of [["merge", false], ["local-wins", false], ["cloud-wins", true]]) {
  test(`policy ${policy}: a delete against a concurrent edit ${survives ? "is withdrawn" : "wins"}`, () =>
    scenarios.deleteAgainstEdit(firebase, policy, survives));
}

test("a delete on one device removes the recording on the other, and its audio from the cloud", () => scenarios.deletePropagates(firebase));

for (const oldSession of [false, true]) {
  const what = oldSession ? ", also from a session stored before sessions named their backend" : "";
test(`an interrupted multi-chunk upload resumes after reopening and the cloud's bytes equal the local ones${what}`, async () => {
  const { page, cloud, user } = await setup();
  let starts = 0;
  page.on("request", (q) => {
    if ((q.headers()["x-goog-upload-command"] ?? "").includes("start")) starts++;
  });
  const out = await page.evaluate(async ({ cloud, oldSession }) => {
    const { device, remote, audio, digest } = kit;
    const r = remote(tapesync, cloud);
    let a = await device(tapesync, "big");
    const blob = audio(5 * 256 * 1024 + 1234, 5);
    await a.save(blob, { id: "big" });
    const controller = new AbortController();
    const sent = [];
    a.addEventListener("syncprogress", (e) => {
      if (e.detail.phase === "upload") {
        sent.push(e.detail.sent);
        if (e.detail.sent > 0 && e.detail.sent < e.detail.total) controller.abort();
      }
    });
    let code = "resolved";
    try {
      await a.sync(r, { chunkSize: 256 * 1024, signal: controller.signal });
    } catch (e) {
      code = e.code;
    }
    const firstRun = [...sent];
    a.close();
    let rewritten = 0;
    if (oldSession) {
      // The shape releases before the backend tag wrote: { url, sent, size }.
      const db = await new Promise((ok, fail) => {
        const req = indexedDB.open("tapesync/big");
        req.onsuccess = () => ok(req.result);
        req.onerror = () => fail(req.error);
      });
      await new Promise((ok, fail) => {
        const tx = db.transaction("uploads", "readwrite");
        const uploads = tx.objectStore("uploads");
        uploads.openCursor().onsuccess = (e) => {
          const cursor = e.target.result;
          if (!cursor) return;
          const { url, sent, size } = cursor.value;
          cursor.update({ url, sent, size });
          rewritten++;
          cursor.continue();
        };
        tx.oncomplete = ok;
        tx.onerror = () => fail(tx.error);
      });
      db.close();
    }
    // Like a reload: a new connection, a new remote object, the upload session from IndexedDB.
    a = await device(tapesync, "big");
    const resumed = [];
    a.addEventListener("syncprogress", (e) => e.detail.phase === "upload" && resumed.push(e.detail.sent));
    const report = await a.sync(remote(tapesync, cloud), { chunkSize: 256 * 1024 });
    return { code, firstRun, resumed, report, rewritten, hash: await digest(blob), state: (await a.get("big")).syncState };
  }, { cloud, oldSession });
  if (oldSession) assert.equal(out.rewritten, 1, "one stored session, rewritten to the old shape");
  assert.equal(starts, 1, "the second run resumed the first run's session instead of starting a new one");
  assert.equal(out.code, "Aborted");
  assert.ok(out.firstRun.some((s) => s > 0), `the first run sent some chunks: ${out.firstRun}`);
  assert.ok(out.resumed[0] > 0, `the second run started where the server was: ${out.resumed}`);
  assert.equal(out.report.outcome.kind, "complete");
  assert.equal(out.state, "synced");
  const res = await fetch(`${STORAGE_URL}/v0/b/${BUCKET}/o/${encodeURIComponent(`users/${user.uid}/recordings/blobs/big/${out.hash}`)}?alt=media`,
    { headers: { Authorization: `Firebase ${user.idToken}` } });
  assert.equal(res.status, 200);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const { createHash } = await import("node:crypto");
  assert.equal(bytes.length, 5 * 256 * 1024 + 1234);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), out.hash, "cloud bytes equal local bytes");
});
}

test("a lost response (the server took the write, the client never heard) leads to no duplicate object", async () => {
  const { page, cloud, user } = await setup();
  let dropped = 0;
  // Let the first audio upload and the first log segment reach the server, then cut the
  // connection before the client sees the answer.
  await page.route((url) => url.href.includes("uploadType=media"), async (route) => {
    if (dropped < 2) {
      dropped++;
      await route.fetch();
      await route.abort("connectionreset");
    } else {
      await route.continue();
    }
  });
  const out = await page.evaluate(async (cloud) => {
    const { device, remote, audio } = kit;
    const a = await device(tapesync, "lossy");
    await a.save(audio(20_000, 3), { id: "once" });
    const report = await a.sync(remote(tapesync, cloud));
    const again = await a.sync(remote(tapesync, cloud));
    return { report, again, state: (await a.get("once")).syncState, device: a.deviceId };
  }, cloud);
  assert.equal(dropped, 2);
  assert.equal(out.state, "synced", JSON.stringify(out));
  const list = async (prefix) => (await fetch(`${STORAGE_URL}/v0/b/${BUCKET}/o?prefix=${encodeURIComponent(prefix)}`,
    { headers: { Authorization: `Firebase ${user.idToken}` } }).then((r) => r.json())).items ?? [];
  const base = `users/${user.uid}/recordings`;
  assert.equal((await list(`${base}/blobs/once/`)).length, 1, "one audio object");
  const segments = await list(`${base}/log/${out.device}/`);
  assert.equal(segments.length, 1, `one log segment: ${segments.map((s) => s.name)}`);
});

test("a user signed in as B cannot sync into A's folder: the round stops with a typed Forbidden, and nothing retries", async () => {
  const { page, cloud } = await setup();
  const other = await signUp();
  const requests = [];
  page.on("request", (q) => q.url().startsWith(STORAGE_URL) && q.method() !== "OPTIONS" && requests.push(Date.now()));
  const out = await page.evaluate(async ({ cloud, other }) => {
    const { device, remote, audio } = kit;
    const a = await device(tapesync, "owner");
    await a.save(audio(1000, 1), { id: "private" });
    await a.sync(remote(tapesync, cloud));
    const intruder = await device(tapesync, "intruder");
    await intruder.save(audio(1000, 2), { id: "mine" });
    const states = [];
    intruder.addEventListener("syncstate", (e) => states.push(e.detail.state));
    // B's token against A's folder, with autoSync on: a stopped round must not be retried by itself.
    window.intruder = intruder;
    window.rB = remote(tapesync, { ...cloud, token: other.idToken });
    window.autoB = intruder.autoSync(rB, { onStart: false, onOnline: true, onVisible: true, intervalMs: 0 });
    const report = await intruder.sync(rB);
    return { report, states, mine: (await intruder.get("mine")).syncState, pulled: await intruder.get("private") };
  }, { cloud, other });
  const { outcome } = out.report;
  assert.equal(outcome.kind, "stopped", JSON.stringify(out.report));
  assert.equal(outcome.error?.kind, "forbidden", JSON.stringify(outcome));
  assert.equal(outcome.error?.code, "Forbidden", JSON.stringify(outcome));
  assert.equal(outcome.error?.status, 403, JSON.stringify(outcome));
  assert.equal(typeof outcome.error?.message, "string");
  assert.doesNotMatch(JSON.stringify(out.report), /HTTP 403: HTTP 403/, "no message repeats itself");
  assert.equal(out.pulled, null, "nothing of A's reached B");
  assert.notEqual(out.mine, "synced");
  assert.deepEqual(out.states, ["syncing", "error"]);

  // No retry storm: after the stopped round, neither a local change (onChange) nor time starts another
  // one until the app syncs again.
  const afterStop = requests.length;
  await page.evaluate(async () => {
    await intruder.save(kit.audio(1000, 3), { id: "mine-2" });
    await new Promise((ok) => setTimeout(ok, 6000));
    autoB.stop();
  });
  assert.equal(requests.length - afterStop, 0, `requests after the stopped round: ${requests.length - afterStop}`);
});

/** Resolves with the number of `syncstate` "syncing" events seen until `count` syncs went idle. */
const TRACK = () => {
  window.rounds = { syncing: 0, idle: 0, reports: [] };
  window.a.addEventListener("syncstate", (e) => {
    if (e.detail.state === "syncing") rounds.syncing++;
    if (e.detail.state === "idle") {
      rounds.idle++;
      rounds.reports.push(e.detail.report);
    }
  });
};

test("autoSync: the online event after an offline period starts a sync, and setOnline drives it too", async () => {
  const { page, cloud } = await setup();
  await page.evaluate(async (cloud) => {
    window.a = await kit.device(tapesync, "auto");
    window.r = kit.remote(tapesync, cloud);
  }, cloud);
  await page.evaluate(TRACK);
  await page.evaluate(() => {
    window.auto = a.autoSync(r, { onStart: false, onVisible: false, intervalMs: 0 });
  });
  await page.context().setOffline(true);
  const offlineCode = await page.evaluate(async () => {
    await a.save(kit.audio(5000, 1), { id: "offline-take" });
    return a.sync(r).then(() => "resolved", (e) => e.code);
  });
  assert.equal(offlineCode, "Network", "a sync while offline says so");
  await page.context().setOffline(false);
  await page.waitForFunction(() => rounds.idle >= 1, null, { timeout: 20_000 });
  const synced = await page.evaluate(async () => (await a.get("offline-take")).syncState);
  assert.equal(synced, "synced", "the online event synced the recording without any call");

  // A host that knows better (Capacitor's Network plugin) drives the same trigger.
  await page.evaluate(async () => {
    a.setOnline(false);
    await a.save(kit.audio(5000, 2), { id: "second" });
    a.setOnline(true);
  });
  await page.waitForFunction(async () => (await a.get("second")).syncState === "synced", null, { timeout: 20_000, polling: 200 });
  const stopped = await page.evaluate(async () => {
    auto.stop();
    const before = rounds.syncing;
    a.setOnline(false);
    a.setOnline(true);
    await new Promise((ok) => setTimeout(ok, 500));
    return rounds.syncing - before;
  });
  assert.equal(stopped, 0, "after stop() no trigger fires");
});

test("autoSync: the interval fires, and triggers during a sync coalesce into one follow-up", async () => {
  const { page, cloud } = await setup();
  await page.evaluate(async (cloud) => {
    window.a = await kit.device(tapesync, "interval");
    window.r = kit.remote(tapesync, cloud);
  }, cloud);
  await page.evaluate(TRACK);
  const interval = await page.evaluate(async () => {
    const auto = a.autoSync(r, { onStart: false, onOnline: false, onVisible: false, intervalMs: 1000 });
    await new Promise((ok) => setTimeout(ok, 3500));
    auto.stop();
    return rounds.syncing;
  });
  assert.ok(interval >= 2 && interval <= 4, `about three interval syncs in 3.5 s: ${interval}`);

  const coalesced = await page.evaluate(async () => {
    for (let i = 0; i < 5; i++) await a.save(kit.audio(3000, i), { id: `c${i}` });
    const before = rounds.syncing;
    // Five requests while the first runs: one round now, one follow-up for the other four.
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => a.sync(r)));
    return { rounds: rounds.syncing - before, reports: all.length, synced: await a.count({ syncState: "synced" }) };
  });
  assert.equal(coalesced.rounds, 2, JSON.stringify(coalesced));
  assert.equal(coalesced.reports, 5, "every caller gets a report");
  assert.equal(coalesced.synced, 5);
});

test("autoSync: the page becoming visible again starts a sync; hidden does not, nor onVisible: false", async () => {
  const { page, cloud } = await setup();
  await page.evaluate(async (cloud) => {
    window.a = await kit.device(tapesync, "visible");
    window.r = kit.remote(tapesync, cloud);
    await a.save(kit.audio(4000, 3), { id: "v" });
    // Headless Chromium never hides a page (bringToFront and minimising leave it "visible"), so
    // the browser's own event is dispatched by hand, with the state it reports.
    window.setVisibility = (state) => {
      Object.defineProperty(document, "visibilityState", { value: state, configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
    };
    window.pause = () => new Promise((ok) => setTimeout(ok, 400));
  }, cloud);
  await page.evaluate(TRACK);
  const out = await page.evaluate(async () => {
    const off = a.autoSync(r, { onStart: false, onOnline: false, onVisible: false, intervalMs: 0 });
    setVisibility("hidden");
    setVisibility("visible");
    await pause();
    const whenOff = rounds.syncing;
    off.stop();
    const auto = a.autoSync(r, { onStart: false, onOnline: false, onVisible: true, intervalMs: 0 });
    setVisibility("hidden");
    await pause();
    const whenHidden = rounds.syncing;
    setVisibility("visible");
    await pause();
    while (rounds.idle < 1) await pause();
    auto.stop();
    return { whenOff, whenHidden, syncing: rounds.syncing, state: (await a.get("v")).syncState };
  });
  assert.deepEqual(out, { whenOff: 0, whenHidden: 0, syncing: 1, state: "synced" });
});

test("two tabs of one app sync one at a time (a Web Lock per database), and both finish", async () => {
  const { page, cloud } = await setup();
  const second = await page.context().newPage();
  await second.goto(page.url());
  // When each tab talks to the Storage emulator, on the test's clock.
  const talk = new Map([[page, []], [second, []]]);
  for (const [p, times] of talk) {
    p.on("request", (q) => q.url().startsWith(STORAGE_URL) && times.push(Date.now()));
    p.on("requestfinished", (q) => q.url().startsWith(STORAGE_URL) && times.push(Date.now()));
  }
  const prepare = (p, tab, seed) => p.evaluate(async ([cloud, tab, seed]) => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/sync-kit.js");
    window.a = await kit.device(tapesync, "shared-db");
    window.r = kit.remote(tapesync, cloud);
    for (let i = 0; i < 10; i++) await a.save(kit.audio(128 * 1024, seed + i), { id: `${tab}-${i}` });
  }, [cloud, tab, seed]);
  await prepare(page, "one", 10);
  await prepare(second, "two", 50);
  const [one, two] = await Promise.all([page, second].map((p) => p.evaluate(() => a.sync(r))));
  for (const report of [one, two]) assert.equal(report.outcome.kind, "complete", JSON.stringify(report));
  assert.equal(one.uploaded + two.uploaded, 20, "every take uploaded once");
  const [s1, e1, s2, e2] = [...talk.values()].flatMap((t) => [Math.min(...t), Math.max(...t)]);
  assert.ok(e1 <= s2 || e2 <= s1, `both tabs were talking to the cloud at once: ${[s1, e1, s2, e2]}`);
  const synced = await second.evaluate(async () => a.count({ syncState: "synced" }));
  assert.equal(synced, 20);
  await second.close();
});

test("push() publishes without reading, pull() reads without publishing, and they refuse a contrary direction", async () => {
  const { page, cloud } = await setup();
  const storage = [];
  page.on("request", (q) => q.url().startsWith(STORAGE_URL) && storage.push(q.method()));
  const counted = async (fn) => {
    storage.length = 0;
    const out = await fn();
    await new Promise((ok) => setTimeout(ok, 200));
    return { out, methods: [...storage] };
  };
  await page.evaluate(async (cloud) => {
    window.r = kit.remote(tapesync, cloud);
    window.a = await kit.device(tapesync, "dir-a");
    window.b = await kit.device(tapesync, "dir-b");
    for (let i = 0; i < 2; i++) await a.save(kit.audio(3000, i), { id: `a${i}` });
    await b.save(kit.audio(3000, 9), { id: "b0" });
    await b.sync(r);
  }, cloud);
  const pulled = await counted(() => page.evaluate(async () => {
    const report = await a.pull(r);
    return { report, states: (await a.list()).items.map((x) => `${x.id}:${x.syncState}`).sort() };
  }));
  assert.deepEqual(pulled.methods.filter((m) => m !== "GET" && m !== "OPTIONS"), [], "a pull only reads");
  assert.equal(pulled.out.report.pulled, 1);
  assert.equal(pulled.out.report.downloaded, 1);
  assert.equal(pulled.out.report.pushed, 0);
  assert.deepEqual(pulled.out.states, ["a0:pending", "a1:pending", "b0:synced"]);

  const pushed = await counted(() => page.evaluate(() => a.push(r)));
  assert.ok(!pushed.methods.includes("GET"), `a push reads nothing: ${pushed.methods}`);
  assert.equal(pushed.out.pushed, 2);
  assert.equal(pushed.out.uploaded, 2);

  const after = await page.evaluate(async () => {
    const report = await b.pull(r);
    const refused = await a.push(r, { direction: "pull" }).then(() => "resolved", (e) => e.code);
    return { pulled: report.pulled, count: await b.count(), refused };
  });
  assert.deepEqual(after, { pulled: 2, count: 3, refused: "InvalidArgument" });
});

test("the official firebase JS SDK reads what tapesync pushed: same bytes and content type", async () => {
  const { page, cloud, user } = await setup();
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "sdk");
    const blob = kit.audio(33_333, 9, "audio/webm;codecs=opus");
    const rec = await a.save(blob, { id: "for-sdk" });
    await a.sync(kit.remote(tapesync, cloud));
    return { hash: (await a.get(rec.id)).contentHash };
  }, cloud);
  const { initializeApp } = await import("firebase/app");
  const { getAuth, connectAuthEmulator, signInWithEmailAndPassword } = await import("firebase/auth");
  const { getStorage, connectStorageEmulator, ref, getBytes, getMetadata } = await import("firebase/storage");
  const app = initializeApp({ apiKey: "demo-api-key", projectId: "demo-tapesync", storageBucket: BUCKET }, `sdk-${Date.now()}`);
  const auth = getAuth(app);
  connectAuthEmulator(auth, "http://127.0.0.1:9099", { disableWarnings: true });
  await signInWithEmailAndPassword(auth, user.email, "tapesync-test");
  const storage = getStorage(app);
  connectStorageEmulator(storage, "127.0.0.1", 9199);
  const object = ref(storage, `users/${user.uid}/recordings/blobs/for-sdk/${out.hash}`);
  const bytes = new Uint8Array(await getBytes(object));
  const meta = await getMetadata(object);
  const { createHash } = await import("node:crypto");
  assert.equal(bytes.length, 33_333);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), out.hash);
  assert.equal(meta.contentType, "audio/webm;codecs=opus");
  await auth.signOut();
});

test("on 401 the app's getToken is asked again once and the sync goes on", async () => {
  const { page, cloud, user } = await setup();
  let refused = 0;
  await page.route((url) => url.port === "9199", async (route) => {
    if (refused === 0 && route.request().method() !== "OPTIONS") {
      refused++;
      await route.fulfill({ status: 401, contentType: "application/json", body: '{"error":{"code":401,"message":"expired"}}' });
    } else {
      await route.continue();
    }
  });
  const out = await page.evaluate(async ({ cloud, token }) => {
    let asked = 0;
    const a = await kit.device(tapesync, "token");
    await a.save(kit.audio(2000, 1), { id: "t" });
    const report = await a.sync(kit.remote(tapesync, { ...cloud, token: () => { asked++; return token; } }));
    return { report, asked, state: (await a.get("t")).syncState };
  }, { cloud, token: user.idToken });
  assert.equal(refused, 1);
  assert.equal(out.asked, 2, "the first token, then one fresh one after the 401");
  assert.equal(out.report.outcome.kind, "complete");
  assert.equal(out.state, "synced");
});

test("server errors are retried with backoff until they pass", async () => {
  const { page, cloud } = await setup();
  let attempts = 0;
  await page.route((url) => url.href.includes("uploadType=media") && url.href.includes("%2Flog%2F"), async (route) => {
    attempts++;
    if (attempts <= 2) await route.fulfill({ status: 503, body: "try later" });
    else await route.continue();
  });
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "flaky");
    await a.save(kit.audio(2000, 1), { id: "f" });
    const report = await a.sync(kit.remote(tapesync, cloud));
    return { report, state: (await a.get("f")).syncState };
  }, cloud);
  assert.equal(attempts, 3, "two 503s, then success");
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
});

test("an upload the server answers with a short size is not trusted: sent again or checked with a metadata read", async () => {
  const { page, cloud, user } = await setup();
  let uploads = 0;
  let checks = 0;
  await page.route((url) => url.href.includes("uploadType=media") && url.href.includes("%2Fblobs%2F"), async (route) => {
    uploads++;
    if (uploads > 1) return route.continue();
    // The server took the request but says it stored less than was sent (a truncated body).
    const response = await route.fetch();
    const meta = await response.json();
    await route.fulfill({ response, json: { ...meta, size: String(Number(meta.size) - 1) } });
  });
  // A metadata read of the blob (GET of the object without alt=media): the answer checked with the server.
  page.on("request", (q) => {
    const url = new URL(q.url());
    if (q.method() === "GET" && url.pathname.includes("%2Fblobs%2Fs%2F") && !url.searchParams.has("alt")) checks++;
  });
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "short");
    const blob = kit.audio(3000, 2);
    await a.save(blob, { id: "s" });
    const report = await a.sync(kit.remote(tapesync, cloud));
    return { report, state: (await a.get("s")).syncState, hash: await kit.digest(blob) };
  }, cloud);
  assert.ok(uploads + checks >= 2, `the short answer alone was taken as done: ${uploads} uploads, ${checks} metadata reads`);
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.report.uploaded, 1);
  assert.equal(out.state, "synced");
  const res = await fetch(`${STORAGE_URL}/v0/b/${BUCKET}/o/${encodeURIComponent(`users/${user.uid}/recordings/blobs/s/${out.hash}`)}?alt=media`,
    { headers: { Authorization: `Firebase ${user.idToken}` } });
  const { createHash } = await import("node:crypto");
  assert.equal(createHash("sha256").update(new Uint8Array(await res.arrayBuffer())).digest("hex"), out.hash, "the cloud holds the whole take");
});

test("403 on one recording fails that recording only, once, and the others sync", async () => {
  const { page, cloud } = await setup();
  let attempts = 0;
  const seen = [];
  await page.route((url) => url.href.includes("blobs%2Fbad%2F"), async (route) => {
    attempts++;
    seen.push(`${route.request().method()} ${route.request().url().replace(/^.*\/o/, "/o")}`);
    await route.fulfill({ status: 403, contentType: "application/json", body: '{"error":{"code":403,"message":"Permission denied."}}' });
  });
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "forbidden");
    await a.save(kit.audio(2000, 1), { id: "bad" });
    await a.save(kit.audio(2000, 2), { id: "good" });
    const report = await a.sync(kit.remote(tapesync, cloud));
    const again = await a.sync(kit.remote(tapesync, cloud));
    return { report, again, bad: (await a.get("bad")).syncState, good: (await a.get("good")).syncState };
  }, cloud);
  assert.deepEqual(out.report.failed.map((f) => [f.id, f.code, f.status]), [["bad", "Forbidden", 403]], JSON.stringify(out.report));
  assert.equal(out.report.outcome.kind, "complete", "a 403 on one recording's audio does not stop the round");
  assert.equal(typeof out.report.failed[0].message, "string");
  assert.doesNotMatch(out.report.failed[0].message, /HTTP 403: HTTP 403/, "no message repeats itself");
  assert.equal(out.good, "synced");
  assert.equal(out.bad, "failed");
  // Not retried: one upload, not even one more by the next sync. A metadata read of the object may
  // follow the 403 (create-only rules also answer 403 to a second write of an object that exists).
  const writes = seen.filter((r) => !r.startsWith("GET "));
  assert.equal(writes.length, 1, `a 403 is not retried, not even by the next sync: ${seen.join(", ")}`);
  assert.ok(attempts <= 2, `at most one metadata read besides: ${seen.join(", ")}`);

  // Once the cause is fixed, the app puts it back in line.
  await page.unrouteAll();
  const fixed = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "forbidden");
    const retried = [await a.retry("bad"), await a.retry("good")];
    const report = await a.sync(kit.remote(tapesync, cloud));
    return { retried, report, bad: (await a.get("bad")).syncState };
  }, cloud);
  assert.deepEqual(fixed.retried, [true, false], "only a failed recording is retried");
  assert.equal(fixed.bad, "synced", JSON.stringify(fixed.report));
});

test("a stalled chunk is abandoned after the timeout and the upload resumes from what the server has", async () => {
  const { page, cloud, user } = await setup();
  let chunks = 0;
  const held = [];
  await page.route((url) => url.href.includes("upload_id="), async (route) => {
    const command = route.request().headers()["x-goog-upload-command"] ?? "";
    if (command.startsWith("upload") && ++chunks === 2) {
      held.push(route); // never answered: a stalled transfer
      return;
    }
    await route.continue();
  });
  const out = await page.evaluate(async (cloud) => {
    const a = await kit.device(tapesync, "stall");
    const blob = kit.audio(3 * 256 * 1024, 4);
    await a.save(blob, { id: "s" });
    const report = await a.sync(kit.remote(tapesync, { ...cloud, timeoutMs: 1500 }), { chunkSize: 256 * 1024 });
    return { report, hash: await kit.digest(blob), state: (await a.get("s")).syncState };
  }, cloud);
  for (const r of held) await r.abort().catch(() => {});
  assert.equal(out.report.outcome.kind, "complete", JSON.stringify(out.report));
  assert.equal(out.state, "synced");
  const res = await fetch(`${STORAGE_URL}/v0/b/${BUCKET}/o/${encodeURIComponent(`users/${user.uid}/recordings/blobs/s/${out.hash}`)}?alt=media`,
    { headers: { Authorization: `Firebase ${user.idToken}` } });
  const { createHash } = await import("node:crypto");
  assert.equal(createHash("sha256").update(new Uint8Array(await res.arrayBuffer())).digest("hex"), out.hash);
});
