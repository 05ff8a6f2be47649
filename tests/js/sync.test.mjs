// Sync with Firebase Storage end to end: the real Auth and Storage emulators on 127.0.0.1, the
// built package in Debian's Chromium, several devices (databases), faults and policies.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { startEmulators, stopEmulators, signUp, BUCKET, STORAGE_URL } from "../../emulators/harness.mjs";

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

test("two devices push and pull both ways, and a third device starting empty pulls everything", async () => {
  const { page, cloud } = await setup();
  const result = await page.evaluate(async (cloud) => {
    const { device, remote, audio, snapshot } = kit;
    const r = remote(tapesync, cloud);
    const a = await device(tapesync, "a");
    const b = await device(tapesync, "b");
    await a.save(audio(50_000, 1), { id: "from-a", name: "A's take", tags: ["x"], custom: { mic: "usb" } });
    await b.save(audio(70_000, 2, "audio/ogg"), { id: "from-b", name: "B's take" });
    await a.settled();
    await b.settled();
    const ra = await a.sync(r);
    const rb = await b.sync(r);
    const ra2 = await a.sync(r);
    const c = await device(tapesync, "c");
    const rc = await c.sync(r);
    const out = { ra, rb, ra2, rc, a: await snapshot(a), b: await snapshot(b), c: await snapshot(c) };
    const quiet = await a.sync(r);
    out.quiet = quiet;
    return out;
  }, cloud);
  assert.equal(result.ra.outcome.kind, "complete", JSON.stringify(result.ra));
  assert.equal(Object.keys(result.a).length, 2);
  assert.deepEqual(result.a, result.b, "A and B hold the same recordings");
  assert.deepEqual(result.c, result.a, "C pulled everything");
  assert.equal(result.a["from-a"].syncState, "synced");
  assert.equal(result.a["from-b"].mimeType, "audio/ogg");
  assert.equal(result.c["from-a"].audio, result.c["from-a"].contentHash, "audio bytes match their hash");
  assert.deepEqual(result.c["from-a"].custom, { mic: "usb" });
  assert.equal(result.quiet.pushed + result.quiet.uploaded + result.quiet.pulled, 0, "a quiet sync moves nothing");
});
