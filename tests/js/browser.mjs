// Shared by the end-to-end tests: Debian's Chromium driven by playwright-core (never a downloaded
// browser) on pages served from the repository root on 127.0.0.1.
//
// Every end-to-end test fails on an uncaught error: importing this module registers an `afterEach` hook
// that asserts no page, dedicated worker or service worker of any browser context opened through it
// (`env.page()`, `env.context()`, or `env.browser.newContext()` directly) had an uncaught exception or an
// unhandled promise rejection since the previous test ended. Nothing to opt into: a test that opens a page
// is checked.
import { afterEach, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { serve } from "../../scripts/serve.mjs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
];

/** Uncaught errors seen since the last check: { where, message }. */
const uncaught = [];
/** The name of the test running now: pages and workers are labelled with the test that opened them. */
let current = "(no test)";
/** The console of every tracked page and worker, for the failure message (the last lines). */
const consoleLines = [];
// Workers report their uncaught errors through their console with this marker (see `watchWorker`),
// since playwright has no error event for workers.
const MARK = "__tapesync_test_uncaught__";

function logLine(line) {
  consoleLines.push(line);
  if (consoleLines.length > 200) consoleLines.shift();
}

/** The last `n` console lines of the tracked pages and workers (for a failure message). */
export const recentConsole = (n = 40) => consoleLines.slice(-n).join("\n");

/** Throws if any tracked page or worker had an uncaught error since the last call; forgets them. */
export function assertNoPageErrors() {
  const seen = uncaught.splice(0);
  const logs = consoleLines.splice(0);
  assert.deepEqual(seen.map((e) => `${e.where}: ${e.message}`), [],
    `uncaught errors (pageerror) in the browser; console:\n${logs.slice(-40).join("\n")}`);
}

beforeEach((t) => { current = t.name; });
afterEach(() => assertNoPageErrors());

// Installed in a worker: reports its uncaught errors and unhandled rejections on its console.
function reportUncaught(mark) {
  if (self.__tapesyncTestWatching) return;
  self.__tapesyncTestWatching = true;
  // An id per error: the same console message may reach the test through a page and the context.
  const say = (kind, e) => console.error(`${mark} ${Math.random().toString(36).slice(2)} ${kind}: ${e?.message ?? e?.reason?.message ?? e?.reason ?? e}`);
  self.addEventListener("error", (e) => say("error", e));
  self.addEventListener("unhandledrejection", (e) => say("unhandledrejection", e));
}

function watchWorker(worker, kind) {
  const where = `${kind} ${worker.url()} (opened by "${current}")`;
  worker.evaluate(reportUncaught, MARK).catch(() => {});
  worker.on("console", (m) => onConsole(where, m));
}

const reported = new Set();
/** Logs a console message; a worker's report of an uncaught error (see reportUncaught) is recorded. */
function onConsole(where, m) {
  const text = m.text();
  if (!text.startsWith(MARK)) return logLine(`${where} ${m.type()}: ${text}`);
  const [id, ...rest] = text.slice(MARK.length + 1).split(" ");
  if (reported.has(id)) return;
  reported.add(id);
  uncaught.push({ where, message: rest.join(" ") });
}

function watchPage(page) {
  page.logs ??= [];
  const owner = current;
  page.on("console", (m) => {
    page.logs.push(`${m.type()}: ${m.text()}`);
    // A service worker's messages may come through its page too.
    onConsole(`page ${page.url()} (opened by "${owner}")`, m);
  });
  page.on("pageerror", (e) => {
    page.logs.push(`pageerror: ${e.message}`);
    uncaught.push({ where: `page ${page.url()} (opened by "${owner}")`, message: `${e.name}: ${e.message}${e.stack ? `\n${e.stack}` : ""}` });
  });
  page.on("worker", (w) => watchWorker(w, "worker"));
}

/** Makes `context` report the uncaught errors of its pages and workers, present and future. */
function watchContext(context) {
  for (const page of context.pages()) watchPage(page);
  context.on("page", watchPage);
  for (const sw of context.serviceWorkers()) watchSw(sw);
  context.on("serviceworker", watchSw);
  return context;
}

// A service worker's console reaches the context (not the worker object) in playwright.
function watchSw(sw) {
  sw.evaluate(reportUncaught, MARK).catch(() => {});
}

/** Starts the static server and the browser (`args`: more Chromium switches); `close()` stops both. */
export async function launch({ args = [] } = {}) {
  const server = await serve({ root: ROOT });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: [...ARGS, ...args] });
  // Every context, however a test makes it, is watched.
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    const owner = current;
    context.on("console", (m) => {
      // Pages' messages are logged by their page; here only service workers' (no page).
      if (m.page() == null) onConsole(`serviceworker (context opened by "${owner}")`, m);
    });
    return watchContext(context);
  };
  return {
    url: server.url,
    browser,
    /** A new browser context (its own storage: a device), watched for uncaught errors. */
    context: (options) => browser.newContext(options),
    /** A new page (in a new context: its own storage) on `path`; `page.logs` holds its console. */
    async page(path = "/tests/js/pages/blank.html", options) {
      const context = await browser.newContext(options);
      const page = await context.newPage();
      await page.goto(server.url + path);
      return page;
    },
    async close() {
      await browser.close();
      await server.close();
      // Errors after the last test (e.g. a rejection that came late) still fail the file.
      assertNoPageErrors();
    },
  };
}
