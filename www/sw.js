// The demo's service worker: keeps the app shell (the page, its modules, tapesync's JS and wasm) in a cache
// so the app opens with the network off. Network first, so a reload online always gets the latest files;
// the cache answers when the network fails or is too slow. Only same-origin GETs of the shell are handled:
// Firebase (or emulator) API calls are cross-origin and pass straight through, never cached, and so do the
// demo server's S3 routes (/s3-config, /sign).
const CACHE = "tapesync-demo-shell-v2";
const SHELL = [
  "./",
  "./index.html",
  "./style.css",
  "./app.js",
  "./auth.js",
  "./config.js",
  "./recorder.js",
  "./sync.js",
  "./supabase-auth.js",
  "./s3-account.js",
  "./ui.js",
  "./manifest.webmanifest",
  "./icons/icon.svg",
  "./icons/icon-192.png",
  "./icons/icon-512.png",
  "./icons/icon-maskable-512.png",
  "../pkg/tapesync.js",
  "../pkg/tapesync_bg.wasm",
];
// After this long without an answer, a cached copy is served instead (a "lie-fi" connection).
const NETWORK_TIMEOUT_MS = 4000;

const shellUrls = new Set(SHELL.map((p) => new URL(p, self.location).href));
// Everything of the package counts as shell: tapesync.js imports snippets whose folder is named by a
// hash of the build, and the compression module is loaded on first use.
const PKG = new URL("../pkg/", self.location).href;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((p) => new Request(p, { cache: "reload" })));
    const glue = await (await cache.match(new URL("tapesync.js", PKG).href)).text();
    const snippets = [...glue.matchAll(/from '(\.\/snippets\/[^']+)'/g)].map((m) => new URL(m[1], PKG).href);
    await cache.addAll(snippets.map((u) => new Request(u, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("tapesync-demo-shell-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;   // Auth and Storage APIs: never touched
  url.search = "";
  url.hash = "";
  const isShell = shellUrls.has(url.href) || url.href.startsWith(PKG) || request.mode === "navigate";
  if (!isShell) return;
  event.respondWith(networkFirst(request, request.mode === "navigate" ? "./index.html" : url.href));
});

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  const network = fetch(request).then((response) => {
    if (response.ok && response.type === "basic") cache.put(key, response.clone());
    return response;
  });
  network.catch(() => {});   // a failure after the timeout is handled below or not at all
  const timeout = new Promise((resolve) => setTimeout(resolve, NETWORK_TIMEOUT_MS, null));
  try {
    const response = await Promise.race([network, timeout]);
    if (response) return response;
    return (await cache.match(key)) ?? (await network);
  } catch {
    const cached = await cache.match(key);
    if (cached) return cached;
    return Response.error();
  }
}
