// The test S3 server's admin side: a JSON API on its own loopback port, apart from the S3 endpoint (so no
// page talking to the endpoint can reach it, and no S3 request can be mistaken for one). It serves the
// processes that did not start the server themselves (a demo server, a browser test driver); a test that
// called startS3() uses the same operations as methods of the returned object.
//
//   GET    /info                      endpoint, region, bucket, users (keys, role ARNs, prefixes), admin key
//   POST   /faults       {spec}       queue a fault; spec: { times=1, action="error"|"reset-before"|
//                                    "reset-after"|"delay", status=503, code="SlowDown", message, retryAfter
//                                    (seconds, sent as Retry-After), delayMs, method, keyContains, query
//                                    (a parameter that must be present, e.g. "uploadId"), bucketLevel }
//   GET    /faults                    the faults still pending
//   DELETE /faults                    drop them all
//   GET    /requests?since=SEQ        the requests the endpoint saw ({ seq, at, method, bucket, key, query,
//                                    status, code, preflight, fault })
//   DELETE /requests                  forget them
//   POST   /credentials {user, durationSeconds}   AssumeRole temporary credentials for a user
//   POST   /credentials/expire {user | accessKeyId}  end sessions now (the next request gets ExpiredToken)
//   PUT    /config {maxSessionSeconds, clockOffsetMs}  cap every AssumeRole session's lifetime (null: no
//                                    cap); put the server's clock ahead (ms; negative: behind); each optional
//   POST   /reset                     empty the bucket (objects and multipart uploads), restore its CORS,
//                                    drop faults and the request log, clock offset and session cap back to none

import http from "node:http";

function isLoopback(address) {
  return address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1" || address?.startsWith("127.");
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : {};
}

/** Starts the admin API for `server` (an S3TestServer) on 127.0.0.1:port; resolves the bound port. */
export function startAdmin(server, port) {
  const admin = http.createServer(async (req, res) => {
    const send = (status, value) => {
      const body = JSON.stringify(value ?? null);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    };
    if (!isLoopback(req.socket.remoteAddress)) return send(403, { error: "loopback only" });
    // Pages must not drive faults: a browser's cross-origin request carries Origin; refuse it.
    if (req.headers.origin) return send(403, { error: "not for browsers" });
    const url = new URL(req.url, "http://admin");
    const route = `${req.method} ${url.pathname}`;
    try {
      switch (route) {
        case "GET /info":
          return send(200, server.info());
        case "POST /faults":
          return send(200, server.fault(await readJson(req)));
        case "GET /faults":
          return send(200, server.proxy.faults);
        case "DELETE /faults":
          server.clearFaults();
          return send(200, { ok: true });
        case "GET /requests":
          return send(200, server.requests({ since: Number(url.searchParams.get("since") || 0) }));
        case "DELETE /requests":
          server.clearRequests();
          return send(200, { ok: true });
        case "POST /credentials": {
          const { user, durationSeconds } = await readJson(req);
          return send(200, await server.assumeRole(user, { durationSeconds }));
        }
        case "POST /credentials/expire":
          return send(200, { expired: server.expireSessions(await readJson(req)) });
        case "PUT /config": {
          const config = await readJson(req);
          if ("maxSessionSeconds" in config) server.proxy.maxSessionSeconds = config.maxSessionSeconds ?? undefined;
          if ("clockOffsetMs" in config) server.setClockOffset(config.clockOffsetMs);
          return send(200, { maxSessionSeconds: server.proxy.maxSessionSeconds ?? null, clockOffsetMs: server.proxy.clockOffsetMs });
        }
        case "POST /reset":
          await server.reset();
          return send(200, { ok: true });
        default:
          return send(404, { error: `no admin route ${route}` });
      }
    } catch (err) {
      return send(400, { error: err.message });
    }
  });
  return new Promise((resolve, reject) => {
    admin.once("error", reject);
    admin.listen(port, "127.0.0.1", () => resolve({ server: admin, port: admin.address().port }));
  });
}
