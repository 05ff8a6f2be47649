// Test hooks of the local Supabase, under /__admin/ (nothing Supabase serves; loopback clients only). They let
// tests reset state, inject faults, expire tokens and upload URLs, and count requests:
//
//   POST   /__admin/reset                 everything back to a fresh start (objects, users, uploads, faults, log)
//   POST   /__admin/faults                add a fault: {method?, path? (regex source), times? (1), status? (503),
//                                         body?, headers?, mode?: "respond" | "drop" | "drop-after"}
//                                         respond: answer without doing the request; drop: close the connection
//                                         without an answer; drop-after: do the request, then close the connection
//                                         before the answer is sent (a lost response)
//   DELETE /__admin/faults                remove all faults
//   POST   /__admin/clock                 {offsetMs}: JWTs are checked as if the clock were this much ahead, so
//                                         tokens expire without waiting (`"exp" claim timestamp check failed`)
//   POST   /__admin/token                 {sub?, role? ("authenticated"), expiresIn? (3600), claims?} -> {token}
//   POST   /__admin/tus/expire            {id?}: makes upload URLs (all, or one id) 25 hours old, i.e. expired
//   GET    /__admin/requests              [{method, path, status}] since the last clear (admin calls excluded)
//   DELETE /__admin/requests              clears that log

import { signToken } from "./auth.mjs";
import { readJson, sendJson } from "./http.mjs";

export class Admin {
  constructor(ctx) {
    this.ctx = ctx;
    this.faults = [];
    this.log = [];
  }

  /** Logs a non-admin request once its connection is done with it (answered or dropped). */
  record(req, res, url) {
    if (url.pathname.startsWith("/__admin/")) return;
    res.once("close", () => this.log.push({ method: req.method, path: url.pathname, status: res.statusCode }));
  }

  /** Applies the first matching fault; true when the request was answered (or dropped) by it. */
  async injectFault(req, res, url) {
    const i = this.faults.findIndex(
      (f) => (!f.method || f.method.toUpperCase() === req.method) && (!f.path || new RegExp(f.path).test(url.pathname)),
    );
    if (i < 0) return false;
    const fault = this.faults[i];
    fault.times -= 1;
    if (fault.times <= 0) this.faults.splice(i, 1);
    const mode = fault.mode || "respond";
    if (mode === "drop") {
      req.resume();
      req.socket.destroy();
      return true;
    }
    if (mode === "drop-after") {
      // Let the request run, but cut the connection as soon as its answer starts.
      const destroy = () => req.socket.destroy();
      res.writeHead = () => {
        destroy();
        return res;
      };
      res.write = () => true;
      res.end = (...args) => {
        destroy();
        args.find((a) => typeof a === "function")?.();
        return res;
      };
      return false;
    }
    req.resume();
    const status = fault.status ?? 503;
    const body = fault.body ?? { statusCode: String(status), error: "Service Unavailable", message: "injected fault", code: "InternalError" };
    sendJson(res, status, body, fault.headers || {});
    return true;
  }

  async handle(req, res, url) {
    const p = url.pathname;
    const ctx = this.ctx;
    if (req.method === "POST" && p === "/__admin/reset") {
      await ctx.store.reset();
      await ctx.tus.reset();
      ctx.createBuckets();
      ctx.auth.reset();
      this.faults = [];
      this.log = [];
      ctx.setClockOffset(0);
      return sendJson(res, 200, { ok: true });
    }
    if (p === "/__admin/faults") {
      if (req.method === "POST") {
        const f = await readJson(req);
        this.faults.push({ ...f, times: f.times ?? 1 });
        return sendJson(res, 200, { faults: this.faults.length });
      }
      if (req.method === "DELETE") {
        this.faults = [];
        return sendJson(res, 200, { faults: 0 });
      }
    }
    if (req.method === "POST" && p === "/__admin/clock") {
      const { offsetMs = 0 } = await readJson(req);
      ctx.setClockOffset(Number(offsetMs) || 0);
      return sendJson(res, 200, { offsetMs: ctx.clockOffsetMs() });
    }
    if (req.method === "POST" && p === "/__admin/token") {
      const { sub, role = "authenticated", expiresIn = 3600, claims = {} } = await readJson(req);
      const token = await signToken({ ...(sub ? { sub } : {}), role, aud: role === "authenticated" ? "authenticated" : undefined, ...claims }, { expiresIn });
      return sendJson(res, 200, { token });
    }
    if (req.method === "POST" && p === "/__admin/tus/expire") {
      const body = await readJson(req).catch(() => ({}));
      return sendJson(res, 200, { expired: await ctx.tus.age(body.id) });
    }
    if (p === "/__admin/requests") {
      if (req.method === "GET") return sendJson(res, 200, this.log);
      if (req.method === "DELETE") {
        this.log = [];
        return sendJson(res, 200, { ok: true });
      }
    }
    return sendJson(res, 404, { message: `no admin route ${req.method} ${p}` });
  }
}
