// The demo's presign backend for `BACKEND=s3 make demo`: the demo page syncs with the local S3 in tapesync's
// presign mode, so no S3 credentials ever reach the page; this signs its requests instead.
//
//   import { s3DemoRoutes } from "./s3-sign.mjs";
//   serve({ root: ".", routes: s3DemoRoutes(info) });   // info: what `node emulators/s3/harness.mjs` prints
//
// Routes:
// - `POST /sign`: body = the JSON tapesync's `presign` callback gets ({ method, key, query, headers,
//   expiresIn }), header `x-demo-user` = the demo user's id; answers the URL as text, or 401/403/400 with a
//   reason. The checks are s3/presign-backend.example.mjs's (imported, not copied): only keys under
//   `users/{id}/`, bucket-level requests only ListObjectsV2 with a prefix under it, only tapesync's request
//   kinds, at most 15 minutes.
// - `GET /s3-config`: { endpoint, region, bucket, users } for the page (no keys).
//
// Each URL is signed with that user's own IAM keys from the local S3, so its per-user policy
// (s3/iam-policy.json) confines the URL a second time. The demo has no S3 identity provider: the user id is
// whatever the page says (one of the local S3's users). An app's real backend takes it from its own session.
// The custom header and the JSON body make a cross-site POST need a CORS preflight, which this server never
// grants, so other sites cannot have URLs signed through a demo running on this machine.
import { createPresigner, PresignRefused, signHandler } from "../s3/presign-backend.example.mjs";

/** The demo server's routes for the local S3 described by `info` (the harness's info JSON). */
export function s3DemoRoutes(info) {
  const { endpoint, region, bucket } = info;
  const presigners = new Map(
    Object.entries(info.users ?? {}).map(([id, u]) => [
      id,
      createPresigner({ endpoint, region, bucket, pathStyle: true, credentials: { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey } }),
    ]),
  );
  const presign = (userId, request) => {
    const presigner = presigners.get(userId);
    if (!presigner) throw new PresignRefused(userId ? 403 : 401, userId ? "not a user of this demo" : "not signed in");
    return presigner(userId, request);
  };
  const config = JSON.stringify({ endpoint, region, bucket, users: [...presigners.keys()] });
  return {
    "POST /sign": signHandler(presign, (req) => req.headers["x-demo-user"] ?? null),
    "GET /s3-config": (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(config);
    },
  };
}
