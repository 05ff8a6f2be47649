// Helpers for the sync tests, loaded by blank.html's page through evaluate: devices are stores
// (databases) in one page, each a separate device with its own device id.
export async function device(tapesync, name) {
  return tapesync.RecordingStore.open({ name });
}

export function remote(tapesync, { bucket, uid, token, baseUrl, prefix, timeoutMs }) {
  return new tapesync.FirebaseRemote({
    bucket,
    timeoutMs,
    prefix: prefix ?? `users/${uid}/recordings`,
    getToken: async () => (typeof token === "function" ? token() : token),
    baseUrl,
  });
}

export function audio(n, seed = 1, type = "audio/webm") {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 31 + seed) & 255;
  return new Blob([bytes], { type });
}

export async function digest(blob) {
  const hash = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** { id: { name, hash, size, syncState, custom, tags } } of every recording, with its audio's hash. */
export async function snapshot(store) {
  const out = {};
  for (const r of (await store.list()).items) {
    const blob = await store.getBlob(r.id);
    out[r.id] = { name: r.name, tags: r.tags, custom: r.custom, size: r.size, mimeType: r.mimeType,
      syncState: r.syncState, contentHash: r.contentHash, audio: blob ? await digest(blob) : null };
  }
  return out;
}

/** Saves `n` recordings `${prefix}${i}` (3 KB each, distinct audio) right away; resolves to their ids. */
export async function saveMany(store, n, prefix = "r", size = 3000) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}${i}`;
    await store.save(audio(size, 1000 + i), { id, name: `take ${i}` });
    ids.push(id);
  }
  return ids;
}

/** The syncState of every recording: { id: state }. */
export async function states(store) {
  return Object.fromEntries((await store.list()).items.map((r) => [r.id, r.syncState]));
}

/** Resolves once `check()` is truthy (polled every 100 ms), or rejects with `what` after `ms`. */
export async function until(check, ms, what = "condition") {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** Records every event the store fires: { kind: [{ at, detail }] }. */
export function recordEvents(store, kinds = ["change", "syncstate", "syncprogress", "syncconflict", "syncfailure", "networkchange"]) {
  const seen = Object.fromEntries(kinds.map((k) => [k, []]));
  for (const k of kinds) {
    store.addEventListener(k, (e) => seen[k].push({ at: Date.now(), detail: plain(e.detail ?? null) }));
  }
  return seen;
}

/** The rejection's { code, message } of `promise`, or "resolved". */
export function rejection(promise) {
  return promise.then(() => "resolved", (e) => ({ code: e?.code, name: e?.name, message: String(e?.message) }));
}

/** `v` as plain data a test can return from the page (errors keep their code and message). */
export function plain(v) {
  if (v instanceof Error) return { error: true, name: v.name, code: v.code, message: v.message };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}
