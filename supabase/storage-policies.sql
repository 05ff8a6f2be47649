-- tapesync: row-level security policies for Supabase Storage (the counterpart of storage.rules for Firebase).
--
-- What they allow: a signed-in user (role `authenticated`, i.e. a request carrying the user's access token) may
-- read, create, overwrite and delete objects of the bucket `recordings` whose key lies under
-- `users/<their user id>/`, e.g. `users/9f0c.../recordings/<id>.json`. Nothing else: not another user's folder,
-- not `users/<id>` itself, not any other top-level folder, and nothing at all with the anon key alone. The service
-- role (the service key, server side only) bypasses row-level security as it always does in Supabase.
--
-- How: Supabase keeps one row per object in `storage.objects` (bucket_id, name = the key, owner, ...) with RLS
-- enabled and no policy, which denies everything. These four policies, one per operation, each check the same
-- predicate: `storage.foldername(name)` is the key's folders without its last part, so
-- `(storage.foldername(name))[1] = 'users'` and `(storage.foldername(name))[2] = auth.uid()::text` put the object
-- in the caller's own folder. `auth.uid()` is the `sub` claim of the request's JWT. `(select auth.uid())` is
-- evaluated once per statement instead of once per row (Supabase's advice for RLS performance).
--
-- What a client sees (Supabase Storage's answers): reading someone else's object looks like absence (HTTP 400
-- with `statusCode "404"`, `not_found`), listing someone else's folder answers `[]`, deleting it answers `[]`
-- and deletes nothing, writing into it answers `statusCode "403"` with `new row violates row-level security
-- policy`. So a pull with the wrong token sees an empty folder; a push reports Forbidden.
--
-- Install: paste into the SQL editor of your project (or `psql "$DATABASE_URL" -f supabase/storage-policies.sql`).
-- Create the bucket first (private: Storage > New bucket, or
-- `insert into storage.buckets (id, name) values ('recordings', 'recordings');`). Using another bucket name or
-- top folder? Change 'recordings' / 'users' below and the `bucket` / `prefix` you give SupabaseRemote to match.
-- Re-running the file replaces the policies (drop ... if exists).
--
-- Tested for real: tests/js/supabase-server.test.mjs applies this file to a throwaway PostgreSQL 15 with a
-- minimal storage schema and checks, for two users, the same table of allowed and denied cases that the local
-- Supabase imitation (emulators/supabase/policy.mjs) is checked against.

drop policy if exists "tapesync: users read their own folder" on storage.objects;
drop policy if exists "tapesync: users create in their own folder" on storage.objects;
drop policy if exists "tapesync: users overwrite in their own folder" on storage.objects;
drop policy if exists "tapesync: users delete in their own folder" on storage.objects;

create policy "tapesync: users read their own folder"
  on storage.objects for select to authenticated
  using (
    bucket_id = 'recordings'
    and (storage.foldername(name))[1] = 'users'
    and (storage.foldername(name))[2] = (select auth.uid()::text)
  );

create policy "tapesync: users create in their own folder"
  on storage.objects for insert to authenticated
  with check (
    bucket_id = 'recordings'
    and (storage.foldername(name))[1] = 'users'
    and (storage.foldername(name))[2] = (select auth.uid()::text)
  );

-- Overwrites (upsert, x-upsert: true, TUS with x-upsert) need update on the existing row as well as insert.
create policy "tapesync: users overwrite in their own folder"
  on storage.objects for update to authenticated
  using (
    bucket_id = 'recordings'
    and (storage.foldername(name))[1] = 'users'
    and (storage.foldername(name))[2] = (select auth.uid()::text)
  )
  with check (
    bucket_id = 'recordings'
    and (storage.foldername(name))[1] = 'users'
    and (storage.foldername(name))[2] = (select auth.uid()::text)
  );

create policy "tapesync: users delete in their own folder"
  on storage.objects for delete to authenticated
  using (
    bucket_id = 'recordings'
    and (storage.foldername(name))[1] = 'users'
    and (storage.foldername(name))[2] = (select auth.uid()::text)
  );
