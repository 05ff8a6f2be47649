// `store.estimate()` and the `storagepressure` event, end to end in Chromium with a small quota set
// through the DevTools protocol (`Storage.overrideQuotaForOrigin`): estimate() reports the override,
// and saves that bring usage to 80% of it fire `storagepressure` with `{ usage, quota }` (checked
// after writes, at most every 10 s: the check of a write inside that window runs at its end); a
// save refused for quota fires it with `exceeded: true`.
//
// Debian's Chromium reports a static quota to pages by default (usage + 10 GiB, whatever the real
// or overridden quota: the StaticStorageQuota feature, against fingerprinting), so the estimate
// test runs in a browser started with that feature off, and the refusal test in the default one.
//
//   node --test tests/js/storage-pressure.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";

const MiB = 1024 * 1024;
let env;
let real;
before(async () => {
  env = await launch();
  real = await launch({ args: ["--disable-features=StaticStorageQuota"] });
});
after(async () => {
  await env?.close();
  await real?.close();
});

test("estimate() reports an overridden quota and storagepressure fires when saves bring usage near it", async () => {
  const page = await real.page();
  const cdp = await page.context().newCDPSession(page);
  const origin = new URL(page.url()).origin;
  const quota = 6 * MiB;
  await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: quota });
  try {
    await page.evaluate(async () => {
      await window.tapesyncReady;
      window.store = await tapesync.RecordingStore.open({ name: "pressure" });
      window.pressure = [];
      store.addEventListener("storagepressure", (e) => pressure.push({ ...e.detail, at: performance.now() }));
      // Bytes that do not compress, so the database grows by what is saved.
      window.noise = (n, seed) => {
        const out = new Uint8Array(n);
        let x = seed >>> 0 || 1;
        for (let i = 0; i < n; i++) {
          x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
          out[i] = x & 255;
        }
        return out;
      };
    });
    const first = await page.evaluate(async () => {
      await store.save(new Blob([noise(64 * 1024, 1)], { type: "audio/webm" }));
      return store.estimate();
    });
    assert.equal(first.quota, quota, `estimate() reports the overridden quota: ${JSON.stringify(first)}`);
    assert.ok(first.usage > 0 && first.usage < 0.8 * quota, JSON.stringify(first));
    assert.equal(typeof first.persisted, "boolean");
    // The first write's check ran at once, well under the threshold: no event.
    await page.waitForTimeout(500);
    assert.deepEqual(await page.evaluate(() => pressure), []);

    // Saves up to about 85% of the quota, inside the first check's 10 s window: one check at its end.
    const t0 = await page.evaluate(async (target) => {
      let i = 2;
      while ((await store.estimate()).usage < target) {
        await store.save(new Blob([noise(512 * 1024, i++)], { type: "audio/webm" }));
      }
      return performance.now();
    }, 0.85 * quota);
    await page.waitForFunction(() => pressure.length > 0, null, { timeout: 15_000 });
    const [event] = await page.evaluate(() => pressure);
    assert.equal(event.quota, quota, JSON.stringify(event));
    assert.equal(event.exceeded, false);
    assert.ok(event.usage >= 0.8 * quota && event.usage <= quota, `usage ${event.usage} of ${quota}`);
    assert.ok(event.at - t0 < 12_000, `fired ${Math.round(event.at - t0)} ms after the saves`);
    const now = await page.evaluate(() => store.estimate());
    assert.equal(now.quota, quota);

    // Throttled: a burst of writes over the threshold makes at most one more check per 10 s.
    await page.evaluate(async () => {
      for (let i = 0; i < 5; i++) await store.save(new Blob([noise(1024, 100 + i)], { type: "audio/webm" }));
    });
    await page.waitForTimeout(1_000);
    const events = await page.evaluate(() => pressure.length);
    assert.ok(events <= 2, `${events} storagepressure events for a burst of 5 saves within 10 s`);
    await page.evaluate(() => store.close());
  } finally {
    await cdp.send("Storage.overrideQuotaForOrigin", { origin });
  }
});

test("a save refused for quota fires storagepressure with exceeded: true, also where the estimate is static", async () => {
  const page = await env.page();
  const cdp = await page.context().newCDPSession(page);
  const origin = new URL(page.url()).origin;
  await cdp.send("Storage.overrideQuotaForOrigin", { origin, quotaSize: 2 * MiB });
  try {
    const out = await page.evaluate(async () => {
      await window.tapesyncReady;
      const store = await tapesync.RecordingStore.open({ name: "refused" });
      const events = [];
      store.addEventListener("storagepressure", (e) => events.push(e.detail));
      const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
      const code = await store.save(new Blob([big], { type: "audio/webm" })).then(() => "saved", (e) => e.code);
      const t = performance.now();
      while (!events.some((e) => e.exceeded) && performance.now() - t < 5000) await new Promise((ok) => setTimeout(ok, 20));
      const count = await store.count();
      store.close();
      return { code, events, count };
    });
    assert.equal(out.code, "QuotaExceeded");
    const refused = out.events.filter((e) => e.exceeded);
    assert.equal(refused.length, 1, JSON.stringify(out.events));
    assert.equal(typeof refused[0].usage, "number");
    assert.equal(typeof refused[0].quota, "number");
    assert.equal(out.count, 0, "nothing was saved");
  } finally {
    await cdp.send("Storage.overrideQuotaForOrigin", { origin });
  }
});
