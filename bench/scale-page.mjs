// The scale benchmarks' page side (bench/scale.html), driven by bench/scale.mjs through
// `window.scale`. Everything goes through tapesync's public API; the runner counts the page's
// requests to the local Supabase (playwright's `request` event).
import init, * as tapesync from "/pkg/tapesync.js";

const now = () => performance.now();
const stores = new Map();
let remote = null;

/** The longest main-thread tasks seen since `watch()` (PerformanceObserver `longtask`). */
const tasks = { longest: 0, over50: 0, total: 0, observer: null };

function watch() {
  tasks.observer?.disconnect();
  Object.assign(tasks, { longest: 0, over50: 0, total: 0 });
  if (!PerformanceObserver.supportedEntryTypes?.includes("longtask")) return false;
  tasks.observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      tasks.longest = Math.max(tasks.longest, e.duration);
      tasks.total += e.duration;
      if (e.duration > 50) tasks.over50++;
    }
  });
  tasks.observer.observe({ type: "longtask" });
  return true;
}

/** Small, distinct audio: `size` pseudo-random bytes from `seed`. */
function audio(seed, size) {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 255;
  }
  return new Blob([out], { type: "audio/webm" });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs `f` `reps` times; the median time in ms. */
async function timed(reps, f) {
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t = now();
    await f(i);
    times.push(now() - t);
  }
  return median(times);
}

window.scale = {
  ready: init().then(() => true),

  setRemote(c) {
    remote = new tapesync.SupabaseRemote({ url: c.url, apikey: c.apikey, bucket: c.bucket, prefix: c.prefix, getToken: async () => c.token });
  },

  async open(name, options = {}) {
    stores.set(name, await tapesync.RecordingStore.open({ name, ...options }));
  },

  deviceId: (name) => stores.get(name).deviceId,

  close(name) {
    stores.get(name)?.close();
    stores.delete(name);
  },

  /** Saves `n` recordings of `size` bytes, `batch` at a time; then waits for the hashing. */
  async fill(name, n, size, batch = 250) {
    const store = stores.get(name);
    const t = now();
    for (let i = 0; i < n; i += batch) {
      const k = Math.min(batch, n - i);
      await Promise.all(Array.from({ length: k }, (_, j) =>
        store.save(audio(i + j + 1, size), { name: `take ${i + j}`, tags: ["bench"], durationMs: 1000 + j })));
    }
    const saved = now() - t;
    await store.settled();
    const hashed = now() - t - saved;
    // Let the database's background work after thousands of writes (LevelDB compaction) settle
    // before anything is timed.
    await new Promise((ok) => setTimeout(ok, 3000));
    return { saved, hashed };
  },

  /** One sync; `{ ms, report, tasks }`. `watchTasks`: observe long tasks during it. */
  async sync(name, options = {}, watchTasks = false) {
    const store = stores.get(name);
    const observing = watchTasks && watch();
    const t = now();
    const report = await store.sync(remote, options);
    const ms = now() - t;
    await new Promise((ok) => setTimeout(ok, 50)); // the observer's last entries
    tasks.observer?.disconnect();
    return { ms, report, tasks: observing ? { ...tasks, observer: undefined } : null };
  },

  /**
   * A first pull on a new device, stopped once the metadata has landed: when the round leaves the
   * pull stage (every segment applied and committed) it is cancelled, before any audio download.
   */
  async firstPull(name) {
    const store = stores.get(name);
    const observing = watch();
    const ctl = new AbortController();
    let landed = null;
    const t = now();
    const onProgress = (e) => {
      const s = e.detail.stage;
      if (landed == null && s && s !== "pull" && s !== "flush") {
        landed = now() - t;
        ctl.abort();
      }
    };
    store.addEventListener("syncprogress", onProgress);
    const report = await store.sync(remote, { direction: "pull", signal: ctl.signal }).catch((e) => ({ error: e.code }));
    store.removeEventListener("syncprogress", onProgress);
    await new Promise((ok) => setTimeout(ok, 50));
    tasks.observer?.disconnect();
    return { landed, ms: now() - t, report, tasks: observing ? { ...tasks, observer: undefined } : null };
  },

  /** The figures of one store: medians of `reps` runs each. */
  async measure(name, reps) {
    const store = stores.get(name);
    const out = {};
    out.count = await timed(reps, () => store.count());
    out.countPending = await timed(reps, () => store.count({ syncState: "pending" }));
    out.listFirstPage = await timed(reps, () => store.list({ limit: 50 }));
    out.listAll = await timed(Math.min(reps, 3), () => store.list());
    const { items } = await store.list({ limit: reps * 2, order: "asc" });
    out.update = await timed(reps, (i) => store.update(items[i].id, { name: `edited ${i}` }));
    out.findPending = await timed(reps, () => store.list({ syncState: "pending", limit: 50 }));
    let seed = 1e7;
    out.save = await timed(reps, () => store.save(audio(seed++, 64), { name: "one more" }));
    out.total = await store.count();
    out.pending = await store.count({ syncState: "pending" });
    return out;
  },

  longtaskSupported: () => PerformanceObserver.supportedEntryTypes?.includes("longtask") ?? false,
};
