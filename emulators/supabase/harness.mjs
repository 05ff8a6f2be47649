// Starts and stops the local Supabase (server.mjs) from Node tests and scripts, in this process:
//
//   import { startSupabase, stopSupabase, signUp, SUPABASE_URL, ANON_KEY, BUCKET } from "../../emulators/supabase/harness.mjs";
//   before(() => startSupabase());          // listens on 127.0.0.1:54321 and waits until it answers
//   after(() => stopSupabase());
//   const { id, accessToken } = await signUp();
//
// It uses its own port (54321, the Supabase CLI's), not the Firebase emulators' ones, so it needs no e2e lock; two
// test files that both start it on 54321 at once would clash: pass `{ port: 0 }` for a free port and read the URL
// from the answer (or `supabaseUrl()`).
//
// As a script, for the demo: `node emulators/supabase/harness.mjs` starts it, prints one JSON line
// {url, anonKey, serviceRoleKey, bucket} and runs until SIGINT/SIGTERM.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { ANON_KEY, JWT_SECRET, SERVICE_ROLE_KEY, signToken } from "./auth.mjs";
import { DEFAULT_BUCKET, DEFAULT_PORT, startSupabase as startServer } from "./server.mjs";
import { TUS_CHUNK_SIZE } from "./tus.mjs";

export { ANON_KEY, SERVICE_ROLE_KEY, JWT_SECRET, TUS_CHUNK_SIZE };
/** The default URL (port 54321); `supabaseUrl()` gives the one actually in use. */
export const SUPABASE_URL = `http://127.0.0.1:${DEFAULT_PORT}`;
export const BUCKET = DEFAULT_BUCKET;

let running = null;

/** The URL of the running server (or the default one). */
export function supabaseUrl() {
  return running?.url ?? SUPABASE_URL;
}

/**
 * Starts the server (once per process; a second call returns the same one) and waits until it answers.
 * Options as server.mjs's startSupabase (`port`, `buckets`, `fileSizeLimit`, `quiet`). Returns
 * `{ url, anonKey, serviceRoleKey, bucket }`.
 */
export async function startSupabase(options = {}) {
  if (!running) {
    running = await startServer({ quiet: true, ...options });
    const res = await fetch(`${running.url}/health`);
    if (!res.ok) throw new Error(`local supabase did not answer: HTTP ${res.status}`);
  }
  return { url: running.url, anonKey: ANON_KEY, serviceRoleKey: SERVICE_ROLE_KEY, bucket: BUCKET };
}

/** Stops the server started by startSupabase() (and removes its temp folder). */
export async function stopSupabase() {
  const sb = running;
  running = null;
  if (sb) await sb.close();
}

async function admin(method, route, body) {
  const res = await fetch(`${supabaseUrl()}/__admin/${route}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`admin ${method} ${route}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * Creates a user through /auth/v1/signup (Supabase Auth's shape); returns
 * `{ id, email, password, accessToken, refreshToken, session }` (`session` is the whole answer).
 */
export async function signUp(email = `user-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`, password = "tapesync-test") {
  const res = await fetch(`${supabaseUrl()}/auth/v1/signup`, {
    method: "POST",
    headers: { "content-type": "application/json", apikey: ANON_KEY },
    body: JSON.stringify({ email, password }),
  });
  if (!res.ok) throw new Error(`signUp ${email}: HTTP ${res.status} ${await res.text()}`);
  const session = await res.json();
  return { id: session.user.id, email, password, accessToken: session.access_token, refreshToken: session.refresh_token, session };
}

/** A user JWT signed with the project secret, e.g. an already expired one: `userToken(id, { expiresIn: -10 })`. */
export function userToken(sub, { expiresIn = 3600, claims = {} } = {}) {
  return signToken({ sub, role: "authenticated", aud: "authenticated", ...claims }, { expiresIn });
}

/** Admin hooks (see admin.mjs). */
export const adminHooks = {
  reset: () => admin("POST", "reset", {}),
  addFault: (fault) => admin("POST", "faults", fault),
  clearFaults: () => admin("DELETE", "faults"),
  setClockOffset: (offsetMs) => admin("POST", "clock", { offsetMs }),
  expireUploads: (id) => admin("POST", "tus/expire", id ? { id } : {}),
  requests: () => admin("GET", "requests"),
  clearRequests: () => admin("DELETE", "requests"),
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.SUPABASE_PORT || DEFAULT_PORT);
  const info = await startSupabase({ port });
  process.stdout.write(`${JSON.stringify(info)}\n`);
  const stop = async () => {
    await stopSupabase();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
