// tapesync's encoder module. tapesync imports it (dynamically, relative to its own files) on the
// first save or capture that asks for compression, so apps that never compress never download it.
// Apps do not call it; the one exception is a service worker, where import() is not allowed: there
// a static `import "tapesync/compress";` first makes it available (see docs/compression.md).
//
// Encoding runs in a module worker started here (worker.js). Where no worker can be started
// (service workers have no Worker; a CSP may forbid it), it runs on the calling thread in slices
// of SLICE_INLINE bytes with a macrotask between them, so the thread is never busy for long.
import { transcode as transcodeHere, PcmSession, choose, invalid, load, mimeTypeOf, OGG_OPUS, WEBM_OPUS } from "./encoder.js";

/** Bytes encoded per step on the calling thread: ~10-20 ms of work. */
const SLICE_INLINE = 128 << 10;
/** How long a worker may take to start before encoding runs on the calling thread instead. */
const WORKER_START_MS = 10_000;

let worker = null;
let started = null;
let nextId = 1;
const pending = new Map();

/** Resolves to the worker, or null where none can run (then encoding runs here). */
function startWorker() {
  started ??= new Promise((resolve) => {
    if (typeof Worker !== "function") return resolve(null);
    let w;
    try {
      w = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "tapesync-compress" });
    } catch {
      return resolve(null);
    }
    const timer = setTimeout(() => {
      w.terminate();
      resolve(null);
    }, WORKER_START_MS);
    w.onerror = () => {
      clearTimeout(timer);
      w.terminate();
      resolve(null);
    };
    w.onmessage = (event) => {
      const m = event.data;
      if ("ready" in m) {
        clearTimeout(timer);
        if (!m.ready) {
          w.terminate();
          return resolve(null);
        }
        w.onerror = null;
        w.onmessage = (e) => settle(e.data);
        worker = w;
        return resolve(w);
      }
    };
  });
  return started;
}

function settle({ id, ok, result, error }) {
  const p = pending.get(id);
  if (!p) return;
  pending.delete(id);
  if (ok) p.resolve(result);
  else {
    const e = new Error(error.message);
    if (error.code) e.code = error.code;
    p.reject(e);
  }
}

function call(op, args, key, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, key, args }, transfer);
  });
}

const breathe = () => new Promise((r) => setTimeout(r, 0));

/** Which Opus containers `<audio>` plays here; both where there is no document to ask (workers). */
function plays() {
  if (typeof document === "undefined") return { ogg: true, webm: true };
  const audio = document.createElement("audio");
  return { ogg: audio.canPlayType(OGG_OPUS) !== "", webm: audio.canPlayType(WEBM_OPUS) !== "" };
}

/**
 * Transcodes a WAV Blob. `options`: `{ format: "flac" | "opus" | "auto", bitrate? }`.
 * Resolves to `{ blob, mimeType, durationMs, originalSize, size, format }`; rejects with an Error
 * whose `code` is "InvalidArgument" for audio that is no usable WAV.
 */
export async function transcode(blob, { format, bitrate }) {
  const w = await startWorker();
  const options = { format, bitrate, plays: plays() };
  return w ? call("transcode", { blob, options }) : transcodeHere(blob, options, breathe, SLICE_INLINE);
}

let nextSession = 1;

/**
 * An encoder for a PCM capture: `{ mimeType, push(chunk), finish(), close() }`. `push` takes
 * `Float32Array[]` (one per channel, as an AudioWorklet gives them), a `Float32Array` (mono) or an
 * interleaved `Int16Array`, and resolves to the bytes to store now (often none: output is stored
 * about once a second). `finish` resolves to `{ bytes, durationMs }`.
 */
export async function openPcm({ format, sampleRate, channels, bitrate }) {
  const w = await startWorker();
  const chosen = w
    ? await call("choose", { format, channels, bitrate, plays: plays() })
    : await choose(format, channels, bitrate, plays());
  const options = { ...chosen, sampleRate, channels, bitrate };
  const key = `pcm-${nextSession++}`;
  let local = null;
  let chain = Promise.resolve();
  // Calls run in order even when the app does not await them.
  const serial = (work) => {
    const next = chain.then(work);
    chain = next.catch(() => {});
    return next;
  };
  if (w) await call("open", options, key);
  else {
    await load();
    local = new PcmSession(options);
  }
  const mimeType = mimeTypeOf(chosen.container);
  return {
    mimeType,
    format: chosen.format,
    push(chunk) {
      // Copied (and interleaved) now: an AudioWorklet reuses its buffers.
      const samples = interleave(chunk, channels);
      return serial(() =>
        w ? call("push", { samples }, key, [samples.buffer]) : local.push(samples),
      );
    },
    finish() {
      return serial(() => (w ? call("finish", {}, key) : local.finish()));
    },
    close() {
      return serial(() => (w ? call("close", {}, key) : local.free()));
    },
  };
}

/** A chunk as one interleaved typed array of its own (a copy). */
function interleave(chunk, channels) {
  if (chunk instanceof Int16Array) {
    if (chunk.length % channels) throw invalid(`an Int16Array chunk must hold whole frames of ${channels} samples`);
    return chunk.slice();
  }
  if (chunk instanceof Float32Array) {
    if (channels !== 1) throw invalid("a stereo capture takes [left, right] Float32Arrays, one per channel");
    return chunk.slice();
  }
  if (Array.isArray(chunk) && chunk.length === channels && chunk.every((c) => c instanceof Float32Array)) {
    const n = chunk[0].length;
    if (chunk.some((c) => c.length !== n)) throw invalid("the channels of a chunk must have the same length");
    if (channels === 1) return chunk[0].slice();
    const out = new Float32Array(n * channels);
    for (let c = 0; c < channels; c++) {
      const src = chunk[c];
      for (let i = 0; i < n; i++) out[i * channels + c] = src[i];
    }
    return out;
  }
  throw invalid(
    `append(chunk) on an "audio/pcm" capture takes Float32Array[] (one per channel, ${channels} here), ` +
      "a Float32Array (mono) or an interleaved Int16Array",
  );
}

// For service workers, which cannot import() this module when tapesync needs it: a static import
// makes tapesync find it here.
globalThis[Symbol.for("tapesync.compress")] = { transcode, openPcm };
