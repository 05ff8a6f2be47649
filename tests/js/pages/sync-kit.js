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
