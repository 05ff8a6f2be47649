// A throwaway PostgreSQL 15 cluster for testing the shipped RLS policies (../../supabase/storage-policies.sql) for
// real: initdb under a temp folder, started on a free loopback port, stopped and removed by stop().
//
// It uses Debian's server binaries in /usr/lib/postgresql/15/bin; when they are missing it installs the Debian
// package `postgresql-15` with apt-get (idempotent; needs root, as this machine kind's sessions and CI are).
// PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user (created by the package).
//
//   const pg = await startPostgres();
//   await pg.sql("select 1");                 // psql -At output as a string
//   await pg.stop();

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** The minimal Supabase storage schema the policies need: roles, auth.uid(), storage.objects, foldername(). */
export const SUPABASE_SCHEMA_SQL = `
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
create schema auth;
create schema storage;
-- auth.uid() as the Supabase Postgres image defines it: the JWT's sub, from request.jwt.claims (PostgREST >= 9)
-- or the older request.jwt.claim.sub.
create function auth.uid() returns uuid language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
create table storage.buckets (
  id text primary key, name text not null, owner uuid, public boolean default false,
  created_at timestamptz default now(), updated_at timestamptz default now()
);
create table storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text references storage.buckets (id),
  name text not null, owner uuid, owner_id text, version text,
  created_at timestamptz default now(), updated_at timestamptz default now(), last_accessed_at timestamptz default now(),
  metadata jsonb, user_metadata jsonb,
  unique (bucket_id, name)
);
-- storage.foldername() as Supabase Storage's migrations define it.
create function storage.foldername(name text) returns text[] language plpgsql immutable as $function$
declare _parts text[];
begin
  select string_to_array(name, '/') into _parts;
  return _parts[1 : array_length(_parts, 1) - 1];
end
$function$;
alter table storage.objects enable row level security;
alter table storage.buckets enable row level security;
grant usage on schema storage, auth to anon, authenticated, service_role;
grant all on storage.objects, storage.buckets to anon, authenticated, service_role;
insert into storage.buckets (id, name) values ('recordings', 'recordings');
`;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Installs postgresql-15 from Debian when its server binaries are missing (idempotent). */
export async function ensurePostgres() {
  if (existsSync(path.join(PG_BIN, "initdb"))) return { installed: false };
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  try {
    await run("apt-get", ["install", "-y", "-q", "postgresql-15"], { env, maxBuffer: 64 << 20 });
  } catch {
    await run("apt-get", ["update", "-q"], { env, maxBuffer: 64 << 20 });
    await run("apt-get", ["install", "-y", "-q", "postgresql-15"], { env, maxBuffer: 64 << 20 });
  }
  return { installed: true };
}

/** Starts a fresh cluster; returns `{ port, sql(text), sqlFile(file), stop() }`. */
export async function startPostgres() {
  await ensurePostgres();
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(path.join(os.tmpdir(), "tapesync-pg-"));
  const data = path.join(dir, "data");
  const as = (cmd, args) => (asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args]);
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(stdout), Number(gid));
  }
  await chmod(dir, 0o700);
  await run(...as(path.join(PG_BIN, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]));
  const port = await freePort();
  await run(
    ...as(path.join(PG_BIN, "pg_ctl"), [
      "-D", data, "-w", "-l", path.join(dir, "log"),
      "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      "start",
    ]),
  );
  const psql = async (args) => {
    const { stdout } = await run(path.join(PG_BIN, "psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", ...args], { maxBuffer: 16 << 20 });
    return stdout.trim();
  };
  return {
    port,
    sql: (text) => psql(["-c", text]),
    sqlFile: (file) => psql(["-f", file]),
    async stop() {
      await run(...as(path.join(PG_BIN, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"])).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const quote = (s) => `'${String(s).replaceAll("'", "''")}'`;

/**
 * Runs one policy case in its own rolled-back transaction: inserts `seeds` (as the superuser), takes the role of
 * `who` ("A"/"B" with `request.jwt.claims` carrying their id as `sub`, "anon", "service"), does `op` on `name` in
 * bucket `recordings`, and answers whether RLS allowed it (one row seen/inserted/updated/deleted; a refused
 * insert or update check, SQLSTATE 42501, is a denial).
 */
export async function sqlAllows(pg, { who, op, name }, ids, seeds) {
  const seedRows = seeds.map((n) => `('recordings', ${quote(n)})`).join(", ");
  const role =
    who === "anon" ? "set local role anon;"
    : who === "service" ? "set local role service_role;"
    : `set local request.jwt.claims = ${quote(JSON.stringify({ sub: ids[who], role: "authenticated" }))}; set local role authenticated;`;
  const where = `bucket_id = 'recordings' and name = ${quote(name)}`;
  const stmt = {
    select: `select count(*) from storage.objects where ${where};`,
    insert: `with i as (insert into storage.objects (bucket_id, name) values ('recordings', ${quote(name)}) returning 1) select count(*) from i;`,
    update: `with u as (update storage.objects set metadata = '{"v":2}' where ${where} returning 1) select count(*) from u;`,
    delete: `with d as (delete from storage.objects where ${where} returning 1) select count(*) from d;`,
  }[op];
  try {
    const out = await pg.sql(`begin; insert into storage.objects (bucket_id, name) values ${seedRows}; ${role} ${stmt} rollback;`);
    return out.split("\n").pop() === "1";
  } catch (err) {
    if (/row-level security/.test(String(err.stderr))) return false;
    throw err;
  }
}
