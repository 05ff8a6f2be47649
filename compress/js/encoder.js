// tapesync's encoders, as they run in the worker (worker.js) or, where no worker can be started
// (service workers), on the calling thread (index.js). Everything streams: the WAV is read in
// slices of SLICE bytes, each slice goes through the wasm encoder and out again, so neither wasm
// memory nor the JS heap ever holds the whole recording (the output is gathered into Blobs, which
// the browser may keep on disk).
import init, { parseWav, FlacEncoder, To48k, OggOpusMuxer, WebmOpusMuxer } from "./tapesync_compress.js";

/** Bytes of WAV samples read and encoded per step: ~5 s of 48 kHz 16-bit stereo. */
export const SLICE = 1 << 20;
/** The most of a file read to find its WAV header (RIFF chunks before `data`). */
const HEAD = 1 << 20;
/** Output bytes gathered into one Blob before the next: keeps the JS heap bounded. */
const OUT_BLOB = 4 << 20;
/** Opus frames in flight in the AudioEncoder before the reader waits. */
const OPUS_QUEUE = 8;
/** What Opus costs per channel unless the app says: clear speech. */
export const DEFAULT_BITRATE = 24000;

let ready;
/** Instantiates the encoder module once. */
export function load() {
  ready ??= init();
  return ready;
}

/** An error the caller maps to tapesync's InvalidArgument. */
export function invalid(message) {
  const e = new Error(message);
  e.code = "InvalidArgument";
  return e;
}

/** Whether this engine encodes Opus with WebCodecs at these settings. */
export async function opusEncodes(channels, bitrate = DEFAULT_BITRATE * channels) {
  if (typeof AudioEncoder === "undefined" || typeof AudioData === "undefined") return false;
  try {
    const r = await AudioEncoder.isConfigSupported(opusConfig(channels, bitrate));
    return r.supported === true;
  } catch {
    return false;
  }
}

/**
 * What a requested format becomes: `{ format: "flac" | "opus", container: "flac" | "ogg" | "webm" }`.
 * Opus needs this thread's WebCodecs to encode it and a container the page's `<audio>` plays
 * (`plays`: `{ ogg, webm }` from canPlayType; Ogg preferred: it is every engine's but Safari's).
 * "auto" falls back to FLAC; "opus" where it is impossible is an InvalidArgument.
 */
export async function choose(format, channels, bitrate, plays = { ogg: true, webm: true }) {
  if (format === "flac") return { format: "flac", container: "flac" };
  const container = plays.ogg ? "ogg" : plays.webm ? "webm" : null;
  if (container && (await opusEncodes(channels, bitrate ?? DEFAULT_BITRATE * channels))) {
    return { format: "opus", container };
  }
  if (format === "auto") return { format: "flac", container: "flac" };
  throw invalid(
    'compress: "opus" needs WebCodecs AudioEncoder with Opus and <audio> that plays Opus in Ogg or WebM, ' +
      'which this browser lacks; use "auto" (Opus where possible, else FLAC) or "flac"',
  );
}

/** The type of what a container holds. */
export function mimeTypeOf(container) {
  return container === "flac" ? "audio/flac" : container === "webm" ? WEBM_OPUS : OGG_OPUS;
}

function opusConfig(channels, bitrate) {
  return { codec: "opus", sampleRate: 48000, numberOfChannels: channels, bitrate };
}

/** Gathers output bytes into Blobs of about OUT_BLOB bytes. */
class Sink {
  constructor() {
    this.blobs = [];
    this.parts = [];
    this.pending = 0;
    this.size = 0;
  }
  push(bytes) {
    if (!bytes || bytes.length === 0) return;
    this.parts.push(bytes);
    this.pending += bytes.length;
    this.size += bytes.length;
    if (this.pending >= OUT_BLOB) this.seal();
  }
  seal() {
    if (this.parts.length) this.blobs.push(new Blob(this.parts));
    this.parts = [];
    this.pending = 0;
  }
  blob(type, head) {
    this.seal();
    return new Blob(head ? [head, ...this.blobs] : this.blobs, { type });
  }
}

/** Reads and parses the WAV header of `blob`; InvalidArgument when it is no usable WAV. */
export async function readWav(blob) {
  await load();
  const head = new Uint8Array(await blob.slice(0, Math.min(blob.size, HEAD)).arrayBuffer());
  let wav;
  try {
    wav = parseWav(head, blob.size);
  } catch (e) {
    throw invalid(`the audio is not a WAV file tapesync can compress: ${e.message}`);
  }
  const info = {
    format: wav.format,
    channels: wav.channels,
    sampleRate: wav.sampleRate,
    dataOffset: wav.dataOffset,
    dataLength: wav.dataLength,
    frameBytes: wav.frameBytes,
    flacBits: wav.flacBits,
    durationMs: wav.durationMs,
  };
  wav.free();
  return info;
}

/**
 * Transcodes a WAV Blob to FLAC or Ogg Opus. `pause` is awaited between slices (the calling
 * thread's chance to breathe when there is no worker).
 * Resolves to `{ blob, mimeType, durationMs, originalSize, size, format }`.
 */
export async function transcode(blob, { format: asked, bitrate, plays }, pause = async () => {}, slice = SLICE) {
  const wav = await readWav(blob);
  const { format, container } = await choose(asked, wav.channels, bitrate, plays);
  const step = Math.max(1, Math.floor(slice / wav.frameBytes)) * wav.frameBytes;
  const end = wav.dataOffset + wav.dataLength;
  const slices = async function* () {
    for (let at = wav.dataOffset; at < end; at += step) {
      yield new Uint8Array(await blob.slice(at, Math.min(end, at + step)).arrayBuffer());
      await pause();
    }
  };
  let out;
  if (format === "flac") {
    const enc = new FlacEncoder(wav.sampleRate, wav.channels, wav.flacBits);
    try {
      const sink = new Sink();
      for await (const bytes of slices()) sink.push(enc.pushWav(bytes, wav.format));
      sink.push(enc.finish());
      out = sink.blob("audio/flac", enc.header());
    } finally {
      enc.free();
    }
  } else {
    // A file's WebM header is made last, with the duration.
    const opus = new OpusStream(wav.sampleRate, wav.channels, bitrate, container, container === "ogg");
    try {
      const sink = new Sink();
      for await (const bytes of slices()) {
        sink.push(await opus.push((r) => r.pushWav(bytes, wav.format)));
      }
      sink.push(await opus.finish());
      out = sink.blob(mimeTypeOf(container), container === "webm" ? opus.header(wav.durationMs) : null);
    } finally {
      opus.free();
    }
  }
  return {
    blob: out,
    mimeType: out.type,
    durationMs: wav.durationMs,
    originalSize: blob.size,
    size: out.size,
    format,
  };
}

export const OGG_OPUS = "audio/ogg; codecs=opus";
export const WEBM_OPUS = "audio/webm; codecs=opus";

/**
 * Opus through WebCodecs: resampled to 48 kHz in wasm, encoded by the engine's AudioEncoder,
 * paged into Ogg in wasm. `push` takes a function that feeds the resampler and returns its
 * output, and resolves to the Ogg pages completed so far.
 */
export class OpusStream {
  /** `container`: "ogg" or "webm"; `headerFirst`: emit the header with the first packet (captures). */
  constructor(sampleRate, channels, bitrate, container = "ogg", headerFirst = true) {
    this.container = container;
    this.headerFirst = headerFirst;
    this.channels = channels;
    this.to48k = new To48k(sampleRate, channels);
    this.mux = null;
    this.sampleRate = sampleRate;
    this.frames = 0;
    this.pages = [];
    this.failed = null;
    this.encoder = new AudioEncoder({
      output: (chunk, meta) => this.packet(chunk, meta),
      error: (e) => {
        this.failed = e;
      },
    });
    this.encoder.configure(opusConfig(channels, bitrate ?? DEFAULT_BITRATE * channels));
  }

  packet(chunk, meta) {
    this.ensureMux(meta);
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    const page = this.mux.packet(data);
    if (page.length) this.pages.push(page);
  }

  ensureMux(meta) {
    if (!this.mux) {
      // The pre-skip is the encoder's own (OpusHead in the decoder config), else libopus's 312.
      let preSkip = 312;
      const d = meta?.decoderConfig?.description;
      if (d) {
        const b = d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
        if (b.length >= 12 && String.fromCharCode(...b.subarray(0, 8)) === "OpusHead") {
          preSkip = b[10] | (b[11] << 8);
        }
      }
      if (this.container === "webm") {
        this.mux = new WebmOpusMuxer(this.channels, preSkip);
        if (this.headerFirst) this.pages.push(this.mux.header(-1));
      } else {
        const serial = (Math.random() * 0xffffffff) >>> 0;
        this.mux = new OggOpusMuxer(this.channels, this.sampleRate, preSkip, serial);
        this.pages.push(this.mux.headers());
      }
    }
  }

  encode(floats) {
    const frames = floats.length / this.channels;
    if (frames === 0) return;
    const data = new AudioData({
      format: "f32",
      sampleRate: 48000,
      numberOfChannels: this.channels,
      numberOfFrames: frames,
      timestamp: Math.round((this.frames * 1e6) / 48000),
      data: floats,
    });
    this.frames += frames;
    this.encoder.encode(data);
    data.close();
  }

  async waitQueue(limit) {
    while (this.encoder.encodeQueueSize > limit && !this.failed) {
      await new Promise((r) => setTimeout(r, 1));
    }
    if (this.failed) throw this.failed;
  }

  take() {
    const n = this.pages.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of this.pages) {
      out.set(p, at);
      at += p.length;
    }
    this.pages = [];
    return out;
  }

  async push(feed) {
    if (this.failed) throw this.failed;
    this.encode(feed(this.to48k));
    await this.waitQueue(OPUS_QUEUE);
    return this.take();
  }

  async finish() {
    this.encode(this.to48k.finish());
    await this.encoder.flush();
    if (this.failed) throw this.failed;
    this.ensureMux(null);
    this.pages.push(this.container === "webm" ? this.mux.finish() : this.mux.finish(this.frames));
    return this.take();
  }

  /** A WebM header made last (a file's), with the duration. */
  header(durationMs) {
    this.ensureMux(null);
    return this.mux.header(durationMs);
  }

  free() {
    if (this.encoder.state !== "closed") this.encoder.close();
    this.to48k?.free();
    this.mux?.free();
    this.to48k = null;
    this.mux = null;
  }
}

/**
 * A PCM capture's encoder: chunks of samples in, stored chunks out. The first chunk decides the
 * sample type (Int16Array: 16-bit; Float32Array: float, FLAC 24-bit). Output is held back until
 * about a second of audio is encoded, so a capture stores about one chunk per second however small
 * the app's chunks are (an AudioWorklet gives 128 frames).
 */
export class PcmSession {
  /** `format` ("flac" or "opus") and `container` as `choose` gave them. */
  constructor({ format, container, sampleRate, channels, bitrate }) {
    this.format = format;
    this.container = container;
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.bitrate = bitrate;
    this.kind = null;
    this.enc = null;
    this.opus = null;
    this.frames = 0;
    this.held = [];
    this.heldFrames = 0;
  }

  get mimeType() {
    return mimeTypeOf(this.container);
  }

  start(kind) {
    this.kind = kind;
    if (this.format === "flac") {
      this.enc = new FlacEncoder(this.sampleRate, this.channels, kind === "i16" ? 16 : 24);
      // Totals unknown yet: decoders accept that, and a crash keeps a playable file.
      this.held.push(this.enc.header());
    } else {
      this.opus = new OpusStream(this.sampleRate, this.channels, this.bitrate, this.container, true);
    }
  }

  /** Encodes interleaved `samples` (Int16Array or Float32Array); resolves to bytes to store, maybe empty. */
  async push(samples) {
    const kind = samples instanceof Int16Array ? "i16" : "f32";
    if (!this.kind) this.start(kind);
    else if (kind !== this.kind) {
      throw invalid(`a capture's chunks must all be ${this.kind === "i16" ? "Int16Array" : "Float32Array"}`);
    }
    const frames = samples.length / this.channels;
    let bytes;
    if (this.enc) {
      bytes = kind === "i16" ? this.enc.pushI16(samples) : this.enc.pushF32(samples);
    } else {
      bytes = await this.opus.push((r) => (kind === "i16" ? r.pushI16(samples) : r.pushF32(samples)));
    }
    this.frames += frames;
    this.heldFrames += frames;
    if (bytes.length) this.held.push(bytes);
    if (this.heldFrames >= this.sampleRate) return this.release();
    return new Uint8Array(0);
  }

  release() {
    const out = concat(this.held);
    this.held = [];
    this.heldFrames = 0;
    return out;
  }

  /** The last bytes and the duration: `{ bytes, durationMs }`. */
  async finish() {
    if (!this.kind) this.start("f32");
    if (this.enc) this.held.push(this.enc.finish());
    else this.held.push(await this.opus.finish());
    const bytes = this.release();
    this.free();
    return { bytes, durationMs: (this.frames * 1000) / this.sampleRate };
  }

  free() {
    this.enc?.free();
    this.opus?.free();
    this.enc = null;
    this.opus = null;
  }
}

function concat(parts) {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
