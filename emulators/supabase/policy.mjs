// Owner-folder authorization, the imitation's equivalent of the shipped RLS policies
// (../../supabase/storage-policies.sql). The real server asks PostgreSQL; this module answers the same question in
// JS, and tests/js/supabase-server.test.mjs runs one table of cases (POLICY_CASES below) against both the SQL in a
// real PostgreSQL 15 and this function, so the two cannot drift apart.
//
// The SQL policy, per operation (select, insert, update, delete), for role `authenticated`:
//   bucket_id = 'recordings'
//   and (storage.foldername(name))[1] = 'users'
//   and (storage.foldername(name))[2] = (select auth.uid()::text)
// storage.foldername(name) is the path's folders without the last part (string_to_array(name, '/') minus its last
// element), so `users/<uid>` itself (a file named like the uid) is no one's.

/** The buckets the shipped policies cover. */
export const POLICY_BUCKETS = ["recordings"];

/** `storage.foldername(name)`: the folders of a key, without its last part. */
export function foldername(name) {
  const parts = name.split("/");
  return parts.slice(0, -1);
}

/**
 * Does row-level security let `claims` (a verified JWT payload) do `op` ("select" | "insert" | "update" |
 * "delete") on object `name` of `bucket`? service_role bypasses RLS (as its PostgreSQL role has BYPASSRLS); anon has
 * no policy, so nothing.
 */
export function allows(claims, op, bucket, name, buckets = POLICY_BUCKETS) {
  if (claims?.role === "service_role") return true;
  if (claims?.role !== "authenticated") return false;
  if (!["select", "insert", "update", "delete"].includes(op)) return false;
  if (!buckets.includes(bucket)) return false;
  const folders = foldername(name);
  return folders[0] === "users" && typeof claims.sub === "string" && folders[1] === claims.sub;
}

/**
 * One table of cases for both tests (the SQL in PostgreSQL, and this imitation over HTTP). `who` is "A", "B",
 * "anon" or "service"; `{A}`/`{B}` in `name` stand for the users' ids; `allowed` is the expected answer.
 */
export const POLICY_CASES = [
  { who: "A", op: "select", name: "users/{A}/recordings/r1.json", allowed: true },
  { who: "A", op: "insert", name: "users/{A}/recordings/new.json", allowed: true },
  { who: "A", op: "update", name: "users/{A}/recordings/r1.json", allowed: true },
  { who: "A", op: "delete", name: "users/{A}/recordings/r2.json", allowed: true },
  { who: "A", op: "insert", name: "users/{A}/deep/er/x.webm", allowed: true },
  { who: "B", op: "select", name: "users/{A}/recordings/r1.json", allowed: false },
  { who: "B", op: "insert", name: "users/{A}/recordings/evil.json", allowed: false },
  { who: "B", op: "update", name: "users/{A}/recordings/r1.json", allowed: false },
  { who: "B", op: "delete", name: "users/{A}/recordings/r1.json", allowed: false },
  { who: "B", op: "insert", name: "users/{B}/recordings/mine.json", allowed: true },
  { who: "A", op: "insert", name: "users/{A}", allowed: false },
  { who: "A", op: "insert", name: "other/{A}/x.json", allowed: false },
  { who: "A", op: "insert", name: "{A}/x.json", allowed: false },
  { who: "anon", op: "select", name: "users/{A}/recordings/r1.json", allowed: false },
  { who: "anon", op: "insert", name: "users/{A}/recordings/anon.json", allowed: false },
  { who: "service", op: "select", name: "users/{A}/recordings/r1.json", allowed: true },
  { who: "service", op: "insert", name: "users/{B}/recordings/by-service.json", allowed: true },
];

/** The objects both tests create first (as the service role) so that select/update/delete have rows to act on. */
export const POLICY_SEED = ["users/{A}/recordings/r1.json", "users/{A}/recordings/r2.json"];

/** Replaces `{A}`/`{B}` in a case's name. */
export function fillName(name, ids) {
  return name.replaceAll("{A}", ids.A).replaceAll("{B}", ids.B);
}
