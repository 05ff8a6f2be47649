// Plain-HTTP requests to the local Supabase (or a real project) the way a REST client such as tapesync's makes
// them, for tests: an object upload and the TUS steps. Headers carry the anon key as `apikey` and the caller's
// token as `Authorization: Bearer`, as Supabase clients send them.

import http from "node:http";
import { ANON_KEY } from "./auth.mjs";

/** `{apikey, authorization}` for a token. */
export const authHeaders = (token) => ({ apikey: ANON_KEY, authorization: `Bearer ${token}` });

/** POST {url}/storage/v1/object/{bucket}/{key} with `x-upsert` (create-only by default). */
export function uploadObject(url, bucket, token, key, bytes, { contentType = "application/json", upsert = false } = {}) {
  return fetch(`${url}/storage/v1/object/${bucket}/${key}`, {
    method: "POST",
    headers: { ...authHeaders(token), "content-type": contentType, "x-upsert": String(upsert) },
    body: bytes,
  });
}

export const tusHeaders = (token, extra = {}) => ({ ...authHeaders(token), "tus-resumable": "1.0.0", ...extra });

/** The Upload-Metadata header: `key base64(value)` pairs. */
export const tusMetadata = (entries) =>
  Object.entries(entries).map(([k, v]) => `${k} ${Buffer.from(v).toString("base64")}`).join(",");

/** Creates a TUS upload of `length` bytes for `bucket/key` (content type audio/webm, cache 3600 s). */
export function tusCreate(url, bucket, token, key, length, { upsert = false, contentType = "audio/webm" } = {}) {
  return fetch(`${url}/storage/v1/upload/resumable`, {
    method: "POST",
    headers: tusHeaders(token, {
      "upload-length": String(length),
      "upload-metadata": tusMetadata({ bucketName: bucket, objectName: key, contentType, cacheControl: "3600" }),
      "x-upsert": String(upsert),
    }),
  });
}

/** PATCHes `bytes` at `offset`. */
export const tusPatch = (token, location, offset, bytes) =>
  fetch(location, {
    method: "PATCH",
    headers: tusHeaders(token, { "upload-offset": String(offset), "content-type": "application/offset+octet-stream" }),
    body: bytes,
  });

/** A PATCH that declares `declared` bytes, sends `bytes`, then drops the connection (an interrupted chunk). */
export function interruptedPatch(token, location, offset, declared, bytes) {
  return new Promise((resolve) => {
    const u = new URL(location);
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      method: "PATCH",
      headers: tusHeaders(token, { "upload-offset": String(offset), "content-type": "application/offset+octet-stream", "content-length": String(declared) }),
    });
    req.on("error", () => resolve());
    req.write(bytes, () =>
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200),
    );
  });
}
