// The npm package as apps get it: its files, its types, and failures that reach JS as typed errors,
// including a quota failure that must leave nothing half-written.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { launch, ROOT } from "./browser.mjs";

let env;
before(async () => { env = await launch(); });
after(async () => { await env?.close(); });

test("pkg has the ES module, its types and a package.json named tapesync", async () => {
  const pkg = JSON.parse(await readFile(`${ROOT}/pkg/package.json`, "utf8"));
  assert.equal(pkg.name, "tapesync");
  assert.equal(pkg.type, "module");
  const dts = await readFile(`${ROOT}/pkg/tapesync.d.ts`, "utf8");
  // The public API ends where wasm-bindgen's init plumbing starts.
  const api = dts.slice(0, dts.indexOf("export type InitInput"));
  assert.match(api, /export class RecordingStore/);
  assert.match(api, /save\(blob: Blob, options\?: SaveOptions \| null\): Promise<Recording>;/);
  const anys = api.split("\n").filter((l) => /\bany\b/.test(l) && !l.trim().startsWith("*"));
  assert.deepEqual(anys, [], "no `any` in the public API");
});

test("the .d.ts types the whole sync API: every event's detail, the report, autoSync's onChange, resetSync and destroy", async () => {
  const dts = await readFile(`${ROOT}/pkg/tapesync.d.ts`, "utf8");
  const api = dts.slice(0, dts.indexOf("export type InitInput"));
  for (const event of ["change", "syncstate", "syncprogress", "syncconflict", "syncfailure", "networkchange"]) {
    // An event map ({ syncstate: CustomEvent<SyncStateDetail>; ... }) or string-literal overloads.
    assert.match(api, new RegExp(`(\\b${event}: CustomEvent<\\w+>|["']${event}["'])`), `the event "${event}" is typed`);
  }
  assert.doesNotMatch(api, /CustomEvent<any>|detail: any/, "no event detail is untyped");
  assert.match(api, /onChange\?: boolean/, "AutoSyncOptions.onChange");
  assert.match(api, /unreadable: /, "SyncReport.unreadable");
  assert.match(api, /retryAt: number/, "the incomplete outcome's retryAt");
  assert.match(api, /resetSync\(\): Promise<void>;/);
  assert.match(api, /static destroy\(name: string\): Promise<void>;/);
  const readme = await readFile(`${ROOT}/README.md`, "utf8");
  for (const event of ["change", "syncstate", "syncprogress", "syncconflict", "syncfailure", "networkchange"]) {
    assert.match(readme, new RegExp(`["\`]${event}["\`]`), `README documents the event "${event}"`);
  }
});

test("the default export initialises the module and a store works from the package", async () => {
  const page = await env.page();
  const result = await page.evaluate(async () => {
    await window.tapesyncReady;
    const store = await tapesync.RecordingStore.open({ name: "pkg-smoke" });
    const rec = await store.save(new Blob(["hello"], { type: "audio/ogg" }), { name: "hi" });
    const blob = await store.getBlob(rec.id);
    const out = { id: rec.id, text: await blob.text(), type: blob.type, count: await store.count() };
    store.close();
    return out;
  });
  assert.equal(result.text, "hello");
  assert.equal(result.type, "audio/ogg");
  assert.equal(result.count, 1);
});

test("errors are TapesyncErrors with a code, and the module survives them", async () => {
  const page = await env.page();
  const codes = await page.evaluate(async () => {
    await window.tapesyncReady;
    const store = await tapesync.RecordingStore.open({ name: "pkg-errors" });
    const code = (p) => p.then(() => "resolved", (e) => `${e instanceof Error}:${e.name}:${e.code}`);
    const out = [
      await code(store.save("nope")),
      await code(store.save(new Blob(["x"]), { id: "../x" })),
      await code(store.get(42)),
      await code(tapesync.RecordingStore.open({ name: 7 })),
      await code(store.update("missing", { name: "x" })),
    ];
    // After all of those, the module still works: nothing panicked.
    out.push((await store.save(new Blob(["ok"]))).size);
    store.close();
    out.push(await code(store.count()));
    return out;
  });
  assert.deepEqual(codes, [
    "true:TapesyncError:InvalidArgument",
    "true:TapesyncError:InvalidArgument",
    "true:TapesyncError:InvalidArgument",
    "true:TapesyncError:InvalidArgument",
    "true:TapesyncError:NotFound",
    2,
    "true:TapesyncError:Closed",
  ]);
});

/** A fresh page whose origin may store only 2 MiB. */
async function smallQuotaPage() {
  const page = await env.page();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: env.url, quotaSize: 2 * 1024 * 1024 });
  return page;
}

test("a save over quota is QuotaExceeded and leaves nothing behind", async () => {
  const page = await smallQuotaPage();
  const result = await page.evaluate(async () => {
    await window.tapesyncReady;
    const store = await tapesync.RecordingStore.open({ name: "quota" });
    await store.save(new Blob([new Uint8Array(1000)], { type: "audio/wav" }), { id: "small" });
    let code = "resolved";
    try {
      await store.save(new Blob([new Uint8Array(8 * 1024 * 1024)], { type: "audio/wav" }), { id: "big" });
    } catch (e) {
      code = e.code;
    }
    const out = {
      code,
      big: await store.get("big"),
      bigBlob: await store.getBlob("big"),
      count: await store.count(),
      listed: (await store.list()).items.map((r) => r.id),
      smallBlob: (await store.getBlob("small")).size,
    };
    store.close();
    return out;
  });
  assert.equal(result.code, "QuotaExceeded");
  assert.equal(result.big, null, "no metadata without its audio");
  assert.equal(result.bigBlob, null, "no audio without its metadata");
  assert.equal(result.count, 1);
  assert.deepEqual(result.listed, ["small"]);
  assert.equal(result.smallBlob, 1000, "what was saved before is intact");
});

test("a capture chunk over quota is QuotaExceeded and the capture keeps its earlier chunks", async () => {
  const page = await smallQuotaPage();
  const result = await page.evaluate(async () => {
    await window.tapesyncReady;
    const store = await tapesync.RecordingStore.open({ name: "quota-capture" });
    const cap = await store.startCapture({ mimeType: "audio/webm" });
    await cap.append(new Blob([new Uint8Array(100)]));
    let code = "resolved";
    try {
      await cap.append(new Blob([new Uint8Array(8 * 1024 * 1024)]));
    } catch (e) {
      code = e.code;
    }
    const [left] = await store.listCaptures();
    const out = { code, chunks: left.info.chunks, size: left.info.size };
    store.close();
    return out;
  });
  assert.equal(result.code, "QuotaExceeded");
  assert.equal(result.chunks, 1, "the failed chunk is not counted");
  assert.equal(result.size, 100);
});
