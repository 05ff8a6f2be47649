// Small DOM helpers: formatting, the recordings list (updated in place, keyed by id), dialogs, toasts.

export const $ = (sel, root = document) => root.querySelector(sel);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "html") el.innerHTML = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...children.flat().filter((c) => c != null));
  return el;
}

const ICONS = {
  play: '<path d="M8 5v14l11-7z"/>',
  edit: '<path d="M4 17.2V20h2.8l8.3-8.3-2.8-2.8L4 17.2zM19.7 7.3a1 1 0 0 0 0-1.4l-1.6-1.6a1 1 0 0 0-1.4 0l-1.3 1.3 2.8 2.8 1.5-1.1z"/>',
  trash: '<path d="M6 7h12l-1 13H7L6 7zm3-3h6l1 2h4v2H4V6h4l1-2z"/>',
};
export const icon = (name) =>
  `<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="currentColor">${ICONS[name]}</svg>`;

export function formatDuration(ms) {
  if (ms == null) return "–:––";
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`
    : `${m}:${String(s % 60).padStart(2, "0")}`;
}

export function formatBytes(n) {
  if (n == null) return "?";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** "Today 10:44", "Nov 24, 10:44", or with the year when it is not this year's. */
export function formatDate(ms) {
  const d = new Date(ms);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return `Today ${timeFormat.format(d)}`;
  if (d.getFullYear() === now.getFullYear()) return `${dayFormat.format(d)}, ${timeFormat.format(d)}`;
  return fullFormat.format(d);
}

export function formatAgo(ms) {
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return formatDate(ms);
}

const BADGE = { pending: "Pending", uploading: "Syncing", synced: "Synced", conflict: "Conflict", failed: "Failed" };

/**
 * The recordings list. `render(items)` updates the rows in place (a row being renamed keeps its input);
 * `progress(id, detail)` shows transfer progress on a row's badge.
 */
export class RecordingList {
  #ul;
  #rows = new Map();
  #progress = new Map();
  #failures = new Map();
  #actions;

  /** `actions`: { play(rec), rename(rec, name), remove(rec) }. */
  constructor(ul, actions) {
    this.#ul = ul;
    this.#actions = actions;
  }

  render(items) {
    const seen = new Set();
    let prev = null;
    for (const rec of items) {
      seen.add(rec.id);
      let row = this.#rows.get(rec.id);
      if (!row) {
        row = this.#row(rec.id);
        this.#rows.set(rec.id, row);
      }
      row.rec = rec;
      this.#fill(row);
      const want = prev ? prev.el.nextSibling : this.#ul.firstChild;
      if (want !== row.el) this.#ul.insertBefore(row.el, want);
      prev = row;
    }
    for (const [id, row] of this.#rows) {
      if (!seen.has(id)) {
        row.el.remove();
        this.#rows.delete(id);
      }
    }
  }

  progress(detail) {
    if (detail?.id == null) return;
    this.#progress.set(detail.id, detail);
    const row = this.#rows.get(detail.id);
    if (row) this.#fill(row);
  }

  /** Forgets transfer progress (a sync ended) and remembers why recordings failed. */
  syncEnded(report) {
    this.#progress.clear();
    this.#failures = new Map((report?.failed ?? []).map((f) => [f.id, f]));
    for (const row of this.#rows.values()) this.#fill(row);
  }

  #row(id) {
    const row = { id, rec: null, editing: false };
    const name = h("span", { class: "name", "data-testid": "rec-name" });
    const sub = h("span", { class: "sub", "data-testid": "rec-meta" });
    const badge = h("span", { class: "badge", "data-testid": "sync-badge" });
    const play = h("button", { class: "icon play", "data-testid": "play", html: icon("play"), onclick: () => this.#actions.play(row.rec) });
    const rename = h("button", { class: "icon", "data-testid": "rename", html: icon("edit"), onclick: () => this.#edit(row) });
    const remove = h("button", { class: "icon danger", "data-testid": "delete", html: icon("trash"), onclick: () => this.#actions.remove(row.rec) });
    const main = h("div", { class: "main" }, name, sub);
    row.el = h("li", { class: "rec", "data-testid": "recording", "data-id": id }, play, main, badge, h("div", { class: "tools" }, rename, remove));
    Object.assign(row, { name, sub, badge, play, rename, remove, main });
    return row;
  }

  #fill(row) {
    const { rec } = row;
    row.el.dataset.syncState = rec.syncState;
    row.el.dataset.name = rec.name;
    if (!row.editing) row.name.textContent = rec.name || "Untitled";
    row.sub.textContent = `${formatDuration(rec.durationMs)} · ${formatDate(rec.createdAt)} · ${formatBytes(rec.size)}`;
    row.play.setAttribute("aria-label", `Play ${rec.name}`);
    row.rename.setAttribute("aria-label", `Rename ${rec.name}`);
    row.remove.setAttribute("aria-label", `Delete ${rec.name}`);

    const p = this.#progress.get(rec.id);
    let state = rec.syncState;
    let text = BADGE[state] ?? state;
    if (p && (state === "pending" || state === "uploading")) {
      state = "uploading";
      const pct = p.total > 0 ? Math.min(100, Math.floor((p.sent / p.total) * 100)) : null;
      text = pct == null ? "Syncing" : `Syncing ${pct}%`;
    }
    row.badge.className = `badge ${state}`;
    row.badge.textContent = text;
    const failure = this.#failures.get(rec.id);
    row.badge.title = state === "failed" && failure ? `${failure.code}: ${failure.message}` : "";
  }

  // Rename in place: Enter or leaving the field saves, Escape cancels.
  #edit(row) {
    if (row.editing) return;
    row.editing = true;
    const input = h("input", { class: "rename-input", "data-testid": "rename-input", value: row.rec.name, maxlength: 200, "aria-label": "New name" });
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const value = input.value.trim();
      row.editing = false;
      input.replaceWith(row.name);
      if (save && value && value !== row.rec.name) {
        row.name.textContent = value;
        await this.#actions.rename(row.rec, value);
      } else {
        this.#fill(row);
      }
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") finish(true);
      if (e.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
    row.name.replaceWith(input);
    input.focus();
    input.select();
  }
}

/**
 * A modal dialog; resolves to the value of the button pressed ("" when dismissed).
 * `body` is text or a node; `actions` is [{ label, value, kind: "primary"|"danger"|undefined }].
 */
export function ask({ title, body, actions }) {
  const dialog = $("#dialog");
  $("#dialog-title", dialog).textContent = title;
  const content = $("#dialog-body", dialog);
  content.replaceChildren(typeof body === "string" ? h("p", {}, body) : body);
  const buttons = $("#dialog-actions", dialog);
  buttons.replaceChildren(
    ...actions.map((a) =>
      h("button", { value: a.value, class: a.kind ?? "", "data-testid": `dialog-${a.value}` }, a.label),
    ),
  );
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

let toastTimer = 0;
/** A short message at the bottom of the screen. */
export function toast(message, { error = false } = {}) {
  const el = $("#toast");
  el.textContent = message;
  el.classList.toggle("error", error);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, error ? 6000 : 3000);
}
