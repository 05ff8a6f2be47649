// Starts and stops the Firebase Auth and Storage emulators from Node scripts and tests, through
// emulators/start.sh and emulators/stop.sh (which install what is missing, run the emulators in their own
// process group, wait for readiness and end the whole group).
//
//   import { startEmulators, stopEmulators, signUp, BUCKET, STORAGE_URL } from "../../emulators/harness.mjs";
//   before(() => startEmulators(), { timeout: 300_000 });
//   after(() => stopEmulators());
//
// Several processes may use the emulators at once (node --test runs test files in parallel): each registers
// with start.sh --client <pid>, and stop.sh --client <pid> stops the emulators when the last one leaves, or
// never if they were started by hand (plain start.sh). A process that exits or is killed without calling
// stopEmulators() is unregistered anyway (exit and signal handlers, and a watcher process for SIGKILL).

import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));

export const PROJECT_ID = "demo-tapesync";
export const BUCKET = `${PROJECT_ID}.appspot.com`;
export const AUTH_URL = "http://127.0.0.1:9099";
export const STORAGE_URL = "http://127.0.0.1:9199";
/** Paths of the pieces start.sh installs, for tests that use them directly. */
export const PATHS = {
  root: path.resolve(here, ".."),
  rulesJar: path.resolve(here, "../.tools/firebase-emulators/cloud-storage-rules-runtime-v1.1.3.jar"),
  venvPython: path.resolve(here, "../.tools/venv/bin/python"),
  storageRules: path.resolve(here, "../storage.rules"),
  log: path.resolve(here, "../.tools/emulators/emulators.log"),
  pidFile: path.resolve(here, "../.tools/emulators/emulators.pid"),
};

let registered = false;
let watchdog = null;

function run([script, ...args]) {
  return new Promise((resolve, reject) => {
    const child = execFile("bash", [path.join(here, script), ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${stdout}${stderr}`;
        reject(err);
      } else {
        resolve(stdout);
      }
    });
    // Progress goes to stderr: under `node --test`, a test file's stdout is the runner's channel.
    child.stdout.pipe(process.stderr);
    child.stderr.pipe(process.stderr);
  });
}

async function answers(url, check) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return check(res.status, await res.text());
  } catch {
    return false;
  }
}

/** True when both emulators answer on their fixed ports. */
export async function emulatorsRunning() {
  const [auth, storage] = await Promise.all([
    answers(`${AUTH_URL}/`, (status, body) => status === 200 && body.includes("authEmulator")),
    answers(`${STORAGE_URL}/v0/`, (status, body) => status === 200 && body.includes('"storage"')),
  ]);
  return auth && storage;
}

/**
 * Makes sure the emulators run and registers this process as one of their users; returns
 * { reused, authUrl, storageUrl, bucket, projectId } (`reused`: they were running already).
 */
export async function startEmulators() {
  const info = { authUrl: AUTH_URL, storageUrl: STORAGE_URL, bucket: BUCKET, projectId: PROJECT_ID };
  if (registered) return { reused: true, ...info };
  if (!existsSync(PATHS.pidFile) && (await emulatorsRunning())) {
    // Emulators that start.sh did not start (e.g. a `firebase emulators:start` by hand): use, never stop.
    return { reused: true, ...info };
  }
  const out = await run(["start.sh", "--client", String(process.pid)]);
  registered = true;
  // A run killed outright (SIGKILL, or a test runner that dies and takes its workers with it) runs no exit
  // handler: this small watcher unregisters this process within a second of it going away.
  watchdog = spawn(
    "bash",
    ["-c", 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" --client "$1" >/dev/null 2>&1', "watchdog", String(process.pid), path.join(here, "stop.sh")],
    { detached: true, stdio: "ignore" },
  );
  watchdog.unref();
  return { reused: out.includes("already running"), ...info };
}

function endWatchdog() {
  if (watchdog && watchdog.exitCode === null) watchdog.kill();
  watchdog = null;
}

/**
 * Unregisters this process; stops the emulators when no other user (another test process, a manual start.sh)
 * remains.
 */
export async function stopEmulators() {
  if (!registered) return;
  registered = false;
  endWatchdog();
  await run(["stop.sh", "--client", String(process.pid)]);
}

function stopNow() {
  if (!registered) return;
  registered = false;
  endWatchdog();
  try {
    execFileSync("bash", [path.join(here, "stop.sh"), "--client", String(process.pid)], { stdio: ["ignore", "ignore", "inherit"] });
  } catch {
    // Nothing more to do while exiting.
  }
}

process.on("exit", stopNow);
// An interrupted run (Ctrl-C, a runner's timeout) still unregisters, then dies of the same signal.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    stopNow();
    process.kill(process.pid, signal);
  });
}

/**
 * Creates a user in the Auth emulator; returns { uid, idToken, refreshToken, email }.
 * The ID token is what the Storage emulator takes as `Authorization: Firebase <idToken>`.
 */
export async function signUp(email = `user-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`) {
  const res = await fetch(`${AUTH_URL}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=demo-api-key`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "tapesync-test", returnSecureToken: true }),
  });
  if (!res.ok) throw new Error(`signUp ${email}: HTTP ${res.status} ${await res.text()}`);
  const body = await res.json();
  return { uid: body.localId, idToken: body.idToken, refreshToken: body.refreshToken, email };
}

/** Deletes all Auth emulator users and all Storage emulator objects and upload sessions. */
export async function resetEmulators() {
  const a = await fetch(`${AUTH_URL}/emulator/v1/projects/${PROJECT_ID}/accounts`, { method: "DELETE" });
  if (!a.ok) throw new Error(`reset auth: HTTP ${a.status}`);
  const s = await fetch(`${STORAGE_URL}/internal/reset`, { method: "POST" });
  if (!s.ok) throw new Error(`reset storage: HTTP ${s.status}`);
}
