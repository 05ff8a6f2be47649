// Sync end to end in one engine (Firefox, WebKit on-disk, WebKit ephemeral; see engines.mjs), against
// the Firebase emulators and the local Supabase: run by tests/js/engines-<engine>.test.mjs, one file per
// engine so that `--test-concurrency=2` runs two engines at once. Each device is a browser session of its
// own (its own profile), so two devices share only the cloud, as two phones do. Apps' calls are made as
// the README shows them: save, then sync.
//
// What WebDriver cannot do that the Chromium tests do with playwright: intercept requests. So faults come
// from the app's side (an AbortController, a reload) and from the clouds' own knobs (Supabase's request
// log), and the quota comes from the browser's own profile settings (engines.mjs `smallQuota`: Firefox's
// temporary storage limit, WebKit's origin storage ratio), not from CDP as in Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { launchEngine } from "./engines.mjs";
import { startEmulators, stopEmulators, signUp as firebaseSignUp, BUCKET, STORAGE_URL } from "../../emulators/harness.mjs";
import { ANON_KEY, BUCKET as SUPABASE_BUCKET, TUS_CHUNK_SIZE, adminHooks, signUp as supabaseSignUp, startSupabase, stopSupabase } from "../../emulators/supabase/harness.mjs";

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const MiB = 1024 * 1024;

// In the page: the remote of a cloud description (what `user()` below returns), as README shows them.
const INSTALL = () => {
  window.remoteFor = (c) =>
    c.kind === "firebase"
      ? new tapesync.FirebaseRemote({ bucket: c.bucket, prefix: c.prefix, baseUrl: c.baseUrl, getToken: async () => c.token })
      : new tapesync.SupabaseRemote({ url: c.url, apikey: c.apikey, bucket: c.bucket, prefix: c.prefix, getToken: async () => c.token });
};

/** The test page's `kit`, `tapesync` and `remoteFor` in a new device, or after a reload. */
async function prepare(device) {
  await device.evaluate(INSTALL);
  return device;
}

/** Registers the engine's tests; `timeout` bounds each test (a hang fails fast). */
export function engineSuite(engine, { timeout = 120_000 } = {}) {
  let env;
  let supabaseUrl;
  before(async () => {
    await startEmulators();
    ({ url: supabaseUrl } = await startSupabase({ port: 0 }));
    env = await launchEngine(engine);
  }, { timeout: 300_000 });
  after(async () => {
    try {
      await env?.close();
    } finally {
      await stopSupabase();
      await stopEmulators();
    }
  });

  const device = async (options) => prepare(await env.device(options));

  const clouds = {
    firebase: {
      async user() {
        const u = await firebaseSignUp();
        return { kind: "firebase", bucket: BUCKET, prefix: `users/${u.uid}/recordings`, baseUrl: STORAGE_URL, token: u.idToken };
      },
      async download(c, key) {
        const res = await fetch(`${STORAGE_URL}/v0/b/${BUCKET}/o/${encodeURIComponent(`${c.prefix}/${key}`)}?alt=media`, { headers: { Authorization: `Firebase ${c.token}` } });
        assert.equal(res.status, 200, `download ${key}`);
        return Buffer.from(await res.arrayBuffer());
      },
    },
    supabase: {
      async user() {
        const u = await supabaseSignUp();
        return { kind: "supabase", url: supabaseUrl, apikey: ANON_KEY, bucket: SUPABASE_BUCKET, prefix: `users/${u.id}/recordings`, token: u.accessToken };
      },
      async download(c, key) {
        const res = await fetch(`${supabaseUrl}/storage/v1/object/authenticated/${SUPABASE_BUCKET}/${c.prefix}/${key}`, { headers: { apikey: ANON_KEY, authorization: `Bearer ${c.token}` } });
        assert.equal(res.status, 200, `download ${key}`);
        return Buffer.from(await res.arrayBuffer());
      },
    },
  };

  for (const [kind, cloud] of Object.entries(clouds)) {
    test(`${engine}, ${kind}: two devices (two browser profiles) sync both ways, read the same bytes, and keep them across a reload`, { timeout }, async () => {
      const c = await cloud.user();
      const [a, b] = await Promise.all([device(), device()]);
      const saved = await a.evaluate(async (c) => {
        const store = await tapesync.RecordingStore.open({ name: "tapes" });
        const blob = kit.audio(300_000, 1, "audio/webm");
        await store.save(blob, { id: "take-1", name: "A's take", tags: ["x"], custom: { mic: "usb" } });
        const report = await store.sync(remoteFor(c));
        return { report, hash: await kit.digest(blob), state: (await store.get("take-1")).syncState };
      }, c);
      assert.equal(saved.report.outcome.kind, "complete", JSON.stringify(saved.report));
      assert.equal(saved.state, "synced", JSON.stringify(saved));

      const onB = await b.evaluate(async (c) => {
        const store = await tapesync.RecordingStore.open({ name: "tapes" });
        const report = await store.sync(remoteFor(c));
        const rec = await store.get("take-1");
        const blob = await store.getBlob("take-1");
        const got = { report, rec, size: blob?.size, type: blob?.type, hash: blob ? await kit.digest(blob) : null };
        // B edits A's recording and records one of its own.
        await store.update("take-1", { name: "renamed on B" });
        const mine = kit.audio(200_000, 2, "audio/ogg");
        await store.save(mine, { id: "take-2", name: "B's take" });
        got.push = await store.sync(remoteFor(c));
        got.mineHash = await kit.digest(mine);
        return got;
      }, c);
      assert.equal(onB.report.outcome.kind, "complete", JSON.stringify(onB.report));
      assert.equal(onB.report.downloaded, 1, JSON.stringify(onB.report));
      assert.equal(onB.rec?.syncState, "synced", JSON.stringify(onB.rec));
      assert.equal(onB.rec.name, "A's take");
      assert.deepEqual(onB.rec.custom, { mic: "usb" });
      assert.equal(onB.size, 300_000);
      assert.equal(onB.type, "audio/webm");
      assert.equal(onB.hash, saved.hash, "B reads the bytes A saved");
      assert.equal(onB.push.outcome.kind, "complete", JSON.stringify(onB.push));

      const back = await a.evaluate(async (c) => {
        const store = await tapesync.RecordingStore.open({ name: "tapes" });
        const report = await store.sync(remoteFor(c));
        return { report, snap: await kit.snapshot(store) };
      }, c);
      assert.equal(back.report.outcome.kind, "complete", JSON.stringify(back.report));
      assert.deepEqual(Object.keys(back.snap).sort(), ["take-1", "take-2"]);
      assert.equal(back.snap["take-1"].name, "renamed on B", "A sees B's edit");
      assert.equal(back.snap["take-2"].audio, onB.mineHash, "A reads the bytes B saved");
      assert.equal(back.snap["take-2"].mimeType, "audio/ogg");
      for (const r of Object.values(back.snap)) assert.equal(r.syncState, "synced");

      // A reload (the app restarted): everything is still there, with its bytes.
      await a.reload();
      await prepare(a);
      const reloaded = await a.evaluate(async () => kit.snapshot(await tapesync.RecordingStore.open({ name: "tapes" })));
      assert.deepEqual(reloaded, back.snap);
    });
  }

  const cloud = (kind) => clouds[kind];

  // Firebase: 256 KiB chunks (the smallest it takes) over a 5-chunk recording. Supabase: TUS's fixed
  // 6 MiB chunks over a 14 MiB recording (three chunks).
  const resumable = {
    firebase: { size: 5 * 256 * 1024 + 1234, options: { chunkSize: 256 * 1024 }, chunk: 256 * 1024 },
    supabase: { size: 14 * MiB, options: {}, chunk: TUS_CHUNK_SIZE },
  };
  for (const [kind, { size, options, chunk }] of Object.entries(resumable)) {
    test(`${engine}, ${kind}: an upload interrupted after its first chunk resumes after a reload where the server was, and the cloud's bytes equal the local ones`, { timeout }, async () => {
      const c = await cloud(kind).user();
      if (kind === "supabase") await adminHooks.clearRequests();
      const a = await device();
      const first = await a.evaluate(async ({ c, size, options }) => {
        const store = await tapesync.RecordingStore.open({ name: "big" });
        const blob = kit.audio(size, 5);
        await store.save(blob, { id: "big" });
        const controller = new AbortController();
        const sent = [];
        store.addEventListener("syncprogress", (e) => {
          if (e.detail.phase !== "upload") return;
          sent.push(e.detail.sent);
          if (e.detail.sent > 0 && e.detail.sent < e.detail.total) controller.abort();
        });
        let code = "resolved";
        try {
          await store.sync(remoteFor(c), { ...options, signal: controller.signal });
        } catch (e) {
          code = e.code;
        }
        store.close();
        return { code, sent, hash: await kit.digest(blob) };
      }, { c, size, options });
      assert.equal(first.code, "Aborted", JSON.stringify(first));
      assert.ok(first.sent.some((s) => s > 0 && s < size), `the first run sent part of it: ${first.sent}`);

      // The page, the module and the remote are new; the upload session comes from IndexedDB.
      await a.reload();
      await prepare(a);
      const second = await a.evaluate(async ({ c, options }) => {
        const store = await tapesync.RecordingStore.open({ name: "big" });
        const resumed = [];
        store.addEventListener("syncprogress", (e) => e.detail.phase === "upload" && resumed.push(e.detail.sent));
        const report = await store.sync(remoteFor(c), options);
        return { resumed, report, state: (await store.get("big")).syncState };
      }, { c, options });
      assert.equal(second.report.outcome.kind, "complete", JSON.stringify(second.report));
      assert.equal(second.state, "synced", JSON.stringify(second));
      assert.ok(second.resumed[0] >= chunk && second.resumed[0] < size, `the second run started where the server was, not at 0: ${second.resumed}`);
      if (kind === "supabase") {
        const creates = (await adminHooks.requests()).filter((r) => r.method === "POST" && /\/upload\/resumable\/?$/.test(r.path));
        assert.equal(creates.length, 1, "one TUS upload, resumed: the reload created no new one");
      }
      const bytes = await cloud(kind).download(c, `blobs/big/${first.hash}`);
      assert.equal(bytes.length, size);
      assert.equal(sha256(bytes), first.hash, "the cloud's bytes equal the local ones");
    });
  }
  // The browser's own quota, set small in the profile (engines.mjs `smallQuota`): a recording pulled from
  // another device does not fit, and neither does a new save. Random bytes: nothing compresses them.
  // Not in WebKit ephemeral: MiniBrowser has no quota setting, and its default (a share of the disk) cannot
  // be filled in a test. (A cloud answering "quota exceeded" is no substitute: tapesync has no such code
  // from a cloud, whose full bucket is a 4xx that fails the recording like any other.)
  if (engine !== "webkit-ephemeral") test(`${engine}, firebase: on a device whose quota is full, the pull stops with QuotaExceeded and a save is refused with QuotaExceeded, leaving nothing behind`, { timeout }, async () => {
    const c = await clouds.firebase.user();
    const [a, b] = await Promise.all([device(), device({ smallQuota: true })]);
    const SIZE = 24 * MiB;
    const pushed = await a.evaluate(async ({ c, size }) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
      const store = await tapesync.RecordingStore.open({ name: "tapes" });
      await store.save(new Blob([bytes], { type: "audio/webm" }), { id: "huge" });
      await store.save(kit.audio(1000, 3), { id: "tiny" });
      return store.sync(remoteFor(c));
    }, { c, size: SIZE });
    assert.equal(pushed.outcome.kind, "complete", JSON.stringify(pushed));

    const out = await b.evaluate(async ({ c, size }) => {
      const store = await tapesync.RecordingStore.open({ name: "tapes" });
      const report = await store.sync(remoteFor(c)).then(kit.plain, (e) => ({ rejected: kit.plain(e) }));
      const huge = await store.get("huge");
      const hugeBlob = await kit.rejection(store.getBlob("huge"));
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
      const save = await kit.rejection(store.save(new Blob([bytes], { type: "audio/webm" }), { id: "local-huge" }));
      return { report, huge, hugeBlob, save, local: await store.get("local-huge"), localBlob: !!(await store.getBlob("local-huge")) };
    }, { c, size: SIZE });
    const codes = [out.report.rejected?.code, out.report.outcome?.error?.code, ...(out.report.failed ?? []).map((f) => f.code)];
    assert.ok(codes.includes("QuotaExceeded"), `the pull reports QuotaExceeded: ${JSON.stringify(out)}`);
    // Metadata first: the recording is listed with its audio not here (and no part of it), or, where the
    // quota refused the metadata's transaction too (WebKit), not listed at all.
    if (out.huge === null) {
      assert.equal(out.hugeBlob, "resolved", `getBlob of a recording not here is null: ${JSON.stringify(out.hugeBlob)}`);
    } else {
      assert.equal(out.huge.audioHere, false, `the recording that did not fit has no audio here: ${JSON.stringify(out.huge)}`);
      assert.equal(out.hugeBlob.code, "AudioNotHere", `no partial audio of it: ${JSON.stringify(out.hugeBlob)}`);
    }
    assert.equal(out.save.code, "QuotaExceeded", `a save over the quota: ${JSON.stringify(out.save)}`);
    assert.equal(out.local, null, "no metadata without its audio");
    assert.equal(out.localBlob, false);
  });

  test(`${engine}: audio is kept as Blobs, or as ArrayBuffer parts only where IndexedDB refuses Blobs (private mode)`, { timeout }, async () => {
    const a = await device();
    const got = await a.evaluate(async () => {
      const store = await tapesync.RecordingStore.open({ name: "form" });
      const blob = kit.audio(3 * 1024 * 1024 + 5, 7, "audio/ogg");
      const rec = await store.save(blob);
      const back = await store.getBlob(rec.id);
      return { form: store.audioStorage, type: back.type, same: (await kit.digest(back)) === (await kit.digest(blob)) };
    });
    assert.deepEqual(got, { form: engine === "webkit-ephemeral" ? "chunks" : "blob", type: "audio/ogg", same: true });
  });

  if (engine !== "webkit-ephemeral") {
    // The crash-recovery path: WebKit once made the audio of a capture finished after a restart
    // unreadable (NotFoundError) until the next restart, so hashing, upload and playback all failed.
    test(`${engine}, firebase: a capture recorded before the browser was killed finishes after the restart, reads at once and syncs`, { timeout }, async () => {
      const c = await cloud("firebase").user();
      const profile = mkdtempSync(join(os.tmpdir(), `tapesync-${engine}-kept-`));
      try {
        const before = await device({ profile });
        const recorded = await before.evaluate(async () => {
          const store = await tapesync.RecordingStore.open({ name: "rec" });
          const cap = await store.startCapture({ mimeType: "audio/webm" });
          const chunks = [kit.audio(200_000, 1), kit.audio(200_000, 2), kit.audio(123, 3)];
          for (const chunk of chunks) await cap.append(chunk);
          return { id: cap.id, hash: await kit.digest(new Blob(chunks)) };
        });
        await before.close(); // the browser's process group is killed: no unload, no clean close
        const after = await device({ profile });
        const got = await after.evaluate(async (c) => {
          const store = await tapesync.RecordingStore.open({ name: "rec" });
          const unfinished = await store.listCaptures();
          const rec = await unfinished[0].finish();
          const blob = await store.getBlob(rec.id);
          const hash = await kit.digest(blob);
          const report = await store.sync(remoteFor(c));
          return { left: unfinished.length, hash, size: blob.size, report, state: (await store.get(rec.id)).syncState };
        }, c);
        await after.close();
        assert.equal(got.left, 1);
        assert.equal(got.hash, recorded.hash, "the finished capture reads back at once, every byte");
        assert.equal(got.report.outcome.kind, "complete", JSON.stringify(got.report));
        assert.equal(got.state, "synced");
      } finally {
        // Retried: a browser process of the profile may still be writing into it for a moment.
        rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
      }
    });
  }
}
