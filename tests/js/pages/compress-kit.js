// Helpers for the compression tests, loaded into blank.html's page: WAV files made here (speech-
// like tones and noise, so the tests need no audio tools), and decoding with the browser's own
// decodeAudioData at the file's rate (no resampling, so samples compare exactly).

/** Deterministic noise in -1..1. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 0xffffffff) * 2 - 1;
  };
}

/**
 * Float samples per channel: a voice-like signal (a gliding fundamental with harmonics, syllables
 * of ~200 ms, a little noise) or, with `noise`, music-like broadband noise.
 */
export function signal({ seconds, sampleRate, channels, noise = false, seed = 1 }) {
  const n = Math.round(seconds * sampleRate);
  const r = rng(seed);
  const out = [];
  for (let c = 0; c < channels; c++) {
    const x = new Float32Array(n);
    let phase = 0;
    for (let i = 0; i < n; i++) {
      const t = i / sampleRate;
      if (noise) {
        x[i] = 0.5 * r() * (0.6 + 0.4 * Math.sin(2 * Math.PI * 0.5 * t + c));
        continue;
      }
      const f0 = 120 + 40 * Math.sin(2 * Math.PI * 0.7 * t) + 15 * c;
      phase += (2 * Math.PI * f0) / sampleRate;
      const env = Math.max(0, Math.sin(2 * Math.PI * 2.5 * t)) ** 2;
      let v = 0;
      for (let h = 1; h <= 8; h++) v += Math.sin(h * phase) / h;
      x[i] = 0.35 * env * v + 0.002 * r();
    }
    out.push(x);
  }
  return out;
}

/** A WAV file (Blob) of `channels` (Float32Array each) as `format`: "u8" | "i16" | "i24" | "f32". */
export function wav(channelsData, sampleRate, format = "i16", type = "audio/wav") {
  const channels = channelsData.length;
  const n = channelsData[0].length;
  const bytes = { u8: 1, i16: 2, i24: 3, f32: 4 }[format];
  const data = new DataView(new ArrayBuffer(n * channels * bytes));
  let at = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      const v = Math.max(-1, Math.min(1, channelsData[c][i]));
      if (format === "u8") data.setUint8(at, Math.round(v * 127) + 128);
      else if (format === "i16") data.setInt16(at, Math.round(v * 32767), true);
      else if (format === "i24") {
        const s = Math.round(v * 8388607);
        data.setUint8(at, s & 255);
        data.setUint8(at + 1, (s >> 8) & 255);
        data.setInt8(at + 2, s >> 16);
      } else data.setFloat32(at, channelsData[c][i], true);
      at += bytes;
    }
  }
  return new Blob([header(format, channels, sampleRate, data.byteLength), data.buffer], { type });
}

/** The 44-byte canonical header; `declared` overrides the data size (for truncated files). */
export function header(format, channels, sampleRate, dataLength, declared = dataLength) {
  const bytes = { u8: 1, i16: 2, i24: 3, f32: 4 }[format];
  const h = new DataView(new ArrayBuffer(44));
  const text = (at, s) => [...s].forEach((ch, i) => h.setUint8(at + i, ch.charCodeAt(0)));
  text(0, "RIFF");
  h.setUint32(4, 36 + declared, true);
  text(8, "WAVEfmt ");
  h.setUint32(16, 16, true);
  h.setUint16(20, format === "f32" ? 3 : 1, true);
  h.setUint16(22, channels, true);
  h.setUint32(24, sampleRate, true);
  h.setUint32(28, sampleRate * channels * bytes, true);
  h.setUint16(32, channels * bytes, true);
  h.setUint16(34, bytes * 8, true);
  text(36, "data");
  h.setUint32(40, declared, true);
  return new Uint8Array(h.buffer);
}

/** decodeAudioData at `sampleRate` (the file's own): `{ channels: Float32Array[], duration }`. */
export async function decode(blob, sampleRate) {
  const ctx = new OfflineAudioContext(1, 1, sampleRate);
  const buffer = await ctx.decodeAudioData(await blob.arrayBuffer());
  const channels = [];
  for (let c = 0; c < buffer.numberOfChannels; c++) channels.push(buffer.getChannelData(c));
  return { channels, duration: buffer.duration, sampleRate: buffer.sampleRate, length: buffer.length };
}

/** The largest absolute difference between two decoded signals (and whether lengths agree). */
export function maxDiff(a, b) {
  let worst = 0;
  for (let c = 0; c < a.channels.length; c++) {
    const x = a.channels[c];
    const y = b.channels[c];
    for (let i = 0; i < Math.min(x.length, y.length); i++) worst = Math.max(worst, Math.abs(x[i] - y[i]));
  }
  return worst;
}

/** Root-mean-square of one channel, over [from, to) seconds. */
export function rms(decoded, c, from, to) {
  const x = decoded.channels[c];
  const a = Math.floor(from * decoded.sampleRate);
  const b = Math.min(x.length, Math.floor(to * decoded.sampleRate));
  let s = 0;
  for (let i = a; i < b; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, b - a));
}

/** Plays `blob` in an <audio> element (muted, so no gesture is needed) until it has advanced. */
export async function plays(blob) {
  const audio = new Audio();
  audio.muted = true;
  audio.src = URL.createObjectURL(blob);
  await new Promise((resolve, reject) => {
    audio.onloadedmetadata = resolve;
    audio.onerror = () => reject(new Error(`<audio> error ${audio.error?.code}: ${audio.error?.message}`));
  });
  const duration = audio.duration;
  await audio.play();
  const t0 = performance.now();
  while (audio.currentTime < 0.2 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
  const advanced = audio.currentTime;
  audio.pause();
  URL.revokeObjectURL(audio.src);
  return { duration, advanced };
}

/** The integer samples of a canonical WAV made by `wav` (44-byte header), per channel. */
export async function ints(blob, format, channels) {
  const data = new DataView(await blob.slice(44).arrayBuffer());
  const bytes = { u8: 1, i16: 2, i24: 3 }[format];
  const n = data.byteLength / bytes / channels;
  const out = Array.from({ length: channels }, () => new Int32Array(n));
  let at = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      out[c][i] = format === "u8" ? data.getUint8(at) - 128
        : format === "i16" ? data.getInt16(at, true)
        : (data.getUint8(at) | (data.getUint8(at + 1) << 8) | (data.getInt8(at + 2) << 16));
      at += bytes;
    }
  }
  return out;
}

/** The largest difference, in integer steps of `bits` bits, between decoded floats and `ints`. */
export function intDiff(decoded, ints, bits) {
  const scale = 2 ** (bits - 1);
  let worst = 0;
  for (let c = 0; c < ints.length; c++) {
    if (decoded.channels[c].length !== ints[c].length) return Infinity;
    for (let i = 0; i < ints[c].length; i++) {
      worst = Math.max(worst, Math.abs(Math.round(decoded.channels[c][i] * scale) - ints[c][i]));
    }
  }
  return worst;
}
