// Every ```js example in README.md runs as written, against the built package and the emulators: a README
// change that breaks an example fails the suite.
//
// - Page examples run in order in one page, each as its own ES module (imports of "tapesync" resolve to
//   the built pkg/; other packages, such as @capacitor/network, to the stand-ins in pages/stubs/). What an
//   example declares at its top level is visible to the later ones, as in an app that runs them in turn;
//   a recording an example started is stopped before the next one runs.
// - The service worker example (it listens for `self`'s events) is the worker script of a page, as written;
//   the page saves and asks for a Background Sync as the example's closing comment says.
// - Only the names an app provides are stubbed, with real values: `blob` (audio), `recorder` (a
//   MediaRecorder on Chromium's fake microphone), `wav` (a WAV file), `durationMs`, `user` (a signed-up emulator user with
//   `uid` and `getIdToken()`), `bucket`, `uid`, `getToken`. The examples name no `baseUrl`, so they talk to
//   https://firebasestorage.googleapis.com: the browser context routes that origin to the Storage
//   emulator on 127.0.0.1 (nothing leaves the machine).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { launch, recentConsole, ROOT } from "./browser.mjs";
import { startEmulators, stopEmulators, signUp, BUCKET, STORAGE_URL } from "../../emulators/harness.mjs";
import { listObjects, productionToEmulator } from "./cloud.mjs";
import { startSupabase, stopSupabase, signUp as supabaseSignUp } from "../../emulators/supabase/harness.mjs";
import { startS3 } from "../../emulators/s3/harness.mjs";


/** The ```js blocks of `markdown`: [{ line, code }] (line: 1-based, of the opening fence). */
export function jsBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(js|javascript)\s*$/.test(lines[i])) continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    blocks.push({ line: start + 1, code: body.join("\n") });
  }
  return blocks;
}

const isServiceWorker = (code) => /\bself\.addEventListener\(/.test(code);
/** The cloud a block syncs with when it is not Firebase: its section is an alternative to Firebase's. */
const otherCloud = (code) => (/\bnew SupabaseRemote\(/.test(code) ? "supabase" : /\bnew S3Remote\(/.test(code) ? "s3" : null);

/** The names a block declares at its top level (to hand on to the later blocks). */
function topLevelNames(code) {
  const names = new Set();
  for (const line of code.split("\n")) {
    let m;
    if ((m = /^(?:const|let|var)\s+([A-Za-z_$][\w$]*)/.exec(line))) names.add(m[1]);
    else if ((m = /^(?:const|let|var)\s*\{([^}]*)\}\s*=/.exec(line))) {
      for (const part of m[1].split(",")) {
        const name = part.split(":").pop().split("=")[0].trim();
        if (name) names.add(name);
      }
    } else if ((m = /^(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)/.exec(line))) names.add(m[1]);
    else if ((m = /^class\s+([A-Za-z_$][\w$]*)/.exec(line))) names.add(m[1]);
  }
  return [...names];
}

/** `code` with its package imports pointing at what the test serves. */
function resolveImports(code, origin) {
  return code.replace(/(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(["'])([^"']+)\2/g, (all, head, q, spec) => {
    if (spec === "tapesync") return `${head}${q}${origin}/pkg/tapesync.js${q}`;
    if (spec.startsWith(".") || spec.startsWith("/") || /^[a-z]+:/.test(spec)) return all;
    return `${head}${q}${origin}/tests/js/pages/stubs/${spec.replace(/[@/]/g, "_")}.js${q}`;
  });
}

let env;
let user;
const readme = await readFile(`${ROOT}/README.md`, "utf8");
const blocks = jsBlocks(readme);

before(async () => {
  await startEmulators();
  env = await launch();
  user = await signUp();
}, { timeout: 300_000 });
after(async () => {
  await env?.close();
  await stopEmulators();
});

test("README.md has JavaScript examples, and each one is a page or a service worker example", () => {
  assert.ok(blocks.length >= 3, `found ${blocks.length} js blocks`);
  assert.ok(blocks.some((b) => isServiceWorker(b.code)), "the service worker example is found");
});

test("every page example of the README runs as written, in order, in one page", { timeout: 120_000 }, async (t) => {
  const { context, page } = await appPage();
  for (const block of blocks.filter((b) => !isServiceWorker(b.code) && !otherCloud(b.code))) {
    await t.test(`README.md line ${block.line}`, () => runBlock(page, block));
  }
  await context.unrouteAll({ behavior: "ignoreErrors" }); // a sync the examples left running may be mid-request
  await context.close();
});

/** Runs one page example in `page` as its own module, handing its top-level names on. */
async function runBlock(page, block) {
  const names = topLevelNames(block.code);
  const source = `${resolveImports(block.code, env.url)}\nObject.assign(globalThis, { ${names.join(", ")} });\n`;
  const error = await page.evaluate(async (source) => {
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    try {
      await import(url);
      return null;
    } catch (e) {
      return `${e?.name}: ${e?.code ?? ""} ${e?.message}`;
    } finally {
      URL.revokeObjectURL(url);
    }
  }, source);
  assert.equal(error, null, `the example at README.md line ${block.line} threw:\n${block.code}`);
  // A recording the example started ends before the next example runs, as in an app (its onstop
  // runs; what its handlers do then is the example's and is checked like the rest).
  await page.evaluate(async () => {
    if (recorder.state === "inactive") return;
    const stopped = new Promise((ok) => recorder.addEventListener("stop", ok, { once: true }));
    recorder.stop();
    await stopped;
    await new Promise((ok) => setTimeout(ok, 500));
  });
}

/** A fresh page with the app's names (those of "Use it in an app") stubbed with real values. */
async function appPage(extra = {}) {
  const context = await env.context();
  await productionToEmulator(context);
  const page = await context.newPage();
  await page.goto(`${env.url}/tests/js/pages/blank.html`);
  await page.evaluate(async ({ uid, token, bucket, extra }) => {
    await window.tapesyncReady;
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    Object.assign(globalThis, {
      blob: new Blob([new Uint8Array(4096).map((_, i) => (i * 7) & 255)], { type: "audio/webm" }),
      wav: (() => {
        // Half a second of a 440 Hz tone, 16-bit mono at 48 kHz: what a native recorder plugin gives.
        const rate = 48000, n = rate / 2, view = new DataView(new ArrayBuffer(44 + 2 * n));
        const text = (at, s) => [...s].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
        text(0, "RIFF"); view.setUint32(4, 36 + 2 * n, true); text(8, "WAVE"); text(12, "fmt ");
        view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
        view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
        view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * n, true);
        for (let i = 0; i < n; i++) view.setInt16(44 + 2 * i, Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), true);
        return new Blob([view.buffer], { type: "audio/wav" });
      })(),
      recorder: new MediaRecorder(stream),
      durationMs: 1000,
      user: { uid, getIdToken: async () => token },
      bucket,
      uid,
      getToken: async () => token,
      ...extra,
    });
  }, { uid: user.uid, token: user.idToken, bucket: BUCKET, extra });
  return { context, page };
}

test("the README's Supabase and S3 sections run as written against the local clouds", { timeout: 600_000 }, async (t) => {
  const basics = blocks.find((b) => !isServiceWorker(b.code) && !otherCloud(b.code));
  const supabase = await startSupabase({ port: 0 });
  const s3 = await startS3({ port: 0, adminPort: 0, motoPort: 0 });
  try {
    const account = await supabaseSignUp();
    const apps = {
      // The app's own names: its Supabase project and signed-in session (supabase-js's shape), or its
      // S3 endpoint and the user's credentials (here an IAM user confined to users/alice/).
      supabase: {
        SUPABASE_URL: supabase.url,
        SUPABASE_ANON_KEY: supabase.anonKey,
        supabase: { session: { access_token: account.accessToken, user: { id: account.id } } },
      },
      s3: {
        S3_ENDPOINT: s3.endpoint,
        S3_REGION: s3.region,
        S3_BUCKET: s3.bucket,
        identityId: "alice",
        credentials: s3.users.alice,
      },
    };
    for (const block of blocks.filter((b) => otherCloud(b.code))) {
      await t.test(`README.md line ${block.line} (${otherCloud(block.code)})`, async () => {
        const { context, page } = await appPage();
        await page.evaluate((app) => {
          const { supabase, credentials, ...names } = app;
          Object.assign(globalThis, names);
          if (supabase) globalThis.supabase = { auth: { getSession: async () => ({ data: { session: supabase.session } }) } };
          if (credentials) {
            const { accessKeyId, secretAccessKey } = credentials;
            globalThis.getCredentials = async () => ({ accessKeyId, secretAccessKey });
          }
        }, apps[otherCloud(block.code)]);
        await runBlock(page, basics);
        await runBlock(page, block);
        const report = await page.evaluate(() => globalThis.report);
        assert.equal(report?.outcome?.kind, "complete", JSON.stringify(report));
        assert.ok(report.pushed > 0 && report.uploaded > 0, `the example pushed its recordings: ${JSON.stringify(report)}`);
        await context.unrouteAll({ behavior: "ignoreErrors" }); // a sync the examples left running may be mid-request
        await context.close();
      });
    }
  } finally {
    await s3.stop();
    await stopSupabase();
  }
});

test("the README's service worker example syncs what its page saved, as written", { timeout: 120_000 }, async () => {
  const sw = blocks.find((b) => isServiceWorker(b.code));
  // Served from a folder of its own: the example's sw.js at the root of its scope, next to its ./pkg/.
  const dir = `${ROOT}/test-output/readme-sw`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await symlink(`${ROOT}/pkg`, `${dir}/pkg`);
  const stubs = `self.bucket = ${JSON.stringify(BUCKET)};\nself.uid = ${JSON.stringify(user.uid)};\n` +
    `self.getToken = async () => ${JSON.stringify(user.idToken)};\n` +
    // Only a trace for the failure message: when the browser ran the sync event.
    `self.addEventListener("sync", (e) => console.log("README service worker: sync event", e.tag));\n`;
  await writeFile(`${dir}/sw.js`, `${stubs}${resolveImports(sw.code, env.url)}\n`);
  await writeFile(`${dir}/index.html`, `<!doctype html><meta charset="utf-8"><title>README service worker</title>
<script type="module">
  import init, * as tapesync from "./pkg/tapesync.js";
  window.tapesyncReady = init().then(() => { window.tapesync = tapesync; });
</script>\n`);
  const context = await env.context();
  await productionToEmulator(context);
  const page = await context.newPage();
  await page.goto(`${env.url}/test-output/readme-sw/index.html`);
  const id = await page.evaluate(async () => {
    await window.tapesyncReady;
    await navigator.serviceWorker.register("./sw.js", { type: "module" });
    const store = await tapesync.RecordingStore.open({ name: "my-app" });
    const rec = await store.save(new Blob([new Uint8Array(2048).fill(7)], { type: "audio/webm" }), { name: "from the page" });
    // What the example's closing comment says the page does after saving.
    await (await navigator.serviceWorker.ready).sync.register("recordings");
    return rec.id;
  });
  // The browser runs the sync event when it sees fit (at once, online); the worker's sync pushes it.
  const prefix = `users/${user.uid}/recordings/blobs/${id}/`;
  const deadline = Date.now() + 60_000;
  let blobs = [];
  while (Date.now() < deadline && blobs.length === 0) {
    await new Promise((ok) => setTimeout(ok, 500));
    blobs = await listObjects(user, prefix);
  }
  assert.equal(blobs.length, 1, `the worker's sync pushed the page's recording; console:\n${recentConsole()}`);
  await context.unrouteAll({ behavior: "ignoreErrors" }); // a sync the examples left running may be mid-request
  await context.close();
});
