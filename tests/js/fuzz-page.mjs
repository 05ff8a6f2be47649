// The in-page half of the API fuzzer (tests/js/fuzz.test.mjs): installed into a page by `page.evaluate(fuzzKit)`,
// then driven batch by batch with `fuzz.batch({ start, count })`. Every call goes through the public API as an
// app (or an extension, or a broken caller) would make it. `fuzz.batch` resolves
//   { calls, methods: { name: { ok, codes: { code: n } } }, violations: [..], panic }
// where a violation is anything but a resolved value or a TapesyncError with a documented code, a call that
// never settled, or a wasm trap (WebAssembly.RuntimeError: a panic, after which the module is dead).
export function fuzzKit(seed) {
  const CODES = ["InvalidArgument", "NotFound", "Conflict", "QuotaExceeded", "StorageUnavailable", "Closed", "Aborted",
    "Network", "Unauthorized", "Forbidden", "Remote", "Internal", "AudioNotHere", "Offline"];
  const { RecordingStore, FirebaseRemote, SupabaseRemote, S3Remote } = tapesync;

  // mulberry32: the same seed, the same calls.
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(rand() * n);
  const pick = (xs) => xs[int(xs.length)];
  const chance = (p) => rand() < p;

  const state = {
    stores: [], // open stores (as far as the fuzzer knows)
    closed: [], // stores it closed: every call must reject with Closed (or resolve, for sync getters)
    ids: ["fz-a", "fz-b", "fz-c", "fz-d"], // the ids concurrent calls fight over
    captures: [],
    autos: [],
    listeners: [],
    panics: [],
  };
  addEventListener("error", (e) => {
    if (e.error instanceof WebAssembly.RuntimeError) state.panics.push(`uncaught ${e.error.message}`);
  });
  addEventListener("unhandledrejection", (e) => {
    if (e.reason instanceof WebAssembly.RuntimeError) state.panics.push(`unhandled ${e.reason.message}`);
  });

  // ---- values ----
  const deep = (depth, array) => {
    const root = array ? [] : {};
    let o = root;
    for (let i = 0; i < depth; i++) {
      const next = array ? [] : {};
      if (array) o.push(next);
      else o.k = next;
      o = next;
    }
    return root;
  };
  const cyclic = () => {
    const o = { name: "loop", tags: ["t"] };
    o.self = o;
    o.custom = o;
    return o;
  };
  const cyclicArray = () => {
    const x = ["a"];
    x.push(x);
    return x;
  };
  const revoked = () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  };
  const trapProxy = () => new Proxy({}, {
    get() { throw new Error("get trap"); },
    has() { throw new Error("has trap"); },
    ownKeys() { throw new Error("ownKeys trap"); },
    getOwnPropertyDescriptor() { throw new Error("gOPD trap"); },
    getPrototypeOf() { throw new Error("getPrototypeOf trap"); },
  });
  const KEYS = ["id", "name", "mimeType", "durationMs", "createdAt", "tags", "custom", "limit", "cursor", "order", "syncState",
    "policy", "conflictCopies", "direction", "concurrency", "chunkSize", "signal", "bucket", "prefix", "getToken", "baseUrl",
    "timeoutMs", "url", "apikey", "endpoint", "region", "credentials", "presign", "pathStyle", "audioStorage", "onStart",
    "onOnline", "onVisible", "onChange", "intervalMs"];
  const throwingGetters = () => {
    const o = {};
    for (const k of KEYS) Object.defineProperty(o, k, { enumerable: true, get() { throw new Error(`getter ${k}`); } });
    return o;
  };
  // Each read gives another value (a valid one, then a wrong one, ...): a check and a use must read once.
  const changingGetters = () => {
    let n = 0;
    const o = {};
    const alternatives = { id: ["fz-a", 5], name: ["ok", { toString() { throw new Error("toString"); } }], tags: [["t"], "t"],
      custom: [{ k: 1 }, [1]], limit: [10, -1], cursor: [null, 42], order: ["asc", "sideways"], durationMs: [1000, -5],
      mimeType: ["audio/webm", 7], policy: ["merge", "worst"], concurrency: [4, 1e9], signal: [undefined, "abort"],
      bucket: ["b", null], getToken: [() => "t", "t"], baseUrl: ["http://127.0.0.1:9", "ftp://x"], createdAt: [1, "yesterday"] };
    for (const [k, vs] of Object.entries(alternatives)) {
      Object.defineProperty(o, k, { enumerable: true, get() { return vs[n++ % 2]; } });
    }
    return o;
  };
  const smallBlob = () => new Blob([new Uint8Array(1 + int(3000)).fill(int(256))], { type: pick(["audio/webm", "audio/ogg", "", "text/html", "x/y;z=\u0000"]) });
  // The kinds of values made since the last call: a call that misbehaves is reported with them.
  let made = [];
  const weird = () => {
    const k = int(WEIRD.length);
    const v = WEIRD[k]();
    made.push(k);
    return v;
  };
  const WEIRD = ([
    () => undefined, () => null, () => true, () => false, () => 0, () => -0, () => -1, () => 1.5, () => NaN, () => Infinity,
    () => -Infinity, () => 2 ** 53 + 2, () => 1e308, () => Number.MIN_VALUE, () => "", () => " ", () => "a", () => "\u0000",
    () => "\ud800", () => "😀".repeat(40), () => "../../etc", () => "fz-a", () => Symbol("s"), () => 10n, () => () => {},
    () => async () => { throw new Error("async fn"); }, () => class {}, () => new Date(NaN), () => new Date(8.64e15), () => /re/g,
    () => new Map([["name", "m"]]), () => new Set([1]), () => Object.create(null), () => Object.freeze({ name: "frozen" }),
    () => "x".repeat(pick([1025, 70_000, 1_000_000, 4_000_000])), () => Array(pick([257, 10_000, 200_000])).fill("t"),
    () => { const s = []; s[100_000] = "late"; return s; }, () => deep(pick([50, 2_000, 50_000])), () => deep(pick([50, 2_000, 50_000]), true),
    cyclic, cyclicArray, revoked, trapProxy, throwingGetters, changingGetters, () => new ArrayBuffer(16), () => new Uint8Array(5),
    () => new DataView(new ArrayBuffer(4)), () => smallBlob(), () => new File([new Uint8Array(10)], "f.webm", { type: "audio/webm" }),
    () => Promise.resolve("fz-a"), () => new Error("an error"), () => ({ toString() { throw new Error("toString"); } }),
    () => ({ valueOf() { throw new Error("valueOf"); } }), () => ({ [Symbol.toPrimitive]() { throw new Error("toPrimitive"); } }),
    () => new Proxy(["t"], {}), () => ({ length: 1e9 }), () => window, () => document.body, () => new AbortController().signal,
    () => AbortSignal.abort(), () => new WeakMap(), () => new Int32Array(1e5),
  ]);
  const any = () => (chance(0.5) ? weird() : pick([() => validId(), () => smallBlob(), () => ({}), () => saveOptions(), () => weird()])());
  const validId = () => (chance(0.8) ? pick(state.ids) : `fz-${int(1e6)}`);
  const id = () => (chance(0.7) ? validId() : weird());
  const blob = () => (chance(0.75) ? smallBlob() : weird());
  /** A plausible options object, with one field (or several) wrong now and then. */
  const fill = (base) => {
    if (chance(0.3)) return base;
    const o = { ...base };
    for (let i = 0, n = 1 + int(3); i < n; i++) o[pick(KEYS)] = any();
    return o;
  };
  const saveOptions = () => fill({ id: validId(), name: `take ${int(100)}`, tags: ["x"], custom: { k: int(5) }, durationMs: int(1e6) });
  const options = (base = {}) => (chance(0.15) ? weird() : fill(base));
  const deadRemote = () => new FirebaseRemote({ bucket: "fuzz.appspot.com", prefix: "users/fuzz/recordings", getToken: () => "t", baseUrl: "http://127.0.0.1:9", timeoutMs: 1000 });
  const remote = () => (chance(0.6) ? deadRemote() : weird());
  const syncOptions = () => {
    const o = options({ policy: pick(["merge", "local-wins", "cloud-wins"]) });
    // Syncs against the dead remote end soon: cancelled, or out of tries.
    if (o && typeof o === "object" && chance(0.9)) {
      try {
        if (!Object.isFrozen(o)) o.signal = AbortSignal.timeout(int(80));
      } catch {
        // A revoked Proxy, a getter-only object: keep it as it is.
      }
    }
    return o;
  };

  // ---- calls ----
  const store = () => (chance(0.05) && state.closed.length ? { s: pick(state.closed), closed: true } : state.stores.length ? { s: pick(state.stores), closed: false } : null);
  const reentrant = (s) => Object.assign(() => {
    // A listener that calls the store back, synchronously, from inside the event (and never awaits it).
    const calls = [() => s.list({ limit: 3 }), () => s.count(), () => s.get(validId()), () => s.update(validId(), { name: "from a listener" }),
      () => s.delete(validId()), () => s.save(smallBlob(), { id: validId() }), () => s.setOnline(chance(0.5)), () => s.settled()];
    for (let i = 0, n = int(3); i < n; i++) {
      try {
        const p = pick(calls)();
        if (p && typeof p.then === "function") track("listener call", p);
      } catch (e) {
        judge("listener call", e);
      }
    }
  }, { reentrant: true });

  let pending = [];
  let out;
  const methodStats = (name) => (out.methods[name.split(" [")[0]] ??= { ok: 0, codes: {} });
  const describe = (e) => {
    try {
      return `${e?.constructor?.name ?? typeof e} ${e?.name ?? ""} ${e?.code ?? ""}: ${String(e?.message ?? e).slice(0, 200)}`;
    } catch {
      return "(undescribable)";
    }
  };
  function judge(name, e, closedStore) {
    const m = methodStats(name);
    if (e instanceof WebAssembly.RuntimeError) {
      out.panic = true;
      out.violations.push(`${name}: wasm trap (panic): ${describe(e)}`);
      return;
    }
    if (e?.name !== "TapesyncError" || !CODES.includes(e.code) || typeof e.message !== "string") {
      out.violations.push(`${name}: not a TapesyncError with a documented code: ${describe(e)}`);
      return;
    }
    if (closedStore && !["Closed", "InvalidArgument"].includes(e.code)) out.violations.push(`${name} on a closed store: ${e.code} (${e.message.slice(0, 120)})`);
    m.codes[e.code] = (m.codes[e.code] ?? 0) + 1;
  }
  function track(name, p, closedStore, then) {
    let settled = false;
    const done = p.then(
      (v) => {
        settled = true;
        methodStats(name).ok++;
        then?.(v);
      },
      (e) => {
        settled = true;
        judge(name, e, closedStore);
      },
    );
    pending.push({ name, done, settled: () => settled });
  }
  /** Makes one call: `fn()` may throw, return a value, or return a promise. */
  function call(name, fn, closedStore, then) {
    out.calls++;
    made = [];
    let r;
    let threw = false;
    let error;
    try {
      r = fn();
    } catch (e) {
      threw = true;
      error = e;
    }
    // The values it was given (indexes into WEIRD): what a report of it names.
    if (made.length) name = `${name} [values ${made.map((k) => `#${k} ${WEIRD[k].toString().replace(/\s+/g, " ").slice(0, 60)}`).join("; ")}]`;
    made = [];
    if (threw) {
      judge(name, error, closedStore);
      return;
    }
    if (r && typeof r.then === "function") track(name, r, closedStore, then);
    else {
      methodStats(name).ok++;
      then?.(r);
    }
  }

  const ACTIONS = [
    [8, () => call("RecordingStore.open", () => RecordingStore.open(chance(0.7) ? { name: `fz-${int(3)}`, audioStorage: pick([undefined, "auto", "chunks"]) } : options({ name: "fz-0" })), false,
      (s) => { if (s) state.stores.push(s); })],
    [2, () => {
      const name = chance(0.5) ? `fz-gone-${int(5)}` : chance(0.5) ? `fz-${int(3)}` : null;
      const open = state.stores.length;
      call(`RecordingStore.destroy(${name ?? "?"}, ${open} open)`, () => RecordingStore.destroy(name ?? weird()));
    }],
    [12, (x) => call("save", () => x.s.save(blob(), chance(0.8) ? saveOptions() : weird()), x.closed)],
    [8, (x) => call("get", () => x.s.get(id()), x.closed)],
    [5, (x) => call("getBlob", () => x.s.getBlob(id()), x.closed)],
    [6, (x) => call("list", () => x.s.list(options({ limit: 1 + int(20), order: pick(["asc", "desc"]) })), x.closed)],
    [4, (x) => call("count", () => x.s.count(options({ syncState: pick(["pending", "synced", "failed"]) })), x.closed)],
    [9, (x) => call("update", () => x.s.update(id(), options({ name: `edit ${int(9)}`, tags: ["e"], custom: { e: int(9) } })), x.closed)],
    [5, (x) => call("replaceAudio", () => x.s.replaceAudio(id(), blob()), x.closed)],
    [6, (x) => call("delete", () => x.s.delete(id()), x.closed)],
    [2, (x) => call("retry", () => x.s.retry(id()), x.closed)],
    [1, (x) => call("estimate", () => x.s.estimate(), x.closed)],
    [1, (x) => call("settled", () => x.s.settled(), x.closed)],
    [3, (x) => call("startCapture", () => x.s.startCapture(options({ mimeType: "audio/webm", name: "cap" })), x.closed, (c) => { if (c) state.captures.push(c); })],
    [2, (x) => call("listCaptures", () => x.s.listCaptures(), x.closed, (cs) => { if (Array.isArray(cs)) state.captures.push(...cs.slice(0, 2)); })],
    [5, () => { const c = state.captures.length ? pick(state.captures) : null; if (c) call("capture.append", () => c.append(blob())); }],
    [2, () => { const c = state.captures.length ? pick(state.captures) : null; if (c) call("capture.finish", () => c.finish(chance(0.7) ? options({ durationMs: 1000 }) : weird())); }],
    [1, () => { const c = state.captures.length ? pick(state.captures) : null; if (c) call("capture.discard", () => c.discard()); }],
    [1, () => { const c = state.captures.length ? pick(state.captures) : null; if (c) call("capture.info", () => [c.id, c.info]); }],
    [3, (x) => call("addEventListener", () => {
      // Wrong listeners are refused at the call; a function given as a listener is the app's code, and one that
      // throws (a class, an async function that rejects) is the app's uncaught error, not tapesync's: the
      // listeners that get called are the re-entrant ones.
      let l = chance(0.8) ? reentrant(x.s) : weird();
      if (typeof l === "function" && !l.reentrant) l = reentrant(x.s);
      const kind = chance(0.8) ? pick(["change", "syncstate", "syncprogress", "syncfailure", "networkchange", "syncconflict", "restored"]) : weird();
      x.s.addEventListener(kind, l, chance(0.2) ? weird() : undefined);
      state.listeners.push([x.s, kind, l]);
    }, x.closed)],
    [1, () => { const l = state.listeners.length ? pick(state.listeners) : null; if (l) call("removeEventListener", () => l[0].removeEventListener(l[1], l[2])); }],
    [4, (x) => call(pick(["sync", "push", "pull"]), () => x.s[pick(["sync", "push", "pull"])](remote(), syncOptions()), x.closed)],
    [1, (x) => call("autoSync", () => x.s.autoSync(remote(), options({ onStart: false, intervalMs: 0 })), x.closed, (h) => { if (h) state.autos.push(h); })],
    [2, (x) => call("setOnline", () => x.s.setOnline(chance(0.5) ? chance(0.5) : weird()), x.closed)],
    [1, (x) => call("resetSync", () => x.s.resetSync(), x.closed)],
    [2, (x) => call("fetchAudio", () => x.s.fetchAudio(chance(0.7) ? [id(), id()] : weird(), remote()), x.closed)],
    [2, (x) => call("evict", () => x.s.evict(chance(0.7) ? options({ keepBytes: int(100_000) }) : weird()), x.closed)],
    [1, (x) => call("setMetered", () => x.s.setMetered(chance(0.5) ? chance(0.5) : weird()), x.closed)],
    [1, (x) => call("deviceId", () => [x.s.deviceId, x.s.audioStorage], x.closed)],
    [1, (x) => { if (!x.closed && chance(0.3)) { call("close", () => x.s.close()); state.stores = state.stores.filter((s) => s !== x.s); state.closed.push(x.s); } }],
    [3, () => call(pick(["FirebaseRemote", "SupabaseRemote", "S3Remote"]), () => {
      const C = pick([FirebaseRemote, SupabaseRemote, S3Remote]);
      return new C(options(pick([
        { bucket: "b.appspot.com", prefix: "users/u/recordings", getToken: () => "t", baseUrl: "http://127.0.0.1:9" },
        { url: "http://127.0.0.1:9", apikey: "k", bucket: "recordings", prefix: "users/u/recordings", getToken: () => "t" },
        { endpoint: "http://127.0.0.1:9", region: "us-east-1", bucket: "b", prefix: "users/u/r", credentials: () => ({ accessKeyId: "a", secretAccessKey: "s" }) },
      ])));
    })],
  ];
  const total = ACTIONS.reduce((s, [w]) => s + w, 0);
  const act = () => {
    let x = rand() * total;
    for (const [w, fn] of ACTIONS) {
      x -= w;
      if (x < 0) {
        const st = store();
        if (!st && fn.length > 0) return call("RecordingStore.open", () => RecordingStore.open({ name: "fz-0" }), false, (s) => state.stores.push(s));
        return fn(st);
      }
    }
  };

  async function settleAll(ms) {
    const deadline = Date.now() + ms;
    while (pending.some((p) => !p.settled()) && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 20));
    for (const p of pending) if (!p.settled()) out.violations.push(`${p.name} never settled (${ms} ms)`);
    pending = [];
  }

  /** Every open store: each listed recording has its audio, of its size; counts match the lists. */
  async function consistency() {
    const problems = [];
    for (const s of state.stores) {
      try {
        const items = (await s.list()).items;
        const n = await s.count();
        if (n !== items.length) problems.push(`count() ${n} but list() ${items.length}`);
        let byState = 0;
        for (const st of ["pending", "uploading", "synced", "conflict", "failed"]) byState += await s.count({ syncState: st });
        if (byState !== n) problems.push(`counts per syncState add up to ${byState}, count() is ${n}`);
        for (const r of items) {
          const b = await s.getBlob(r.id);
          if (!b) problems.push(`${r.id} is listed without audio`);
          else if (b.size !== r.size) problems.push(`${r.id}: audio of ${b.size} bytes, listed as ${r.size}`);
          const got = await s.get(r.id);
          if (!got || got.id !== r.id) problems.push(`${r.id} is listed but get() gives ${JSON.stringify(got)}`);
        }
        const paged = [];
        let cursor = null;
        do {
          const page = await s.list({ limit: 7, cursor });
          paged.push(...page.items.map((r) => r.id));
          cursor = page.cursor;
        } while (cursor);
        if (paged.length !== items.length || new Set(paged).size !== paged.length) problems.push(`paging lists ${paged.length} (${new Set(paged).size} distinct), list() ${items.length}`);
      } catch (e) {
        problems.push(`checking a store: ${describe(e)}`);
        if (e instanceof WebAssembly.RuntimeError) out.panic = true;
      }
    }
    return problems;
  }

  /** The module still works: a fresh store saves, reads and deletes. */
  async function health() {
    try {
      const s = await RecordingStore.open({ name: "fz-health" });
      const blob = new Blob([new Uint8Array([1, 2, 3, 4])], { type: "audio/webm" });
      const r = await s.save(blob);
      const back = await s.getBlob(r.id);
      const bytes = new Uint8Array(await back.arrayBuffer());
      await s.delete(r.id);
      const left = await s.count();
      s.close();
      if (bytes.join() !== "1,2,3,4" || left !== 0) return `the module misbehaves: read ${bytes.join()}, ${left} left`;
      return null;
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) out.panic = true;
      return `the module is unusable: ${describe(e)}`;
    }
  }

  window.fuzz = {
    /** `count` calls, CONCURRENCY at a time, then a settle, the module's health and the stores' consistency. */
    async batch({ count, concurrency = 12, settleMs = 30_000 }) {
      out = { calls: 0, methods: {}, violations: [], panic: false };
      let made = 0;
      while (made < count && !out.panic) {
        for (let i = 0; i < concurrency && made < count; i++, made++) act();
        await settleAll(settleMs);
      }
      for (const h of state.autos.splice(0)) {
        try {
          h.stop();
        } catch (e) {
          judge("autoSync.stop", e);
        }
      }
      // Not too many store instances to check: the oldest are closed (calls on them go on, as on any closed store).
      while (state.stores.length > 6) {
        const s = state.stores.shift();
        s.close();
        state.closed.push(s);
      }
      state.closed = state.closed.slice(-6);
      // Captures that were finished or discarded only reject from now on: keep a few.
      state.captures = state.captures.slice(-4);
      for (const p of state.panics.splice(0)) {
        out.panic = true;
        out.violations.push(`a wasm trap outside any call: ${p}`);
      }
      const sick = await health();
      if (sick) out.violations.push(sick);
      for (const p of await consistency()) out.violations.push(`inconsistent database: ${p}`);
      out.stores = state.stores.length;
      return out;
    },
    async recordings() {
      let n = 0;
      for (const s of state.stores) n += await s.count().catch(() => 0);
      return n;
    },
  };
}
