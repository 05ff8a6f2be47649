// Who sent a request to the test S3 server, checked as S3 checks it: SigV4 header or query signature,
// clock skew, presigned-URL expiry, session tokens and their expiry, and the body against
// x-amz-content-sha256. moto verifies header signatures too but none of the rest
// (../../../shared/facts/s3-moto.md), and answers a presigned URL with a 500; the proxy needs a verified
// caller anyway to enforce what moto ignores (prefix conditions, DeleteObjects per key).
//
// The checks use emulators/s3/sigv4.mjs only; the secrets are those of the users and sessions the launcher
// created (the store below), so a wrong signature, an expired URL or an unknown key fails here.

import {
  EMPTY_SHA256,
  UNSIGNED_PAYLOAD,
  canonicalPath,
  canonicalRequest,
  parseAmzDate,
  parseAuthorization,
  parseQueryAuth,
  sameSignature,
  sha256Hex,
  signatureOf,
  stringToSign,
} from "./sigv4.mjs";

/** S3's limit on the distance between a request's time and the server's: 15 minutes. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

/**
 * The keys the server knows: IAM users' long-term keys and AssumeRole sessions (with their expiry, which
 * moto never enforces). Each entry names its principal and the policies that apply to it.
 */
export class CredentialStore {
  constructor() {
    this.keys = new Map();
  }

  /** Registers a long-term key of IAM user `name`, whose policies are `policies`. */
  addUser(name, { accessKeyId, secretAccessKey }, policies) {
    this.keys.set(accessKeyId, { accessKeyId, secretAccessKey, principal: { type: "user", name }, policies });
  }

  /** Registers AssumeRole session credentials valid until `expiresAt` (ms since 1970). */
  addSession({ accessKeyId, secretAccessKey, sessionToken }, { role, user, policies, expiresAt }) {
    this.keys.set(accessKeyId, {
      accessKeyId,
      secretAccessKey,
      sessionToken,
      expiresAt,
      principal: { type: "role", name: role, user },
      policies,
    });
  }

  get(accessKeyId) {
    return this.keys.get(accessKeyId);
  }

  /** Ends sessions now: one by access key id, or all of a user's (`{ user }`); returns how many. */
  expire({ accessKeyId, user }, now = Date.now()) {
    let count = 0;
    for (const entry of this.keys.values()) {
      if (!entry.sessionToken) continue;
      if ((accessKeyId && entry.accessKeyId === accessKeyId) || (user && entry.principal.user === user)) {
        entry.expiresAt = Math.min(entry.expiresAt, now - 1);
        count += 1;
      }
    }
    return count;
  }
}

/** A refusal: an S3 error with its HTTP status and the extra fields S3 puts in the body. */
export class S3Error extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

/** Lower-case header name -> list of values, from Node's rawHeaders (duplicates kept apart, as SigV4 wants). */
export function headerLists(rawHeaders) {
  const out = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    (out[name] ||= []).push(rawHeaders[i + 1]);
  }
  return out;
}

function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The key entry for `accessKeyId`, refusing unknown keys, bad session tokens and expired sessions. */
function keyFor(store, accessKeyId, sessionToken, now) {
  const entry = store.get(accessKeyId);
  if (!entry) {
    throw new S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", { AWSAccessKeyId: accessKeyId });
  }
  if (entry.sessionToken !== undefined || sessionToken !== undefined) {
    if (entry.sessionToken === undefined || sessionToken !== entry.sessionToken) {
      throw new S3Error(400, "InvalidToken", "The provided token is malformed or otherwise invalid.");
    }
    if (now > entry.expiresAt) throw new S3Error(400, "ExpiredToken", "The provided token has expired.");
  }
  return entry;
}

function checkSignature(entry, { scope, amzDate, canonical, signature }) {
  const toSign = stringToSign(amzDate, scope, canonical);
  const expected = signatureOf(entry.secretAccessKey, scope, toSign);
  if (!sameSignature(expected, signature)) {
    throw new S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", {
      AWSAccessKeyId: entry.accessKeyId,
      StringToSign: toSign,
      SignatureProvided: signature,
      CanonicalRequest: canonical,
    });
  }
}

/** S3 refuses a signature scoped to another region or service, naming the one it expects. */
function checkScope(scope, region, code, what) {
  if (scope.service !== "s3") {
    throw new S3Error(400, code, `${what}; incorrect service "${scope.service}". This endpoint belongs to "s3".`);
  }
  if (region && scope.region !== region) {
    throw new S3Error(400, code, `${what}; the region '${scope.region}' is wrong; expecting '${region}'`, { Region: region });
  }
}

/**
 * Authenticates an S3 request. `request` is { method, rawPath, query (decoded pairs), headers (from
 * headerLists), body (Buffer), region (the bucket's) }. Returns { kind: "header" | "query", entry,
 * credentials } or throws S3Error.
 */
export function authenticate(store, request, now = Date.now()) {
  const { method, rawPath, query, headers, body, region } = request;
  const first = (name) => headers[name]?.[0];
  const queryAuth = parseQueryAuth(query);
  const authorization = first("authorization");
  if (authorization !== undefined && queryAuth) {
    throw new S3Error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified");
  }
  let path;
  try {
    path = canonicalPath(rawPath);
  } catch {
    throw new S3Error(400, "InvalidURI", "Couldn't parse the specified URI.");
  }

  if (queryAuth) {
    if (queryAuth.error) throw new S3Error(400, "AuthorizationQueryParametersError", queryAuth.error);
    checkScope(queryAuth.scope, region, "AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter");
    const entry = keyFor(store, queryAuth.accessKeyId, queryAuth.sessionToken, now);
    const signedAt = parseAmzDate(queryAuth.amzDate);
    if (signedAt - now > MAX_SKEW_MS) throw new S3Error(403, "AccessDenied", "Request is not valid yet");
    const expiresAt = signedAt + queryAuth.expiresSeconds * 1000;
    if (now > expiresAt) {
      throw new S3Error(403, "AccessDenied", "Request has expired", {
        "X-Amz-Expires": queryAuth.expiresSeconds,
        Expires: isoSeconds(expiresAt),
        ServerTime: isoSeconds(now),
      });
    }
    const canonical = canonicalRequest({
      method,
      path,
      query: query.filter(([k]) => k !== "X-Amz-Signature"),
      headers,
      signedHeaders: queryAuth.signedHeaders,
      payloadHash: UNSIGNED_PAYLOAD,
    });
    checkSignature(entry, { scope: queryAuth.scope, amzDate: queryAuth.amzDate, canonical, signature: queryAuth.signature });
    return { kind: "query", entry, credentials: credentialsOf(entry) };
  }

  if (authorization === undefined) throw new S3Error(403, "AccessDenied", "Access Denied");
  const parsed = parseAuthorization(authorization);
  if (!parsed) {
    throw new S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; only AWS4-HMAC-SHA256 with Credential, SignedHeaders and Signature is supported.");
  }
  checkScope(parsed.scope, region, "AuthorizationHeaderMalformed", "The authorization header is malformed");
  const amzDate = first("x-amz-date");
  const signedAt = amzDate !== undefined ? parseAmzDate(amzDate) : Date.parse(first("date") ?? "");
  if (Number.isNaN(signedAt)) {
    throw new S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
  }
  if (Math.abs(now - signedAt) > MAX_SKEW_MS) {
    throw new S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", {
      RequestTime: amzDate ?? first("date"),
      ServerTime: isoSeconds(now),
      MaxAllowedSkewMilliseconds: MAX_SKEW_MS,
    });
  }
  if (amzDate !== undefined && parsed.scope.date !== amzDate.slice(0, 8)) {
    throw new S3Error(400, "AuthorizationHeaderMalformed", `The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date: "${parsed.scope.date}".`);
  }
  const entry = keyFor(store, parsed.accessKeyId, first("x-amz-security-token"), now);
  if (!parsed.signedHeaders.includes("host")) {
    throw new S3Error(403, "AccessDenied", "Host header is not signed");
  }
  const unsigned = Object.keys(headers).filter((name) => name.startsWith("x-amz-") && !parsed.signedHeaders.includes(name));
  if (unsigned.length) {
    throw new S3Error(403, "AccessDenied", "There were headers present in the request which were not signed", { HeadersNotSigned: unsigned.join(", ") });
  }
  const payloadHash = first("x-amz-content-sha256");
  if (payloadHash === undefined) {
    throw new S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  }
  const known = payloadHash === UNSIGNED_PAYLOAD || payloadHash.startsWith("STREAMING-") || /^[0-9a-f]{64}$/.test(payloadHash);
  if (!known) {
    throw new S3Error(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid sha256 value.");
  }
  const canonical = canonicalRequest({ method, path, query, headers, signedHeaders: parsed.signedHeaders, payloadHash });
  checkSignature(entry, { scope: parsed.scope, amzDate: amzDate ?? first("date"), canonical, signature: parsed.signature });
  // The signature covers the declared hash; S3 then checks the body against it (streaming bodies carry
  // per-chunk signatures instead, which this server does not verify).
  if (/^[0-9a-f]{64}$/.test(payloadHash)) {
    const actual = body.length ? sha256Hex(body) : EMPTY_SHA256;
    if (actual !== payloadHash) {
      throw new S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", {
        ClientComputedContentSHA256: payloadHash,
        S3ComputedContentSHA256: actual,
      });
    }
  }
  return { kind: "header", entry, credentials: credentialsOf(entry) };
}

function credentialsOf(entry) {
  return { accessKeyId: entry.accessKeyId, secretAccessKey: entry.secretAccessKey, sessionToken: entry.sessionToken };
}
