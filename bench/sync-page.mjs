// The sync benchmarks' page side (bench/sync.html), driven by bench/sync.mjs through
// `window.syncBench`. Everything talks to the Firebase Storage emulator the runner started; the
// runner counts the page's HTTP requests to it (playwright's `request` event), so nothing here
// wraps `fetch`: tapesync's requests are observed as the browser sends them.
//
// - tapesyncSave / tapesyncSync: saves recordings in a fresh store (a fresh IndexedDB database),
//   waits for `settled()` (hashing done, so only the transfers are timed); then, in a second call, times one
//   `store.sync(remote, { concurrency })`.
// - fetchPush: the baseline, plain `fetch` media uploads of the same Blobs (one POST each,
//   `uploadType=media`, `Authorization: Firebase <token>`), by `concurrency` workers taking the
//   next Blob from a shared index, each awaiting its response body.
// - open / fill / syncDevice / drop: devices (stores) kept across calls, for the request counts.
import init, * as tapesync from "/pkg/tapesync.js";
import { deleteDb } from "/bench/idb.mjs";

const now = () => performance.now();

window.syncBenchReady = init().then(() => true);

/** The Blobs of the throughput runs, made once per round (outside any timing). */
let blobs = [];
/** Open devices by database name. */
const devices = new Map();

function remoteFor(cloud) {
  return new tapesync.FirebaseRemote({
    bucket: cloud.bucket,
    prefix: cloud.prefix,
    getToken: async () => cloud.token,
    baseUrl: cloud.baseUrl,
  });
}

/** Deterministic pseudo-random bytes (xorshift32), distinct for every (seed, index). */
function bytesFor(size, seed) {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, size);
}


function checkReport(report, { uploaded, pushed, what }) {
  const problems = [];
  if (report?.outcome?.kind !== "complete") problems.push(`outcome ${JSON.stringify(report?.outcome)}`);
  if (report.failed?.length) problems.push(`${report.failed.length} failed, first ${JSON.stringify(report.failed[0])}`);
  if (uploaded != null && report.uploaded !== uploaded) problems.push(`uploaded ${report.uploaded}, expected ${uploaded}`);
  if (pushed != null && report.pushed !== pushed) problems.push(`pushed ${report.pushed}, expected ${pushed}`);
  if (problems.length) throw new Error(`${what}: ${problems.join("; ")}: ${JSON.stringify(report)}`);
}

/** Saves `items` ([blob, id]) in batches issued at once; with `settle`, then waits for the
 * hashing (the throughput rounds time the transfers alone, as plain fetch does none). */
async function saveAll(store, items, { settle = true, batch = 250 } = {}) {
  const t0 = now();
  for (let i = 0; i < items.length; i += batch) {
    await Promise.all(items.slice(i, i + batch).map(([blob, id]) => store.save(blob, { id, name: `Take ${id}` })));
  }
  const saved = now();
  if (settle) await store.settled();
  return { saveMs: saved - t0, settledMs: now() - saved };
}

window.syncBench = {
  env() {
    return { userAgent: navigator.userAgent, origin: location.origin };
  },

  /** Makes the `n` Blobs of `size` bytes of one round; returns their total size. */
  makeBlobs({ n, size, seed, type = "audio/webm" }) {
    blobs = Array.from({ length: n }, (_, i) => new Blob([bytesFor(size, seed * 100003 + i + 1)], { type }));
    return blobs.reduce((s, b) => s + b.size, 0);
  },

  /** tapesync, part 1: save the round's Blobs in a fresh store (database `db`) and settle. */
  async tapesyncSave({ db }) {
    const store = await tapesync.RecordingStore.open({ name: db });
    devices.set(db, store);
    return saveAll(store, blobs.map((b, i) => [b, `r${i}`]));
  },

  /** tapesync, part 2: time one sync of store `db`, then close and delete it. */
  async tapesyncSync({ cloud, db, concurrency }) {
    const store = devices.get(db);
    try {
      const t0 = now();
      const report = await store.sync(remoteFor(cloud), { concurrency });
      const syncMs = now() - t0;
      checkReport(report, { uploaded: blobs.length, pushed: blobs.length, what: "tapesync push" });
      return { syncMs, report };
    } finally {
      devices.delete(db);
      store.close();
      store.free();
      await deleteDb(`tapesync/${db}`);
    }
  },

  /** Baseline: the same Blobs as plain fetch media uploads by `concurrency` workers. */
  async fetchPush({ cloud, concurrency }) {
    const objects = `${cloud.baseUrl}/v0/b/${encodeURIComponent(cloud.bucket)}/o`;
    let next = 0;
    const worker = async () => {
      while (next < blobs.length) {
        const i = next++;
        const blob = blobs[i];
        // Named like tapesync's audio ({prefix}/blobs/{id}/{64 hex}): storage.rules takes nothing else.
        const name = `${cloud.prefix}/blobs/r${i}/${i.toString(16).padStart(64, "0")}`;
        const res = await fetch(`${objects}?uploadType=media&name=${encodeURIComponent(name)}`, {
          method: "POST",
          headers: { Authorization: `Firebase ${cloud.token}`, "Content-Type": blob.type },
          body: blob,
        });
        const body = await res.json();
        if (!res.ok) throw new Error(`plain upload of ${name}: HTTP ${res.status} ${JSON.stringify(body)}`);
        if (Number(body.size) !== blob.size) throw new Error(`plain upload of ${name}: stored ${body.size} bytes of ${blob.size}`);
      }
    };
    const t0 = now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { ms: now() - t0 };
  },

  /** Opens (creating) device `db`. */
  async open({ db }) {
    if (!devices.has(db)) devices.set(db, await tapesync.RecordingStore.open({ name: db }));
    return devices.get(db).deviceId;
  },

  /** Saves `n` tiny recordings on device `db` (all distinct bytes), then syncs at once, as the
   * README shows: the sync hashes what the background has not yet. */
  async fill({ db, cloud, n, size }) {
    const store = devices.get(db);
    const items = Array.from({ length: n }, (_, i) => [new Blob([bytesFor(size, i + 1)], { type: "audio/webm" }), `t${i}`]);
    // The same Blobs for a plain-fetch reference run afterwards (fetchPush).
    blobs = items.map(([b]) => b);
    const times = await saveAll(store, items, { settle: false });
    const t0 = now();
    const report = await store.sync(remoteFor(cloud), { concurrency: 4 });
    const syncMs = now() - t0;
    checkReport(report, { uploaded: n, pushed: n, what: `first push of ${n}` });
    return { ...times, syncMs, report };
  },

  /** One sync of device `db`; `expect` checks its report (e.g. { pulled: n } or a quiet one). */
  async syncDevice({ db, cloud, expect = {} }) {
    const store = devices.get(db);
    const t0 = now();
    const report = await store.sync(remoteFor(cloud), { concurrency: 4 });
    const ms = now() - t0;
    checkReport(report, { what: `sync of ${db}` });
    for (const [k, v] of Object.entries(expect)) {
      if (report[k] !== v) throw new Error(`sync of ${db}: ${k} ${report[k]}, expected ${v}: ${JSON.stringify(report)}`);
    }
    return { ms, report, count: await store.count() };
  },

  /** Closes and deletes device `db`. */
  async drop({ db }) {
    const store = devices.get(db);
    if (!store) return;
    devices.delete(db);
    store.close();
    store.free();
    await deleteDb(`tapesync/${db}`);
  },

  /** The names of databases this page left behind (should be none). */
  async leftovers() {
    return (await indexedDB.databases()).map((d) => d.name);
  },
};
