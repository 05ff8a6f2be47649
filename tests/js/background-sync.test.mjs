// The README's service-worker Background Sync example ("In a PWA's service worker") works as written, end to
// end: its code, taken from README.md at run time (not a copy), is the module service worker of a page; the
// page saves and registers the sync as the example's closing comment says; the test fires the worker's `sync`
// event through the DevTools protocol (headless Chromium may hold it back), and then checks
// - at the Storage emulator (not only through the worker): the recording's audio, byte for byte, and the
//   change log segment that publishes it;
// - in the page: its own open store fires `change` for the recording (relayed from the worker's store, see
//   src/browser/broadcast.rs) and lists it as synced.
//
//   flock /tmp/tapesync-e2e.lock node --test tests/js/background-sync.test.mjs
//
// The Firebase emulators use fixed ports: run under the shared lock. Only the names the example leaves to the
// app are given, with real values, before its code: `bucket`, `uid`, `getToken`. The example names no
// `baseUrl`, so it talks to https://firebasestorage.googleapis.com: the browser context routes that origin to
// the Storage emulator on 127.0.0.1 (nothing leaves the machine).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { launch, recentConsole, ROOT } from "./browser.mjs";
import { startEmulators, stopEmulators, signUp, BUCKET, STORAGE_URL } from "../../emulators/harness.mjs";
import { getObject, listObjects, productionToEmulator } from "./cloud.mjs";

const DIR = "test-output/background-sync";

let env;
before(async () => {
  await startEmulators();
  env = await launch();
}, { timeout: 300_000 });
after(async () => {
  await env?.close();
  await stopEmulators();
});

/** The README's ```js block that is a service worker (it listens for `self`'s events), as written. */
async function readmeServiceWorker() {
  const lines = (await readFile(`${ROOT}/README.md`, "utf8")).split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(js|javascript)\s*$/.test(lines[i])) continue;
    const body = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    blocks.push(body.join("\n"));
  }
  const found = blocks.filter((code) => /\bself\.addEventListener\(\s*["']sync["']/.test(code));
  assert.equal(found.length, 1, "README.md has one Background Sync service worker example");
  return found[0];
}

/** Fires the `sync` event `tag` at the service worker whose scope is `scope`, through the DevTools protocol. */
async function dispatchSync(page, scope, tag) {
  const cdp = await page.context().newCDPSession(page);
  const registrations = new Map();
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: list }) => {
    for (const r of list) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId);
  });
  const active = new Set();
  cdp.on("ServiceWorker.workerVersionUpdated", ({ versions }) => {
    for (const v of versions) if (v.status === "activated") active.add(v.registrationId);
  });
  await cdp.send("ServiceWorker.enable");
  const deadline = Date.now() + 10_000;
  while (!(registrations.has(scope) && active.has(registrations.get(scope)))) {
    assert.ok(Date.now() < deadline, `no active registration for ${scope}: ${JSON.stringify([...registrations])}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  await cdp.send("ServiceWorker.dispatchSyncEvent", {
    origin: new URL(scope).origin,
    registrationId: registrations.get(scope),
    tag,
    lastChance: false,
  });
  await cdp.detach();
}

test("the README's Background Sync service worker pushes what the page saved; the page's store sees it synced", { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const step = (what) => t.diagnostic(`${what}: ${Date.now() - started} ms`);
  const user = await signUp();
  // The example's sw.js at the root of its scope, next to its ./pkg/, and the page in that scope.
  const dir = `${ROOT}/${DIR}`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await symlink(`${ROOT}/pkg`, `${dir}/pkg`);
  const app = `self.bucket = ${JSON.stringify(BUCKET)};\nself.uid = ${JSON.stringify(user.uid)};\n` +
    `self.getToken = async () => ${JSON.stringify(user.idToken)};\n` +
    // Only a trace for a failure message: when the worker saw the sync event.
    `self.addEventListener("sync", (e) => console.log("background-sync test: sync event", e.tag));\n`;
  await writeFile(`${dir}/sw.js`, `${app}${await readmeServiceWorker()}\n`);
  await writeFile(`${dir}/index.html`, `<!doctype html><meta charset="utf-8"><title>Background Sync</title>
<script type="module">
  import init, * as tapesync from "./pkg/tapesync.js";
  window.tapesyncReady = init().then(() => { window.tapesync = tapesync; });
</script>\n`);

  const context = await env.context();
  await productionToEmulator(context);
  const page = await context.newPage();
  await page.goto(`${env.url}/${DIR}/index.html`);
  const audio = Array.from({ length: 3000 }, (_, i) => (i * 13 + 5) & 255);
  const id = await page.evaluate(async (audio) => {
    await window.tapesyncReady;
    // As the README says: registered as a module worker.
    await navigator.serviceWorker.register("./sw.js", { type: "module" });
    // The page's own store, open all along, as an app's recordings screen keeps it.
    window.store = await tapesync.RecordingStore.open({ name: "my-app" });
    window.changes = [];
    store.addEventListener("change", async (e) => {
      const entry = { kind: e.detail.kind, ids: [...e.detail.ids] };
      changes.push(entry);
      entry.list = (await store.list()).items.map((r) => ({ id: r.id, syncState: r.syncState }));
    });
    const rec = await store.save(new Blob([new Uint8Array(audio)], { type: "audio/webm" }), { name: "from the page" });
    // What the example's closing comment says the page does after saving.
    await (await navigator.serviceWorker.ready).sync.register("recordings");
    return rec.id;
  }, audio);
  assert.equal(await page.evaluate((id) => store.get(id).then((r) => r.syncState), id), "pending");
  step("saved and registered");

  await dispatchSync(page, `${env.url}/${DIR}/`, "recordings");
  const fired = Date.now();
  step("sync event fired");

  // At the cloud: the audio, byte for byte, and a change log segment of this device.
  const base = `users/${user.uid}/recordings`;
  const deadline = Date.now() + 60_000;
  let blobs = [];
  while (Date.now() < deadline && blobs.length === 0) {
    blobs = await listObjects(user, `${base}/blobs/${id}/`);
    if (blobs.length === 0) await new Promise((ok) => setTimeout(ok, 250));
  }
  assert.equal(blobs.length, 1, `the worker pushed the page's recording; console:\n${recentConsole()}`);
  t.diagnostic(`in the cloud ${Date.now() - fired} ms after the sync event was fired`);
  assert.deepEqual([...(await getObject(user, blobs[0]))], audio, "the cloud holds the saved audio");
  // The audio goes up first, then the segment that names it.
  let log = [];
  while (Date.now() < deadline && log.length === 0) {
    log = await listObjects(user, `${base}/log/`);
    if (log.length === 0) await new Promise((ok) => setTimeout(ok, 250));
  }
  assert.ok(log.length >= 1, `a change log segment publishes it; console:\n${recentConsole()}`);

  // In the page: its store heard the worker's sync and lists the recording as synced.
  const heard = await page
    .waitForFunction((id) => changes.find((c) => c.kind === "sync" && c.ids.includes(id) && c.list?.find((r) => r.id === id)?.syncState === "synced"),
      id, { timeout: 30_000, polling: 100 })
    .then((h) => h.jsonValue(), async () => assert.fail(`the page's store never saw ${id} synced: ${await page.evaluate(() => JSON.stringify(changes))}\n${recentConsole()}`));
  assert.ok(heard.ids.includes(id));
  assert.equal(await page.evaluate((id) => store.get(id).then((r) => r.syncState), id), "synced");
  // The example closes its store after each sync: the page can delete the database (sign-out) while the
  // worker lives (its round may still be finishing when the page hears the change: a few tries).
  const destroyed = await page.evaluate(async () => {
    store.close();
    let last;
    for (let i = 0; i < 20; i++) {
      try {
        await tapesync.RecordingStore.destroy("my-app");
        return "deleted";
      } catch (e) {
        last = `${e.code}: ${e.message}`;
      }
      await new Promise((ok) => setTimeout(ok, 250));
    }
    return last;
  });
  assert.equal(destroyed, "deleted");
  step("done");
  await context.unrouteAll({ behavior: "ignoreErrors" });
  await context.close();
});
