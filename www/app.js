// The tapesync demo: record, list, play, rename and delete recordings offline; sync them with Firebase
// Storage (the local emulators under `make demo`), Supabase or S3 (see config.js's BACKEND) for the signed-in user.
import init, * as tapesync from "../pkg/tapesync.js";
import { Account, AuthError } from "./auth.js";
import { BACKEND } from "./config.js";
import { S3Account } from "./s3-account.js";
import { SupabaseAccount } from "./supabase-auth.js";
import { Recorder, unfinishedCaptures } from "./recorder.js";
import { POLICIES, SyncController, syncSupported } from "./sync.js";
import { $, h, RecordingList, ask, formatAgo, formatBytes, formatDate, formatDuration, toast } from "./ui.js";

const SETTINGS_KEY = "tapesync-demo/settings";
const PAGE = 100;

const settings = { autoSync: true, policy: "merge", ...readJson(localStorage.getItem(SETTINGS_KEY)) };
const account = BACKEND === "supabase" ? new SupabaseAccount() : BACKEND === "s3" ? new S3Account() : new Account();
const app = {
  store: null,
  recorder: null,
  sync: null,
  canSync: false,
  list: null,
  limit: PAGE,
  syncState: null,        // { state, report, error } of the last syncstate
  lastSyncAt: 0,
  playing: null,          // { id, url }
  saving: false,          // a stopped recording is being finished
  pending: 0,             // recordings waiting to sync
};

function readJson(text) {
  try { return JSON.parse(text) ?? {}; } catch { return {}; }
}
const saveSettings = () => localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));

// Each user has their own store on this device: the sync state of a recording only means something
// for one cloud folder. A first start offline records into "demo-guest" until it can sign in.
const storeNameFor = (uid) => (uid ? `demo-${uid}` : "demo-guest");

// --- the store -------------------------------------------------------------------------------------------

async function openStore(name) {
  const store = await tapesync.RecordingStore.open({ name });
  store.addEventListener("change", onStoreChange);
  app.store = store;
  app.recorder = new Recorder(store);
  app.recorder.addEventListener("progress", renderRecorder);
  app.recorder.addEventListener("error", (e) => onRecorderError(e.detail));
  app.list.render([]);
  await refreshList();
  refreshStorage();
}

function closeStore(store) {
  store.removeEventListener("change", onStoreChange);
  store.close();
}

function onStoreChange() {
  scheduleRefresh();
}

let refreshQueued = false;
function scheduleRefresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  requestAnimationFrame(async () => {
    refreshQueued = false;
    await refreshList();
    refreshStorage();
  });
}

async function refreshList() {
  const store = app.store;
  try {
    const [page, total, pending, uploading] = await Promise.all([
      store.list({ limit: app.limit }),
      store.count(),
      store.count({ syncState: "pending" }),
      store.count({ syncState: "uploading" }),
    ]);
    if (store !== app.store) return;
    app.list.render(page.items);
    $("#count").textContent = total ? `(${total})` : "";
    $("#empty").hidden = total > 0;
    $("#more").hidden = !page.cursor;
    // The counts and the list are separate reads, and a sync may land between them: never show fewer
    // waiting than the badges on screen say, so the status never reads "Synced" next to a Pending badge.
    const shown = page.items.filter((r) => r.syncState === "pending" || r.syncState === "uploading").length;
    app.pending = Math.max(pending + uploading, shown);
    renderSyncStatus();
  } catch (err) {
    if (err?.code !== "Closed") toast(`Could not list recordings: ${err.message}`, { error: true });
  }
}

async function refreshStorage() {
  try {
    const { usage, quota, persisted } = await app.store.estimate();
    $("#storage-usage").textContent =
      usage == null ? "Storage use unknown in this browser" : `${formatBytes(usage)} used of ${formatBytes(quota)}`;
    $("#storage-persisted").textContent = persisted
      ? "Kept under storage pressure (persistent)"
      : "The browser may clear it under storage pressure";
    $("#persist").hidden = persisted;
  } catch {
    // Estimates are a nicety; a closed store during an account switch is not worth a message.
  }
}

// --- recording -------------------------------------------------------------------------------------------

let ticker = 0;

async function toggleRecording() {
  const button = $("#record");
  button.disabled = true;
  try {
    if (!app.recorder.recording) {
      const n = (await app.store.count()) + 1;
      await app.recorder.start(`Recording ${n}`);
      ticker = setInterval(renderRecorder, 250);
    } else {
      clearInterval(ticker);
      app.saving = true;
      renderRecorder();
      const rec = await app.recorder.stop().finally(() => { app.saving = false; });
      toast(`Saved “${rec.name}” (${formatDuration(rec.durationMs)})`);
      if (pendingReconnect) connect();
    }
  } catch (err) {
    clearInterval(ticker);
    if (err?.name === "NotAllowedError") toast("Microphone access was refused.", { error: true });
    else toast(`Recording failed: ${err.message}`, { error: true });
    offerRecovery();
  } finally {
    button.disabled = false;
    renderRecorder();
  }
}

function onRecorderError(err) {
  toast(`Could not store the recording (${err.code ?? err.name}); stopping.`, { error: true });
  if (app.recorder.recording) toggleRecording();
}

function renderRecorder() {
  const r = app.recorder;
  const button = $("#record");
  button.dataset.state = r.recording ? "recording" : app.saving ? "saving" : "idle";
  $("#record-label").textContent = r.recording ? "Stop" : "Record";
  button.setAttribute("aria-pressed", String(r.recording));
  $("#recorder").classList.toggle("live", r.recording);
  $("#rec-time").textContent = formatDuration(r.elapsedMs);
  $("#rec-hint").textContent = r.recording
    ? `${formatBytes(r.size)} saved so far, second by second`
    : "Tap to record. Each second is saved as it is recorded.";
}

// Captures a closed or crashed tab left behind: finish them into recordings, or discard them.
async function offerRecovery() {
  const box = $("#recovery");
  let captures;
  try {
    captures = await unfinishedCaptures(app.store);
  } catch {
    return;
  }
  const items = [];
  for (const cap of captures) {
    const info = cap.info;
    if (info.chunks === 0) {
      // Closed before its first second: nothing to keep.
      cap.discard().catch(() => {});
      continue;
    }
    const durationMs = Math.max(0, info.updatedAt - info.startedAt);
    const act = async (finish) => {
      try {
        if (finish) {
          const rec = await cap.finish({ durationMs });
          toast(`Recovered “${rec.name}”`);
        } else {
          await cap.discard();
        }
      } catch (err) {
        toast(`Could not ${finish ? "recover" : "discard"} it: ${err.message}`, { error: true });
      }
      item.remove();
      box.hidden = !$("#recovery-list").children.length;
    };
    const item = h("li", { class: "recovery-item", "data-testid": "recovery-item", "data-id": info.id },
      h("div", { class: "main" },
        h("span", { class: "name" }, info.name || "Unfinished recording"),
        h("span", { class: "sub" }, `${formatDuration(durationMs)} · ${formatDate(info.startedAt)} · ${formatBytes(info.size)}`)),
      h("div", { class: "actions" },
        h("button", { class: "primary", "data-testid": "recover-save", onclick: () => act(true) }, "Save"),
        h("button", { class: "ghost", "data-testid": "recover-discard", onclick: () => act(false) }, "Discard")));
    items.push(item);
  }
  $("#recovery-list").replaceChildren(...items);
  box.hidden = items.length === 0;
}

// --- playing, renaming, deleting -------------------------------------------------------------------------

async function play(rec) {
  const blob = await app.store.getBlob(rec.id).catch(() => null);
  if (!blob) {
    toast("This recording's audio is not on this device.", { error: true });
    return;
  }
  stopPlayer();
  const url = URL.createObjectURL(blob);
  app.playing = { id: rec.id, url };
  const audio = $("#player");
  audio.src = url;
  $("#now-playing").textContent = rec.name;
  $("#player-bar").hidden = false;
  document.body.classList.add("playing");
  audio.play().catch(() => {});
}

// The object URL holds the Blob in memory: revoke it as soon as it is no longer played.
function stopPlayer() {
  const audio = $("#player");
  audio.pause();
  audio.removeAttribute("src");
  audio.load();
  if (app.playing) URL.revokeObjectURL(app.playing.url);
  app.playing = null;
  $("#player-bar").hidden = true;
  document.body.classList.remove("playing");
}

async function rename(rec, name) {
  try {
    await app.store.update(rec.id, { name });
  } catch (err) {
    toast(`Could not rename: ${err.message}`, { error: true });
    scheduleRefresh();
  }
}

async function remove(rec) {
  const answer = await ask({
    title: `Delete “${rec.name}”?`,
    body: app.canSync
      ? "It is deleted on this device now, and on your other devices after the next sync."
      : "It is deleted from this device.",
    actions: [{ label: "Cancel", value: "cancel" }, { label: "Delete", value: "delete", kind: "danger" }],
  });
  if (answer !== "delete") return;
  if (app.playing?.id === rec.id) stopPlayer();
  try {
    await app.store.delete(rec.id);
  } catch (err) {
    toast(`Could not delete: ${err.message}`, { error: true });
  }
}

// --- account ---------------------------------------------------------------------------------------------

// Copies the recordings of `from` into `to` (same ids and metadata; they become pending there, so they
// are pushed to the new user's folder) and deletes them from `from`.
async function moveRecordings(from, to) {
  const { items } = await from.list({ order: "asc" });
  let moved = 0;
  for (const rec of items) {
    const blob = await from.getBlob(rec.id);
    if (!blob) continue;
    const options = { id: rec.id, name: rec.name, mimeType: rec.mimeType, createdAt: rec.createdAt, tags: rec.tags, custom: rec.custom };
    if (rec.durationMs != null) options.durationMs = rec.durationMs;
    try {
      await to.save(blob, options);
    } catch (err) {
      if (err?.code !== "Conflict") throw err;   // already there
    }
    await from.delete(rec.id);
    moved++;
  }
  return moved;
}

/**
 * Runs `signIn` (which makes `account` another user) and moves this device to that user's store. A guest's
 * recordings (anonymous, or an account the server lost) come along; a named account's stay in its store.
 */
async function switchAccount(signIn) {
  if (app.recorder?.recording) throw new Error("Stop recording first.");
  const wasGuest = !account.uid || account.isAnonymous || account.lost;
  const oldUid = account.uid;
  await signIn();
  if (account.uid !== oldUid || !app.store) {
    app.sync?.close();
    app.sync = null;
    stopPlayer();
    const old = app.store;
    await openStore(storeNameFor(account.uid));
    if (old) {
      if (wasGuest) {
        const n = await moveRecordings(old, app.store);
        if (n) toast(`${n} recording${n === 1 ? "" : "s"} from this device added to the account`);
      }
      closeStore(old);
    }
    offerRecovery();
  }
  renderAccount();
  startSync();
}

let connecting = null;
let pendingReconnect = false;
let reconnectOnOnline = false;

/** Makes sure there is a working account (signing up a guest if needed), then syncs. Safe to call often. */
function connect() {
  connecting ??= (async () => {
    if (app.recorder?.recording) {
      pendingReconnect = true;   // switching stores mid-recording would cut the recording short
      return;
    }
    pendingReconnect = false;
    try {
      if (!account.uid) {
        await switchAccount(() => account.signUpAnonymously());
      } else {
        try {
          await account.idToken();
        } catch (err) {
          if (!(err instanceof AuthError && err.lost)) throw err;
          toast("The server no longer knows this account (emulators restarted?). Signed in as a new guest; your recordings stay.");
          await switchAccount(() => account.signUpAnonymously());
        }
      }
    } catch (err) {
      // Offline, or the sign-in service is down: everything local works; try again when the network returns.
      if (!reconnectOnOnline) {
        reconnectOnOnline = true;
        addEventListener("online", () => { reconnectOnOnline = false; connect(); }, { once: true });
      }
      if (!account.uid) setSyncStatus("signed-out", "Not signed in yet: recordings stay on this device until it is online.");
    } finally {
      renderAccount();
      if (account.uid && !app.sync) startSync();
    }
  })().finally(() => { connecting = null; });
  return connecting;
}

function renderAccount() {
  const status = $("#account-status");
  if (!account.uid) status.textContent = "Not signed in (offline?)";
  else if (account.isAnonymous) status.textContent = "Guest account";
  else status.textContent = account.email;
  $("#account-uid").textContent = account.uid ? `User ID ${account.uid}` : "";
  $("#account-link").hidden = !account.isAnonymous;
  $("#account-link-help").hidden = !account.isAnonymous;
  $("#account-named-help").hidden = account.isAnonymous || !account.uid;
  $("#account-summary").textContent = account.uid ? (account.isAnonymous ? "Guest" : account.email) : "Offline";
  if (BACKEND === "s3" && account.users.length) $("#account-email").placeholder = `User id: ${account.users.join(" or ")}`;
}

// S3: the "account" is only a user id of the local S3 (no password; see s3-account.js), so the form asks for an id.
function adaptAccountFormForS3() {
  const id = $("#account-email");
  id.type = "text";
  id.autocomplete = "off";
  id.placeholder = "User id";
  const password = $("#account-password");
  password.hidden = true;
  password.required = false;
  $("#account-link").hidden = true;   // renderAccount keeps it hidden: nobody is a guest here
  $("#account-signin").textContent = "Use this user";
  $("#account-named-help").textContent =
    "Choose the same user id in another browser profile to see the same recordings there. (The demo has no " +
    "S3 sign-in: its server signs requests for the id the page names, under users/{id}/ only.)";
}

function accountForm() {
  const email = $("#account-email").value.trim();
  const password = $("#account-password").value;
  if (BACKEND === "s3") {
    if (!email) {
      showAccountError("Enter a user id.");
      return null;
    }
    return { email, password: "" };
  }
  if (!email || !password) {
    showAccountError("Enter an email and a password (6 characters or more).");
    return null;
  }
  return { email, password };
}

function showAccountError(message) {
  const el = $("#account-error");
  el.textContent = message ?? "";
  el.hidden = !message;
}

async function accountAction(run) {
  const form = accountForm();
  if (!form) return;
  showAccountError(null);
  const buttons = document.querySelectorAll("#account button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await run(form);
    $("#account-password").value = "";
  } catch (err) {
    showAccountError(err.message);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

// "Add email & password" on the first device: the guest account keeps its uid and recordings.
const linkAccount = () =>
  accountAction(async ({ email, password }) => {
    // Firebase keeps the guest's uid; where linking makes a new user, this device moves to it with its recordings.
    if (account.linkKeepsUser === false) await switchAccount(() => account.linkEmail(email, password));
    else await account.linkEmail(email, password);
    renderAccount();
    toast(`This account can now be used on other devices as ${email}`);
  });

// "Sign in" on another device: this device becomes that user's; a guest's recordings come along.
const signInAccount = () =>
  accountAction(async ({ email, password }) => {
    await switchAccount(() => account.signIn(email, password));
    toast(`Signed in as ${account.email}`);
  });

// --- sync ------------------------------------------------------------------------------------------------

function startSync() {
  app.sync?.close();
  app.sync = null;
  if (!app.canSync) {
    setSyncStatus("unavailable", "Sync unavailable in this build");
    return;
  }
  if (!account.uid) return;
  if (account.ready === false) {
    // S3: where the S3 is comes from the demo server; connect() asks again when the network returns.
    setSyncStatus("signed-out", "The demo server cannot be reached yet: recordings stay on this device until it can.");
    return;
  }
  const source = account.tokenSource();
  const getToken = async () => {
    try {
      return await source();
    } catch (err) {
      if (err instanceof AuthError && err.lost) setTimeout(connect, 0);
      throw err;
    }
  };
  const sync = new SyncController({ lib: tapesync, store: app.store, uid: account.uid, getToken, policy: settings.policy, s3: account.config ?? null });
  sync.addEventListener("state", (e) => onSyncState(e.detail));
  sync.addEventListener("progress", (e) => app.list.progress(e.detail));
  app.sync = sync;
  setSyncStatus("idle");
  if (settings.autoSync) sync.startAuto({ now: true });
}

function onSyncState(detail) {
  const previous = app.syncState?.state;
  app.syncState = detail;
  // A sync ended: idle with its report, or idle right after "syncing".
  if (detail.state === "idle" && (detail.report || previous === "syncing")) app.lastSyncAt = Date.now();
  if (detail.state !== "syncing") app.list.syncEnded(detail.report);
  setSyncStatus(detail.state);
  scheduleRefresh();
}

async function syncNow() {
  if (!app.sync) return;
  try {
    await app.sync.syncNow();
  } catch (err) {
    toast(`Sync failed: ${err.message}`, { error: true });
  }
}

function setSyncStatus(state, message) {
  const el = $("#sync-status");
  el.dataset.state = state;
  if (app.lastSyncAt) el.dataset.lastSync = String(app.lastSyncAt);
  if (message) el.dataset.message = message;
  else delete el.dataset.message;
  renderSyncStatus();
}

/** Why the last sync failed, from a syncstate detail: a TapesyncError, or a report's outcome error. */
function syncErrorMessage(detail) {
  const report = detail?.report ?? detail?.error;
  if (!report) return "";
  if (report instanceof Error || typeof report.message === "string") return report.message;
  return report.outcome?.error?.message ?? "";
}

function renderSyncStatus() {
  const el = $("#sync-status");
  const state = el.dataset.state;
  const report = app.syncState?.report;
  const pending = app.pending ?? 0;
  const waiting = pending ? `${pending} waiting to sync` : "";
  let text;
  switch (state) {
    case "syncing": text = "Syncing…"; break;
    case "offline": text = `Offline: will sync when the network returns${pending ? ` (${pending} waiting)` : ""}`; break;
    case "error": {
      const why = syncErrorMessage(app.syncState);
      text = `Sync failed${why ? `: ${why}` : ""}${pending ? ` (${pending} waiting)` : ""}; retrying later`;
      break;
    }
    case "idle": {
      const parts = [];
      // "Synced" only when nothing waits: with recordings pending, say when the last sync was instead.
      if (app.lastSyncAt) parts.push(pending ? `Last sync ${formatAgo(app.lastSyncAt)}` : `Synced ${formatAgo(app.lastSyncAt)}`);
      if (report) {
        parts.push(`↑${report.pushed} ↓${report.pulled}`);
        if (report.conflicts) parts.push(`${report.conflicts} conflict${report.conflicts === 1 ? "" : "s"}`);
        if (report.failed?.length) parts.push(`${report.failed.length} failed`);
      }
      if (waiting) parts.push(waiting);
      text = parts.join(" · ") || "Ready to sync";
      break;
    }
    default: text = el.dataset.message ?? "";
  }
  el.textContent = text;
  const button = $("#sync-now");
  button.disabled = !app.sync || state === "syncing";
  button.classList.toggle("spinning", state === "syncing");
}

// --- network, settings, service worker ------------------------------------------------------------------

function renderNetwork() {
  const online = navigator.onLine;
  const pill = $("#net");
  pill.textContent = online ? "Online" : "Offline";
  pill.dataset.online = String(online);
}

function wireUi() {
  app.list = new RecordingList($("#recordings"), { play, rename, remove });
  $("#record").addEventListener("click", toggleRecording);
  $("#sync-now").addEventListener("click", syncNow);
  $("#more").addEventListener("click", () => { app.limit += PAGE; refreshList(); });
  $("#player-close").addEventListener("click", stopPlayer);
  $("#persist").addEventListener("click", async () => {
    const granted = await app.store.persist().catch(() => false);
    toast(granted ? "Storage is now persistent" : "The browser did not grant persistent storage");
    refreshStorage();
  });

  const auto = $("#auto-sync");
  auto.checked = settings.autoSync;
  auto.addEventListener("change", () => {
    settings.autoSync = auto.checked;
    saveSettings();
    if (!app.sync) return;
    if (auto.checked) app.sync.startAuto({ now: true });
    else app.sync.stopAuto();
  });

  const policy = $("#policy");
  policy.replaceChildren(...Object.entries(POLICIES).map(([value, label]) => h("option", { value }, label)));
  policy.value = settings.policy in POLICIES ? settings.policy : "merge";
  policy.addEventListener("change", () => {
    settings.policy = policy.value;
    saveSettings();
    app.sync?.setPolicy(policy.value);
  });

  if (BACKEND === "s3") adaptAccountFormForS3();
  $("#account-link").addEventListener("click", linkAccount);
  $("#account-signin").addEventListener("click", signInAccount);
  $("#account-form").addEventListener("submit", (e) => e.preventDefault());

  addEventListener("online", renderNetwork);
  addEventListener("offline", renderNetwork);
  addEventListener("pagehide", stopPlayer);
  renderNetwork();
  setInterval(renderSyncStatus, 30_000);
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("./sw.js").catch((err) => console.warn("service worker:", err.message));
}

async function main() {
  wireUi();
  registerServiceWorker();
  await init();
  app.canSync = syncSupported(tapesync);
  // A first start online signs up before opening a store, so the guest store is only for offline starts.
  if (!account.uid) await account.signUpAnonymously().catch(() => {});
  await openStore(storeNameFor(account.uid));
  renderRecorder();
  renderAccount();
  if (!app.canSync) setSyncStatus("unavailable", "Sync unavailable in this build");
  document.body.dataset.ready = "true";
  offerRecovery();
  connect();
}

main().catch((err) => {
  document.body.dataset.ready = "error";
  const message = err?.code === "StorageUnavailable"
    ? "This browser does not let the app store data (private mode?)."
    : `The app could not start: ${err?.message ?? err}`;
  $("#fatal").textContent = message;
  $("#fatal").hidden = false;
});
