// AWS Signature Version 4 for the test S3 server: canonical requests, signing keys, header and query
// ("presigned") signatures, and parsing what a client sent. Written from AWS's published specification
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html and the S3 variants), with
// node:crypto only, so that the proxy's checks depend on no client library and on no tapesync code.
// tests/js/s3-server.test.mjs checks it against AWS's documented examples and against the AWS SDK's signer.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const ALGORITHM = "AWS4-HMAC-SHA256";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
/** The payload hash of an empty body. */
export const EMPTY_SHA256 = sha256Hex("");
/** Longest lifetime AWS accepts for a presigned URL (7 days). */
export const MAX_PRESIGN_SECONDS = 604800;

export function sha256Hex(data) {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key, data) {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/**
 * Percent-encodes as SigV4 wants: every byte but the unreserved `A-Z a-z 0-9 - _ . ~` (and `/` when
 * `keepSlash`, for paths), upper-case hex.
 */
export function uriEncode(text, keepSlash = false) {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d || byte === 0x5f || byte === 0x2e || byte === 0x7e;
    if (unreserved || (keepSlash && byte === 0x2f)) out += String.fromCharCode(byte);
    else out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Decodes a raw query string (as sent, without `?`) into [name, value] pairs; `+` stays a plus sign. */
export function parseQuery(raw) {
  if (!raw) return [];
  return raw
    .split("&")
    .filter((part) => part !== "")
    .map((part) => {
      const eq = part.indexOf("=");
      const name = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? "" : part.slice(eq + 1);
      return [decodeURIComponent(name), decodeURIComponent(value)];
    });
}

/** Encodes [name, value] pairs in canonical order (also the form in which the proxy forwards a query). */
export function canonicalQuery(pairs) {
  return pairs
    .map(([name, value]) => [uriEncode(name), uriEncode(value)])
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

/** S3's canonical URI: the decoded path encoded once (S3 does not double-encode, unlike other services). */
export function canonicalPath(rawPath) {
  return uriEncode(decodeURIComponent(rawPath || "/"), true);
}

/** Trims a header value and folds inner runs of spaces, as the canonical form requires. */
function canonicalValue(value) {
  return String(value).trim().replace(/\s+/g, " ");
}

/**
 * The canonical request. `headers` maps lower-case names to a value or a list of values (joined with `,`);
 * `signedHeaders` lists the names covered, lower-case.
 */
export function canonicalRequest({ method, path, query, headers, signedHeaders, payloadHash }) {
  const names = [...signedHeaders].sort();
  const lines = names.map((name) => {
    const value = headers[name];
    const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
    return `${name}:${values.map(canonicalValue).join(",")}\n`;
  });
  return [method, path, canonicalQuery(query), lines.join(""), names.join(";"), payloadHash].join("\n");
}

export function credentialScope({ date, region, service }) {
  return `${date}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDate, scope, canonical) {
  return [ALGORITHM, amzDate, credentialScope(scope), sha256Hex(canonical)].join("\n");
}

export function signingKey(secret, { date, region, service }) {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
}

/** The hex signature of `toSign` with the key derived from `secret` for `scope`. */
export function signatureOf(secret, scope, toSign) {
  return createHmac("sha256", signingKey(secret, scope)).update(toSign, "utf8").digest("hex");
}

/** Constant-time comparison of two hex signatures. */
export function sameSignature(a, b) {
  const x = Buffer.from(String(a), "utf8");
  const y = Buffer.from(String(b), "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `20261201T170000Z` for a Date. */
export function amzDate(date) {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/** Parses `20261201T170000Z` into milliseconds since 1970, or NaN. */
export function parseAmzDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(text));
  if (!m) return NaN;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

function parseCredential(text) {
  const parts = String(text).split("/");
  if (parts.length !== 5 || parts[4] !== "aws4_request" || !/^\d{8}$/.test(parts[1])) return null;
  const [accessKeyId, date, region, service] = parts;
  return { accessKeyId, scope: { date, region, service } };
}

/**
 * Parses an `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header;
 * returns { accessKeyId, scope, signedHeaders, signature } or null when it is not a well-formed SigV4 one.
 */
export function parseAuthorization(value) {
  const text = String(value || "").trim();
  if (!text.startsWith(`${ALGORITHM} `)) return null;
  const fields = {};
  for (const part of text.slice(ALGORITHM.length + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const credential = parseCredential(fields.Credential);
  if (!credential || !fields.SignedHeaders || !/^[0-9a-f]{64}$/.test(fields.Signature || "")) return null;
  return { ...credential, signedHeaders: fields.SignedHeaders.split(";"), signature: fields.Signature };
}

/**
 * Parses the X-Amz-* parameters of a presigned URL from decoded query pairs; returns null when the query
 * carries no SigV4 signature, { error } when it is malformed, else { accessKeyId, scope, amzDate,
 * expiresSeconds, signedHeaders, signature, sessionToken }.
 */
export function parseQueryAuth(pairs) {
  const get = (name) => pairs.find(([k]) => k === name)?.[1];
  const algorithm = get("X-Amz-Algorithm");
  if (algorithm === undefined) return null;
  if (algorithm !== ALGORITHM) return { error: "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"" };
  const credential = parseCredential(get("X-Amz-Credential"));
  const date = get("X-Amz-Date");
  const expires = get("X-Amz-Expires");
  const signed = get("X-Amz-SignedHeaders");
  const signature = get("X-Amz-Signature");
  if (!credential || !date || Number.isNaN(parseAmzDate(date)) || !signed || !/^[0-9a-f]{64}$/.test(signature || "")) {
    return { error: "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters." };
  }
  if (!/^\d+$/.test(expires || "")) return { error: "X-Amz-Expires should be a number" };
  const expiresSeconds = Number(expires);
  if (expiresSeconds > MAX_PRESIGN_SECONDS) return { error: "X-Amz-Expires must be less than a week (in seconds) that is 604800" };
  return {
    ...credential,
    amzDate: date,
    expiresSeconds,
    signedHeaders: signed.split(";"),
    signature,
    sessionToken: get("X-Amz-Security-Token"),
  };
}

/**
 * Signs a request with an Authorization header. `url` is a URL; `headers` a plain object (any case);
 * `payloadHash` the body's SHA-256 hex or UNSIGNED-PAYLOAD. Returns the headers to send (the given ones
 * plus host, x-amz-date, x-amz-content-sha256, x-amz-security-token and authorization). Every given header
 * is signed.
 */
export function signHeaders({ method, url, headers = {}, payloadHash, credentials, region, service, now = new Date() }) {
  const date = amzDate(now);
  const scope = { date: date.slice(0, 8), region, service };
  const out = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = String(value);
  out.host = url.host;
  out["x-amz-date"] = date;
  out["x-amz-content-sha256"] = payloadHash;
  if (credentials.sessionToken) out["x-amz-security-token"] = credentials.sessionToken;
  delete out.authorization;
  const signedHeaders = Object.keys(out).sort();
  const canonical = canonicalRequest({
    method,
    path: canonicalPath(url.pathname),
    query: parseQuery(url.search.slice(1)),
    headers: out,
    signedHeaders,
    payloadHash,
  });
  const signature = signatureOf(credentials.secretAccessKey, scope, stringToSign(date, scope, canonical));
  out.authorization =
    `${ALGORITHM} Credential=${credentials.accessKeyId}/${credentialScope(scope)}, ` +
    `SignedHeaders=${signedHeaders.join(";")}, Signature=${signature}`;
  return out;
}

/**
 * A presigned (query-signed) URL for `method` on `url`, valid `expiresIn` seconds from `now`; `headers`
 * are the extra headers the caller will send and that the signature must cover (host always is).
 */
export function presignUrl({ method, url, headers = {}, credentials, region, service = "s3", expiresIn, now = new Date() }) {
  const target = new URL(url);
  const date = amzDate(now);
  const scope = { date: date.slice(0, 8), region, service };
  const signedHeaderValues = { host: target.host };
  for (const [name, value] of Object.entries(headers)) signedHeaderValues[name.toLowerCase()] = String(value);
  const signedHeaders = Object.keys(signedHeaderValues).sort();
  const query = parseQuery(target.search.slice(1)).filter(([k]) => !k.startsWith("X-Amz-"));
  query.push(
    ["X-Amz-Algorithm", ALGORITHM],
    ["X-Amz-Credential", `${credentials.accessKeyId}/${credentialScope(scope)}`],
    ["X-Amz-Date", date],
    ["X-Amz-Expires", String(expiresIn)],
    ["X-Amz-SignedHeaders", signedHeaders.join(";")],
  );
  if (credentials.sessionToken) query.push(["X-Amz-Security-Token", credentials.sessionToken]);
  const canonical = canonicalRequest({
    method,
    path: canonicalPath(target.pathname),
    query,
    headers: signedHeaderValues,
    signedHeaders,
    payloadHash: UNSIGNED_PAYLOAD,
  });
  const signature = signatureOf(credentials.secretAccessKey, scope, stringToSign(date, scope, canonical));
  query.push(["X-Amz-Signature", signature]);
  target.search = canonicalQuery(query);
  return target.toString();
}
