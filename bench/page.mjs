// The benchmarks, run inside one headless Chromium page (bench/index.html) and driven by
// bench/run.mjs through `window.bench`. Every function here does its own setup and cleanup: each
// measured run gets a fresh database, deleted afterwards.
//
// Implementations compared:
// - tapesync: the npm package in /pkg, through its public API only (except where noted: filling
//   a database with many "synced" recordings, which the API has no way to do yet).
// - raw: hand-written IndexedDB, the same stores, indexes, records and transactions as tapesync.
// - dexie: Dexie 4, two tables, one `rw` transaction per save (what its docs show).
// - localforage: localForage 1.10 (IndexedDB driver), two instances of one database: metadata
//   under "recordings", the Blob under "blobs", two `setItem` calls per save. That is what a
//   localForage user does who lists recordings without loading their audio; it is not atomic
//   (localForage has no transactions across keys or instances).
import init, { RecordingStore } from "/pkg/tapesync.js";
import { deleteDb } from "/bench/idb.mjs";
import Dexie from "/node_modules/dexie/dist/dexie.mjs";

const localforage = window.localforage;
const now = () => performance.now();
const gc = () => window.gc?.();

let wasm = null;
let memoryAtInit = 0;
window.benchReady = init().then((out) => {
  wasm = out;
  memoryAtInit = out.memory.buffer.byteLength;
  return true;
});

// ---------------------------------------------------------------------------------------------
// Shared helpers

let runSeq = 0;
const fresh = (what) => `bench-${what}-${Date.now().toString(36)}-${++runSeq}`;

/** A time-ordered UUIDv7-shaped id, like the ids tapesync makes, so every implementation inserts
 * primary keys in the same (ascending) order. */
function uuidv7(ms = Date.now()) {
  const rand = crypto.getRandomValues(new Uint8Array(10));
  const t = Math.floor(ms).toString(16).padStart(12, "0");
  const r = Array.from(rand, (b) => b.toString(16).padStart(2, "0")).join("");
  const variant = (8 | (rand[2] & 3)).toString(16);
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${r.slice(0, 3)}-${variant}${r.slice(5, 8)}-${r.slice(8, 20)}`;
}

/** The metadata a save writes: exactly tapesync's `Recording` fields. */
function recordFor(i, blob, createdAt = Date.now()) {
  return {
    id: uuidv7(createdAt),
    name: `Recording ${i}`,
    mimeType: blob.type,
    size: blob.size,
    durationMs: 4000,
    createdAt,
    updatedAt: Date.now(),
    tags: ["bench"],
    custom: { take: i },
    contentHash: null,
    syncState: "pending",
    synced: false,
  };
}

/** The same metadata as options of `RecordingStore.save`. */
const saveOptions = (i) => ({
  name: `Recording ${i}`,
  durationMs: 4000,
  createdAt: Date.now(),
  tags: ["bench"],
  custom: { take: i },
});

const HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/** A stored record as a listing returns it: a recording made at `createdAt`, in `syncState`. */
function storedRecord(i, createdAt, syncState) {
  return {
    id: uuidv7(createdAt),
    name: `Recording ${i}`,
    mimeType: "audio/webm;codecs=opus",
    size: 65536 + (i % 1000),
    durationMs: 4000 + (i % 7000),
    createdAt,
    updatedAt: createdAt,
    tags: ["bench", i % 2 ? "odd" : "even"],
    custom: { take: i },
    contentHash: HASH,
    syncState,
    synced: syncState === "synced",
  };
}

function promised(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function completed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });
}


/** Opens `name`; `upgrade` creates the schema when the database is new. */
function openDb(name, upgrade) {
  return new Promise((resolve, reject) => {
    const req = upgrade ? indexedDB.open(name, 1) : indexedDB.open(name);
    if (upgrade) req.onupgradeneeded = () => upgrade(req.result);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error(`opening ${name} is blocked`));
  });
}

/** The raw baseline's schema: tapesync's `recordings` and `blobs` stores and both indexes. */
function rawSchema(db) {
  const recordings = db.createObjectStore("recordings", { keyPath: "id" });
  recordings.createIndex("byCreated", ["createdAt", "id"]);
  recordings.createIndex("bySyncState", ["syncState", "createdAt", "id"]);
  db.createObjectStore("blobs");
}

/** Writes `records` straight into `db`'s `recordings` store, `per` records per transaction. */
async function putAll(db, records, per = 10000) {
  for (let i = 0; i < records.length; i += per) {
    const tx = db.transaction("recordings", "readwrite");
    const store = tx.objectStore("recordings");
    for (const r of records.slice(i, i + per)) store.put(r);
    await completed(tx);
  }
}

const DEXIE_SCHEMA = {
  recordings: "id, [createdAt+id], [syncState+createdAt+id]",
  blobs: "", // out-of-line keys: the recording id, like tapesync's and the raw `blobs` store
};

function forageOf(name) {
  const cfg = { name, driver: localforage.INDEXEDDB };
  return {
    meta: localforage.createInstance({ ...cfg, storeName: "recordings" }),
    blobs: localforage.createInstance({ ...cfg, storeName: "blobs" }),
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Saving many recordings

let blobCache = null;

/** `n` distinct typed blobs of `size` bytes, made once per page (not timed). */
function makeBlobs(n, size) {
  if (blobCache && blobCache.n === n && blobCache.size === size) return blobCache.list;
  const body = new Uint8Array(size);
  for (let o = 0; o < size; o += 65536) crypto.getRandomValues(body.subarray(o, Math.min(size, o + 65536)));
  const list = [];
  for (let i = 0; i < n; i++) {
    const head = new Uint8Array(8);
    new DataView(head.buffer).setFloat64(0, i);
    list.push(new Blob([head, body.subarray(8)], { type: "audio/webm;codecs=opus" }));
  }
  blobCache = { n, size, list };
  return list;
}

/** Per implementation: open a fresh database and return { save(blob, i), settled?, count, close }. */
const savers = {
  async tapesync(name) {
    const store = await RecordingStore.open({ name });
    return {
      save: (blob, i) => store.save(blob, saveOptions(i)),
      settled: () => store.settled(),
      count: () => store.count(),
      async close() {
        await store.settled();
        store.close();
        store.free();
        await deleteDb(`tapesync/${name}`);
      },
    };
  },

  async raw(name) {
    const db = await openDb(name, rawSchema);
    return {
      // One readwrite transaction over both stores: `add` the metadata (never overwrite), `put`
      // the Blob under the same id, commit, resolve on `complete`: exactly what tapesync's save does.
      save(blob, i) {
        const record = recordFor(i, blob);
        const tx = db.transaction(["recordings", "blobs"], "readwrite");
        tx.objectStore("recordings").add(record);
        tx.objectStore("blobs").put(blob, record.id);
        const done = completed(tx);
        tx.commit();
        return done.then(() => record);
      },
      async count() {
        const tx = db.transaction("recordings");
        return promised(tx.objectStore("recordings").count());
      },
      async close() {
        db.close();
        await deleteDb(name);
      },
    };
  },

  async dexie(name) {
    const db = new Dexie(name);
    db.version(1).stores(DEXIE_SCHEMA);
    await db.open();
    return {
      async save(blob, i) {
        const record = recordFor(i, blob);
        await db.transaction("rw", db.recordings, db.blobs, async () => {
          await db.recordings.add(record);
          await db.blobs.add(blob, record.id);
        });
        return record;
      },
      count: () => db.recordings.count(),
      close: () => db.delete(),
    };
  },

  async localforage(name) {
    const lf = forageOf(name);
    await lf.meta.ready();
    await lf.blobs.ready();
    // localForage creates each instance's store lazily (a version change per store): do it now,
    // outside the timed part.
    await lf.meta.setItem("_warm", 1);
    await lf.blobs.setItem("_warm", new Blob(["x"]));
    await lf.meta.removeItem("_warm");
    await lf.blobs.removeItem("_warm");
    return {
      async save(blob, i) {
        const record = recordFor(i, blob);
        await lf.meta.setItem(record.id, record);
        await lf.blobs.setItem(record.id, blob);
        return record;
      },
      count: () => lf.meta.length(),
      close: () => lf.meta.dropInstance({ name }),
    };
  },
};

/**
 * Saves `n` blobs of `size` bytes with `impl` into a fresh database.
 * mode "seq": each save awaited before the next (an app saving recordings as they are made);
 * mode "all": all `n` saves issued at once, then awaited together (an import).
 * Returns { ms } until every save resolved, and for tapesync { settledMs } until the background
 * content hashing of all of them finished too.
 */
async function saveRun({ impl, mode, n, size }) {
  const blobs = makeBlobs(n, size);
  const name = fresh(`save-${impl}`);
  const s = await savers[impl](name);
  try {
    gc();
    const t0 = now();
    if (mode === "seq") {
      for (let i = 0; i < n; i++) await s.save(blobs[i], i);
    } else {
      await Promise.all(blobs.map((b, i) => s.save(b, i)));
    }
    const ms = now() - t0;
    let settledMs = null;
    if (s.settled) {
      await s.settled();
      settledMs = now() - t0;
    }
    const count = await s.count();
    if (count !== n) throw new Error(`${impl} ${mode}: ${count} records after ${n} saves`);
    return { ms, settledMs };
  } finally {
    await s.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Listing the metadata of many recordings

let listState = null;

const LIST_BASE = Date.UTC(2024, 0, 1);

/** Fills one fresh database per implementation with the same `n` records (no audio: listing
 * never reads it). tapesync's records are written straight into its `recordings` store, in the
 * exact shape its `save` writes (a `Recording`), to keep setup time down; the check below reads
 * them back through the public API. */
async function listSetup({ n }) {
  await listTeardown();
  const records = Array.from({ length: n }, (_, i) => storedRecord(i, LIST_BASE + i * 60000, i % 10 ? "synced" : "pending"));
  const names = { tapesync: fresh("list-tapesync"), raw: fresh("list-raw"), dexie: fresh("list-dexie"), localforage: fresh("list-lf") };

  const store = await RecordingStore.open({ name: names.tapesync });
  const direct = await openDb(`tapesync/${names.tapesync}`);
  await putAll(direct, records);
  direct.close();

  const raw = await openDb(names.raw, rawSchema);
  await putAll(raw, records);

  const dexie = new Dexie(names.dexie);
  dexie.version(1).stores(DEXIE_SCHEMA);
  await dexie.open();
  await dexie.recordings.bulkAdd(records);

  const lf = forageOf(names.localforage);
  for (let i = 0; i < n; i += 1000) {
    await Promise.all(records.slice(i, i + 1000).map((r) => lf.meta.setItem(r.id, r)));
  }

  listState = { n, names, store, raw, dexie, lf, first: records[0].id, last: records[n - 1].id };
  if ((await store.count()) !== n) throw new Error("tapesync does not count the records written for listing");
  return { n };
}

async function listTeardown() {
  if (!listState) return;
  const { names, store, raw, dexie, lf } = listState;
  listState = null;
  store.close();
  store.free();
  await deleteDb(`tapesync/${names.tapesync}`);
  raw.close();
  await deleteDb(names.raw);
  await dexie.delete();
  await lf.meta.dropInstance({ name: names.localforage });
}

function rawGetAll(index, query) {
  const tx = listState.raw.transaction("recordings");
  const source = tx.objectStore("recordings").index(index);
  return promised(source.getAll(query));
}

function rawReverseCursor() {
  const tx = listState.raw.transaction("recordings");
  const req = tx.objectStore("recordings").index("byCreated").openCursor(null, "prev");
  const out = [];
  return new Promise((resolve, reject) => {
    req.onsuccess = () => {
      const c = req.result;
      if (!c) return resolve(out);
      out.push(c.value);
      c.continue();
    };
    req.onerror = () => reject(req.error);
  });
}

const byCreated = (a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** IndexedDB 3's `getAll({ query, direction })`: Chromium has it where it has `getAllRecords`. */
const hasDirectionalGetAll = () => typeof IDBIndex !== "undefined" && "getAllRecords" in IDBIndex.prototype;

/** The ways to list all recordings; each resolves to the array of records in its order. */
const listers = {
  // newest first
  "tapesync desc": async () => (await listState.store.list()).items,
  "raw desc getAll+reverse": async () => (await rawGetAll("byCreated")).reverse(),
  "raw desc getAll(prev)": () => rawGetAll("byCreated", { direction: "prev" }),
  "raw desc cursor(prev)": rawReverseCursor,
  "dexie desc": () => listState.dexie.recordings.orderBy("[createdAt+id]").reverse().toArray(),
  "localforage desc": async () => {
    const out = [];
    await listState.lf.meta.iterate((v) => void out.push(v));
    return out.sort((a, b) => byCreated(b, a));
  },
  // oldest first
  "tapesync asc": async () => (await listState.store.list({ order: "asc" })).items,
  "raw asc getAll": () => rawGetAll("byCreated"),
  "dexie asc": () => listState.dexie.recordings.orderBy("[createdAt+id]").toArray(),
  "localforage asc": async () => {
    const out = [];
    await listState.lf.meta.iterate((v) => void out.push(v));
    return out.sort(byCreated);
  },
};

/** Times every lister `reps` times (after one checked warm-up each), interleaved and in rotating
 * order so that drift hits all of them alike. Returns { name: [ms, ...] }. */
async function listRuns({ reps }) {
  const names = Object.keys(listers).filter((k) => k !== "raw desc getAll(prev)" || hasDirectionalGetAll());
  for (const name of names) {
    const items = await listers[name]();
    const desc = name.includes(" desc");
    const [first, last] = desc ? [listState.last, listState.first] : [listState.first, listState.last];
    if (items.length !== listState.n || items[0].id !== first || items[items.length - 1].id !== last) {
      throw new Error(`${name} returned ${items.length} records in the wrong order`);
    }
  }
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length];
      gc();
      const t0 = now();
      const items = await listers[name]();
      times[name].push(now() - t0);
      if (items.length !== listState.n) throw new Error(`${name} returned ${items.length} records`);
    }
  }
  return times;
}

// ---------------------------------------------------------------------------------------------
// 3. Finding the pending recordings among many synced ones

const pendingState = {};

/**
 * A fresh tapesync database with `synced` synced recordings and `pending` pending ones. The public
 * API cannot mark a recording synced yet (that comes with sync), so the synced records are written
 * straight into the `recordings` store (after `RecordingStore.open` created the schema), in the
 * exact `Recording` shape with `syncState: "synced", synced: true` and no audio. The pending ones
 * are saved through `store.save` (tiny blobs), spread over the same time range.
 */
async function pendingSetup({ label, synced, pending }) {
  const name = fresh(`pending-${label}`);
  const base = Date.UTC(2020, 0, 1);
  const step = 60000;
  let store = await RecordingStore.open({ name });
  store.close();
  store.free();
  const db = await openDb(`tapesync/${name}`);
  const records = Array.from({ length: synced }, (_, i) => storedRecord(i, base + i * step, "synced"));
  await putAll(db, records);
  store = await RecordingStore.open({ name });
  for (let i = 0; i < pending; i++) {
    const createdAt = base + Math.floor(((i + 0.5) * synced) / pending) * step + 1;
    await store.save(new Blob([`pending ${i}`], { type: "audio/webm" }), { name: `Pending ${i}`, createdAt });
  }
  await store.settled();
  const [p, s] = [await store.count({ syncState: "pending" }), await store.count({ syncState: "synced" })];
  if (p !== pending || s !== synced) throw new Error(`pending setup: ${p} pending, ${s} synced`);
  pendingState[label] = { name, store, db };
  return { pending: p, synced: s };
}

/** Times `store.list({ syncState: "pending" })` (and the raw index read, for reference) in the
 * databases `labels`, alternating between them: `samples` samples of `batch` calls each, the
 * per-call time of each sample. Returns { label: { tapesync: [ms...], raw: [ms...] } }. */
async function pendingRuns({ labels, samples, batch, expect }) {
  const range = IDBKeyRange.bound(["pending"], ["pending", []]);
  const ways = Object.fromEntries(labels.map((label) => {
    const { store, db } = pendingState[label];
    return [label, {
      tapesync: async () => (await store.list({ syncState: "pending" })).items,
      raw: () => promised(db.transaction("recordings").objectStore("recordings").index("bySyncState").getAll(range)),
    }];
  }));
  const times = Object.fromEntries(labels.map((label) => [label, { tapesync: [], raw: [] }]));
  for (const label of labels) {
    for (const [way, f] of Object.entries(ways[label])) {
      const items = await f(); // warm-up and check
      if (items.length !== expect || items.some((r) => r.syncState !== "pending")) {
        throw new Error(`${label} ${way}: ${items.length} items listed as pending`);
      }
    }
  }
  for (let s = 0; s < samples; s++) {
    for (const label of s % 2 ? [...labels].reverse() : labels) {
      for (const [way, f] of Object.entries(ways[label])) {
        gc();
        const t0 = now();
        for (let b = 0; b < batch; b++) await f();
        times[label][way].push((now() - t0) / batch);
      }
    }
  }
  return times;
}

async function pendingTeardown() {
  for (const [label, { name, store, db }] of Object.entries(pendingState)) {
    delete pendingState[label];
    store.close();
    store.free();
    db.close();
    await deleteDb(`tapesync/${name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Saving and hashing one big recording

/** The byte at offset `i` of the big recording's repeated chunk; bench/run.mjs computes the
 * expected SHA-256 from the same formula. */
function fillChunk(chunk) {
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i ^ (i >>> 8) ^ (i >>> 16) ^ 0x5a) & 255;
}

/** Saves a `mib` MiB recording built from one `chunkMib` MiB chunk repeated (the page never
 * holds the whole recording as one buffer) and waits for its content hash. Reports the wasm
 * memory size (`memory.buffer.byteLength` of init()'s output) at each step. */
async function bigSave({ mib, chunkMib }) {
  const chunk = new Uint8Array(chunkMib << 20);
  fillChunk(chunk);
  const blob = new Blob(Array(mib / chunkMib).fill(chunk), { type: "audio/webm" });
  const name = fresh("big");
  const mem = () => wasm.memory.buffer.byteLength;
  const store = await RecordingStore.open({ name });
  try {
    const before = mem();
    const t0 = now();
    const rec = await store.save(blob, { name: "Big" });
    const t1 = now();
    const afterSave = mem();
    await store.settled();
    const t2 = now();
    const afterSettled = mem();
    const stored = await store.get(rec.id);
    return {
      memoryAtInit,
      before,
      afterSave,
      afterSettled,
      saveMs: t1 - t0,
      hashMs: t2 - t1,
      size: stored.size,
      contentHash: stored.contentHash,
    };
  } finally {
    store.close();
    store.free();
    await deleteDb(`tapesync/${name}`);
  }
}

// ---------------------------------------------------------------------------------------------

async function env() {
  return {
    userAgent: navigator.userAgent,
    hasDirectionalGetAll: hasDirectionalGetAll(),
    hasGc: typeof window.gc === "function",
    memoryAtInit,
    crossOriginIsolated: window.crossOriginIsolated,
  };
}

/** Databases left in this origin (there should be none after a run). */
async function leftovers() {
  return (await indexedDB.databases()).map((d) => d.name);
}

window.bench = {
  env,
  saveRun,
  listSetup,
  listRuns,
  listTeardown,
  pendingSetup,
  pendingRuns,
  pendingTeardown,
  bigSave,
  leftovers,
};

// The building blocks, for ad-hoc profiling from bench/profile.mjs or the DevTools console.
window.benchLib = { RecordingStore, Dexie, localforage, savers, makeBlobs, openDb, rawSchema, recordFor, saveOptions, promised, completed, deleteDb, fresh, now, gc };
