// Shared by the end-to-end sync tests: the emulators and the browser for one test file, a fresh page with
// the package and the sync kit loaded, and the Storage emulator's REST API as the test (not the app) uses it.
import { before, after } from "node:test";
import { launch } from "./browser.mjs";
import { startEmulators, stopEmulators, signUp, BUCKET, STORAGE_URL } from "../../emulators/harness.mjs";

export { signUp, BUCKET, STORAGE_URL };

/** Registers before/after hooks that start the emulators and the browser; returns a getter of the env. */
export function useCloud() {
  let env;
  before(async () => {
    await startEmulators();
    env = await launch();
  }, { timeout: 300_000 });
  after(async () => {
    await env?.close();
    await stopEmulators();
  });
  return () => env;
}

/** A fresh page (its own browser context) with the package and the sync kit loaded, and a fresh user. */
export async function setup(env, path = "/tests/js/pages/blank.html") {
  const page = await env.page(path);
  const user = await signUp();
  await page.evaluate(async () => {
    await window.tapesyncReady;
    window.kit = await import("/tests/js/pages/sync-kit.js");
  });
  const cloud = { bucket: BUCKET, uid: user.uid, token: user.idToken, baseUrl: STORAGE_URL };
  return { page, user, cloud };
}

const auth = (user) => ({ Authorization: `Firebase ${user.idToken}` });

/** The names of the objects under `prefix` (all pages of the listing). */
export async function listObjects(user, prefix) {
  const names = [];
  let pageToken = "";
  do {
    const url = `${STORAGE_URL}/v0/b/${BUCKET}/o?prefix=${encodeURIComponent(prefix)}${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ""}`;
    const body = await fetch(url, { headers: auth(user) }).then((r) => r.json());
    for (const item of body.items ?? []) names.push(item.name);
    pageToken = body.nextPageToken ?? "";
  } while (pageToken);
  return names;
}

/** Writes `bytes` at `key` straight into the bucket (as another device, or a corrupted one, would). */
export async function putObject(user, key, bytes, contentType = "application/json") {
  const res = await fetch(`${STORAGE_URL}/v0/b/${BUCKET}/o?uploadType=media&name=${encodeURIComponent(key)}`, {
    method: "POST",
    headers: { ...auth(user), "content-type": contentType },
    body: bytes,
  });
  if (!res.ok) throw new Error(`put ${key}: HTTP ${res.status} ${await res.text()}`);
}

/** The bytes at `key`, or null when there is none. */
export async function getObject(user, key) {
  const res = await fetch(`${STORAGE_URL}/v0/b/${BUCKET}/o/${encodeURIComponent(key)}?alt=media`, { headers: auth(user) });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`get ${key}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

const PRODUCTION = "https://firebasestorage.googleapis.com";

/** Routes the production Storage origin (`PRODUCTION`) of `context` to the Storage emulator (CORS answered here). */
export async function productionToEmulator(context) {
  const cors = (request) => ({
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
    "access-control-allow-headers": request.headers()["access-control-request-headers"] ?? "*",
    "access-control-expose-headers": "*",
  });
  await context.route(`${PRODUCTION}/**`, async (route) => {
    const request = route.request();
    if (request.method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors(request) });
    const response = await route.fetch({ url: STORAGE_URL + request.url().slice(PRODUCTION.length) });
    await route.fulfill({ response, headers: { ...response.headers(), ...cors(request) } });
  });
}
