// End to end: the demo PWA (www/) as a user drives it, in Debian's Chromium with a fake microphone, against
// the Firebase Auth and Storage emulators. Screenshots of both devices go to test-output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { launch, ROOT } from "./browser.mjs";
import { serve } from "../../scripts/serve.mjs";
import { startEmulators, stopEmulators } from "../../emulators/harness.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 };
const OUT = `${ROOT}/test-output`;

let env;
const contexts = [];

before(async () => {
  await startEmulators();
  env = await launch();
  await mkdir(OUT, { recursive: true });
}, { timeout: 600_000 });

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await env?.close();
  await stopEmulators();
});

/** A new browser profile (its own IndexedDB and localStorage): a device. */
async function newDevice(options = PHONE) {
  const context = await env.context(options);
  contexts.push(context);
  return context;
}

/** Opens the app in `context` and waits until it has started. */
async function openApp(context, base = env.url) {
  const page = await context.newPage();   // page.logs: its console (browser.mjs), for test-output/
  await page.goto(`${base}/www/`);
  await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
  assert.equal(await page.getAttribute("body", "data-ready"), "true", await page.textContent("#fatal"));
  return page;
}

/** The recordings as listed: [{ id, name, state }], newest first. */
const rows = (page) =>
  page.$$eval("[data-testid=recording]", (els) =>
    els.map((e) => ({ id: e.dataset.id, name: e.dataset.name, state: e.dataset.syncState })));

const waitForRows = (page, n, timeout = 15_000) =>
  page.waitForFunction((n) => document.querySelectorAll("[data-testid=recording]").length === n, n, { timeout });

/** Records about `seconds` seconds from the fake microphone; resolves when the recording is listed. */
async function record(page, seconds = 2.5) {
  const before = (await rows(page)).length;
  await page.click("[data-testid=record]");
  await page.waitForSelector("[data-testid=record][data-state=recording]");
  await page.waitForTimeout(seconds * 1000);
  await page.click("[data-testid=record]");
  await waitForRows(page, before + 1);
  await page.waitForSelector("[data-testid=record][data-state=idle]");
}

/** Waits until the element `selector` (visible or not, e.g. in a closed <details>) has `text`. */
const waitForText = (page, selector, text, timeout = 30_000) =>
  page.waitForFunction(([sel, t]) => document.querySelector(sel)?.textContent === t, [selector, text], { timeout });

const row = (page, name) => page.locator(`[data-testid=recording][data-name="${name}"]`);

/** Plays `name`; resolves to how the audio element answered ("canplay" or "duration N"). */
async function play(page, name) {
  await page.evaluate(() => {
    const audio = document.querySelector("[data-testid=player]");
    window.__played = new Promise((resolve) => {
      const done = () => resolve(Number.isFinite(audio.duration) && audio.duration > 0 ? `duration ${audio.duration}` : "canplay");
      audio.addEventListener("canplay", done, { once: true });
      audio.addEventListener("error", () => resolve(`error ${audio.error?.message}`), { once: true });
    });
  });
  await row(page, name).locator("[data-testid=play]").click();
  return page.evaluate(() => Promise.race([window.__played, new Promise((r) => setTimeout(r, 10_000, "timeout"))]));
}

test("records clips chunk by chunk, lists, plays, renames and deletes them", { timeout: 120_000 }, async () => {
  const page = await openApp(await newDevice());
  await record(page);
  await record(page);
  const listed = await rows(page);
  assert.deepEqual(listed.map((r) => r.name), ["Recording 2", "Recording 1"]);
  for (const r of listed) assert.ok(["pending", "uploading", "synced"].includes(r.state), JSON.stringify(listed));
  const meta = await row(page, "Recording 1").locator("[data-testid=rec-meta]").textContent();
  assert.match(meta, /^0:0[2-4] · Today .+ · \d+(\.\d)? KB$/, meta);

  // The store holds what MediaRecorder produced: audio, about as long as recorded, in several chunks.
  const saved = await page.evaluate(async (id) => {
    const { RecordingStore } = await import("/pkg/tapesync.js");
    const store = await RecordingStore.open({ name: `demo-${JSON.parse(localStorage.getItem("tapesync-demo/account")).uid}` });
    const rec = await store.get(id);
    store.close();
    return { mimeType: rec.mimeType, durationMs: rec.durationMs, size: rec.size };
  }, listed[1].id);
  assert.match(saved.mimeType, /^audio\//);
  assert.ok(saved.durationMs >= 2000 && saved.durationMs < 5000, `durationMs ${saved.durationMs}`);
  assert.ok(saved.size > 1000, `size ${saved.size}`);

  assert.match(await play(page, "Recording 1"), /^(canplay|duration)/);
  assert.equal(await page.textContent("[data-testid=now-playing]"), "Recording 1");

  await row(page, "Recording 1").locator("[data-testid=rename]").click();
  await page.fill("[data-testid=rename-input]", "Interview");
  await page.press("[data-testid=rename-input]", "Enter");
  await row(page, "Interview").waitFor();

  await row(page, "Recording 2").locator("[data-testid=delete]").click();
  await page.click("[data-testid=dialog-delete]");
  await waitForRows(page, 1);

  // All of it was stored, not just shown.
  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  await waitForRows(page, 1);
  assert.deepEqual((await rows(page)).map((r) => r.name), ["Interview"]);
  assert.match(await page.textContent("[data-testid=storage-usage]"), /used of/);
});

test("a recording cut short by a closed tab is offered at the next start: Save keeps it, Discard drops it", { timeout: 120_000 }, async () => {
  const device = await newDevice();
  const crash = async () => {
    const page = await openApp(device);
    await page.click("[data-testid=record]");
    await page.waitForSelector("[data-testid=record][data-state=recording]");
    await page.waitForTimeout(2600);   // two or more one-second chunks stored
    await page.close();                // no Stop: the tab just goes away
  };

  await crash();
  let page = await openApp(device);
  await page.waitForSelector("[data-testid=recovery]:not([hidden]) [data-testid=recovery-item]");
  assert.equal(await page.locator("[data-testid=recovery-item]").count(), 1);
  assert.equal(await page.locator("[data-testid=recording]").count(), 0);
  await page.click("[data-testid=recover-save]");
  await waitForRows(page, 1);
  await page.waitForSelector("[data-testid=recovery]", { state: "hidden" });
  const [recovered] = await rows(page);
  assert.equal(recovered.name, "Recording 1");
  assert.ok(["pending", "uploading", "synced"].includes(recovered.state), recovered.state);
  assert.match(await row(page, "Recording 1").locator("[data-testid=rec-meta]").textContent(), /^0:0[1-4] /);
  assert.match(await play(page, "Recording 1"), /^(canplay|duration)/, "the chunks kept make playable audio");
  await page.close();

  await crash();
  page = await openApp(device);
  await page.waitForSelector("[data-testid=recovery]:not([hidden]) [data-testid=recovery-item]");
  await page.click("[data-testid=recover-discard]");
  await page.waitForSelector("[data-testid=recovery]", { state: "hidden" });
  await page.reload();
  await page.waitForSelector("body[data-ready=true]");
  await waitForRows(page, 1);
  await page.waitForTimeout(500);   // the recovery check runs after the first render
  assert.equal(await page.isHidden("[data-testid=recovery]"), true, "a discarded capture is gone");
});

test("the app opens with the network off, from the service worker's cache", { timeout: 120_000 }, async () => {
  // A server of its own, so that it can go away.
  const server = await serve({ root: ROOT });
  const context = await newDevice();
  let page = await openApp(context, server.url);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15_000 });
  await record(page, 1.5);
  const cached = await page.evaluate(async () => {
    const urls = [];
    for (const name of await caches.keys()) for (const req of await (await caches.open(name)).keys()) urls.push(req.url);
    return urls;
  });
  assert.ok(cached.some((u) => u.endsWith("/pkg/tapesync_bg.wasm")), "the wasm is cached");
  assert.ok(cached.some((u) => u.endsWith("/pkg/tapesync.js")), "the package is cached");
  assert.deepEqual(cached.filter((u) => !u.startsWith(server.url)), [], "no API call is cached");

  await server.close();
  await page.close();
  page = await openApp(context, server.url);
  await waitForRows(page, 1);
  await record(page, 1.5);   // recording needs no network either
  assert.equal((await rows(page)).length, 2);
});

test("clips recorded online sync within seconds with nothing pressed; a third recorded offline syncs when the network returns; a second device signed in as the same user gets all three and plays one", { timeout: 240_000 }, async () => {
  const devices = {};
  try {
    await syncAcrossDevices(devices);
  } finally {
    // Each device's screen and console go to test-output/, also (above all) when something failed.
    for (const [name, page] of Object.entries(devices)) {
      if (page.isClosed()) continue;
      await page.screenshot({ path: `${OUT}/demo-device-${name}.png` }).catch(() => {});
      await writeFile(`${OUT}/demo-device-${name}.log`, `${page.logs.join("\n")}\n`).catch(() => {});
    }
  }
});

async function syncAcrossDevices(devices) {
  const a = (devices.a = await openApp(await newDevice()));
  const hasSync = await a.evaluate(async () => typeof (await import("/pkg/tapesync.js")).FirebaseRemote === "function");
  assert.ok(hasSync, "this build of pkg/ has no FirebaseRemote (sync): the demo shows 'sync unavailable in this build'");

  // Signed in anonymously, and the start sync is over. From here on nothing is pressed: autoSync (with
  // its default onChange) pushes each clip recorded online within seconds.
  await waitForText(a, "[data-testid=account-status]", "Guest account");
  await a.waitForSelector("[data-testid=sync-status][data-state=idle][data-last-sync]", { state: "attached", timeout: 30_000 });
  await watchContradictions(a);
  await a.evaluate(() => {
    window.__syncPresses = 0;
    document.querySelector("[data-testid=sync-now]").addEventListener("click", () => window.__syncPresses++);
  });
  await record(a);
  const recordedAt = Date.now();
  await allSynced(a, 1, 20_000);
  const onlineSyncMs = Date.now() - recordedAt;
  assert.ok(onlineSyncMs < 20_000, `a clip recorded online synced in ${onlineSyncMs} ms with nothing pressed`);
  assert.match(await a.textContent("[data-testid=sync-status]"), /^Synced /);
  await record(a);
  await allSynced(a, 2, 20_000);

  // The network goes away: the page sees the offline event.
  await a.evaluate(() => {
    window.__net = [];
    addEventListener("offline", () => window.__net.push("offline"));
    addEventListener("online", () => window.__net.push("online"));
  });
  const cdp = await a.context().newCDPSession(a);
  await cdp.send("Network.enable");
  const network = (offline) =>
    cdp.send("Network.emulateNetworkConditions", { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await network(true);
  await a.waitForFunction(() => !navigator.onLine && window.__net.includes("offline"));
  await a.waitForSelector("[data-testid=net-status][data-online=false]");

  await record(a);
  const offline = await rows(a);
  assert.equal(offline.length, 3);
  // The clip recorded offline waits (newest first); the two from before stay synced. A few seconds
  // pass offline, so that an onChange push had its chance and could not reach the cloud.
  await a.waitForTimeout(4000);
  const waiting = await rows(a);
  assert.equal(waiting[0].state, "pending", JSON.stringify(waiting));
  assert.deepEqual(waiting.slice(1).map((r) => r.state), ["synced", "synced"]);
  assert.doesNotMatch(await a.textContent("[data-testid=sync-status]"), /\bSynced\b/, "not Synced while one waits");

  // The network returns: auto-sync on 'online' pushes the third, with no button pressed.
  await network(false);
  await a.waitForFunction(() => navigator.onLine && window.__net.includes("online"));
  await a.waitForSelector("[data-testid=net-status][data-online=true]");
  await allSynced(a, 3, 60_000);
  assert.equal(await a.evaluate(() => window.__syncPresses), 0, "the Sync button was never pressed");
  const names = (await rows(a)).map((r) => r.name).sort();

  // Device A gives its guest account an email and password ...
  const email = `demo-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = "tapesync-demo";
  await a.click("#account summary");
  await a.fill("[data-testid=account-email]", email);
  await a.fill("[data-testid=account-password]", password);
  await a.click("[data-testid=account-link]");
  await waitForText(a, "[data-testid=account-status]", email);
  const uidA = await a.textContent("#account-uid");

  // ... and device B signs in with them, syncs, and has all three.
  const b = (devices.b = await openApp(await newDevice()));
  await waitForText(b, "[data-testid=account-status]", "Guest account");
  await b.click("#account summary");
  await b.fill("[data-testid=account-email]", email);
  await b.fill("[data-testid=account-password]", password);
  await b.click("[data-testid=account-signin]");
  await waitForText(b, "[data-testid=account-status]", email);
  assert.equal(await b.textContent("#account-uid"), uidA, "the same user on both devices");
  await b.waitForFunction(
    () => {
      const els = [...document.querySelectorAll("[data-testid=recording]")];
      return els.length === 3 && els.every((e) => e.dataset.syncState === "synced");
    },
    null,
    { timeout: 60_000 },
  );
  assert.deepEqual((await rows(b)).map((r) => r.name).sort(), names);
  assert.match(await play(b, names[0]), /^(canplay|duration)/, "a pulled recording plays");

  await a.click("#account summary");   // closed again, for a tidy screenshot
  await b.click("#account summary");
  for (const page of [a, b]) await page.waitForSelector("#toast", { state: "hidden", timeout: 10_000 });
  assert.deepEqual(await a.evaluate(() => window.__contradictions), [], "the status never read Synced next to a Pending badge");
  // Uncaught errors in either device's pages fail the test by themselves (browser.mjs).
}

/** Waits until `n` recordings are listed and every one is synced. */
const allSynced = (page, n, timeout) =>
  page.waitForFunction(
    (n) => {
      const els = [...document.querySelectorAll("[data-testid=recording]")];
      return els.length === n && els.every((e) => e.dataset.syncState === "synced");
    },
    n,
    { timeout },
  );

/**
 * Records, in window.__contradictions, every moment the sync status says "Synced" while a recording's
 * badge says Pending (the status and the badges must never disagree).
 */
const watchContradictions = (page) =>
  page.evaluate(() => {
    window.__contradictions = [];
    const check = () => {
      const status = document.querySelector("[data-testid=sync-status]")?.textContent ?? "";
      const pending = [...document.querySelectorAll("[data-testid=recording]")].filter((e) => e.dataset.syncState === "pending");
      if (/\bSynced\b/.test(status) && pending.length) window.__contradictions.push(`"${status}" with ${pending.length} pending`);
    };
    new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    check();
  });
