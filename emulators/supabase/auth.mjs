// JWTs and the Auth routes of the local Supabase.
//
// Keys follow Supabase (measured, ../../../shared/facts/supabase-storage.md): HS256 JWTs signed with the project's
// JWT secret; the anon key is `{role: "anon"}`, the service key `{role: "service_role"}` (bypasses RLS), a user's
// access token `{sub: <uuid>, role: "authenticated", aud: "authenticated", exp}`. Tokens are checked with jose, the
// library the real storage server uses, so its error messages (`"exp" claim timestamp check failed`,
// `signature verification failed`, `Invalid Compact JWS`) are the real ones.
//
// The Auth routes imitate the shapes of Supabase Auth (GoTrue) for what the demo needs: sign-up with
// auto-confirmed e-mail, the password grant and the refresh-token grant.

import { randomBytes, randomUUID, scryptSync, timingSafeEqual } from "node:crypto";
import { SignJWT, jwtVerify } from "jose";

/** The Supabase CLI's well-known local JWT secret (never a real project's). */
export const JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
const secretKey = new TextEncoder().encode(JWT_SECRET);

/** Signs claims with the project secret; `expiresIn` in seconds from `now` (seconds since the epoch). */
export async function signToken(claims, { expiresIn = 3600, now = Math.floor(Date.now() / 1000) } = {}) {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + expiresIn)
    .sign(secretKey);
}

// The keys carry the fixed claims of the Supabase CLI's demo keys, so they are the same string every run.
const DEMO_EXP = 1983812996;
/** The anon key (role anon): what an app ships as SUPABASE_ANON_KEY. */
export const ANON_KEY = await new SignJWT({ iss: "supabase-demo", role: "anon", exp: DEMO_EXP })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .sign(secretKey);
/** The service-role key: bypasses row-level security, as Supabase's does. */
export const SERVICE_ROLE_KEY = await new SignJWT({ iss: "supabase-demo", role: "service_role", exp: DEMO_EXP })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .sign(secretKey);

/**
 * Verifies a JWT as the storage server does (jose, HS256, the project secret, no audience check).
 * `clockOffsetMs` is the admin hook that moves this server's clock forward so tokens expire.
 * Returns the payload or throws jose's error (its message is what the server answers).
 */
export async function verifyToken(token, clockOffsetMs = 0) {
  const { payload } = await jwtVerify(token, secretKey, {
    algorithms: ["HS256"],
    currentDate: new Date(Date.now() + clockOffsetMs),
  });
  return payload;
}

function hashPassword(password, salt = randomBytes(16)) {
  return { salt, hash: scryptSync(password, salt, 32) };
}

/** GoTrue's error body (v2): `{code, error_code, msg}` with the HTTP status as a number. */
function authError(status, errorCode, msg) {
  return { status, body: { code: status, error_code: errorCode, msg } };
}

/** Users and refresh tokens of the Auth imitation (in memory). */
export class AuthService {
  constructor({ url, accessTokenSeconds = 3600 }) {
    this.url = url;
    this.accessTokenSeconds = accessTokenSeconds;
    this.usersByEmail = new Map();
    this.refreshTokens = new Map(); // token -> { userId, sessionId }
  }

  reset() {
    this.usersByEmail.clear();
    this.refreshTokens.clear();
  }

  userJson(user) {
    return {
      id: user.id,
      aud: "authenticated",
      role: "authenticated",
      email: user.email,
      email_confirmed_at: user.createdAt,
      phone: "",
      confirmed_at: user.createdAt,
      last_sign_in_at: user.lastSignInAt,
      app_metadata: { provider: "email", providers: ["email"] },
      user_metadata: user.userMetadata,
      identities: [],
      created_at: user.createdAt,
      updated_at: user.lastSignInAt,
      is_anonymous: false,
    };
  }

  async session(user, sessionId = randomUUID()) {
    const now = Math.floor(Date.now() / 1000);
    user.lastSignInAt = new Date().toISOString();
    const accessToken = await signToken(
      {
        iss: `${this.url}/auth/v1`,
        sub: user.id,
        aud: "authenticated",
        email: user.email,
        phone: "",
        app_metadata: { provider: "email", providers: ["email"] },
        user_metadata: user.userMetadata,
        role: "authenticated",
        aal: "aal1",
        amr: [{ method: "password", timestamp: now }],
        session_id: sessionId,
        is_anonymous: false,
      },
      { expiresIn: this.accessTokenSeconds, now },
    );
    const refreshToken = randomBytes(9).toString("base64url");
    this.refreshTokens.set(refreshToken, { userId: user.id, sessionId });
    return {
      access_token: accessToken,
      token_type: "bearer",
      expires_in: this.accessTokenSeconds,
      expires_at: now + this.accessTokenSeconds,
      refresh_token: refreshToken,
      user: this.userJson(user),
    };
  }

  /** POST /auth/v1/signup `{email, password, data?}`: with e-mail auto-confirmed, answers a session. */
  async signUp(body) {
    const email = typeof body?.email === "string" ? body.email.trim().toLowerCase() : "";
    const password = typeof body?.password === "string" ? body.password : "";
    if (!email || !email.includes("@")) return authError(400, "validation_failed", "Unable to validate email address: invalid format");
    if (password.length < 6) return authError(422, "weak_password", "Password should be at least 6 characters.");
    if (this.usersByEmail.has(email)) return authError(422, "user_already_exists", "User already registered");
    const user = {
      id: randomUUID(),
      email,
      password: hashPassword(password),
      userMetadata: body.data && typeof body.data === "object" ? body.data : {},
      createdAt: new Date().toISOString(),
      lastSignInAt: null,
    };
    this.usersByEmail.set(email, user);
    return { status: 200, body: await this.session(user) };
  }

  /** GET /auth/v1/user with the user's access token: the user, or GoTrue's 403 bad_jwt. */
  async user(token, clockOffsetMs = 0) {
    let claims;
    try {
      claims = await verifyToken(token, clockOffsetMs);
    } catch (err) {
      return authError(403, "bad_jwt", `invalid JWT: unable to parse or verify signature, ${err?.message}`);
    }
    const user = [...this.usersByEmail.values()].find((u) => u.id === claims.sub);
    if (!user) return authError(403, "user_not_found", "User from sub claim in JWT does not exist");
    return { status: 200, body: this.userJson(user) };
  }

  /** POST /auth/v1/token?grant_type=password|refresh_token */
  async token(grantType, body) {
    if (grantType === "password") {
      const email = typeof body?.email === "string" ? body.email.trim().toLowerCase() : "";
      const user = this.usersByEmail.get(email);
      const password = typeof body?.password === "string" ? body.password : "";
      const ok = user && timingSafeEqual(hashPassword(password, user.password.salt).hash, user.password.hash);
      if (!ok) return authError(400, "invalid_credentials", "Invalid login credentials");
      return { status: 200, body: await this.session(user) };
    }
    if (grantType === "refresh_token") {
      const entry = this.refreshTokens.get(body?.refresh_token);
      if (!entry) return authError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
      // Refresh tokens are single use, as GoTrue's (rotation).
      this.refreshTokens.delete(body.refresh_token);
      const user = [...this.usersByEmail.values()].find((u) => u.id === entry.userId);
      if (!user) return authError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found");
      return { status: 200, body: await this.session(user, entry.sessionId) };
    }
    return authError(400, "unsupported_grant_type", "unsupported_grant_type");
  }
}
