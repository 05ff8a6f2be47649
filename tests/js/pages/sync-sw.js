// A module service worker that syncs a store the page saved into, as a PWA's worker does (README, "In a
// PWA's service worker"). The page posts { name, cloud } with a MessagePort; the worker answers on it with
// { report, states } or { error }.
import init, { RecordingStore, FirebaseRemote } from "/pkg/tapesync.js";

const ready = init();
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
  const { name, cloud } = event.data;
  const [port] = event.ports;
  event.waitUntil((async () => {
    try {
      await ready;
      const store = await RecordingStore.open({ name });
      const remote = new FirebaseRemote({
        bucket: cloud.bucket,
        prefix: `users/${cloud.uid}/recordings`,
        getToken: async () => cloud.token,
        baseUrl: cloud.baseUrl,
      });
      const report = await store.sync(remote);
      const states = Object.fromEntries((await store.list()).items.map((r) => [r.id, r.syncState]));
      store.close();
      port.postMessage({ report: JSON.parse(JSON.stringify(report)), states });
    } catch (e) {
      port.postMessage({ error: `${e?.code}: ${e?.message}` });
    }
  })());
});
