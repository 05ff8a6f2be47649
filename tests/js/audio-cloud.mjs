// Shared by audio-policy.test.mjs and eviction.test.mjs: the local Supabase (emulators/supabase) on a free
// loopback port, Debian's Chromium with the built package, and what the tests read of the cloud from Node.
// No e2e lock is needed: nothing here uses the Firebase emulators' fixed ports.
import assert from "node:assert/strict";
import { launch } from "./browser.mjs";
import { ANON_KEY, BUCKET, signUp, startSupabase, stopSupabase } from "../../emulators/supabase/harness.mjs";

export async function start() {
  const { url } = await startSupabase({ port: 0 });
  const env = await launch();
  return {
    url,
    env,
    async close() {
      await env.close();
      await stopSupabase();
    },
    /** A fresh page (its own storage) with the package, the sync kit, `makeRemote` and `window.cloud` of a new user. */
    async page(user) {
      user ??= await this.user();
      const page = await env.page();
      await install(page, user.cloud);
      return { page, user };
    },
    async user() {
      const u = await signUp();
      return { ...u, cloud: { url, apikey: ANON_KEY, bucket: BUCKET, prefix: `users/${u.id}/recordings`, token: u.accessToken } };
    },
    /** Every object under the user's prefix as "key size", sorted (Node side, REST list as the user). */
    async objects(user) {
      const out = [];
      const walk = async (prefix) => {
        const res = await fetch(`${url}/storage/v1/object/list/${BUCKET}`, {
          method: "POST",
          headers: { apikey: ANON_KEY, authorization: `Bearer ${user.accessToken}`, "content-type": "application/json" },
          body: JSON.stringify({ prefix: `${prefix}/`, limit: 1000 }),
        });
        assert.equal(res.status, 200);
        for (const o of await res.json()) {
          if (o.id === null) await walk(`${prefix}/${o.name}`);
          else out.push(`${prefix}/${o.name} ${o.metadata?.size ?? "?"}`);
        }
      };
      await walk(user.cloud.prefix);
      return out.sort();
    },
  };
}

/** Loads the sync kit and defines `window.makeRemote(cloud)` (a SupabaseRemote, as the README shows it) and `window.cloud`. */
export async function install(page, cloud) {
  await page.evaluate(async (cloud) => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/sync-kit.js");
    window.cloud = cloud;
    window.makeRemote = (c) =>
      new tapesync.SupabaseRemote({ url: c.url, apikey: c.apikey, bucket: c.bucket, prefix: c.prefix, getToken: async () => c.token });
  }, cloud);
}

/** Counts the page's GETs of audio blobs while it is installed: `{ count, stop() }`. */
export function countBlobGets(page) {
  const seen = { count: 0 };
  const listener = (q) => {
    if (q.method() === "GET" && /\/object\/authenticated\/.*\/recordings\/blobs\//.test(q.url())) seen.count++;
  };
  page.on("request", listener);
  seen.stop = () => page.off("request", listener);
  return seen;
}
