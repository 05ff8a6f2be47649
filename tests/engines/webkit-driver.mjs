#!/usr/bin/env node
// WebKitWebDriver for WebKit with an on-disk profile, as a drop-in driver binary:
// `SAFARIDRIVER=tests/engines/webkit-driver.mjs wasm-bindgen-test-runner ...`.
//
// wasm-bindgen-test-runner starts its Safari driver with `--port=N` and asks for a session with empty
// capabilities, so it cannot name a browser. This starts WebKitWebDriver on a free port and relays every
// request to it, adding `webkitgtk:browserOptions` (tests/engines/webkit-browser.py, on-disk profile) to
// the new-session request. When the runner kills it, the driver ends too.
import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { fileURLToPath } from "node:url";

const port = Number(process.argv.find((a) => a.startsWith("--port="))?.slice(7));
if (!Number.isInteger(port)) {
  console.error("usage: webkit-driver.mjs --port=N");
  process.exit(2);
}
const browser = fileURLToPath(new URL("./webkit-browser.py", import.meta.url));

const inner = await new Promise((resolve) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
// The runner ends this wrapper with SIGKILL, which no handler here sees: a watchdog shell ends the
// driver (and so its browser) once this process is gone, instead of leaving it running.
const watchdog = `"$0" "$1" & d=$!; while kill -0 ${process.pid} 2>/dev/null && kill -0 $d 2>/dev/null; do sleep 0.5; done; kill $d 2>/dev/null; wait $d`;
const driver = spawn("sh", ["-c", watchdog, process.env.WEBKIT_WEBDRIVER ?? "/usr/bin/WebKitWebDriver", `--port=${inner}`], {
  stdio: "inherit",
});
// However this process ends, the watchdog ends the driver within half a second.
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
driver.on("exit", (code) => process.exit(code ?? 1));

// Waits for the driver's port, so the runner's first request (it polls ours) finds it up.
for (let i = 0; ; i++) {
  const up = await new Promise((resolve) => {
    const c = net.connect(inner, "127.0.0.1", () => (c.end(), resolve(true)));
    c.on("error", () => resolve(false));
  });
  if (up) break;
  if (i > 100) throw new Error("WebKitWebDriver did not start");
  await new Promise((r) => setTimeout(r, 100));
}

function withBrowser(body) {
  const request = JSON.parse(body || "{}");
  const options = { binary: browser, args: [] };
  request.capabilities ??= {};
  request.capabilities.alwaysMatch ??= {};
  request.capabilities.alwaysMatch["webkitgtk:browserOptions"] = options;
  delete request.desiredCapabilities;
  return JSON.stringify(request);
}

http
  .createServer((req, res) => {
    const parts = [];
    req.on("data", (p) => parts.push(p));
    req.on("end", () => {
      let body = Buffer.concat(parts).toString();
      if (req.method === "POST" && req.url === "/session") body = withBrowser(body);
      const headers = { ...req.headers, "content-length": Buffer.byteLength(body) };
      const out = http.request(
        { host: "127.0.0.1", port: inner, method: req.method, path: req.url, headers },
        (answer) => {
          res.writeHead(answer.statusCode, answer.headers);
          answer.pipe(res);
        },
      );
      out.on("error", (e) => {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ value: { error: "unknown error", message: String(e) } }));
      });
      out.end(body);
    });
  })
  .listen(port, "127.0.0.1");
