// A module service worker that saves a WAV with compression, as a PWA's worker might: service
// workers cannot import() and have no Worker, so the encoder module is imported statically here
// (docs/compression.md) and encodes on this thread. The page posts { name, wav, compress } with a
// MessagePort; the worker answers { rec } or { error }.
import init, { RecordingStore } from "/pkg/tapesync.js";
import "/pkg/compress/index.js";

const ready = init();
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
  const { name, wav, compress } = event.data;
  const [port] = event.ports;
  event.waitUntil((async () => {
    try {
      await ready;
      const store = await RecordingStore.open({ name });
      const rec = await store.save(wav, { compress });
      store.close();
      port.postMessage({ rec: JSON.parse(JSON.stringify(rec)) });
    } catch (e) {
      port.postMessage({ error: `${e?.code}: ${e?.message}` });
    }
  })());
});
