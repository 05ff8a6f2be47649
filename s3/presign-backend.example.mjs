// Example: a presign backend for tapesync's S3Remote in presign mode (no AWS credentials in the browser).
// tapesync calls `presign({ method, key, query, headers, expiresIn })` before each request; the app's
// `presign` POSTs that JSON here and gets back the URL to call. The backend signs with its own IAM
// credentials (a service user allowed on users/*), so IT is the access check: it signs only keys under the
// caller's own prefix, only the request kinds tapesync makes, for a short time.
//
// Example code (see s3/README.md); the test server's tests run it against the local S3. Its one dependency:
// @aws-sdk/s3-request-presigner (the AWS SDK for JavaScript v3's presigner).
//
//   import { createPresigner, signHandler } from "./presign-backend.example.mjs";
//   const presigner = createPresigner({ endpoint, region, bucket, credentials, pathStyle });
//   http.createServer(signHandler(presigner, (req) => userIdFromSession(req))).listen(8787);

import { createHash, createHmac } from "node:crypto";
import { S3RequestPresigner } from "@aws-sdk/s3-request-presigner";

/** Longest lifetime this backend grants a URL (seconds); tapesync asks for less. */
const MAX_EXPIRES = 900;
/** Headers a URL may bind (tapesync sends these; the browser then must send the same values). */
const SIGNABLE = new Set(["content-type", "if-none-match", "if-match", "content-md5", "range"]);

/**
 * The request kinds tapesync makes, by method and query parameters. Anything else (ACLs, policies, CORS,
 * versions, and DeleteObjects, whose keys travel in the unsigned body) is refused. Object requests use
 * DeleteObject per key instead of DeleteObjects in presign mode for that reason.
 */
const OBJECT_KINDS = [
  { method: "GET", params: [] }, // GetObject
  { method: "HEAD", params: [] }, // HeadObject
  { method: "PUT", params: [] }, // PutObject (create-only with If-None-Match: *)
  { method: "DELETE", params: [] }, // DeleteObject
  { method: "POST", params: ["uploads"] }, // CreateMultipartUpload
  { method: "PUT", params: ["partNumber", "uploadId"] }, // UploadPart
  { method: "GET", params: ["uploadId"], optional: ["max-parts", "part-number-marker"] }, // ListParts
  { method: "POST", params: ["uploadId"] }, // CompleteMultipartUpload
  { method: "DELETE", params: ["uploadId"] }, // AbortMultipartUpload
];
const LIST_PARAMS = new Set(["list-type", "prefix", "delimiter", "continuation-token", "max-keys", "start-after", "encoding-type"]);

/** A refusal, with the HTTP status the backend answers. */
export class PresignRefused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** node:crypto SHA-256 in the shape the AWS SDK's signer takes (no extra dependency). */
class Sha256 {
  constructor(secret) {
    this.hash = secret ? createHmac("sha256", secret) : createHash("sha256");
  }
  update(data) {
    this.hash.update(typeof data === "string" ? Buffer.from(data, "utf8") : data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

function rfc3986(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Checks one presign request against `userId`'s prefix; returns the validated { method, key, query, headers, expiresIn }. */
export function checkRequest(userId, { method, key, query = {}, headers = {}, expiresIn = 300 }) {
  if (typeof userId !== "string" || !/^[A-Za-z0-9:_.-]+$/.test(userId)) throw new PresignRefused(401, "not signed in");
  const own = `users/${userId}/`;
  const names = Object.keys(query);
  if (typeof key !== "string" || Object.values(query).some((v) => typeof v !== "string")) throw new PresignRefused(400, "bad request");
  if (key === "") {
    // ListObjectsV2 only, and only inside the caller's prefix (S3 would list everything the backend sees).
    const ok = method === "GET" && query["list-type"] === "2" && names.every((n) => LIST_PARAMS.has(n)) && (query.prefix ?? "").startsWith(own);
    if (!ok) throw new PresignRefused(403, "only ListObjectsV2 under your own prefix");
  } else {
    // `..` and friends mean nothing to S3 (keys are opaque), but refuse them so logs stay unambiguous.
    if (!key.startsWith(own) || key.split("/").some((s) => s === "." || s === "..")) throw new PresignRefused(403, "not your prefix");
    const kind = OBJECT_KINDS.find(
      (k) => k.method === method && k.params.every((p) => names.includes(p)) && names.every((n) => k.params.includes(n) || k.optional?.includes(n)),
    );
    if (!kind) throw new PresignRefused(403, `${method} with ${names.join(",") || "no query"} is not a tapesync request`);
  }
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const unknown = Object.keys(lower).filter((h) => !SIGNABLE.has(h));
  if (unknown.length) throw new PresignRefused(400, `headers not signable here: ${unknown.join(", ")}`);
  const seconds = Math.min(Number(expiresIn) || 300, MAX_EXPIRES);
  return { method, key, query, headers: lower, expiresIn: seconds };
}

/**
 * A presigner for one bucket. `credentials` are the backend's own ({ accessKeyId, secretAccessKey,
 * sessionToken? }); `pathStyle` true puts the bucket in the path (S3-compatible servers, the local S3).
 * Returns `presign(userId, request) -> Promise<string>` (a URL) that throws PresignRefused.
 */
export function createPresigner({ endpoint, region, bucket, credentials, pathStyle = false }) {
  const base = new URL(endpoint);
  const signer = new S3RequestPresigner({ credentials, region, sha256: Sha256 });
  return async function presign(userId, request) {
    const { method, key, query, headers, expiresIn } = checkRequest(userId, request);
    // RFC 3986 encoding of each segment (also !'()*), the form S3 canonicalises a path to before checking.
    const encodedKey = key.split("/").map(rfc3986).join("/");
    const hostname = pathStyle ? base.hostname : `${bucket}.${base.hostname}`;
    const path = pathStyle ? `/${bucket}${key ? `/${encodedKey}` : ""}` : `/${encodedKey}`;
    const port = base.port ? Number(base.port) : undefined;
    const host = port ? `${hostname}:${port}` : hostname;
    const unsigned = { protocol: base.protocol, hostname, port, method, path, query, headers: { ...headers, host } };
    // content-type is unsignable by default in the presigner; sign what tapesync asked to bind.
    const signed = await signer.presign(unsigned, { expiresIn, signableHeaders: new Set(Object.keys(headers)) });
    const search = Object.entries(signed.query)
      .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
      .join("&");
    return `${base.protocol}//${host}${signed.path}?${search}`;
  };
}

/**
 * A node:http handler for `POST /sign` with the JSON tapesync's presign callback receives; answers the URL
 * as text. `authenticate(req)` returns the caller's user id (from the app's own session) or null.
 */
export function signHandler(presign, authenticate) {
  return async (req, res) => {
    const answer = (status, text) => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
      res.end(text);
    };
    if (req.method !== "POST" || new URL(req.url, "http://x").pathname !== "/sign") return answer(404, "not found");
    try {
      const userId = await authenticate(req);
      const chunks = [];
      let size = 0;
      for await (const chunk of req) {
        size += chunk.length;
        if (size > 16384) return answer(413, "too large");
        chunks.push(chunk);
      }
      return answer(200, await presign(userId, JSON.parse(Buffer.concat(chunks).toString("utf8"))));
    } catch (err) {
      return answer(err instanceof PresignRefused ? err.status : 400, err instanceof PresignRefused ? err.message : "bad request");
    }
  };
}
