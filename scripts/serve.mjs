// A small static file server for the demo, the browser tests and the benchmarks, on 127.0.0.1 only.
// Usage: node scripts/serve.mjs [--root DIR] [--port N] [--s3-info FILE]   (or import { serve } from it)
// --s3-info: the local S3's info JSON (what `node emulators/s3/harness.mjs` prints); adds the demo's presign
// backend (POST /sign) and GET /s3-config, see scripts/s3-sign.mjs.
import { createServer } from "node:http";
import { createReadStream, promises as fs } from "node:fs";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ts": "text/plain; charset=utf-8",
};

/**
 * Serves `root` on 127.0.0.1:`port` (0 picks a free port). Resolves to { url, close }.
 * `routes` (optional): { "POST /sign": (req, res) => ..., ... }, handlers by method and exact path, tried
 * before the files; without them only files are served.
 */
export async function serve({ root, port = 0, quiet = true, routes = {} } = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400).end();   // a malformed %-escape: not worth a crash
      return;
    }
    const route = routes[`${req.method} ${path}`];
    if (route) {
      if (!quiet) console.log(req.method, path);
      try {
        await route(req, res);
      } catch (err) {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end();
        console.error(`${req.method} ${path}: ${err?.message ?? err}`);
      }
      return;
    }
    let file = normalize(join(base, path));
    // Never serve outside the root, whatever the URL says.
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      let stat = await fs.stat(file);
      if (stat.isDirectory()) {
        file = join(file, "index.html");
        stat = await fs.stat(file);
      }
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": stat.size,
        "cache-control": "no-cache",
      });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
    if (!quiet) console.log(req.method, path);
  });
  await new Promise((ok, fail) => server.once("error", fail).listen(port, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, close: () => new Promise((ok) => server.close(ok)) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const s3Info = arg("--s3-info", null);
  let routes = {};
  if (s3Info) {
    const { s3DemoRoutes } = await import("./s3-sign.mjs");
    routes = s3DemoRoutes(JSON.parse(await fs.readFile(s3Info, "utf8")));
  }
  const { url } = await serve({ root: arg("--root", "."), port: Number(arg("--port", 8000)), quiet: false, routes });
  console.log(`serving ${arg("--root", ".")} at ${url}/`);
}
