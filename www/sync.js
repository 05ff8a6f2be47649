// Sync with Firebase Storage (or Supabase Storage or S3, see config.js's BACKEND): a button, and auto-sync at
// start, when the network returns, when the app becomes visible, a couple of seconds after each local
// change (a clip recorded, renamed or deleted) and every hour. Builds without sync still record and play.
import { BACKEND, CONFIG } from "./config.js";

/** Whether this build of tapesync can sync with the chosen cloud. */
export const syncSupported = (lib) =>
  typeof ({ supabase: lib.SupabaseRemote, s3: lib.S3Remote }[BACKEND] ?? lib.FirebaseRemote) === "function";

/**
 * S3's presign callback for user `uid`: the demo server signs the request (POST /sign) and answers the URL.
 * A refusal (403 outside users/{uid}/) rejects, which tapesync reports as Unauthorized.
 */
function presignFor(uid) {
  return async (request) => {
    const res = await fetch(CONFIG.s3.signUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "x-demo-user": uid },
      body: JSON.stringify(request),
      cache: "no-store",
      signal: AbortSignal.timeout(15000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`the sign route refused (HTTP ${res.status}: ${text.slice(0, 200)})`);
    return text;
  };
}

/** The remote of the chosen cloud for user `uid` (`s3`: { endpoint, region, bucket } for S3). */
function makeRemote(lib, uid, getToken, s3) {
  if (BACKEND === "s3") {
    const { endpoint, region, bucket } = s3;
    return new lib.S3Remote({ endpoint, region, bucket, prefix: CONFIG.prefix(uid), presign: presignFor(uid) });
  }
  if (BACKEND === "supabase") {
    const { url, anonKey, bucket } = CONFIG.supabase;
    return new lib.SupabaseRemote({ url, apikey: anonKey, bucket, prefix: CONFIG.prefix(uid), getToken });
  }
  return new lib.FirebaseRemote({ bucket: CONFIG.bucket, prefix: CONFIG.prefix(uid), getToken, baseUrl: CONFIG.storageBaseUrl });
}

export const POLICIES = {
  merge: "Merge (newest edit wins)",
  "local-wins": "This device wins",
  "cloud-wins": "Cloud wins",
};

/**
 * One user's sync. Events (on this object): "state" { state, report, error }, "progress" { id, phase, sent,
 * total }, as the store reports them, plus the report of a sync started with the button.
 */
export class SyncController extends EventTarget {
  #lib;
  #store;
  #remote;
  #auto = null;
  #policy;
  #listeners = [];

  /**
   * `getToken`: () => Promise<string>, a Firebase ID token for `uid` (Supabase: its access token; S3: unused).
   * `s3`: where the S3 is ({ endpoint, region, bucket }), for BACKEND "s3".
   */
  constructor({ lib, store, uid, getToken, policy = "merge", s3 = null }) {
    super();
    this.#lib = lib;
    this.#store = store;
    this.#policy = policy;
    this.#remote = makeRemote(lib, uid, getToken, s3);
    const forward = (kind, as) => {
      const listener = (e) => this.dispatchEvent(new CustomEvent(as, { detail: e.detail }));
      store.addEventListener(kind, listener);
      this.#listeners.push([kind, listener]);
    };
    forward("syncstate", "state");
    forward("syncprogress", "progress");
  }

  get auto() { return this.#auto !== null; }
  get policy() { return this.#policy; }

  /**
   * Turns auto-sync on; `now` also syncs right away (the "start" trigger). onChange is left at its
   * default (true): a clip recorded online is pushed after a short quiet period, with no button pressed.
   */
  startAuto({ now = true } = {}) {
    this.stopAuto();
    this.#auto = this.#store.autoSync(this.#remote, {
      onStart: now,
      onOnline: true,
      onVisible: true,
      intervalMs: CONFIG.syncIntervalMs,
      policy: this.#policy,
    });
  }

  stopAuto() {
    this.#auto?.stop();
    this.#auto = null;
  }

  /** Changes the conflict policy of the next syncs (auto-sync restarts with it, without syncing now). */
  setPolicy(policy) {
    this.#policy = policy;
    if (this.#auto) this.startAuto({ now: false });
  }

  /** Syncs now, both ways; resolves to the report { pushed, pulled, deleted, conflicts, failed }. */
  async syncNow() {
    this.dispatchEvent(new CustomEvent("state", { detail: { state: "syncing" } }));
    try {
      const report = await this.#store.sync(this.#remote, { policy: this.#policy, direction: "both", concurrency: 4 });
      this.dispatchEvent(new CustomEvent("state", { detail: { state: "idle", report } }));
      return report;
    } catch (error) {
      this.dispatchEvent(new CustomEvent("state", { detail: { state: navigator.onLine ? "error" : "offline", error } }));
      throw error;
    }
  }

  /** Stops auto-sync and lets go of the store's events. */
  close() {
    this.stopAuto();
    for (const [kind, listener] of this.#listeners) this.#store.removeEventListener(kind, listener);
    this.#listeners = [];
  }
}
