// The REST routes of Supabase Storage under /storage/v1 (the gateway strips that prefix before calling
// `handleStorage`), as storage-js and a REST client use them. Shapes and errors follow the measured answers
// (../../../shared/facts/supabase-storage.md) and the server's routes (src/http/routes/object, bucket).

import { Readable } from "node:stream";
import { ERRORS } from "./errors.mjs";
import { authenticate, authenticateOptional, decodePath, readJson, sendJson } from "./http.mjs";
import { listV1, listV2 } from "./list.mjs";
import { mustBeValidKey } from "./store.mjs";
import { signToken, verifyToken } from "./auth.mjs";

/** "20MB" / 1000 -> bytes, as the server's parseFileSizeToBytes. */
function sizeToBytes(value) {
  if (value === null || value === undefined || typeof value === "number") return value ?? null;
  const m = String(value).match(/(^[0-9]+(?:\.[0-9]+)?)(gb|mb|kb|b)$/i);
  if (!m) throw ERRORS.validation("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B");
  const n = +parseFloat(m[1]).toPrecision(3);
  return n * { GB: 1e9, MB: 1e6, KB: 1000, B: 1 }[m[2].toUpperCase()];
}

function validateMimeType(mime, allowed) {
  if (!allowed || allowed.length === 0) return;
  const [type, ext] = mime.split("/");
  if (ext === undefined) throw ERRORS.invalidMimeType(mime);
  for (const a of allowed) {
    const [at, ae] = a.split("/");
    if (at === type && (ae === "*" || ae === ext)) return;
  }
  throw ERRORS.invalidMimeType(mime);
}

function parseUserMetadata(header) {
  try {
    return JSON.parse(Buffer.from(String(header), "base64").toString("utf8"));
  } catch {
    return {};
  }
}

/** `{bucket, name}` from "bucket/a/b.json" (raw, still percent-encoded). */
function splitBucketPath(raw) {
  const i = raw.indexOf("/");
  if (i <= 0) return null;
  return { bucket: decodePath(raw.slice(0, i)), name: decodePath(raw.slice(i + 1)) };
}

/** The renderer's headers for an object (src/storage/renderer/renderer.ts setHeaders). */
function objectHeaders(row, { expires } = {}) {
  const m = row.metadata;
  const headers = {
    "accept-ranges": "bytes",
    "content-type": m.mimetype,
    etag: m.eTag,
    "x-robots-tag": "none",
    "last-modified": new Date(m.lastModified).toUTCString(),
    "content-length": String(m.contentLength),
  };
  if (expires) headers.expires = expires;
  else if (m.cacheControl) headers["cache-control"] = m.cacheControl;
  return headers;
}

function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(String(header || "").trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start = m[1] === "" ? size - Number(m[2]) : Number(m[1]);
  let end = m[1] === "" || m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start < 0) start = 0;
  if (start > end || start >= size) return null;
  return { start, end };
}

function sendObject(req, res, store, row, opts = {}) {
  const headers = objectHeaders(row, opts);
  const range = req.method === "GET" ? parseRange(req.headers.range, row.metadata.size) : null;
  if (range) {
    headers["content-range"] = `bytes ${range.start}-${range.end}/${row.metadata.size}`;
    headers["content-length"] = String(range.end - range.start + 1);
  }
  if (opts.download !== undefined && opts.download !== null) {
    const enc = encodeURIComponent(opts.download);
    headers["content-disposition"] = opts.download === "" ? "attachment;" : `attachment; filename=${enc}; filename*=UTF-8''${enc}`;
  }
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === "HEAD") return res.end();
  store.open(row, range).on("error", () => res.destroy()).pipe(res);
}

/** The storage row as the object schema serialises it (delete answers), in that schema's key order. */
function objectSchemaRow(row) {
  const { name, bucket_id, owner, owner_id, version, id, updated_at, created_at, last_accessed_at, metadata, user_metadata } = row;
  return { name, bucket_id, owner, owner_id, version, id, updated_at, created_at, last_accessed_at, metadata, user_metadata };
}

/** POST/PUT /object/{bucket}/{path}: uploadFromRequest. */
async function upload(req, res, ctx, claims, bucketId, name, isUpsert) {
  const { store } = ctx;
  const bucket = store.bucketAsSuperuser(bucketId);
  const limit = store.sizeLimit(bucket);
  const contentType = String(req.headers["content-type"] || "");
  const isMultipart = contentType.startsWith("multipart/form-data");
  // Known-size binary uploads are refused before the bytes are read (uploader.ts).
  const declared = Number(req.headers["content-length"]);
  if (!isMultipart && Number.isFinite(declared) && declared > limit) throw ERRORS.entityTooLarge();
  mustBeValidKey(name);
  store.checkWrite(claims, bucketId, name, isUpsert);
  let body;
  let mimetype;
  let cacheControl;
  let userMetadata = {};
  if (isMultipart) {
    // storage-js sends Blobs as multipart/form-data: fields cacheControl, metadata, contentType, then the file.
    const form = await new Response(Readable.toWeb(req), { headers: { "content-type": contentType } })
      .formData()
      .catch(() => {
        throw ERRORS.noContent();
      });
    const file = [...form.values()].find((v) => typeof v !== "string");
    if (!file) throw ERRORS.noContent();
    const cacheTime = form.get("cacheControl");
    cacheControl = cacheTime ? `max-age=${cacheTime}` : "no-cache";
    mimetype = form.get("contentType") || file.type || "application/octet-stream";
    const md = form.get("metadata") ?? form.get("userMetadata");
    if (typeof md === "string") {
      try {
        userMetadata = JSON.parse(md);
      } catch {
        // The server ignores bad user metadata here too.
      }
    }
    body = Readable.fromWeb(file.stream());
  } else {
    mimetype = contentType || "application/octet-stream";
    cacheControl = req.headers["cache-control"] ?? "no-cache";
    if (req.headers["x-metadata"]) userMetadata = parseUserMetadata(req.headers["x-metadata"]);
    body = req;
  }
  validateMimeType(mimetype, bucket.allowed_mime_types);
  const received = await store.receive(body, limit);
  const row = await store.complete({ bucket: bucketId, name, owner: claims.sub, received, mimetype, cacheControl, userMetadata });
  // Measured: 200 {"Key":"{bucket}/{path}","Id":"<uuid>"}.
  sendJson(res, 200, { Key: `${bucketId}/${name}`, Id: row.id });
}

/** getObject / getObjectInfo: a public bucket needs no auth; otherwise the row as RLS shows it. */
function findForRead(ctx, claims, isAuthenticated, bucketId, name) {
  const bucket = ctx.store.buckets.get(bucketId);
  if (!isAuthenticated && !bucket?.public) throw ERRORS.noSuchBucket();
  if (!bucket) throw ERRORS.noSuchBucket();
  if (bucket.public) {
    mustBeValidKey(name);
    return ctx.store.findAsSuperuser(bucketId, name);
  }
  return ctx.store.find(claims, bucketId, name);
}

function infoBody(row) {
  const m = row.metadata;
  // src/storage/renderer/info.ts: snake_case (storage-js's info() turns it into camelCase).
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    bucket_id: row.bucket_id,
    size: m.size ?? null,
    content_type: m.mimetype ?? null,
    cache_control: m.cacheControl ?? null,
    etag: m.eTag ?? null,
    metadata: row.user_metadata,
    last_modified: row.updated_at,
    created_at: row.created_at,
  };
}

function sendInfo(res, row) {
  const text = JSON.stringify(infoBody(row));
  res.writeHead(200, {
    "content-type": "application/json",
    etag: row.metadata.eTag,
    "last-modified": new Date(row.metadata.lastModified).toUTCString(),
    "cache-control": row.metadata.cacheControl,
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function objectRoutes(req, res, ctx, rest, url) {
  const { store } = ctx;
  const method = req.method;
  let m;
  // Public and signed routes: no JWT.
  if (method === "GET" && (m = /^sign\/(.+)$/.exec(rest))) {
    const target = splitBucketPath(m[1]);
    const token = url.searchParams.get("token");
    if (!target) throw ERRORS.routeNotFound(method, req.url);
    if (!token) throw ERRORS.validation("querystring must have required property 'token'");
    let payload;
    try {
      payload = await verifyToken(token, ctx.clockOffsetMs());
    } catch (err) {
      throw ERRORS.invalidJwt(err?.message);
    }
    if (!(payload.scope === "download" || (payload.scope === undefined && !("upsert" in payload)))) {
      throw ERRORS.invalidSignature("Token is not scoped for download");
    }
    if (payload.url !== `${target.bucket}/${target.name}`) throw ERRORS.invalidSignature();
    const row = store.findAsSuperuser(target.bucket, target.name);
    return sendObject(req, res, store, row, { expires: new Date(payload.exp * 1000).toUTCString(), download: url.searchParams.get("download") ?? undefined });
  }
  if ((method === "GET" || method === "HEAD") && (m = /^(info\/)?public\/(.+)$/.exec(rest))) {
    const target = splitBucketPath(m[2]);
    if (!target) throw ERRORS.routeNotFound(method, req.url);
    const bucket = store.buckets.get(target.bucket);
    if (!bucket?.public) throw ERRORS.noSuchBucket();
    const row = store.findAsSuperuser(target.bucket, target.name);
    return m[1] ? sendInfo(res, row) : sendObject(req, res, store, row);
  }
  // Authenticated routes (a valid JWT required; the anon key is one).
  if ((method === "GET" || method === "HEAD") && (m = /^(info\/)?authenticated\/(.+)$/.exec(rest))) {
    const claims = await authenticate(req, ctx);
    const target = splitBucketPath(m[2]);
    if (!target) throw ERRORS.routeNotFound(method, req.url);
    const row = findForRead(ctx, claims, true, target.bucket, target.name);
    return m[1] ? sendInfo(res, row) : sendObject(req, res, store, row);
  }
  if (method === "GET" && (m = /^info\/(.+)$/.exec(rest))) {
    const { claims, isAuthenticated } = await authenticateOptional(req, ctx);
    const target = splitBucketPath(m[1]);
    if (!target) throw ERRORS.routeNotFound(method, req.url);
    return sendInfo(res, findForRead(ctx, claims, isAuthenticated, target.bucket, target.name));
  }
  if (method === "POST" && (m = /^(list|list-v2)\/([^/]+)$/.exec(rest))) {
    const claims = await authenticate(req, ctx);
    const bucket = decodePath(m[2]);
    const body = await readJson(req);
    if (m[1] === "list") {
      if (typeof body.prefix !== "string") throw ERRORS.validation("body must have required property 'prefix'");
      return sendJson(res, 200, listV1(store.visible(claims, bucket), body));
    }
    if (body.limit !== undefined && !(Number.isInteger(body.limit) && body.limit >= 1)) throw ERRORS.validation("body/limit must be >= 1");
    return sendJson(res, 200, listV2(store.visible(claims, bucket), body));
  }
  if (method === "POST" && (m = /^sign\/([^/]+)$/.exec(rest))) {
    // createSignedUrls: {expiresIn, paths} -> [{error, path, signedURL}]
    const claims = await authenticate(req, ctx);
    const bucket = decodePath(m[1]);
    const body = await readJson(req);
    if (!Number.isInteger(body.expiresIn) || body.expiresIn < 1) throw ERRORS.validation("body must have required property 'expiresIn'");
    if (!Array.isArray(body.paths)) throw ERRORS.validation("body must have required property 'paths'");
    const out = [];
    for (const p of body.paths) {
      const visible = store.objects.get(`${bucket}\0${p}`) && store.visible(claims, bucket).some((r) => r.name === p);
      if (!visible) out.push({ error: "Either the object does not exist or you do not have access to it", path: p, signedURL: null });
      else out.push({ error: null, path: p, signedURL: `/object/sign/${encodeURI(`${bucket}/${p}`)}?token=${await signToken({ url: `${bucket}/${p}`, scope: "download" }, { expiresIn: body.expiresIn })}` });
    }
    return sendJson(res, 200, out);
  }
  if (method === "POST" && (m = /^sign\/(.+)$/.exec(rest))) {
    const claims = await authenticate(req, ctx);
    const target = splitBucketPath(m[1]);
    if (!target) throw ERRORS.routeNotFound(method, req.url);
    const body = await readJson(req);
    if (!Number.isInteger(body.expiresIn) || body.expiresIn < 1) throw ERRORS.validation("body must have required property 'expiresIn'");
    store.find(claims, target.bucket, target.name); // signObjectUrl looks the object up with RLS first
    const urlToSign = decodeURI(m[1]);
    const token = await signToken({ url: urlToSign, scope: "download" }, { expiresIn: body.expiresIn });
    return sendJson(res, 200, { signedURL: `/object/sign/${urlToSign}?token=${token}` });
  }
  if (method === "DELETE" && (m = /^([^/]+)$/.exec(rest))) {
    const claims = await authenticate(req, ctx);
    const body = await readJson(req);
    if (!Array.isArray(body.prefixes)) throw ERRORS.validation("body must have required property 'prefixes'");
    // Measured: another user's objects and missing keys are skipped silently (200 []).
    const deleted = await store.removeMany(claims, decodePath(m[1]), body.prefixes.map(String));
    return sendJson(res, 200, deleted.map(objectSchemaRow));
  }
  if (method === "DELETE" && (m = /^(.+)$/.exec(rest))) {
    const claims = await authenticate(req, ctx);
    const target = splitBucketPath(m[1]);
    if (!target) throw ERRORS.routeNotFound(method, req.url);
    mustBeValidKey(target.name);
    const deleted = await store.removeMany(claims, target.bucket, [target.name]);
    if (deleted.length === 0) throw ERRORS.noSuchKey();
    return sendJson(res, 200, { message: "Successfully deleted" });
  }
  if ((method === "POST" || method === "PUT") && (m = /^(.+)$/.exec(rest))) {
    const claims = await authenticate(req, ctx);
    const target = splitBucketPath(m[1]);
    if (!target) throw ERRORS.routeNotFound(method, req.url);
    const isUpsert = method === "PUT" || req.headers["x-upsert"] === "true";
    return upload(req, res, ctx, claims, target.bucket, target.name, isUpsert);
  }
  if ((method === "GET" || method === "HEAD") && (m = /^(.+)$/.exec(rest))) {
    // GET /object/{bucket}/{path} and HEAD: allowInvalidJwt routes.
    const { claims, isAuthenticated } = await authenticateOptional(req, ctx);
    const target = splitBucketPath(m[1]);
    if (!target) throw ERRORS.routeNotFound(method, req.url);
    return sendObject(req, res, store, findForRead(ctx, claims, isAuthenticated, target.bucket, target.name));
  }
  throw ERRORS.routeNotFound(method, req.url);
}

async function bucketRoutes(req, res, ctx, rest) {
  const { store } = ctx;
  const method = req.method;
  const claims = await authenticate(req, ctx);
  let m;
  if (rest === "" && method === "POST") {
    const body = await readJson(req);
    if (typeof body.name !== "string") throw ERRORS.validation("body must have required property 'name'");
    store.createBucket(claims, { ...body, file_size_limit: sizeToBytes(body.file_size_limit) });
    return sendJson(res, 200, { name: body.name });
  }
  if (rest === "" && method === "GET") {
    const rows = store.listBuckets(claims).map(({ id, name, public: p, owner, created_at, updated_at, file_size_limit, allowed_mime_types, type }) => ({ id, name, public: p, owner, created_at, updated_at, file_size_limit, allowed_mime_types, type }));
    return sendJson(res, 200, rows);
  }
  if ((m = /^([^/]+)\/empty$/.exec(rest)) && method === "POST") {
    // emptyBucket is service-role only (enforceJwtRoles).
    if (claims.role !== "service_role") throw ERRORS.accessDenied("Access denied: Invalid role");
    await store.emptyBucket(claims, decodePath(m[1]));
    return sendJson(res, 200, { message: "Empty bucket has been queued. Completion may take up to an hour." });
  }
  if ((m = /^([^/]+)$/.exec(rest))) {
    const id = decodePath(m[1]);
    if (method === "GET") {
      const { name, owner, public: p, created_at, updated_at, file_size_limit, allowed_mime_types } = store.bucketFor(claims, id);
      return sendJson(res, 200, { id, name, owner, public: p, created_at, updated_at, file_size_limit, allowed_mime_types });
    }
    if (method === "PUT") {
      const body = await readJson(req);
      store.updateBucket(claims, id, { ...body, file_size_limit: body.file_size_limit === undefined ? undefined : sizeToBytes(body.file_size_limit) });
      return sendJson(res, 200, { message: "Successfully updated" });
    }
    if (method === "DELETE") {
      store.deleteBucket(claims, id);
      return sendJson(res, 200, { message: "Successfully deleted" });
    }
  }
  throw ERRORS.routeNotFound(method, req.url);
}

/** Handles one storage request; `path` is after /storage/v1 (e.g. "/object/list-v2/recordings"). */
export async function handleStorage(req, res, ctx, path, url) {
  let m;
  if ((m = /^\/object\/(.*)$/.exec(path))) return objectRoutes(req, res, ctx, m[1], url);
  if ((m = /^\/bucket\/?(.*)$/.exec(path))) return bucketRoutes(req, res, ctx, m[1]);
  throw ERRORS.routeNotFound(req.method, req.url);
}
