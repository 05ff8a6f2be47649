// Shared by the crash suites (tests/js/crash-push.test.mjs, crash-capture.test.mjs): Debian's Chromium with an
// on-disk profile (--user-data-dir), killed with SIGKILL (no clean close, no unload handlers, no IndexedDB
// shutdown) and started again on the same profile, as a phone's OS kills a backgrounded browser.
//
// Why Chromium is spawned here rather than by playwright: playwright's persistent contexts
// (launchPersistentContext) give no process to kill, and launchServer refuses --user-data-dir. So this module
// spawns /usr/bin/chromium itself, detached in a process group of its own, with --remote-debugging-port=0 (it
// prints the DevTools URL it picked on stderr), and connects playwright with connectOverCDP. kill() sends
// SIGKILL to the whole group: the browser process and its renderer, GPU and utility processes die at the same
// instant, as in an OOM kill or a power-button force-stop (a renderer left alive could still finish an
// IndexedDB write the browser process would then never see; killing all of them is the harsher crash).
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { serve } from "../../scripts/serve.mjs";
import { ROOT } from "./browser.mjs";
import { installRemote } from "./chaos-clouds.mjs";
import { installBytes } from "./pages/bytes.js";

export const CHUNK = 6 * 1024 * 1024;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--disable-session-crashed-bubble", "--hide-crash-restore-bubble",
];

/** The runs: CRASH_RUNS (default 10). */
export const runs = () => Number(process.env.CRASH_RUNS ?? 10);

export { bytes } from "./pages/bytes.js";

/** A temporary profile folder and the page server; `done()` removes both. */
export async function workspace() {
  const dir = await mkdtemp(path.join(tmpdir(), "tapesync-crash-"));
  const server = await serve({ root: ROOT });
  return { dir, url: server.url, done: async () => { await server.close(); await rm(dir, { recursive: true, force: true }); } };
}

// Chromium runs detached (its own process group): a test that fails before closing it must not leave it running.
const live = new Set();
process.on("exit", () => {
  for (const pid of live) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
});

/** Starts Chromium on the profile `dir`; resolves { pid, browser, context, kill(), close() }. */
export async function startChromium(dir) {
  const child = spawn(CHROMIUM, [...ARGS, `--user-data-dir=${dir}`, "--remote-debugging-port=0", "about:blank"], {
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  live.add(child.pid);
  const exited = new Promise((ok) => child.once("exit", ok));
  exited.then(() => live.delete(child.pid));
  const ws = await new Promise((ok, fail) => {
    let err = "";
    const timer = setTimeout(() => fail(new Error(`chromium printed no DevTools URL in 30 s:\n${err}`)), 30_000);
    child.stderr.on("data", (d) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.once("exit", (code) => fail(new Error(`chromium exited (${code}):\n${err}`)));
  });
  const browser = await chromium.connectOverCDP(ws);
  const context = browser.contexts()[0];
  const group = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  return {
    pid: child.pid,
    browser,
    context,
    /** SIGKILL to the browser's process group; resolves once the browser process is gone. */
    async kill() {
      group("SIGKILL");
      await exited;
      await browser.close().catch(() => {});
    },
    async close() {
      await browser.close().catch(() => {});
      group("SIGTERM");
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 5000))]);
      group("SIGKILL");
    },
  };
}

/** A page of `b` on the test page with the package, `chaosRemote` and the crash kit; page errors in `errors`. */
export async function openPage(b, url, errors) {
  const page = await b.context.newPage();
  page.on("pageerror", (e) => errors.push(`${e.name}: ${e.message}`));
  page.on("console", (m) => {
    if (/unreachable|panicked/i.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  await page.goto(`${url}/tests/js/pages/blank.html`);
  await page.evaluate(async () => {
    await window.tapesyncReady;
  });
  await installRemote(page);
  await installBytes(page);
  await page.evaluate(crashKit);
  return page;
}

function crashKit() {
  const bytes = window.testBytes; // tests/js/pages/bytes.js, installed first
  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const digest = async (blob) => hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  const crash = (window.crash = {
    bytes,
    digest,
    async open(name, remote) {
      crash.store = await tapesync.RecordingStore.open({ name });
      crash.remote = chaosRemote(remote);
    },
    async save(list) {
      const out = [];
      for (const r of list) {
        const blob = new Blob([bytes(r.size, r.seed)], { type: "audio/webm" });
        await crash.store.save(blob, { id: r.id, name: r.name });
        out.push({ id: r.id, name: r.name, size: r.size, hash: await digest(blob) });
      }
      return out;
    },
    async snapshot() {
      const out = {};
      for (const r of (await crash.store.list()).items) {
        const blob = await crash.store.getBlob(r.id);
        out[r.id] = { name: r.name, size: r.size, syncState: r.syncState, contentHash: r.contentHash, audio: blob ? await digest(blob) : null };
      }
      return out;
    },
    async sync() {
      try {
        return JSON.parse(JSON.stringify(await crash.store.sync(crash.remote)));
      } catch (e) {
        return { rejected: { name: e?.name, code: e?.code, message: String(e?.message) } };
      }
    },
  });
}

/** The recording id a request of the proxy's log carries audio for (null for log segments and the rest). */
export function audioIdOf(entry) {
  let p = entry.path.split("?")[0];
  try {
    p = decodeURIComponent(p);
  } catch {
    return null;
  }
  const tus = /\/upload\/resumable\/([^/]+)$/.exec(p);
  if (tus) {
    try {
      p = Buffer.from(tus[1], "base64url").toString("utf8");
    } catch {
      return null;
    }
  }
  if (entry.method === "POST" && entry.headers["upload-metadata"]) {
    const name = /objectName ([^,]+)/.exec(entry.headers["upload-metadata"]);
    if (name) p = Buffer.from(name[1], "base64").toString("utf8");
  }
  return /\/blobs\/([^/]+)\//.exec(p)?.[1] ?? null;
}

/**
 * Bytes of audio the proxy received per recording in `log` (what the browser sent, including what arrived of a
 * request cut short by the kill), and when the cloud last answered an audio write of it with a 2xx.
 */
export function audioBytes(log) {
  const per = new Map();
  for (const e of log) {
    if (!["POST", "PUT", "PATCH"].includes(e.method)) continue;
    // S3's CreateMultipartUpload (empty) and CompleteMultipartUpload (the parts' XML) carry no audio.
    if (e.method === "POST" && /[?&](uploads|uploadId=)/.test(e.path)) continue;
    const id = audioIdOf(e);
    if (!id) continue;
    const x = per.get(id) ?? { bytes: 0, okAt: null, requests: 0 };
    x.bytes += e.receivedBytes;
    x.requests++;
    if (e.status >= 200 && e.status < 300 && e.answeredAt) x.okAt = Math.max(x.okAt ?? 0, e.answeredAt);
    per.set(id, x);
  }
  return per;
}
