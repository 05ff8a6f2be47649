// The fidelity proxy: the endpoint that browsers and tests use, in front of moto (SigV4 + IAM enforced).
// It answers what moto gets wrong or does not check the way S3 does (../../../shared/facts/s3-moto.md):
//   - CORS preflights, unauthenticated, from the bucket's CORS rules (moto answers 500 under enforcement);
//     CORS headers on every response, errors included;
//   - presigned (query-signed) URLs: verified here, expiry included, then forwarded signed as their user;
//   - RequestTimeTooSkewed beyond 15 minutes, XAmzContentSHA256Mismatch, expiring session credentials;
//   - StringLike (and the other string) conditions on s3:prefix for ListBucket;
//   - DeleteObjects authorized per key (moto refuses all keys when one is refused);
//   - S3's x-amz-request-id header; no access to moto's unauthenticated /moto-api.
// Everything else is moto's: objects, multipart uploads, If-None-Match, and its own signature and IAM checks
// of each forwarded request. Faults for tests come from the admin side (emulators/s3/admin.mjs).

import http from "node:http";
import { createHash } from "node:crypto";
import { S3Error, authenticate, headerLists } from "./auth.mjs";
import { parseCorsXml, preflight, responseHeaders } from "./cors.mjs";
import { evaluate } from "./policy.mjs";
import { canonicalQuery, parseAuthorization, parseQuery, sha256Hex, signHeaders, uriEncode } from "./sigv4.mjs";
import { allTags, errorXml, escapeXml, requestId, tagText } from "./xml.mjs";

/** The largest request body the proxy buffers (S3's single PUT limit is 5 GiB; tests need far less). */
const MAX_BODY = 256 * 1024 * 1024;
const QUERY_AUTH_PARAMS = new Set(["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"]);
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "expect", "upgrade", "proxy-connection", "te", "trailer"]);
/** Query parameters of a plain object listing; any other one names a bucket subresource (cors, uploads, ...). */
const LIST_PARAMS = new Set(["list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after", "fetch-owner", "encoding-type", "marker", "allow-unordered", "key-marker", "version-id-marker", "versions"]);

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"));
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Splits a path-style request path into bucket and key (both decoded; key "" for bucket-level requests). */
function route(rawPath) {
  const slash = rawPath.indexOf("/", 1);
  const rawBucket = slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash);
  const rawKey = slash < 0 ? "" : rawPath.slice(slash + 1);
  try {
    return { bucket: decodeURIComponent(rawBucket), key: decodeURIComponent(rawKey) };
  } catch {
    return { bucket: rawBucket, key: rawKey, malformed: true };
  }
}

export class FidelityProxy {
  /**
   * @param {object} options
   * @param {string} options.motoUrl  e.g. http://127.0.0.1:5000
   * @param {string} options.region
   * @param {import('./auth.mjs').CredentialStore} options.store  the users' keys (sessions are added as AssumeRole answers pass)
   * @param {object} options.admin  { accessKeyId, secretAccessKey } of an IAM user allowed everything, for
   *   reading bucket CORS from moto
   * @param {Map<string, {user: string, policies: object[]}>} options.roles  role name -> its user and policies
   */
  constructor({ motoUrl, region, store, admin, roles }) {
    this.moto = new URL(motoUrl);
    this.region = region;
    this.store = store;
    this.admin = admin;
    this.roles = roles;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    this.corsCache = new Map();
    /** Pending faults, consumed in order by matching requests. */
    this.faults = [];
    /** What was asked, for tests that count requests (bounded). */
    this.requests = [];
    this.sequence = 0;
    /** When set, caps the lifetime of AssumeRole sessions (seconds), whatever DurationSeconds asked. */
    this.maxSessionSeconds = undefined;
    /**
     * How far the server's clock is ahead of the machine's (ms). A server 2 hours ahead is what a device
     * whose clock is 2 hours slow sees: skew checks, ServerTime and the Date header all use it.
     */
    this.clockOffsetMs = 0;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) this.sendError(res, req, {}, new S3Error(500, "InternalError", `test proxy: ${err.message}`));
        else res.destroy();
      });
    });
  }

  /** The server's time (ms since 1970). */
  now() {
    return Date.now() + this.clockOffsetMs;
  }

  listen(port, host = "127.0.0.1") {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve(this.server.address().port));
    });
  }

  async close() {
    this.agent.destroy();
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Sends one request to moto; resolves { status, headers (lower-case, multi as array), body }. */
  motoRequest({ method, path, headers, body }) {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.moto.hostname, port: this.moto.port, method, path, headers, agent: this.agent },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body && body.length ? body : undefined);
    });
  }

  /** A request to moto signed with `credentials` (headers-style), for re-signed and proxy-made requests. */
  signedMotoRequest({ method, path, headers = {}, body = Buffer.alloc(0), credentials, service = "s3" }) {
    const url = new URL(path, this.moto);
    const signed = signHeaders({ method, url, payloadHash: sha256Hex(body), credentials, region: this.region, service });
    const all = { ...headers, ...signed };
    if (body.length || method === "PUT" || method === "POST") all["content-length"] = String(body.length);
    return this.motoRequest({ method, path: url.pathname + url.search, headers: all, body });
  }

  /** The bucket's CORS rules as moto stores them ([] when none, null when there is no such bucket). */
  async corsRules(bucket) {
    if (this.corsCache.has(bucket)) return this.corsCache.get(bucket);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket === "moto-api") return null;
    const res = await this.signedMotoRequest({ method: "GET", path: `/${bucket}?cors`, credentials: this.admin });
    const text = res.body.toString("utf8");
    const rules = res.status === 200 ? parseCorsXml(text) : tagText(text, "Code") === "NoSuchCORSConfiguration" ? [] : null;
    this.corsCache.set(bucket, rules);
    return rules;
  }

  forgetCors(bucket) {
    if (bucket === undefined) this.corsCache.clear();
    else this.corsCache.delete(bucket);
  }

  /** Queues a fault (see admin.mjs for the shape); returns it. */
  addFault(spec) {
    const fault = {
      times: 1,
      action: "error",
      status: 503,
      code: "SlowDown",
      message: "Please reduce your request rate.",
      ...spec,
    };
    this.faults.push(fault);
    return fault;
  }

  takeFault(req, bucket, key, query) {
    const index = this.faults.findIndex((f) => {
      if (f.times <= 0) return false;
      if (f.method && ![].concat(f.method).includes(req.method)) return false;
      if (f.keyContains !== undefined && !key.includes(f.keyContains)) return false;
      if (f.bucketLevel !== undefined && f.bucketLevel !== (key === "")) return false;
      if (f.query && !query.some(([k]) => k === f.query)) return false;
      return true;
    });
    if (index < 0) return null;
    const fault = this.faults[index];
    fault.times -= 1;
    if (fault.times <= 0) this.faults.splice(index, 1);
    return fault;
  }

  record(entry) {
    this.sequence += 1;
    this.requests.push({ seq: this.sequence, at: Date.now(), ...entry });
    if (this.requests.length > 10000) this.requests.splice(0, this.requests.length - 10000);
    return this.requests[this.requests.length - 1];
  }

  sendError(res, req, cors, err, id = requestId()) {
    const body = req.method === "HEAD" ? "" : errorXml(err.code, err.message, err.extra, id);
    const headers = {
      ...cors,
      "content-type": "application/xml",
      "x-amz-request-id": id,
      "x-amz-id-2": id,
      "content-length": Buffer.byteLength(body),
      date: new Date(this.now()).toUTCString(),
    };
    if (err.retryAfter !== undefined) headers["retry-after"] = String(err.retryAfter);
    res.writeHead(err.status, headers);
    res.end(body);
  }

  /** Relays moto's answer with S3's CORS and request-id headers in place of moto's own. */
  relay(res, req, cors, answer) {
    const headers = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (name.startsWith("access-control-") || name === "vary" || HOP_BY_HOP.has(name)) continue;
      headers[name] = value;
    }
    const id = answer.headers["x-amzn-requestid"] || requestId();
    headers["x-amz-request-id"] ||= id;
    headers["x-amz-id-2"] ||= id;
    if (req.method !== "HEAD") headers["content-length"] = String(answer.body.length);
    headers.date = new Date(this.now()).toUTCString();
    res.writeHead(answer.status, { ...headers, ...cors });
    res.end(req.method === "HEAD" ? undefined : answer.body);
  }

  async handle(req, res) {
    const url = req.url || "/";
    const q = url.indexOf("?");
    const rawPath = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? "" : url.slice(q + 1);
    const { bucket, key, malformed } = route(rawPath);
    const origin = req.headers.origin;
    const entry = this.record({ method: req.method, bucket, key, query: rawQuery.replace(/X-Amz-Signature=[0-9a-f]+/, "X-Amz-Signature=…") });
    const finish = (status) => (entry.status = status);

    if (req.method === "OPTIONS") {
      entry.preflight = true;
      await readBody(req);
      const rules = await this.corsRules(bucket);
      const answer = preflight(rules, {
        origin,
        method: req.headers["access-control-request-method"],
        requestHeaders: req.headers["access-control-request-headers"],
      });
      finish(answer.status);
      if (answer.error) return this.sendError(res, req, {}, new S3Error(answer.status, answer.error.code, answer.error.message, { Method: req.headers["access-control-request-method"], ResourceType: key ? "OBJECT" : "BUCKET" }));
      res.writeHead(200, { ...answer.headers, "content-length": 0, "x-amz-request-id": requestId(), date: new Date(this.now()).toUTCString() });
      return res.end();
    }

    const cors = origin ? responseHeaders(await this.corsRules(bucket), { origin, method: req.method }) : {};
    let query;
    try {
      if (malformed) throw new Error("bad path");
      query = parseQuery(rawQuery);
    } catch {
      finish(400);
      return this.sendError(res, req, cors, new S3Error(400, "InvalidURI", "Couldn't parse the specified URI."));
    }

    const fault = this.takeFault(req, bucket, key, query);
    if (fault) {
      entry.fault = fault.action;
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.action === "reset-before") {
        finish(0);
        return req.socket.destroy();
      }
      if (fault.action === "error") {
        finish(fault.status);
        await readBody(req).catch(() => {});
        const err = new S3Error(fault.status, fault.code, fault.message);
        err.retryAfter = fault.retryAfter;
        return this.sendError(res, req, cors, err);
      }
    }

    const body = await readBody(req);
    if (bucket === "moto-api") {
      finish(404);
      return this.sendError(res, req, cors, new S3Error(404, "NoSuchBucket", "The specified bucket does not exist", { BucketName: bucket }));
    }
    const authorization = req.headers.authorization;
    const service = authorization ? parseAuthorization(authorization)?.scope.service : "s3";
    const answer = service && service !== "s3"
      ? await this.forwardOtherService(req, body)
      : await this.handleS3(req, { rawPath, query, bucket, key, body }).catch((err) => {
          if (err instanceof S3Error) return err;
          throw err;
        });
    if (answer instanceof S3Error) {
      entry.code = answer.code;
      finish(answer.status);
      return this.sendError(res, req, cors, answer);
    }
    finish(answer.status);
    if (answer.status >= 300) entry.code = tagText(answer.body.toString("utf8"), "Code");
    if (fault?.action === "reset-after") {
      // The request took effect; its answer is lost on the way (the "lost response" case).
      return req.socket.destroy();
    }
    this.relay(res, req, cors, answer);
  }

  /** An S3 request: authenticate as S3 does, enforce what moto does not, then forward. */
  async handleS3(req, { rawPath, query, bucket, key, body }) {
    const headers = headerLists(req.rawHeaders);
    const caller = authenticate(this.store, { method: req.method, rawPath, query, headers, body, region: this.region }, this.now());
    const names = query.map(([k]) => k);

    if (req.method === "GET" && key === "" && names.every((n) => LIST_PARAMS.has(n))) {
      const get = (name) => query.find(([k]) => k === name)?.[1];
      const context = {};
      for (const [param, conditionKey] of [["prefix", "s3:prefix"], ["delimiter", "s3:delimiter"], ["max-keys", "s3:max-keys"]]) {
        if (get(param) !== undefined) context[conditionKey] = get(param);
      }
      const action = names.includes("versions") ? "s3:ListBucketVersions" : "s3:ListBucket";
      if (evaluate(caller.entry.policies, { action, resource: `arn:aws:s3:::${bucket}`, context }) !== "Allow") {
        throw new S3Error(403, "AccessDenied", "Access Denied");
      }
    }
    if (req.method === "POST" && key === "" && names.includes("delete")) {
      return this.deleteObjects(req, bucket, body, caller);
    }

    let answer;
    if (caller.kind === "header") {
      // Forwarded as signed: moto checks the same signature again, and the caller's IAM policies.
      const forward = {};
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i].toLowerCase();
        if (HOP_BY_HOP.has(name) || name === "content-length") continue;
        forward[name] = forward[name] === undefined ? req.rawHeaders[i + 1] : `${forward[name]},${req.rawHeaders[i + 1]}`;
      }
      forward["content-length"] = String(body.length);
      answer = await this.motoRequest({ method: req.method, path: req.url, headers: forward, body });
    } else {
      const forward = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (HOP_BY_HOP.has(name) || ["host", "authorization", "content-length", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"].includes(name)) continue;
        forward[name] = value;
      }
      const rest = canonicalQuery(query.filter(([k]) => !QUERY_AUTH_PARAMS.has(k)));
      answer = await this.signedMotoRequest({ method: req.method, path: rawPath + (rest ? `?${rest}` : ""), headers: forward, body, credentials: caller.credentials });
    }
    if ((req.method === "PUT" || req.method === "DELETE") && key === "" && names.includes("cors")) this.forgetCors(bucket);
    return answer;
  }

  /**
   * DeleteObjects as S3 authorizes it: each key on its own (s3:DeleteObject), so the caller's own keys are
   * deleted and the others reported as AccessDenied in the result.
   */
  async deleteObjects(req, bucket, body, caller) {
    const hasChecksum = req.headers["content-md5"] || Object.keys(req.headers).some((h) => h.startsWith("x-amz-checksum-"));
    if (!hasChecksum) throw new S3Error(400, "InvalidRequest", "Missing required header for this request: Content-MD5");
    const md5 = req.headers["content-md5"];
    if (md5 && createHash("md5").update(body).digest("base64") !== md5) {
      throw new S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
    }
    const xml = body.toString("utf8");
    if (!/<Delete[\s>]/.test(xml)) throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema");
    const quiet = tagText(xml, "Quiet") === "true";
    const objects = allTags(xml, "Object").map((o) => ({ key: tagText(o, "Key"), versionId: tagText(o, "VersionId") }));
    if (objects.length === 0 || objects.length > 1000 || objects.some((o) => o.key === undefined)) {
      throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema");
    }
    const parts = [];
    for (const { key, versionId } of objects) {
      const path = `/${bucket}/${uriEncode(key, true)}${versionId ? `?versionId=${uriEncode(versionId)}` : ""}`;
      const answer = await this.signedMotoRequest({ method: "DELETE", path, credentials: caller.credentials });
      if (answer.status < 300) {
        if (!quiet) parts.push(`<Deleted><Key>${escapeXml(key)}</Key>${versionId ? `<VersionId>${escapeXml(versionId)}</VersionId>` : ""}</Deleted>`);
      } else {
        const text = answer.body.toString("utf8");
        const code = tagText(text, "Code") || "InternalError";
        const message = tagText(text, "Message") || "";
        parts.push(`<Error><Key>${escapeXml(key)}</Key><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error>`);
      }
    }
    const xmlOut = `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.join("")}</DeleteResult>`;
    return { status: 200, headers: { "content-type": "application/xml" }, body: Buffer.from(xmlOut) };
  }

  /**
   * STS and IAM calls go to moto as sent (moto checks them). AssumeRole answers are read on the way back:
   * the session is registered with the role's policies and an expiry the proxy enforces (moto never does),
   * and the answer's Expiration says that expiry.
   */
  async forwardOtherService(req, body) {
    const forward = {};
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i].toLowerCase();
      if (!HOP_BY_HOP.has(name) && name !== "content-length") forward[name] = req.rawHeaders[i + 1];
    }
    forward["content-length"] = String(body.length);
    const answer = await this.motoRequest({ method: req.method, path: req.url, headers: forward, body });
    const form = new URLSearchParams(req.method === "POST" ? body.toString("utf8") : (req.url.split("?")[1] ?? ""));
    if (form.get("Action") === "AssumeRole" && answer.status === 200) {
      return this.registerSession(answer, Number(form.get("DurationSeconds") || 3600));
    }
    return answer;
  }

  registerSession(answer, durationSeconds) {
    const xml = answer.body.toString("utf8");
    const credentials = {
      accessKeyId: tagText(xml, "AccessKeyId"),
      secretAccessKey: tagText(xml, "SecretAccessKey"),
      sessionToken: tagText(xml, "SessionToken"),
    };
    const arn = tagText(xml, "Arn") || "";
    const roleName = /:assumed-role\/([^/]+)\//.exec(arn)?.[1];
    const role = this.roles.get(roleName);
    const asked = Number.isFinite(durationSeconds) ? durationSeconds : 3600;
    const seconds = Math.max(1, Math.min(asked, this.maxSessionSeconds ?? Infinity));
    const expiresAt = this.now() + seconds * 1000;
    this.store.addSession(credentials, { role: roleName, user: role?.user, policies: role?.policies ?? [], expiresAt });
    const expiration = new Date(expiresAt).toISOString();
    const body = Buffer.from(xml.replace(/<Expiration>[^<]*<\/Expiration>/, `<Expiration>${expiration}</Expiration>`));
    return { ...answer, body, credentials: { ...credentials, expiration } };
  }
}
