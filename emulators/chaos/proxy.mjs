// The chaos proxy: a seeded, reproducible fault-injecting HTTP proxy of tapesync's own, put in front of
// any local cloud (the Firebase Storage emulator, the local Supabase, the local S3) on 127.0.0.1. Tests
// point a remote's endpoint (`baseUrl`, `url`, `endpoint`) at `proxy.url`; everything the page sends
// then passes through here and, with probability `rate`, meets one of the faults users meet on flaky
// networks:
//
//   error5xx        500/502/504 answered by the "gateway"; the server never saw the request
//   throttle429     429 with Retry-After (1-2 s); not forwarded
//   unavailable503  503 with Retry-After (1-2 s); not forwarded
//   resetBefore     the connection is reset before anything is forwarded
//   resetMidUpload  half the request body is forwarded, then both connections are reset (the server
//                   sees an aborted upload: a resumable session may keep the part it got)
//   resetMidBody    forwarded and answered; the status line, headers and half the body reach the
//                   client, then the connection is reset
//   lostResponse    forwarded; the server acted; the connection is reset before any answer (or, with
//                   `lostAfterHeaders`, after the status line and headers: see the option)
//   stall           the request waits 1-4 s before it is forwarded, or the answer stops midway for
//                   1-4 s (a slow mobile link; over `timeoutMs` it is a stalled transfer)
//   truncate        forwarded; half the body is sent as a complete chunked answer (no Content-Length)
//   corrupt         forwarded; the answer's body is damaged: bytes flipped (binary bodies, which
//                   tapesync checks against their SHA-256) or a leading 0xff (text bodies: what HTTPS
//                   would never let through unnoticed is not modelled, see docs/reliability.md)
//
// Reproducible: whether a request meets a fault, and which, is a function of the seed, the request's
// method and path (ids that differ between runs, like user and device ids, normalised away) and how
// many requests of that shape came before it: the same seed and the same scenario give the same faults,
// whatever the timing, up to the order of requests of the same shape that run concurrently.
//
//   import { startChaosProxy } from "../../emulators/chaos/proxy.mjs";
//   const proxy = await startChaosProxy({ target: "http://127.0.0.1:9199", seed: 7, rate: 0.2 });
//   new FirebaseRemote({ ..., baseUrl: proxy.url });
//   proxy.rate = 0;              // heal
//   proxy.stats                  // { requests, preflights, faulted, byKind: { ... }, bytesUp, bytesReceived }
//   proxy.log                    // [{ seq, method, path, fault, receivedBytes, forwardedBytes, status, answeredAt, headers }]
//   await proxy.close();
//
// CORS preflights (OPTIONS) always pass untouched: a failed preflight is indistinguishable from a reset
// to the page, and the clouds' real gateways answer them before anything else.

import http from "node:http";
import { createHash } from "node:crypto";

export const KINDS = [
  "error5xx", "throttle429", "unavailable503", "resetBefore", "resetMidUpload", "resetMidBody",
  "lostResponse", "stall", "truncate", "corrupt",
];

/** Relative weights of the fault kinds (the default mix; a test may pass its own). */
export const DEFAULT_WEIGHTS = {
  error5xx: 2, throttle429: 1, unavailable503: 1, resetBefore: 2, resetMidUpload: 1, resetMidBody: 1,
  lostResponse: 2, stall: 1, truncate: 1, corrupt: 1,
};

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);

/** A uniform number in [0, 1) drawn from `parts` (the same parts give the same number). */
export function draw(...parts) {
  const h = createHash("sha256").update(parts.join("|")).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

/**
 * The shape of a request for the fault draw: method and path with what differs between runs (uuids,
 * user ids, long hex) normalised away, so that a replay with the same seed meets the same faults.
 */
export function shapeOf(method, rawUrl) {
  let path = rawUrl.split("?")[0];
  try {
    path = decodeURIComponent(path);
  } catch {
    // A malformed escape: keep it raw.
  }
  path = path
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<uuid>")
    .replace(/users\/[^/]+/g, "users/<user>")
    .replace(/\/upload\/resumable\/[^/]+/g, "/upload/resumable/<session>");
  const query = rawUrl.includes("?") ? rawUrl.slice(rawUrl.indexOf("?")).replace(/(upload_id|uploadId|pageToken|continuation-token)=[^&]*/g, "$1=*") : "";
  return `${method} ${path}${query.replace(/users%2F[^%&]+/g, "users%2F<user>")}`;
}

/** The request's body; `onBytes(n)` as it arrives. Rejects when the client goes away before the end. */
function readBody(req, onBytes = () => {}) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let ended = false;
    req.on("data", (c) => {
      chunks.push(c);
      onBytes(c.length);
    });
    req.on("end", () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
    req.on("close", () => {
      if (!ended) reject(new Error("the client went away mid-request"));
    });
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

export class ChaosProxy {
  /**
   * @param {object} o
   * @param {string} o.target    the cloud's origin, e.g. "http://127.0.0.1:9199"
   * @param {number|string} [o.seed]
   * @param {number} [o.rate]    probability that a request meets a fault (0 = a plain proxy)
   * @param {object} [o.weights] fault kind -> relative weight (DEFAULT_WEIGHTS)
   * @param {(req: {method: string, url: string, headers: object}) => boolean} [o.faultable]
   *                             which requests may meet faults (default: all but preflights)
   * @param {[number, number]} [o.stallMs] the range of a stall (default 1000-4000 ms)
   * @param {boolean} [o.lostAfterHeaders] lostResponse sends the status line and headers before the reset:
   *                             a browser resends a request on its own when a reused connection is reset before
   *                             any answer, and a cloud that ignores the request's offset (the Firebase Storage
   *                             emulator with resumable chunks) then stores that chunk twice
   */
  constructor({ target, seed = 1, rate = 0, weights = DEFAULT_WEIGHTS, faultable = () => true, stallMs = [1000, 4000], lostAfterHeaders = false }) {
    this.lostAfterHeaders = lostAfterHeaders;
    this.target = new URL(target);
    this.seed = String(seed);
    this.rate = rate;
    this.weights = weights;
    this.faultable = faultable;
    this.stallMs = stallMs;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.occurrences = new Map();
    this.log = [];
    this.seq = 0;
    this.stats = { requests: 0, preflights: 0, faulted: 0, byKind: Object.fromEntries(KINDS.map((k) => [k, 0])), bytesUp: 0, bytesReceived: 0 };
    this.sockets = new Set();
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch(() => {
        req.socket.destroy();
      });
    });
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = 5000;
  }

  /** Listens on 127.0.0.1:`port` (0: a free one); resolves the proxy's URL. */
  async listen(port = 0) {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", resolve);
    });
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this.url;
  }

  async close() {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Forgets the log and the counts (the fault draws go on: occurrences are kept). */
  clearLog() {
    this.log = [];
    this.stats = { requests: 0, preflights: 0, faulted: 0, byKind: Object.fromEntries(KINDS.map((k) => [k, 0])), bytesUp: 0, bytesReceived: 0 };
  }

  /** Which fault (or null) the next request of `shape` meets. */
  decide(shape) {
    const n = (this.occurrences.get(shape) ?? 0) + 1;
    this.occurrences.set(shape, n);
    if (!(this.rate > 0) || draw(this.seed, "hit", shape, n) >= this.rate) return { kind: null, n };
    const total = KINDS.reduce((s, k) => s + (this.weights[k] ?? 0), 0);
    let x = draw(this.seed, "kind", shape, n) * total;
    for (const k of KINDS) {
      x -= this.weights[k] ?? 0;
      if (x < 0) return { kind: k, n };
    }
    return { kind: KINDS.at(-1), n };
  }

  cors(req) {
    return {
      "access-control-allow-origin": req.headers.origin ?? "*",
      "access-control-expose-headers": "Retry-After, ETag, Date, Location, Upload-Offset, X-Goog-Upload-URL, X-Goog-Upload-Status, X-Goog-Upload-Size-Received",
    };
  }

  async handle(req, res) {
    if (req.method === "OPTIONS") {
      this.stats.preflights++;
      const body = await readBody(req);
      return this.forward(req, res, body, { kind: null });
    }
    const shape = shapeOf(req.method, req.url);
    const decision = this.faultable(req) ? this.decide(shape) : { kind: null, n: 0 };
    const entry = {
      seq: ++this.seq,
      at: Date.now(),
      method: req.method,
      path: req.url,
      shape,
      fault: decision.kind,
      // What the client sent (all of it, or what arrived before it went away) and what went on to the cloud.
      receivedBytes: 0,
      bodyBytes: 0,
      forwardedBytes: 0,
      aborted: false,
      status: null,
      answeredAt: null,
      headers: {
        "upload-offset": req.headers["upload-offset"],
        "upload-metadata": req.headers["upload-metadata"],
        "content-range": req.headers["content-range"],
        "x-goog-upload-command": req.headers["x-goog-upload-command"],
        "x-goog-upload-offset": req.headers["x-goog-upload-offset"],
      },
    };
    this.log.push(entry);
    if (this.log.length > 200_000) this.log.splice(0, 100_000);
    this.stats.requests++;
    const body = await readBody(req, (n) => {
      entry.receivedBytes += n;
      this.stats.bytesReceived += n;
    }).catch(() => null);
    if (body === null) {
      entry.aborted = true;
      return;
    }
    entry.bodyBytes = body.length;
    if (decision.kind) {
      this.stats.faulted++;
      this.stats.byKind[decision.kind]++;
    }
    const r = (what) => draw(this.seed, what, shape, decision.n);
    const stallFor = () => Math.round(this.stallMs[0] + r("stall-ms") * (this.stallMs[1] - this.stallMs[0]));
    switch (decision.kind) {
      case "error5xx":
      case "throttle429":
      case "unavailable503": {
        const status = decision.kind === "throttle429" ? 429 : decision.kind === "unavailable503" ? 503 : [500, 502, 504][Math.floor(r("status") * 3)];
        const headers = { ...this.cors(req), "content-type": "application/json" };
        if (status === 429 || status === 503) headers["retry-after"] = String(1 + Math.floor(r("retry-after") * 2));
        entry.status = status;
        const text = JSON.stringify({ error: { code: status, message: `chaos proxy: ${decision.kind}` } });
        res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(text) });
        return res.end(req.method === "HEAD" ? undefined : text);
      }
      case "resetBefore":
        return req.socket.destroy();
      case "resetMidUpload":
        if (body.length < 2) return req.socket.destroy();
        return this.forward(req, res, body, decision, entry, { cutUploadAt: Math.max(1, Math.floor(body.length / 2)) });
      case "stall":
        if (r("stall-where") < 0.5) {
          await sleep(stallFor());
          return this.forward(req, res, body, decision, entry);
        }
        return this.forward(req, res, body, decision, entry, { stallMidBody: stallFor() });
      default:
        return this.forward(req, res, body, decision, entry);
    }
  }

  /** Sends the request on to the cloud and the answer back, damaged as `decision.kind` says. */
  forward(req, res, body, decision, entry = {}, { cutUploadAt, stallMidBody } = {}) {
    return new Promise((resolve) => {
      const headers = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
      // The Host header stays the proxy's: S3 signatures cover it, and the clouds build the URLs they
      // hand out from it (those built from their own origin are rewritten below).
      const upstream = http.request({
        host: this.target.hostname,
        port: this.target.port,
        method: req.method,
        path: req.url,
        headers,
        agent: this.agent,
      });
      upstream.on("error", () => {
        if (!res.headersSent) req.socket.destroy();
        resolve();
      });
      if (cutUploadAt !== undefined) {
        upstream.write(body.subarray(0, cutUploadAt));
        entry.forwardedBytes = cutUploadAt;
        this.stats.bytesUp += cutUploadAt;
        // Let the part reach the server before both sides are cut.
        setTimeout(() => {
          upstream.destroy();
          req.socket.destroy();
          resolve();
        }, 50);
        return;
      }
      entry.forwardedBytes = body.length;
      this.stats.bytesUp += body.length;
      upstream.end(body.length ? body : undefined);
      upstream.on("response", async (up) => {
        const chunks = [];
        up.on("data", (c) => chunks.push(c));
        up.on("error", () => {
          req.socket.destroy();
          resolve();
        });
        await new Promise((ok) => up.on("end", ok));
        let data = Buffer.concat(chunks);
        entry.status = up.statusCode;
        entry.answeredAt = Date.now();
        const out = {};
        const from = this.target.origin;
        for (const [k, v] of Object.entries(up.headers)) {
          if (HOP_BY_HOP.has(k)) continue;
          out[k] = typeof v === "string" ? v.split(from).join(this.url) : Array.isArray(v) ? v.map((x) => x.split(from).join(this.url)) : v;
        }
        const kind = decision.kind;
        const hasBody = data.length >= 2 && req.method !== "HEAD";
        if (kind === "lostResponse" && this.lostAfterHeaders) {
          res.writeHead(up.statusCode, out);
          res.flushHeaders();
          setTimeout(() => {
            req.socket.destroy();
            resolve();
          }, 20);
          return;
        }
        if (kind === "lostResponse" || ((kind === "truncate" || kind === "corrupt" || kind === "resetMidBody") && !hasBody)) {
          req.socket.destroy();
          return resolve();
        }
        if (kind === "corrupt") {
          data = Buffer.from(data);
          const type = String(up.headers["content-type"] ?? "");
          if (/json|xml|text/.test(type)) {
            data[0] = 0xff;
          } else {
            for (const at of [0, data.length >> 1, data.length - 1]) data[at] ^= 0x5a;
          }
        }
        if (kind === "truncate") {
          delete out["content-length"];
          res.writeHead(up.statusCode, out);
          res.end(data.subarray(0, data.length >> 1));
          return resolve();
        }
        if (kind === "resetMidBody") {
          res.writeHead(up.statusCode, out);
          res.write(data.subarray(0, data.length >> 1));
          setTimeout(() => {
            req.socket.destroy();
            resolve();
          }, 20);
          return;
        }
        res.writeHead(up.statusCode, out);
        if (stallMidBody !== undefined && data.length >= 2) {
          res.write(data.subarray(0, data.length >> 1));
          await sleep(stallMidBody);
          res.end(data.subarray(data.length >> 1));
        } else {
          res.end(data.length ? data : undefined);
        }
        resolve();
      });
    });
  }
}

/** Starts a chaos proxy in front of `target` on a free loopback port (options as ChaosProxy's). */
export async function startChaosProxy(options) {
  const proxy = new ChaosProxy(options);
  await proxy.listen(options.port ?? 0);
  return proxy;
}
