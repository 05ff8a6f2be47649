// The user's Firebase account, over the Auth REST API (no SDK needed for what the demo does).
//
// - A first start signs up anonymously: recordings sync at once, with no form to fill.
// - "Add email & password" links that anonymous account to an email and password (same uid, so nothing
//   moves); another device then signs in with them and sees the same recordings.
// - The uid, email and refresh token stay in localStorage so the same user comes back after a reload.
//   ID tokens stay in memory. Tokens are never logged or shown.
import { CONFIG } from "./config.js";

const PROFILE_KEY = "tapesync-demo/account";
// Refresh an ID token this long before it expires.
const EXPIRY_MARGIN_MS = 5 * 60 * 1000;
// Answers of the token endpoint that mean the account is gone (deleted, disabled, or the emulator was
// restarted and forgot it): signing in again is the only way on.
const LOST = new Set(["INVALID_REFRESH_TOKEN", "USER_NOT_FOUND", "USER_DISABLED", "TOKEN_EXPIRED", "INVALID_ID_TOKEN"]);

const MESSAGES = {
  EMAIL_EXISTS: "That email already belongs to an account. Sign in with it instead.",
  EMAIL_NOT_FOUND: "No account has that email.",
  INVALID_PASSWORD: "Wrong password.",
  INVALID_LOGIN_CREDENTIALS: "Wrong email or password.",
  INVALID_EMAIL: "That is not an email address.",
  WEAK_PASSWORD: "The password needs at least 6 characters.",
  MISSING_PASSWORD: "Enter a password.",
  MISSING_EMAIL: "Enter an email.",
  TOO_MANY_ATTEMPTS_TRY_LATER: "Too many attempts; try again later.",
  CREDENTIAL_TOO_OLD_LOGIN_AGAIN: "Sign in again, then retry.",
  Network: "The sign-in service cannot be reached (offline?).",
};

/** A failed Auth call: `code` is the service's error code (e.g. EMAIL_EXISTS) or "Network". */
export class AuthError extends Error {
  constructor(code, status) {
    super(MESSAGES[code] ?? `Sign-in failed (${code}).`);
    this.name = "AuthError";
    this.code = code;
    this.status = status;
    this.lost = LOST.has(code);
  }
}

async function call(url, body, { form = false, timeoutMs = 15000 } = {}) {
  let res;
  try {
    res = await fetch(`${url}?key=${encodeURIComponent(CONFIG.apiKey)}`, {
      method: "POST",
      headers: { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" },
      body: form ? new URLSearchParams(body) : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch {
    throw new AuthError("Network", 0);
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    // "WEAK_PASSWORD : Password should be at least 6 characters" -> "WEAK_PASSWORD"
    const code = String(data?.error?.message ?? `HTTP_${res.status}`).split(/[ :]/)[0];
    throw new AuthError(code, res.status);
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

/**
 * The signed-in user. Emits "change" when the user (uid) or their email changes.
 * `uid` is null until the first sign-in has succeeded (a first start offline).
 */
export class Account extends EventTarget {
  #profile = loadProfile();
  #idToken = null;
  #expiresAt = 0;
  #refreshing = null;
  #lost = false;

  get uid() { return this.#profile?.uid ?? null; }
  get email() { return this.#profile?.email ?? null; }
  get isAnonymous() { return this.#profile != null && !this.#profile.email; }
  /** True once the server said this account no longer exists (e.g. the emulator was restarted). */
  get lost() { return this.#lost; }

  #adopt(uid, refreshToken, idToken, expiresIn, email) {
    const changed = uid !== this.uid || (email ?? null) !== this.email;
    this.#profile = { uid, refreshToken, email: email ?? null };
    localStorage.setItem(PROFILE_KEY, JSON.stringify(this.#profile));
    this.#idToken = idToken;
    this.#lost = false;
    this.#expiresAt = Date.now() + Number(expiresIn ?? 3600) * 1000;
    if (changed) this.dispatchEvent(new Event("change"));
  }

  /** Signs up a new anonymous user and makes it the current one. */
  async signUpAnonymously() {
    const d = await call(`${CONFIG.identityToolkitUrl}/accounts:signUp`, { returnSecureToken: true });
    this.#adopt(d.localId, d.refreshToken, d.idToken, d.expiresIn, null);
  }

  /** Signs in to an existing email/password account (e.g. the one linked on another device). */
  async signIn(email, password) {
    const d = await call(`${CONFIG.identityToolkitUrl}/accounts:signInWithPassword`, { email, password, returnSecureToken: true });
    this.#adopt(d.localId, d.refreshToken, d.idToken, d.expiresIn, d.email ?? email);
  }

  /** Gives the current (anonymous) account an email and password; the uid stays the same. */
  async linkEmail(email, password) {
    const idToken = await this.idToken();
    const d = await call(`${CONFIG.identityToolkitUrl}/accounts:update`, { idToken, email, password, returnSecureToken: true });
    // The update revokes the earlier tokens and answers with new ones.
    this.#adopt(d.localId ?? this.uid, d.refreshToken, d.idToken, d.expiresIn, d.email ?? email);
  }

  /** Forgets the user on this device (the account itself stays). */
  forget() {
    this.#profile = null;
    this.#idToken = null;
    localStorage.removeItem(PROFILE_KEY);
    this.dispatchEvent(new Event("change"));
  }

  /**
   * A Firebase ID token valid for at least a few minutes; `fresh` forces a new one (after a 401).
   * Rejects with an AuthError whose `lost` is true when the account no longer exists.
   */
  async idToken({ fresh = false } = {}) {
    if (!this.#profile) throw new AuthError("NOT_SIGNED_IN", 0);
    if (this.#lost) throw new AuthError("USER_NOT_FOUND", 400);
    if (!fresh && this.#idToken && this.#expiresAt - Date.now() > EXPIRY_MARGIN_MS) return this.#idToken;
    // Concurrent callers share one refresh.
    this.#refreshing ??= (async () => {
      const uid = this.uid;
      let d;
      try {
        d = await call(`${CONFIG.secureTokenUrl}/token`, { grant_type: "refresh_token", refresh_token: this.#profile.refreshToken }, { form: true });
      } catch (err) {
        if (err.lost && this.uid === uid) {
          this.#lost = true;
          this.#idToken = null;
        }
        throw err;
      }
      if (this.uid === uid) this.#adopt(d.user_id, d.refresh_token, d.id_token, d.expires_in, this.email);
      return d.id_token;
    })().finally(() => { this.#refreshing = null; });
    return this.#refreshing;
  }

  /**
   * A `getToken` for FirebaseRemote. The remote keeps the token it got and asks again only after a 401,
   * so every call after the first one forces a refresh.
   */
  tokenSource() {
    let calls = 0;
    return () => this.idToken({ fresh: calls++ > 0 });
  }
}
