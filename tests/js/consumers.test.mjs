// The package as apps get it from npm: `npm pack` of pkg/, the tarball installed into the tiny apps of
// tests/consumers/ (offline: only the tarball is installed; Vite, esbuild and TypeScript are the root's
// pinned devDependencies), type-checked, built, and run in Chromium: save, list, play.
//
// - vite/: a Vite + TypeScript app (built, and served by `vite dev`). Its app.ts is README's TypeScript example, type-checked with
//   `tsc --strict`, lib ES2022 + DOM and skipLibCheck false (the package's .d.ts is checked too) with
//   types-check.ts, which fails on any event detail that is not exactly typed; and again with lib
//   esnext, where the classes are Disposable.
// - esbuild/: the same app.ts, bundled by esbuild.
// - static/: README's plain `<script type="module">` page, with the package's files served as they
//   are in the tarball (as a CDN serves them), at /vendor/tapesync/.
//
// README's "Install" examples are these files, verbatim, and its build commands are run as written
// (`npx X` runs the root's node_modules/.bin/X: npx itself would ask the registry).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { launch, ROOT } from "./browser.mjs";
import { serve } from "../../scripts/serve.mjs";

const run = promisify(execFile);
const WORK = join(ROOT, "test-output", "consumers");
const APPS = join(ROOT, "tests", "consumers");
const BIN = join(ROOT, "node_modules", ".bin");

/** Runs `command` (argv) in `cwd`; resolves to its output, rejects with it. */
async function sh(cwd, file, args, options = {}) {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, maxBuffer: 16 << 20, ...options });
    return stdout + stderr;
  } catch (e) {
    e.message += `\n${e.stdout ?? ""}${e.stderr ?? ""}`;
    throw e;
  }
}

/** The fenced blocks of the README's "## Install" section: [{ lang, code }]. */
function installBlocks(readme) {
  const start = readme.indexOf("\n## Install\n");
  assert.ok(start >= 0, 'README has an "## Install" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```(\w+)\n([^]*?)^```$/gm)].map((m) => ({ lang: m[1], code: m[2] }));
}

/** Runs the lines of a README ```sh block in `cwd` with bash, `npx X` as the root's X. */
async function runShell(cwd, code) {
  const script = code.replace(/^npx /gm, "");
  return sh(cwd, "bash", ["-euo", "pipefail", "-c", script], {
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` },
  });
}

/** Half a second of a 440 Hz tone, 16-bit mono at 48 kHz, as a WAV file. */
function wav() {
  const rate = 48000, n = rate / 2, buf = Buffer.alloc(44 + 2 * n);
  buf.write("RIFF", 0); buf.writeUInt32LE(36 + 2 * n, 4); buf.write("WAVE", 8); buf.write("fmt ", 12);
  buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22); buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(2 * rate, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34); buf.write("data", 36);
  buf.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + 2 * i);
  return buf;
}

let env;
let tarball;
let packed; // npm pack's report: { name, version, files: [{ path, size }] }
let blocks;

before(async () => {
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });
  const [report] = JSON.parse(await sh(join(ROOT, "pkg"), "npm", ["pack", "--json", "--pack-destination", WORK]));
  packed = report;
  tarball = join(WORK, report.filename);
  await cp(APPS, WORK, { recursive: true });
  // Only the tarball goes into each app, offline, with no lock file or package.json change; the build
  // tools resolve from the root's node_modules.
  const install = (app) => sh(join(WORK, app), "npm", ["install", "--no-save", "--no-package-lock", "--offline",
    "--ignore-scripts", "--no-audit", "--no-fund", tarball]);
  await Promise.all([install("vite"), install("esbuild")]);
  // The static server's copy: the files as the tarball has them.
  await mkdir(join(WORK, "static", "vendor"), { recursive: true });
  await sh(join(WORK, "static", "vendor"), "tar", ["-xzf", tarball]);
  await sh(join(WORK, "static", "vendor"), "mv", ["package", "tapesync"]);
  blocks = installBlocks(await readFile(join(ROOT, "README.md"), "utf8"));
  env = await launch();
}, { timeout: 120_000 });
after(async () => { await env?.close(); });

test("README's Install examples are the consumer apps, verbatim", async () => {
  const ts = blocks.filter((b) => b.lang === "ts");
  const html = blocks.filter((b) => b.lang === "html");
  assert.equal(ts.length, 1, "one TypeScript example");
  assert.equal(ts[0].code, await readFile(join(APPS, "vite", "app.ts"), "utf8"));
  const page = await readFile(join(APPS, "static", "index.html"), "utf8");
  assert.ok(html.some((b) => b.code === page), "the static page is README's HTML example");
  assert.ok(blocks.some((b) => b.lang === "sh" && /\bvite build\b/.test(b.code)), "the Vite build command");
  assert.ok(blocks.some((b) => b.lang === "sh" && /\besbuild\b/.test(b.code)), "the esbuild build command");
});

test("the tarball has every file the package imports, and package.json points at files in it", async () => {
  const files = new Set(packed.files.map((f) => f.path));
  for (const f of ["package.json", "tapesync.js", "tapesync.d.ts", "tapesync_bg.wasm", "compress/index.js",
    "compress/encoder.js", "compress/worker.js", "compress/tapesync_compress.js", "compress/tapesync_compress_bg.wasm"]) {
    assert.ok(files.has(f), `${f} is in the tarball`);
  }
  assert.ok([...files].some((f) => /^snippets\/[^/]+\/inline0\.js$/.test(f)), "the wasm-bindgen snippet");
  // Every relative import, dynamic import, worker and wasm URL of the package's JS resolves inside it.
  const dir = join(WORK, "static", "vendor", "tapesync");
  const checked = new Set();
  for (const file of [...files].filter((f) => f.endsWith(".js"))) {
    const code = await readFile(join(dir, file), "utf8");
    const specs = [
      ...[...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)(["'])(\.\.?\/[\w./-]+)\1/g)].map((m) => m[2]),
      ...[...code.matchAll(/\bnew URL\(\s*(["'])([\w./-]+)\1,\s*import\.meta\.url/g)].map((m) => m[2]),
    ];
    for (const spec of specs) {
      const target = new URL(spec, `file:///${file}`).pathname.slice(1);
      assert.ok(files.has(target), `${file} imports ${spec}, which is in the tarball (${target})`);
      checked.add(target);
    }
  }
  for (const f of ["tapesync_bg.wasm", "compress/index.js", "compress/worker.js", "compress/tapesync_compress_bg.wasm"]) {
    assert.ok(checked.has(f), `the package's JS refers to ${f} (checked: ${[...checked]})`);
  }
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  assert.equal(pkg.type, "module");
  assert.equal(Object.keys(pkg.exports["."])[0], "types", 'the "types" condition comes first');
  const targets = [pkg.main, pkg.module, pkg.types, ...Object.values(pkg.exports).flatMap((e) => (typeof e === "string" ? [e] : Object.values(e)))];
  for (const t of targets.filter((t) => !t.includes("*"))) assert.ok(files.has(t.replace(/^\.\//, "")), `${t} is in the tarball`);
  // A bundler may drop a file without side effects that nothing imports a name from: the encoder
  // module's entry (a service worker imports it for its registration) and the worker must stay.
  for (const f of ["./compress/index.js", "./compress/worker.js"]) assert.ok(pkg.sideEffects.includes(f), `sideEffects lists ${f}`);
});

test("every event the store fires is in TapesyncEventMap, so its listener is typed", async () => {
  // The events the Rust code dispatches: `events().emit("name", ...)`, `change` (`changed()`), and
  // events made directly (`CustomEvent::new_with_event_init_dict("name", ...)`, storagepressure).
  const fired = new Set();
  for (const file of await readdir(join(ROOT, "src"), { recursive: true })) {
    if (!file.endsWith(".rs")) continue;
    const code = await readFile(join(ROOT, "src", file), "utf8");
    for (const m of code.matchAll(/(?:\.emit|new_with_event_init_dict)\(\s*"(\w+)"/g)) fired.add(m[1]);
  }
  assert.ok(fired.has("change") && fired.has("syncstate"), `found the events: ${[...fired]}`);
  const dts = await readFile(join(WORK, "vite", "node_modules", "tapesync", "tapesync.d.ts"), "utf8");
  const map = /export interface TapesyncEventMap \{([^}]*)\}/.exec(dts)?.[1] ?? "";
  const typed = new Set([...map.matchAll(/^\s*(\w+): CustomEvent<\w+>;/gm)].map((m) => m[1]));
  assert.deepEqual([...fired].sort(), [...typed].sort(), "TapesyncEventMap (src/api/types.rs) lists exactly the events fired");
});

test("the TypeScript consumer type-checks: tsc --strict, lib ES2022 + DOM, skipLibCheck false; and with lib esnext", async () => {
  const app = join(WORK, "vite");
  await Promise.all(["tsconfig.json", "tsconfig.esnext.json"].map((config) => sh(app, join(BIN, "tsc"), ["-p", config])));
});

test("the type check fails when an event's detail is not exactly typed, or with lib esnext's Symbol.dispose on ES2022", async () => {
  // The same app against copies of the package's .d.ts with one thing wrong: the check must catch it.
  const dts = await readFile(join(WORK, "vite", "node_modules", "tapesync", "tapesync.d.ts"), "utf8");
  const broken = {
    "any-detail": [dts.replace("change: CustomEvent<ChangeDetail>;", "change: CustomEvent<any>;"), /types-check\.ts.*TS2345/],
    "loose-progress": [dts.replace(/export type SyncProgressDetail = [^;]+;/,
      // The one-bag shape of before: every field optional, nothing narrows.
      'export interface SyncProgressDetail { id?: string; phase?: "upload" | "download"; sent?: number; total?: number; stage?: SyncStageProgress["stage"]; done?: number }'), /types-check\.ts.*TS2345/],
    "wasm-bindgen-dispose": [dts.replace(/(export class RecordingStore \{\n(\s*)private constructor\(\);)/, "$1\n$2[Symbol.dispose](): void;"), /tapesync\.d\.ts.*TS2550|tapesync\.d\.ts.*Symbol/],
  };
  await Promise.all(Object.entries(broken).map(async ([name, [text, expected]]) => {
    assert.notEqual(text, dts, `${name}: the .d.ts was changed`);
    const dir = join(WORK, `broken-${name}`);
    await cp(join(WORK, "vite"), dir, { recursive: true, filter: (src) => !src.includes("/dist") });
    await writeFile(join(dir, "node_modules", "tapesync", "tapesync.d.ts"), text);
    const failure = await sh(dir, join(BIN, "tsc"), ["-p", "tsconfig.json"]).then(() => null, (e) => e.message);
    assert.ok(failure, `${name}: tsc fails`);
    assert.match(failure, expected, `${name}: tsc fails for the right reason`);
  }));
});

test("README's build commands build the Vite and the esbuild app", { timeout: 120_000 }, async () => {
  const vite = blocks.find((b) => b.lang === "sh" && /\bvite build\b/.test(b.code));
  const esbuild = blocks.find((b) => b.lang === "sh" && /\besbuild\b/.test(b.code));
  await cp(join(WORK, "vite", "app.ts"), join(WORK, "esbuild", "app.ts")); // the same app
  await Promise.all([runShell(join(WORK, "vite"), vite.code), runShell(join(WORK, "esbuild"), esbuild.code)]);
  for (const app of ["vite", "esbuild"]) {
    assert.ok(existsSync(join(WORK, app, "dist", "index.html")), `${app}: dist/index.html`);
  }
});

/** Opens the app at `url` in a fresh context: saves a WAV through its file input, finds it listed as
 * FLAC (the encoder module was found and ran), and plays its <audio>. */
async function saveListPlay(url, app, prepare = async () => {}) {
  const context = await env.context();
  try {
    await prepare(context);
    const page = await context.newPage();
    const failed = [];
    page.on("response", (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
    page.on("requestfailed", (r) => failed.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
    await page.goto(url);
    await page.waitForSelector("#file:enabled", { timeout: 30_000 }); // the app is ready (the store is open)
    await page.setInputFiles("#file", { name: "tone.wav", mimeType: "audio/wav", buffer: wav() });
    const row = page.locator("#recordings li", { hasText: "tone.wav" });
    await row.waitFor({ timeout: 30_000 });
    const text = await row.textContent();
    assert.match(text, /tone\.wav \(audio\/flac/, `the recording is listed, compressed by the encoder module: ${text}`);
    const played = await row.locator("audio").evaluate(async (audio) => {
      const ready = audio.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA ? null : new Promise((ok, fail) => {
        audio.addEventListener("canplay", ok, { once: true });
        audio.addEventListener("error", () => fail(new Error(`audio error ${audio.error?.code}`)), { once: true });
      });
      await ready;
      audio.muted = true; // no user gesture here: muted playback is always allowed
      await audio.play();
      const t0 = audio.currentTime;
      await new Promise((ok) => setTimeout(ok, 300));
      return { duration: audio.duration, advanced: audio.currentTime > t0, paused: audio.paused, src: audio.src };
    });
    assert.ok(played.src.startsWith("blob:"), `the <audio> plays the stored Blob: ${played.src}`);
    assert.ok(Math.abs(played.duration - 0.5) < 0.05, `the decoded audio is the half-second tone: ${played.duration}`);
    assert.ok(played.advanced, `the audio plays: ${JSON.stringify(played)}`);
    if (app !== "static") {
      // The typed `change` listener of app.ts ran.
      assert.match(await page.locator("#status").textContent(), /^(save|hash): /);
    }
    assert.deepEqual(failed, [], "every file the app asked for was there");
  } catch (e) {
    e.message += `\nconsole:\n${(context.pages()[0]?.logs ?? []).join("\n")}`;
    throw e;
  } finally {
    await context.close();
  }
}

for (const app of ["vite", "esbuild", "static"]) {
  test(`the ${app} app in Chromium: saves a WAV (compressed to FLAC), lists it and plays it`, { timeout: 60_000 }, async () => {
    const root = app === "static" ? join(WORK, "static") : join(WORK, app, "dist");
    assert.ok(existsSync(join(root, "index.html")), `${app} was built`);
    const server = await serve({ root });
    try {
      await saveListPlay(`${server.url}/index.html`, app);
    } finally {
      await server.close();
    }
  });
}

test("the static page with the package from another origin, as from a CDN (CORS), as README says", { timeout: 60_000 }, async () => {
  // The tarball's files under /tapesync@<version>/ on a second origin, answered with the CORS header
  // a CDN sends; README's page, its import URL pointed there. The encoder's worker cannot start from
  // another origin (Workers are same-origin): the encoder runs on the page's thread instead.
  const version = packed.version;
  await mkdir(join(WORK, "cdn"), { recursive: true });
  await cp(join(WORK, "static", "vendor", "tapesync"), join(WORK, "cdn", `tapesync@${version}`), { recursive: true });
  const page = await readFile(join(WORK, "static", "index.html"), "utf8");
  const cdn = await serve({ root: join(WORK, "cdn") });
  await mkdir(join(WORK, "site"), { recursive: true });
  const url = `${cdn.url}/tapesync@${version}/tapesync.js`;
  assert.match(page, /"\/vendor\/tapesync\/tapesync\.js"/);
  await writeFile(join(WORK, "site", "index.html"), page.replace('"/vendor/tapesync/tapesync.js"', JSON.stringify(url)));
  const server = await serve({ root: join(WORK, "site") });
  const cors = (context) => context.route(`${cdn.url}/**`, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), "access-control-allow-origin": "*" } });
  });
  try {
    await saveListPlay(`${server.url}/index.html`, "static", cors);
  } finally {
    await server.close();
    await cdn.close();
  }
});

test("the Vite app under `vite dev`, with no configuration, as README says", { timeout: 60_000 }, async () => {
  const { createServer } = await import("vite");
  const server = await createServer({
    root: join(WORK, "vite"), configFile: false, logLevel: "error",
    server: { host: "127.0.0.1", port: 0, strictPort: false },
  });
  await server.listen();
  try {
    await saveListPlay(server.resolvedUrls.local[0], "vite");
  } finally {
    await server.close();
  }
});
