// The user's Supabase account, over Supabase Auth's REST API (/auth/v1: sign-up, the password grant and the
// refresh-token grant), with the same interface as auth.js's Firebase Account, for `BACKEND=supabase make demo`.
//
// - A first start signs up a guest: an account with a generated email and password that nobody types. Recordings
//   sync at once, with no form to fill.
// - "Add email & password" signs up an account with that email and password and makes it this device's user;
//   the app brings the guest's recordings along (Supabase Auth's own way, PUT /auth/v1/user on an anonymous user,
//   is not served by the local Supabase). Another device then signs in with them and sees the same recordings.
// - The user id, email and refresh token stay in localStorage so the same user comes back after a reload.
//   Access tokens stay in memory. Tokens and passwords are never logged or shown.
import { AuthError } from "./auth.js";
import { CONFIG } from "./config.js";

const PROFILE_KEY = "tapesync-demo/supabase-account";
// Refresh an access token this long before it expires.
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;
// Supabase Auth's error codes, as the Firebase codes auth.js has messages for.
const CODES = {
  user_already_exists: "EMAIL_EXISTS",
  email_exists: "EMAIL_EXISTS",
  invalid_credentials: "INVALID_LOGIN_CREDENTIALS",
  weak_password: "WEAK_PASSWORD",
  validation_failed: "INVALID_EMAIL",
  refresh_token_not_found: "INVALID_REFRESH_TOKEN",
  user_not_found: "USER_NOT_FOUND",
};

async function call(path, body, { timeoutMs = 15000 } = {}) {
  let res;
  try {
    res = await fetch(`${CONFIG.supabase.url}/auth/v1/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", apikey: CONFIG.supabase.anonKey },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch {
    throw new AuthError("Network", 0);
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const code = data?.error_code ?? data?.code;
    throw new AuthError(CODES[code] ?? String(code ?? `HTTP_${res.status}`), res.status);
  }
  return data;
}

function loadProfile() {
  try {
    const p = JSON.parse(localStorage.getItem(PROFILE_KEY));
    return p && typeof p.uid === "string" && typeof p.refreshToken === "string" ? p : null;
  } catch {
    return null;
  }
}

const randomText = () => Array.from(crypto.getRandomValues(new Uint8Array(18)), (b) => b.toString(16).padStart(2, "0")).join("");

/** The signed-in user (see auth.js's Account for the interface). Emits "change" when the user or email changes. */
export class SupabaseAccount extends EventTarget {
  #profile = loadProfile();
  #accessToken = null;
  #expiresAt = 0;
  #refreshing = null;
  #lost = false;

  /** "Add email & password" makes another user (the app then moves the guest's recordings to it). */
  get linkKeepsUser() { return false; }
  get uid() { return this.#profile?.uid ?? null; }
  get email() { return this.#profile?.guest ? null : (this.#profile?.email ?? null); }
  get isAnonymous() { return this.#profile != null && this.#profile.guest === true; }
  get lost() { return this.#lost; }

  #adopt(session, guest) {
    const uid = session.user?.id;
    const email = session.user?.email ?? null;
    const changed = uid !== this.uid || (guest ? null : email) !== this.email;
    this.#profile = { uid, refreshToken: session.refresh_token, email, guest };
    localStorage.setItem(PROFILE_KEY, JSON.stringify(this.#profile));
    this.#accessToken = session.access_token;
    this.#lost = false;
    this.#expiresAt = Date.now() + Number(session.expires_in ?? 3600) * 1000;
    if (changed) this.dispatchEvent(new Event("change"));
  }

  /** Signs up a guest (generated email and password, never shown) and makes it the current user. */
  async signUpAnonymously() {
    const id = randomText();
    const session = await call("signup", { email: `guest-${id.slice(0, 12)}@guest.example.com`, password: randomText() });
    this.#adopt(session, true);
  }

  /** Signs in to an existing email/password account. */
  async signIn(email, password) {
    this.#adopt(await call("token?grant_type=password", { email, password }), false);
  }

  /** Creates an account with this email and password and makes it the current user (a new user id). */
  async linkEmail(email, password) {
    if (!password || password.length < 6) throw new AuthError("WEAK_PASSWORD", 422);
    this.#adopt(await call("signup", { email, password }), false);
  }

  /** Forgets the user on this device (the account itself stays). */
  forget() {
    this.#profile = null;
    this.#accessToken = null;
    localStorage.removeItem(PROFILE_KEY);
    this.dispatchEvent(new Event("change"));
  }

  /** An access token valid for at least a few minutes; `fresh` forces a new one (after a 401). */
  async idToken({ fresh = false } = {}) {
    if (!this.#profile) throw new AuthError("NOT_SIGNED_IN", 0);
    if (this.#lost) throw new AuthError("USER_NOT_FOUND", 400);
    if (!fresh && this.#accessToken && this.#expiresAt - Date.now() > EXPIRY_MARGIN_MS) return this.#accessToken;
    this.#refreshing ??= (async () => {
      const uid = this.uid;
      let session;
      try {
        session = await call("token?grant_type=refresh_token", { refresh_token: this.#profile.refreshToken });
      } catch (err) {
        if (err.lost && this.uid === uid) {
          this.#lost = true;
          this.#accessToken = null;
        }
        throw err;
      }
      if (this.uid === uid) this.#adopt(session, this.#profile.guest);
      return session.access_token;
    })().finally(() => { this.#refreshing = null; });
    return this.#refreshing;
  }

  /** A `getToken` for SupabaseRemote: every call after the first one forces a refresh (it asks after a 401). */
  tokenSource() {
    let calls = 0;
    return () => this.idToken({ fresh: calls++ > 0 });
  }
}
