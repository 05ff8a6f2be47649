// A local Supabase for tapesync's tests: Supabase Storage's REST and TUS routes and the parts of Supabase Auth the
// demo needs, behind an imitation of Supabase's gateway (Kong), on 127.0.0.1. See README.md beside this file.
//
//   import { startSupabase } from "./server.mjs";
//   const sb = await startSupabase({ port: 54321 });   // sb.url, sb.close()
//
// As a script: `node emulators/supabase/server.mjs [--port 54321]` (prints the URL and keys, runs until killed).
//
// The gateway part (measured, ../../../shared/facts/supabase-storage.md): it strips /storage/v1 before the storage
// routes; a request without Authorization gets `Authorization: Bearer <apikey>`; it answers CORS preflights itself
// and adds `Access-Control-Allow-Origin: *` to every answer (no Expose-Headers on REST routes: only TUS answers,
// which set their own, expose headers to page JS).
//
// The admin hooks (admin.mjs) live under /__admin/, outside what Supabase serves, and answer loopback clients only.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ANON_KEY, AuthService, SERVICE_ROLE_KEY } from "./auth.mjs";
import { ERRORS } from "./errors.mjs";
import { readJson, sendError, sendJson } from "./http.mjs";
import { handleStorage } from "./routes.mjs";
import { Store } from "./store.mjs";
import { createTus, TUS_PATH } from "./tus.mjs";
import { Admin } from "./admin.mjs";

/** Supabase CLI's default API port. */
export const DEFAULT_PORT = 54321;
/** The bucket the server creates at start (private; the shipped policies cover it). */
export const DEFAULT_BUCKET = "recordings";

// Measured gateway preflight answer.
const PREFLIGHT_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";

function isLoopback(address) {
  return address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1";
}

function md5File(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash("md5");
    createReadStream(file)
      .on("data", (c) => hash.update(c))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

async function handleAuth(req, res, ctx, url) {
  const p = url.pathname;
  if (req.method === "POST" && p === "/auth/v1/signup") {
    const { status, body } = await ctx.auth.signUp(await readJson(req).catch(() => ({})));
    return sendJson(res, status, body);
  }
  if (req.method === "POST" && p === "/auth/v1/token") {
    const { status, body } = await ctx.auth.token(url.searchParams.get("grant_type"), await readJson(req).catch(() => ({})));
    return sendJson(res, status, body);
  }
  if (req.method === "GET" && p === "/auth/v1/user") {
    const { status, body } = await ctx.auth.user(String(req.headers.authorization || "").replace(/^Bearer\s+/i, ""), ctx.clockOffsetMs());
    return sendJson(res, status, body);
  }
  if (req.method === "POST" && p === "/auth/v1/logout") {
    res.writeHead(204);
    return res.end();
  }
  if (req.method === "GET" && p === "/auth/v1/health") {
    return sendJson(res, 200, { version: "tapesync-local", name: "GoTrue", description: "imitation" });
  }
  return sendJson(res, 404, { code: 404, error_code: "not_found", msg: "Not Found" });
}

/**
 * Starts the local Supabase. Options: `port` (default 54321; 0 picks a free one), `host` (127.0.0.1),
 * `buckets` (created at start and after a reset; default ["recordings"]), `fileSizeLimit` (bytes, default 50 MiB),
 * `root` (a folder for the bytes; default a new temp folder, removed by close()), `quiet`.
 * Returns `{ url, port, anonKey, serviceRoleKey, close(), ctx }`.
 */
export async function startSupabase(options = {}) {
  const host = options.host ?? "127.0.0.1";
  const ownRoot = !options.root;
  const root = options.root ?? (await mkdtemp(path.join(os.tmpdir(), "tapesync-supabase-")));
  const buckets = options.buckets ?? [DEFAULT_BUCKET];
  let port = options.port ?? DEFAULT_PORT;
  let clockOffsetMs = 0;

  const ctx = {
    root,
    store: new Store({ root, fileSizeLimit: options.fileSizeLimit }),
    auth: null,
    publicUrl: () => `http://${host}:${port}`,
    clockOffsetMs: () => clockOffsetMs,
    setClockOffset: (ms) => {
      clockOffsetMs = ms;
    },
    md5: md5File,
    createBuckets() {
      for (const id of buckets) {
        if (!ctx.store.buckets.has(id)) ctx.store.createBucket({ role: "service_role" }, { id, name: id, public: false });
      }
    },
  };
  ctx.tus = createTus(ctx);
  ctx.admin = new Admin(ctx);
  ctx.createBuckets();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://local");
    ctx.admin.record(req, res, url);
    const route = async () => {
      // The gateway's CORS: preflights answered here, every other answer gets Allow-Origin: * (the admin hooks
      // too, so a test page in a browser can use them).
      if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
        const headers = {
          "access-control-allow-origin": "*",
          "access-control-allow-methods": PREFLIGHT_METHODS,
          "content-length": "0",
        };
        if (req.headers["access-control-request-headers"]) headers["access-control-allow-headers"] = req.headers["access-control-request-headers"];
        res.writeHead(200, headers);
        return res.end();
      }
      res.setHeader("access-control-allow-origin", "*");
      if (url.pathname.startsWith("/__admin/")) {
        if (!isLoopback(req.socket.remoteAddress)) return sendJson(res, 403, { message: "admin hooks answer loopback only" });
        return ctx.admin.handle(req, res, url);
      }
      if (await ctx.admin.injectFault(req, res, url)) return;
      // The gateway turns the apikey into the Authorization a request lacks.
      if (!req.headers.authorization && req.headers.apikey) req.headers.authorization = `Bearer ${req.headers.apikey}`;
      if (url.pathname === TUS_PATH || url.pathname.startsWith(`${TUS_PATH}/`)) return ctx.tus.handle(req, res);
      if (url.pathname.startsWith("/storage/v1/")) return handleStorage(req, res, ctx, url.pathname.slice("/storage/v1".length), url);
      if (url.pathname.startsWith("/auth/v1/")) return handleAuth(req, res, ctx, url);
      if (url.pathname === "/" || url.pathname === "/health") return sendJson(res, 200, { name: "tapesync local supabase", ok: true });
      throw ERRORS.routeNotFound(req.method, req.url);
    };
    route().catch((err) => sendError(req, res, err));
  });
  // Large TUS chunks and slow test machines: no request timeout of our own.
  server.requestTimeout = 0;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  port = server.address().port;
  ctx.auth = new AuthService({ url: ctx.publicUrl() });
  const url = ctx.publicUrl();
  if (!options.quiet) process.stderr.write(`[supabase-local] listening on ${url} (data in ${root})\n`);

  return {
    url,
    port,
    anonKey: ANON_KEY,
    serviceRoleKey: SERVICE_ROLE_KEY,
    ctx,
    async close() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(() => resolve()));
      if (ownRoot) await rm(root, { recursive: true, force: true });
    },
  };
}

// Run as a script: start on --port (default 54321) and stay up until SIGINT/SIGTERM.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.SUPABASE_PORT || DEFAULT_PORT);
  const sb = await startSupabase({ port });
  process.stdout.write(`${JSON.stringify({ url: sb.url, anonKey: sb.anonKey, serviceRoleKey: sb.serviceRoleKey, bucket: DEFAULT_BUCKET })}\n`);
  const stop = async () => {
    await sb.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
