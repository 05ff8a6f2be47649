// The end-to-end tests' browsers other than Chromium: Firefox and WebKit, driven over W3C WebDriver
// (selenium-webdriver's client against the engines' own drivers; playwright-core cannot drive stock
// Firefox or WebKit). Engines:
//   "firefox"          Firefox ESR headless through geckodriver (a fresh profile per session)
//   "webkit"           WebKitGTK with an on-disk profile (the normal-Safari case): tests/engines/webkit-browser.py
//                      started by /usr/bin/WebKitWebDriver
//   "webkit-ephemeral" WebKitWebDriver's stock browser (MiniBrowser): an ephemeral data store, which is
//                      Safari's private mode
//
// A device is one browser session with its own driver process and its own profile: two devices share
// nothing but the page server. WebKitGTK needs a display: the first WebKit device of a file starts one
// `Xvfb` on a free display number (`-displayfd`), so the plain `node --test tests/js/*.test.mjs` works
// without `xvfb-run`. Everything started here (drivers, their browsers, Xvfb) runs in a process group of
// its own and is killed by group at `close()`, and at the latest when node exits.
//
// Uncaught errors fail the test, as browser.mjs does for Chromium: pages are served with a listener for
// `error` and `unhandledrejection` that runs before the package loads, and an `afterEach` hook asserts
// that no page of any device opened through here reported one since the previous test ended.
// A missing engine is an error that names what to install, never a skip: CI installs every engine.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebDriver, Capabilities } from "selenium-webdriver";
import { Executor, HttpClient } from "selenium-webdriver/http/index.js";
import { serve } from "../../scripts/serve.mjs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const ENGINES = ["firefox", "webkit", "webkit-ephemeral"];

const GECKODRIVER = process.env.GECKODRIVER ?? join(os.homedir(), ".cargo/bin/geckodriver");
const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";
const WEBKIT_WEBDRIVER = process.env.WEBKIT_WEBDRIVER ?? "/usr/bin/WebKitWebDriver";
const WEBKIT_BROWSER = join(ROOT, "tests/engines/webkit-browser.py");
/** How long a session may take to start (a WebKit session without a display hangs silently). */
const SESSION_START_MS = 60_000;
/** The page path whose copy is served with the error listener in front (see `watchedPage`). */
export const BLANK = "/tests/js/pages/blank.html";
const WATCHED = "/__engines__/blank.html";

/** Children started here (each the leader of its process group), not yet killed: killed on exit. */
const groups = new Set();
const killAll = () => {
  for (const g of groups) killGroup(g);
};
process.on("exit", killAll);
// A runner's timeout or Ctrl-C: no exit handler runs then. Kill ours, then die of the signal as before
// (unless another handler, such as the emulators' harness, is still there to do that).
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    killAll();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

/** Kills `child` and everything in its process group, and lets go of its pipes. */
function killGroup(child) {
  groups.delete(child);
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
  // A grandchild that left the group could hold the pipes open: they must not keep node running.
  for (const s of child.stdio) s?.destroy();
  child.unref();
}

function mustExist(path, what) {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${what} is missing: ${path} is not an executable (scripts/setup.sh installs it)`);
  }
}

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer().once("error", reject).listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function waitForPort(port, child, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before it listened: ${child.output()}`);
    const up = await new Promise((resolve) => {
      const c = net.connect(port, "127.0.0.1", () => (c.end(), resolve(true)));
      c.on("error", () => resolve(false));
    });
    if (up) return;
    if (Date.now() > end) throw new Error(`${what} did not listen on ${port} within ${ms} ms: ${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Spawns `cmd` in a process group of its own (so it and its children can be killed at once). */
function start(cmd, args, env, extraFds = []) {
  const child = spawn(cmd, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe", ...extraFds] });
  groups.add(child);
  let out = "";
  const keep = (d) => {
    out = (out + d).slice(-4000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.output = () => out.trim().split("\n").slice(-15).join("\n");
  return child;
}

let xvfb = null;
/** The DISPLAY of this process's Xvfb, started on first use on a display number Xvfb picks. */
function display() {
  // One start even when two devices start at once.
  xvfb ??= startDisplay().catch((e) => {
    xvfb = null;
    throw e;
  });
  return xvfb.then((x) => x.display);
}

async function startDisplay() {
  mustExist("/usr/bin/Xvfb", "Xvfb (package xvfb)");
  const child = start("/usr/bin/Xvfb", ["-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "1280x1024x24"], process.env, ["pipe"]);
  // A loaded machine (CI builds beside it, another engine's Xvfb starting) can take long; a start that
  // fails is killed, or its process would keep node running after the file's tests.
  const number = await new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display within 60 s: ${child.output()}`)), 60_000);
    child.stdio[3].on("data", (d) => {
      text += d;
      if (text.includes("\n")) {
        clearTimeout(timer);
        resolve(text.trim());
      }
    });
    child.once("exit", (code) => reject(new Error(`Xvfb exited (${code}): ${child.output()}`)));
  }).catch((e) => {
    killGroup(child);
    throw e;
  });
  return { child, display: `:${number}` };
}

async function stopDisplay() {
  const x = await xvfb?.catch(() => null);
  xvfb = null;
  if (x) killGroup(x.child);
}

/**
 * The driver command, environment and session capabilities of `engine`. `smallQuota` (optional): the
 * profile gives each site a quota about as small as the engine allows, for the quota tests. Firefox: a
 * 1 MiB temporary storage limit (a site's limit is that limit when it is under 10 MB; `estimate()`
 * reports 1 MiB). WebKit on-disk: an origin storage ratio of a few bytes of the profile's volume (WebKit
 * rounds it up to a minimum of its own: here an 8 MiB save still fits, a 16 MiB one does not). WebKit
 * ephemeral (MiniBrowser) has no setting for it. `profile` (optional, Firefox and WebKit on-disk): a
 * folder the caller made and removes; a device started on it after another one was killed is the same
 * browser restarted after a crash.
 */
async function recipe(engine, port, { smallQuota, profile: kept } = {}) {
  if (engine === "firefox") {
    mustExist(GECKODRIVER, "geckodriver (cargo install geckodriver --locked)");
    mustExist(FIREFOX, "Firefox ESR (package firefox-esr)");
    const prefs = {
      // No first-run pages, updates or telemetry pings in the middle of a test.
      "browser.shell.checkDefaultBrowser": false,
      "datareporting.policy.dataSubmissionEnabled": false,
      "app.update.enabled": false,
    };
    // Firefox's limit for one site (its group) is the temporary storage limit when that is under 10 MB.
    if (smallQuota) prefs["dom.quotaManager.temporaryStorage.fixedLimit"] = 1024;
    return {
      cmd: GECKODRIVER,
      args: ["--host", "127.0.0.1", "--port", String(port)],
      env: process.env,
      caps: {
        browserName: "firefox",
        "moz:firefoxOptions": { binary: FIREFOX, args: ["-headless", ...(kept ? ["-profile", kept] : [])], prefs },
      },
    };
  }
  if (engine === "webkit" || engine === "webkit-ephemeral") {
    mustExist(WEBKIT_WEBDRIVER, "WebKitWebDriver (package webkit2gtk-driver)");
    const env = { ...process.env, DISPLAY: await display() };
    delete env.WAYLAND_DISPLAY;
    const caps = {};
    let profile = null;
    if (engine === "webkit") {
      profile = kept ? null : mkdtempSync(join(os.tmpdir(), "tapesync-webkit-"));
      env.TAPESYNC_WEBKIT_PROFILE = kept ?? profile;
      if (smallQuota) {
        // WebKit sets an origin's quota as a share of the volume that holds the profile: 1000 bytes' worth.
        const fs = statfsSync(profile);
        env.TAPESYNC_WEBKIT_ORIGIN_STORAGE_RATIO = String(1000 / (fs.blocks * fs.bsize));
      }
      caps["webkitgtk:browserOptions"] = { binary: WEBKIT_BROWSER, args: [] };
    } else if (smallQuota || kept) {
      throw new Error("webkit-ephemeral: MiniBrowser keeps no profile and has no way to set a quota");
    }
    return { cmd: WEBKIT_WEBDRIVER, args: [`--port=${port}`], env, caps, profile };
  }
  throw new Error(`unknown engine ${engine}: one of ${ENGINES.join(", ")}`);
}

/** Open devices of this process (for the afterEach check and the final cleanup). */
const devices = new Set();
let current = "(no test)";
// The hooks only in a test run: a script (bench/engines.mjs) that imports this module is no test file,
// and registering hooks would make node:test print an empty test report after it.
const underTest = process.env.NODE_TEST_CONTEXT !== undefined || process.execArgv.includes("--test") || /\.test\.m?js$/.test(process.argv[1] ?? "");
if (underTest) {
  const { afterEach, beforeEach } = await import("node:test");
  beforeEach((t) => {
    current = t.name;
  });
  // A test's devices end with it (a test that timed out leaves a page stuck in a script: it must not
  // hold a browser for the rest of the file).
  afterEach(async () => {
    try {
      await assertNoPageErrors();
    } finally {
      for (const d of [...devices]) await d.close();
    }
  });
}

/** Throws if a page of an open device reported an uncaught error or unhandled rejection; forgets them. */
export async function assertNoPageErrors() {
  const seen = [];
  for (const d of devices) seen.push(...(await d.takeErrors()));
  assert.deepEqual(seen, [], "uncaught errors or unhandled rejections in the browser");
}

/**
 * Starts the page server for `engine`; returns { engine, url, device(options), close() }. `device()` starts
 * a browser session (a device: its own driver, browser and profile); `close()` ends every device, the
 * display and the server, then fails if a page had an uncaught error.
 */
export async function launchEngine(engine, { routes = {} } = {}) {
  if (!ENGINES.includes(engine)) throw new Error(`unknown engine ${engine}: one of ${ENGINES.join(", ")}`);
  const blank = readFileSync(join(ROOT, BLANK), "utf8");
  const server = await serve({ root: ROOT, routes: { [`GET ${WATCHED}`]: (req, res) => watchedPage(res, blank), ...routes } });
  const mine = new Set();
  return {
    engine,
    url: server.url,
    /** A new device on the package's test page (blank.html), with `window.kit` loaded. */
    async device(options = {}) {
      const d = await startDevice(engine, server.url, options);
      mine.add(d);
      return d;
    },
    async close() {
      let errors = [];
      for (const d of mine) {
        errors.push(...(await d.takeErrors().catch(() => [])));
        await d.close();
      }
      await stopDisplay();
      await server.close();
      assert.deepEqual(errors, [], "uncaught errors or unhandled rejections in the browser (after the last test)");
    },
  };
}

// blank.html with a classic script in front that records uncaught errors and unhandled rejections from
// the first moment (a module's top-level failure included), for `takeErrors()`.
function watchedPage(res, blank) {
  const watch = `<script>
window.__tapesyncErrors = [];
addEventListener("error", (e) => __tapesyncErrors.push("error: " + e.message + " at " + e.filename + ":" + e.lineno));
addEventListener("unhandledrejection", (e) => __tapesyncErrors.push("unhandledrejection: " + (e.reason && e.reason.name) + ": " + (e.reason && e.reason.message !== undefined ? e.reason.message : e.reason)));
</script>`;
  const body = blank.replace('<meta charset="utf-8">', `<meta charset="utf-8">\n${watch}`);
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" });
  res.end(body);
}

// Runs `fn(arg)` in the page's own realm and answers with its value (or its error's name, code and
// message) as JSON. WebDriver's scripts do not run in the page's realm in every engine (Firefox runs them
// in a sandbox whose `{}` is not the page's Object), so the driver's script only adds a <script> element
// with the call (the page's realm, as an app's code) and waits for its answer, a string in a DOM event.
function runner(fn, arg) {
  const name = `tapesync-result-${Math.random().toString(36).slice(2)}`;
  const input = arg === undefined ? "undefined" : `JSON.parse(${JSON.stringify(JSON.stringify(arg))})`;
  const call = `(() => {
  const send = (o) => dispatchEvent(new CustomEvent(${JSON.stringify(name)}, { detail: JSON.stringify(o) }));
  const fail = (e) => send({ error: { name: e && e.name, code: e && e.code, message: String(e && e.message !== undefined ? e.message : e), stack: String((e && e.stack) || "") } });
  Promise.resolve().then(() => (${fn})(${input})).then((value) => send({ value }), fail).catch(fail);
})();`;
  const script = `const done = arguments[arguments.length - 1];
addEventListener(${JSON.stringify(name)}, (e) => done(String(e.detail)), { once: true });
const el = document.createElement("script");
el.textContent = arguments[0];
document.head.appendChild(el);
el.remove();`;
  return { script, call };
}

async function startDevice(engine, base, options) {
  const port = await freePort();
  const r = await recipe(engine, port, options);
  const child = start(r.cmd, r.args, r.env);
  const name = `${engine} device (opened by "${current}")`;
  let driver = null;
  const kill = () => {
    killGroup(child);
    // Retried: a child of the killed browser may still be writing into the profile for a moment.
    if (r.profile) rmSync(r.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  };
  try {
    await waitForPort(port, child, 20_000, `${engine}'s driver`);
    const executor = new Executor(new HttpClient(`http://127.0.0.1:${port}`));
    const session = WebDriver.createSession(executor, new Capabilities(r.caps));
    let timer;
    driver = await Promise.race([
      session.getSession().then(() => session),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${engine}: no session within ${SESSION_START_MS} ms: ${child.output()}`)), SESSION_START_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    // Tests bound themselves with their own timeouts; a script is only cut off far beyond any of them.
    await driver.manage().setTimeouts({ script: 3_600_000, pageLoad: 60_000 });
  } catch (e) {
    kill();
    throw e;
  }
  let closed = false;
  const device = {
    engine,
    /** The page's URL now. */
    url: () => driver.getCurrentUrl(),
    /**
     * Runs `fn(arg)` in the page and awaits it; `arg` and the result travel as JSON. A rejection becomes
     * an Error here with the page's `name`, `code` and `message`.
     */
    async evaluate(fn, arg) {
      const { script, call } = runner(fn, arg);
      const raw = await driver.executeAsyncScript(script, call);
      const out = JSON.parse(raw);
      if (out.error) {
        const err = new Error(`in ${engine}'s page: ${out.error.name}: ${out.error.message}\n${out.error.stack}`);
        Object.assign(err, { pageName: out.error.name, code: out.error.code, pageMessage: out.error.message });
        throw err;
      }
      return out.value;
    },
    /** Opens the test page (the package initialised, `window.kit` = sync-kit.js). */
    async open() {
      await driver.get(base + WATCHED);
      await ready();
    },
    /** Opens another page of the repository (`path` from its root), e.g. the benchmarks' page. */
    async goto(path) {
      pending.push(...(await device.takeErrors()));
      await driver.get(base + path);
    },
    /** Reloads the page (what a user's reload or a crash and restart does), then waits for the package. */
    async reload() {
      const before = await device.takeErrors();
      pending.push(...before);
      await driver.navigate().refresh();
      await ready();
    },
    /** The uncaught errors the page reported since the last call (also across reloads); forgets them. */
    async takeErrors() {
      let now = [];
      if (!closed) {
        try {
          // Bounded: a session whose page still runs a script (a test that timed out) answers nothing.
          const read = driver.executeScript("const e = window.__tapesyncErrors || []; window.__tapesyncErrors = []; return e;");
          now = (await Promise.race([read, new Promise((_, no) => setTimeout(() => no(new Error("no answer in 5 s")), 5000))])) ?? [];
        } catch (e) {
          now = [`(could not read the page's errors: ${e.message})`];
        }
      }
      return [...pending.splice(0), ...now].map((m) => `${name}: ${m}`);
    },
    /** Ends the session, the driver and the browser (by process group), and removes the profile. */
    async close() {
      if (closed) return;
      closed = true;
      devices.delete(device);
      // A graceful quit first (the browser flushes and exits), bounded: a page stuck in a script may hold it.
      await Promise.race([driver.quit().catch(() => {}), new Promise((ok) => setTimeout(ok, 2000))]);
      kill();
    },
  };
  const pending = [];
  async function ready() {
    await device.evaluate(async () => {
      // WebKit's driver may answer the navigation before the page's module ran: wait for it.
      for (let i = 0; !window.tapesyncReady; i++) {
        if (i > 300) throw new Error("the page's module did not run within 30 s");
        await new Promise((ok) => setTimeout(ok, 100));
      }
      await window.tapesyncReady;
      window.kit = await import("/tests/js/pages/sync-kit.js");
    });
  }
  devices.add(device);
  if (options.open !== false) await device.open();
  return device;
}
