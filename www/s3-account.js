// The demo's "account" for `BACKEND=s3 make demo`: just a user id of the local S3 (alice or bob), kept in
// localStorage, with the same interface as auth.js's Firebase Account.
//
// The demo has no S3 identity provider: the page says which user it is, and the demo server's presign
// backend (scripts/s3-sign.mjs, POST /sign) signs requests under users/{that id}/ only. An app's real backend
// takes the id from its own session instead. No S3 credentials ever reach the page.
//
// - A first start uses the first user of the local S3 (alice). "Use this user" switches to another one; a
//   second browser profile that picks the same id sees the same recordings.
// - Where the S3 endpoint is comes from the demo server (GET /s3-config: endpoint, region, bucket, users),
//   cached in localStorage so an offline start opens the same user's recordings.
import { AuthError } from "./auth.js";
import { CONFIG } from "./config.js";

const PROFILE_KEY = "tapesync-demo/s3-account";
const CONFIG_KEY = "tapesync-demo/s3-config";

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key));
  } catch {
    return null;
  }
}

/** A usable /s3-config answer (nothing from the network is trusted blindly), or null. */
function validConfig(c) {
  const ok = c && typeof c.endpoint === "string" && typeof c.region === "string" && typeof c.bucket === "string" &&
    Array.isArray(c.users) && c.users.every((u) => typeof u === "string");
  return ok ? { endpoint: c.endpoint, region: c.region, bucket: c.bucket, users: c.users } : null;
}

function refusal(message) {
  const err = new AuthError("UNKNOWN_USER", 0);
  err.message = message;
  return err;
}

/** The chosen local S3 user (see auth.js's Account for the interface). Emits "change" when the user changes. */
export class S3Account extends EventTarget {
  #uid = typeof readJson(PROFILE_KEY)?.uid === "string" ? readJson(PROFILE_KEY).uid : null;
  #config = validConfig(readJson(CONFIG_KEY));
  #loading = null;

  /** Choosing another user makes this device that user's (nothing is linked). */
  get linkKeepsUser() { return false; }
  get uid() { return this.#uid; }
  /** Shown where the other backends show the email. */
  get email() { return this.#uid; }
  get isAnonymous() { return false; }
  get lost() { return false; }
  /** Whether the S3 endpoint is known (sync can start). */
  get ready() { return this.#config != null; }
  /** { endpoint, region, bucket, users } of the local S3, or null before the first /s3-config online. */
  get config() { return this.#config; }
  get users() { return this.#config?.users ?? []; }

  /** Asks the demo server where the S3 is; keeps the last answer for offline starts. */
  async loadConfig() {
    this.#loading ??= (async () => {
      let answer = null;
      try {
        const res = await fetch(CONFIG.s3.configUrl, { cache: "no-store", signal: AbortSignal.timeout(5000) });
        if (res.ok) answer = validConfig(await res.json());
      } catch {
        // offline, or not served: the cached copy (if any) stays
      }
      if (answer) {
        this.#config = answer;
        localStorage.setItem(CONFIG_KEY, JSON.stringify(answer));
      }
      if (!this.#config) throw new AuthError("Network", 0);
      return this.#config;
    })().finally(() => { this.#loading = null; });
    return this.#loading;
  }

  #adopt(uid) {
    const changed = uid !== this.#uid;
    this.#uid = uid;
    localStorage.setItem(PROFILE_KEY, JSON.stringify({ uid }));
    if (changed) this.dispatchEvent(new Event("change"));
  }

  /** A first start: the local S3's first user. */
  async signUpAnonymously() {
    const { users } = await this.loadConfig();
    if (!users.length) throw refusal("The local S3 has no users.");
    this.#adopt(users[0]);
  }

  /** Makes `id` (one of the local S3's users) this device's user. */
  async signIn(id) {
    const { users } = await this.loadConfig();
    if (!users.includes(id)) throw refusal(`No such user here; the local S3's users are ${users.join(", ")}.`);
    this.#adopt(id);
  }

  /** Forgets the user on this device. */
  forget() {
    this.#uid = null;
    localStorage.removeItem(PROFILE_KEY);
    this.dispatchEvent(new Event("change"));
  }

  /** The user id, once the S3 endpoint is known (the presign callback sends it to /sign). */
  async idToken() {
    if (!this.#uid) throw new AuthError("NOT_SIGNED_IN", 0);
    if (!this.#config) await this.loadConfig();
    return this.#uid;
  }

  tokenSource() {
    return () => this.idToken();
  }
}
