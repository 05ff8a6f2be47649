// Recording from the microphone into the store, one chunk at a time: MediaRecorder hands over a chunk
// every second and each one goes into IndexedDB through a capture as it arrives. If the tab dies, the
// capture keeps everything up to the last second, and the next start offers to finish or discard it.
import { CONFIG } from "./config.js";

// The first of these the browser can record (Chromium and Firefox: webm/ogg Opus; Safari: mp4).
const TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];

/** The Web Lock a tab holds while it records into capture `id`, so other tabs leave that capture alone. */
export const captureLockName = (id) => `tapesync-demo/capture/${id}`;

export class Recorder extends EventTarget {
  #store;
  #recorder = null;
  #stream = null;
  #capture = null;
  #appends = [];
  #startedAt = 0;
  #releaseLock = null;
  #error = null;

  constructor(store) {
    super();
    this.#store = store;
  }

  get recording() { return this.#recorder !== null; }
  /** Milliseconds since the recording started. */
  get elapsedMs() { return this.recording ? performance.now() - this.#startedAt : 0; }
  /** Bytes stored so far. */
  get size() { return this.#capture?.info.size ?? 0; }

  /** Asks for the microphone and starts recording into a new capture named `name`. */
  async start(name) {
    if (this.recording) return;
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder !== "function") {
      throw new Error("This browser cannot record audio.");
    }
    this.#stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    try {
      const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
      const recorder = new MediaRecorder(this.#stream, mimeType ? { mimeType } : undefined);
      this.#capture = await this.#store.startCapture({ mimeType: recorder.mimeType || mimeType || "audio/webm", name });
      this.#holdLock(this.#capture.id);
      this.#appends = [];
      this.#error = null;
      recorder.ondataavailable = (e) => {
        if (!e.data || e.data.size === 0) return;
        // Appends keep the order of the calls; the promise is kept so stop() can wait for the last one.
        const p = this.#capture.append(e.data).then(
          () => this.dispatchEvent(new Event("progress")),
          (err) => this.#fail(err),
        );
        this.#appends.push(p);
      };
      recorder.onerror = (e) => this.#fail(e.error ?? new Error("The recorder failed."));
      recorder.start(CONFIG.timesliceMs);
      this.#recorder = recorder;
      this.#startedAt = performance.now();
    } catch (err) {
      this.#stopTracks();
      if (this.#capture) await this.#capture.discard().catch(() => {});
      this.#capture = null;
      this.#unlock();
      throw err;
    }
  }

  /** Stops and turns the capture into a recording; resolves to it. */
  async stop() {
    const recorder = this.#recorder;
    if (!recorder) return null;
    const durationMs = Math.round(performance.now() - this.#startedAt);
    // The last chunk arrives in a dataavailable event just before "stop".
    await new Promise((resolve) => {
      recorder.addEventListener("stop", resolve, { once: true });
      recorder.stop();
    });
    this.#recorder = null;
    this.#stopTracks();
    await Promise.all(this.#appends);
    const capture = this.#capture;
    this.#capture = null;
    try {
      if (this.#error) throw this.#error;
      return await capture.finish({ durationMs });
    } finally {
      this.#unlock();
    }
  }

  // A chunk that could not be stored (e.g. QuotaExceeded): stop, keep what was stored, tell the app.
  #fail(err) {
    if (this.#error) return;
    this.#error = err;
    this.dispatchEvent(new CustomEvent("error", { detail: err }));
  }

  #stopTracks() {
    this.#stream?.getTracks().forEach((t) => t.stop());
    this.#stream = null;
  }

  #holdLock(id) {
    if (!navigator.locks) return;
    navigator.locks.request(captureLockName(id), () => new Promise((release) => { this.#releaseLock = release; }));
  }

  #unlock() {
    this.#releaseLock?.();
    this.#releaseLock = null;
  }
}

/**
 * The captures left unfinished by a tab that closed or crashed mid-recording, without those that another
 * open tab is still recording into.
 */
export async function unfinishedCaptures(store) {
  const captures = await store.listCaptures();
  if (!captures.length || !navigator.locks?.query) return captures;
  const { held = [] } = await navigator.locks.query();
  const busy = new Set(held.map((l) => l.name));
  return captures.filter((c) => !busy.has(captureLockName(c.id)));
}
