// The storage model of the local Supabase: buckets and object rows in memory (the real server keeps them in
// PostgreSQL's storage.buckets / storage.objects), object bytes on disk under a temp folder (the real file backend
// does the same). Every read goes through `visible()` and every write through `checkWrite()`, the imitation of
// row-level security (policy.mjs).

import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, link, mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { ERRORS } from "./errors.mjs";
import { allows, POLICY_BUCKETS } from "./policy.mjs";

// Measured: keys allow only these characters (src/storage/limits.ts VALID_OBJECT_KEY).
const VALID_OBJECT_KEY = /^[A-Za-z0-9_/!.*'() &$=@;:+,?-]*$/;
const VALID_BUCKET_NAME = /^[A-Za-z0-9_!.*'() &$=@;:+,?-]*$/;

export function mustBeValidKey(key) {
  if (!key || !VALID_OBJECT_KEY.test(key)) throw ERRORS.invalidKey(key || "");
}

export function mustBeValidBucketName(name) {
  if (!name || name.length > 100 || !VALID_BUCKET_NAME.test(name)) throw ERRORS.invalidBucketName();
}

/** The global upload limit (the Supabase CLI's default, 50 MiB); a bucket's file_size_limit may lower it. */
export const DEFAULT_FILE_SIZE_LIMIT = 50 * 1024 * 1024;

export class Store {
  constructor({ root, fileSizeLimit = DEFAULT_FILE_SIZE_LIMIT, policyBuckets = POLICY_BUCKETS }) {
    this.root = root;
    this.fileSizeLimit = fileSizeLimit;
    this.policyBuckets = policyBuckets;
    this.buckets = new Map();
    this.objects = new Map(); // `${bucket}\0${name}` -> row
  }

  async reset() {
    this.buckets.clear();
    this.objects.clear();
    await rm(path.join(this.root, "objects"), { recursive: true, force: true });
  }

  // ---- buckets (storage.buckets has no policies for users: only the service role sees or changes them) ----

  createBucket(claims, { id, name, public: isPublic = false, file_size_limit = null, allowed_mime_types = null }) {
    const bucketId = id || name;
    mustBeValidBucketName(bucketId);
    if (claims.role !== "service_role") throw ERRORS.rlsDenied();
    if (this.buckets.has(bucketId)) throw ERRORS.bucketAlreadyExists();
    const now = new Date().toISOString();
    const bucket = {
      id: bucketId,
      name: name || bucketId,
      owner: claims.sub ?? null,
      public: Boolean(isPublic),
      created_at: now,
      updated_at: now,
      file_size_limit: file_size_limit ?? null,
      allowed_mime_types: allowed_mime_types ?? null,
      type: "STANDARD",
    };
    this.buckets.set(bucketId, bucket);
    return bucket;
  }

  /** The bucket as the superuser sees it (the routes look buckets up as superuser), or NoSuchBucket. */
  bucketAsSuperuser(id) {
    const bucket = this.buckets.get(id);
    if (!bucket) throw ERRORS.noSuchBucket();
    return bucket;
  }

  /** The bucket as `claims` sees it: users see none (no policy on storage.buckets). */
  bucketFor(claims, id) {
    if (claims.role !== "service_role") throw ERRORS.noSuchBucket();
    return this.bucketAsSuperuser(id);
  }

  listBuckets(claims) {
    if (claims.role !== "service_role") return [];
    return [...this.buckets.values()];
  }

  updateBucket(claims, id, changes) {
    const bucket = this.bucketFor(claims, id);
    if (changes.public !== undefined) bucket.public = Boolean(changes.public);
    if (changes.file_size_limit !== undefined) bucket.file_size_limit = changes.file_size_limit;
    if (changes.allowed_mime_types !== undefined) bucket.allowed_mime_types = changes.allowed_mime_types;
    bucket.updated_at = new Date().toISOString();
  }

  async emptyBucket(claims, id) {
    this.bucketFor(claims, id);
    for (const row of this.rowsOf(id)) await this.removeRow(row);
  }

  deleteBucket(claims, id) {
    this.bucketFor(claims, id);
    if (this.rowsOf(id).length > 0) throw ERRORS.bucketNotEmpty();
    this.buckets.delete(id);
  }

  /** The size limit for uploads into `bucket`: its own limit, capped by the global one. */
  sizeLimit(bucket) {
    const own = bucket.file_size_limit || this.fileSizeLimit;
    return Math.min(own, this.fileSizeLimit);
  }

  // ---- objects ----

  rowsOf(bucket) {
    return [...this.objects.values()].filter((row) => row.bucket_id === bucket);
  }

  /** The rows of `bucket` that `claims` may select (what RLS leaves to a SECURITY INVOKER query). */
  visible(claims, bucket) {
    return this.rowsOf(bucket).filter((row) => allows(claims, "select", bucket, row.name, this.policyBuckets));
  }

  /** findObject with RLS: a hidden row is the same NoSuchKey as a missing one (measured). */
  find(claims, bucket, name) {
    mustBeValidKey(name);
    const row = this.objects.get(`${bucket}\0${name}`);
    if (!row || !allows(claims, "select", bucket, name, this.policyBuckets)) throw ERRORS.noSuchKey();
    return row;
  }

  findAsSuperuser(bucket, name) {
    const row = this.objects.get(`${bucket}\0${name}`);
    if (!row) throw ERRORS.noSuchKey();
    return row;
  }

  /**
   * The real server's canUpload(): an INSERT (create-only) or INSERT ... ON CONFLICT DO UPDATE (upsert) tried in a
   * rolled-back transaction. RLS's WITH CHECK comes before the unique index, so another user's folder answers 403
   * even where the key exists; then a create-only write of an existing key answers 409 Duplicate.
   */
  checkWrite(claims, bucket, name, isUpsert) {
    mustBeValidKey(name);
    const exists = this.objects.has(`${bucket}\0${name}`);
    if (!allows(claims, "insert", bucket, name, this.policyBuckets)) throw ERRORS.rlsDenied();
    if (exists && isUpsert && !allows(claims, "update", bucket, name, this.policyBuckets)) throw ERRORS.rlsDenied();
    if (exists && !isUpsert) throw ERRORS.keyAlreadyExists();
  }

  filePath(bucket, id, version) {
    return path.join(this.root, "objects", bucket, id, version);
  }

  /**
   * Streams `body` (a Readable) to a temp file, counting bytes and hashing MD5 (the file backend's ETag), and stops
   * with EntityTooLarge past `limit`. Returns `{ file, size, md5 }`.
   */
  async receive(body, limit) {
    const dir = path.join(this.root, "incoming");
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, randomUUID());
    const md5 = createHash("md5");
    let size = 0;
    const counter = new Transform({
      transform(chunk, _enc, done) {
        size += chunk.length;
        if (size > limit) return done(ERRORS.entityTooLarge());
        md5.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, counter, createWriteStream(file));
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    return { file, size, md5: md5.digest("hex") };
  }

  /**
   * completeUpload(): upserts the row as superuser (the permission was checked before the bytes came, as the real
   * server does, so two racing create-only uploads both succeed and the last wins) and moves the bytes in place.
   * `linkOnly` hard-links instead of moving (a finished TUS upload keeps its own file so HEAD still answers).
   */
  async complete({ bucket, name, owner, received, mimetype, cacheControl, userMetadata = {}, linkOnly = false }) {
    const key = `${bucket}\0${name}`;
    const previous = this.objects.get(key);
    const id = previous?.id ?? randomUUID();
    const version = randomUUID();
    const dest = this.filePath(bucket, id, version);
    await mkdir(path.dirname(dest), { recursive: true });
    if (linkOnly) await link(received.file, dest).catch(() => copyFile(received.file, dest));
    else await rename(received.file, dest);
    const now = new Date();
    const lastModified = (await stat(dest)).mtime;
    const row = {
      id,
      bucket_id: bucket,
      name,
      owner: owner ?? null,
      owner_id: owner ?? null,
      version,
      created_at: previous?.created_at ?? now.toISOString(),
      updated_at: now.toISOString(),
      last_accessed_at: now.toISOString(),
      metadata: {
        eTag: `"${received.md5}"`,
        size: received.size,
        mimetype,
        cacheControl,
        lastModified: lastModified.toISOString(),
        contentLength: received.size,
        httpStatusCode: 200,
      },
      user_metadata: userMetadata,
      file: dest,
    };
    this.objects.set(key, row);
    if (previous) await rm(previous.file, { force: true });
    return row;
  }

  /** Opens the bytes of a row (optionally a byte range, inclusive). */
  open(row, range) {
    return createReadStream(row.file, range ? { start: range.start, end: range.end } : undefined);
  }

  async removeRow(row) {
    this.objects.delete(`${row.bucket_id}\0${row.name}`);
    await rm(row.file, { force: true });
  }

  /** DELETE /object/{bucket} {prefixes}: deletes the named rows RLS lets `claims` delete; answers them. */
  async removeMany(claims, bucket, names) {
    const deleted = [];
    for (const name of new Set(names)) {
      const row = this.objects.get(`${bucket}\0${name}`);
      if (!row || !allows(claims, "delete", bucket, name, this.policyBuckets)) continue;
      await this.removeRow(row);
      deleted.push(row);
    }
    return deleted;
  }
}
