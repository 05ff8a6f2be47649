// TUS resumable uploads at /storage/v1/upload/resumable, served by the real @tus/server with @tus/file-store, wired
// the way Supabase Storage wires them (src/http/routes/tus/index.ts and lifecycle.ts), with the measured answers
// (../../../shared/facts/supabase-storage.md):
//
// - Metadata keys bucketName, objectName, contentType, cacheControl; header x-upsert.
// - Create: 201, `Location: {url}/storage/v1/upload/resumable/<base64url("{bucket}/{path}/<version uuid>")>`.
//   An existing key without x-upsert: 409 text "The resource already exists"; RLS refusal: 403 text
//   "new row violates row-level security policy" (the storage errors' status and message, as text).
// - Every request but OPTIONS needs a valid JWT (else the JSON 400/"403" of the jwt plugin); POST and PATCH are
//   checked against RLS (canUpload), HEAD is not: the upload URL is a capability.
// - PATCH: 204 + Upload-Offset, the last one also `Tus-Complete: 1`; a stale offset 409 "Upload-Offset conflict".
// - Upload URLs expire after 24 hours (hosted Supabase; the open-source default is 1 hour).
// - Chunks of exactly 6 MiB, only the last smaller. Hosted Supabase documents this as a requirement; the
//   open-source server with the file backend does not check it. The imitation enforces it, strictly, so a
//   client that would break on the hosted service breaks here: a PATCH whose body is not 6 MiB and does not end
//   the upload answers 400 text "Chunk size must be exactly 6291456 bytes (6 MiB), except the last chunk".

import { createHash } from "node:crypto";
import { copyFile, link, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";
import { ERRORS, StorageError } from "./errors.mjs";
import { authenticate, sendError } from "./http.mjs";
import { mustBeValidBucketName, mustBeValidKey } from "./store.mjs";

export const TUS_PATH = "/storage/v1/upload/resumable";
export const TUS_CHUNK_SIZE = 6 * 1024 * 1024;
export const TUS_EXPIRY_MS = 24 * 60 * 60 * 1000;

/** A storage error as the TUS hooks answer it: its real status and its message as text (getTusError). */
function tusError(err) {
  if (err instanceof StorageError) return { status_code: err.status, body: err.message };
  return err;
}

/**
 * The upload id of the URL's last segment is base64url("{bucket}/{path}/{version}"), as Supabase makes it: with a
 * user's uuid and a recording's in the path it is over 255 characters, too long for a file name. Files are named by
 * its SHA-256 instead (the "storage id" @tus/server and the file store see); `longIds` maps back (every request
 * brings the URL's id, so the map fills again after a restart on the same folder).
 */
const longIds = new Map();
const storageId = (urlId) => {
  const short = createHash("sha256").update(urlId).digest("hex");
  longIds.set(short, urlId);
  return short;
};
const urlIdOf = (id) => longIds.get(id) ?? id;

/** The upload's bucket, object and version, from its URL id or storage id. */
function parseUploadId(id) {
  const decoded = Buffer.from(urlIdOf(id), "base64url").toString("utf8");
  const parts = decoded.split("/");
  if (parts.length < 3) throw ERRORS.invalidParameter("upload id");
  const bucket = parts[0];
  const version = parts.pop();
  const objectName = parts.slice(1).join("/");
  mustBeValidBucketName(bucket);
  mustBeValidKey(objectName);
  return { bucket, objectName, version };
}

/** Creates the TUS part of the server; `handle(req, res)` serves requests under TUS_PATH. */
export function createTus(ctx) {
  const directory = path.join(ctx.root, "tus");
  const datastore = new FileStore({ directory, expirationPeriodInMilliseconds: TUS_EXPIRY_MS });
  const nodeReq = (rawReq) => rawReq.runtime?.node?.req;

  const tus = new Server({
    path: TUS_PATH,
    datastore,
    disableTerminationForFinishedUploads: true,
    allowedHeaders: ["Authorization", "X-Upsert", "Upload-Expires", "ApiKey", "x-signature", "x-client-info"],
    namingFunction(rawReq, metadata) {
      if (!metadata) throw tusError(new StorageError(400, "InvalidRequest", "Metadata header is required", "InvalidRequest"));
      try {
        mustBeValidBucketName(metadata.bucketName || "");
        mustBeValidKey(metadata.objectName || "");
      } catch (err) {
        throw tusError(err);
      }
      const id = `${metadata.bucketName}/${metadata.objectName}/${crypto.randomUUID()}`;
      return storageId(Buffer.from(id, "utf8").toString("base64url"));
    },
    generateUrl(_rawReq, { id }) {
      return `${ctx.publicUrl()}${TUS_PATH}/${urlIdOf(id)}`;
    },
    getFileIdFromRequest(_rawReq, lastPath) {
      if (!lastPath || TUS_PATH.endsWith(`/${lastPath}`)) return undefined;
      return storageId(lastPath);
    },
    maxSize(rawReq, id) {
      if (!id) return ctx.store.fileSizeLimit;
      try {
        const { bucket } = parseUploadId(id);
        return ctx.store.sizeLimit(ctx.store.bucketAsSuperuser(bucket));
      } catch {
        return ctx.store.fileSizeLimit;
      }
    },
    async onIncomingRequest(rawReq, id) {
      const req = nodeReq(rawReq);
      let target;
      try {
        target = parseUploadId(id);
      } catch (err) {
        throw tusError(err);
      }
      // OPTIONS and HEAD need no authorization (beyond the JWT): lifecycle.ts returns early.
      if (rawReq.method === "OPTIONS" || rawReq.method === "HEAD") return;
      try {
        ctx.store.checkWrite(req.tapesync.claims, target.bucket, target.objectName, req.tapesync.isUpsert);
      } catch (err) {
        throw tusError(err);
      }
      if (rawReq.method === "PATCH") {
        const upload = await datastore.getUpload(id);
        const length = Number(rawReq.headers.get("content-length"));
        const offset = Number(rawReq.headers.get("upload-offset"));
        const isLast = upload.size !== undefined && offset + length === upload.size;
        if (upload.offset === offset && Number.isFinite(length) && length !== TUS_CHUNK_SIZE && !(isLast && length < TUS_CHUNK_SIZE)) {
          throw { status_code: 400, body: `Chunk size must be exactly ${TUS_CHUNK_SIZE} bytes (6 MiB), except the last chunk` };
        }
      }
    },
    async onUploadCreate(rawReq, upload) {
      const { bucket } = parseUploadId(upload.id);
      let b;
      try {
        b = ctx.store.bucketAsSuperuser(bucket);
      } catch (err) {
        throw tusError(err);
      }
      const metadata = { ...(upload.metadata || {}) };
      metadata.cacheControl = /^-?\d+$/.test(metadata.cacheControl || "") ? `max-age=${metadata.cacheControl}` : "no-cache";
      if (metadata.contentType && b.allowed_mime_types?.length) {
        const [type, ext] = metadata.contentType.split("/");
        if (!b.allowed_mime_types.some((a) => a === `${type}/${ext}` || a === `${type}/*`)) throw tusError(ERRORS.invalidMimeType(metadata.contentType));
      }
      return { metadata };
    },
    async onUploadFinish(rawReq, upload) {
      const req = nodeReq(rawReq);
      const { bucket, objectName } = parseUploadId(upload.id);
      const file = path.join(directory, upload.id);
      // The finished upload becomes the object (completeUpload as superuser: an upsert); the TUS file stays so a
      // HEAD on the finished URL still answers its offset, as on the real file backend.
      const staged = path.join(ctx.root, "incoming", `tus-${upload.id}`);
      await mkdir(path.dirname(staged), { recursive: true });
      await link(file, staged).catch(() => copyFile(file, staged));
      const md5 = await ctx.md5(staged);
      try {
        await ctx.store.complete({
          bucket,
          name: objectName,
          owner: req.tapesync.claims.sub,
          received: { file: staged, size: upload.size, md5 },
          mimetype: upload.metadata?.contentType || "application/octet-stream",
          cacheControl: upload.metadata?.cacheControl || "no-cache",
        });
      } catch (err) {
        throw tusError(err);
      }
      return { headers: { "Tus-Complete": "1" } };
    },
    onResponseError(_rawReq, err) {
      if (err instanceof StorageError) return tusError(err);
      return undefined;
    },
  });

  return {
    datastore,
    directory,
    /** Serves a TUS request: the jwt plugin first (JSON errors), then @tus/server. */
    async handle(req, res) {
      try {
        if (req.method !== "OPTIONS") {
          const claims = await authenticate(req, ctx, { requireHeader: false });
          req.tapesync = { claims, isUpsert: req.headers["x-upsert"] === "true" };
        } else {
          req.tapesync = { claims: { role: "anon" }, isUpsert: false };
        }
      } catch (err) {
        return sendError(req, res, err);
      }
      await tus.handle(req, res);
    },
    /** Admin hook: forgets every upload (files and their info). */
    async reset() {
      await rm(directory, { recursive: true, force: true });
      await mkdir(directory, { recursive: true });
    },
    /** Admin hook: makes upload URLs (all, or the one whose URL ends with `id`) 25 hours old, so they expire. */
    async age(id) {
      const ids = id ? [storageId(id)] : await datastore.configstore.list();
      let n = 0;
      for (const uid of ids) {
        const info = await datastore.configstore.get(uid);
        if (!info) continue;
        info.creation_date = new Date(Date.now() - TUS_EXPIRY_MS - 60 * 60 * 1000).toISOString();
        await datastore.configstore.set(uid, info);
        n += 1;
      }
      return n;
    },
  };
}
