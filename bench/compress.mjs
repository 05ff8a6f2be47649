// `make bench` (compression, issue 16): what `store.save(wav, { compress })` costs and gains in
// Debian's headless Chromium, on speech (espeak-ng, converted with sox) and on music-like noise
// (sox): compressed/original size, encode speed in MB/s of WAV and in x-realtime, the longest
// main-thread stall while the worker encodes, the encoder's wasm memory growth over a 60-minute
// recording (encoded on the page, through the same code the worker runs, so its memory is
// visible), and the module sizes (gzip -9). Writes its table into BENCHMARKS.md.
//
// Environment: CHROMIUM (default /usr/bin/chromium); BENCH_QUICK=1 for a smoke run (short inputs,
// a 5-minute "long" recording; nothing written to BENCHMARKS.md). Without espeak-ng or sox the
// inputs are made in JS (tests/js/pages/compress-kit.js) and the report says so.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { mkdirSync, existsSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { serve } from "../scripts/serve.mjs";
import { machine, writeSection } from "./report.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const QUICK = process.env.BENCH_QUICK === "1";
const SECONDS = QUICK ? 20 : 120;
const LONG_MINUTES = QUICK ? 5 : 60;
const OUT = "target/bench-compress";
const log = (...a) => console.log(...a);
const loadAtStart = os.loadavg()[0];

const has = (cmd) => {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

const TEXT =
  "Offline first audio recordings for the web. Recordings are saved in the browser's storage and " +
  "synced to the cloud when the network is back. Large audio files are compressed before they are " +
  "saved or uploaded, so a minute of speech costs a fraction of the storage and of the upload. ";

/** Makes the input WAVs with espeak-ng and sox; returns their paths (relative to ROOT) or null. */
function makeInputs() {
  if (!has("espeak-ng") || !has("sox")) return null;
  mkdirSync(`${ROOT}${OUT}`, { recursive: true });
  const p = (name) => `${ROOT}${OUT}/${name}`;
  // espeak-ng speaks at 22050 Hz; the text repeated until it lasts SECONDS.
  execFileSync("espeak-ng", ["-w", p("speech-raw.wav"), "-s", "160", TEXT.repeat(Math.ceil(SECONDS / 12))]);
  execFileSync("sox", [p("speech-raw.wav"), "-r", "48000", "-b", "16", "-c", "1", p("speech.wav"), "trim", "0", String(SECONDS)]);
  // Music-like: pink noise shaped by a slow tremolo and a band, stereo 44.1 kHz 16-bit.
  execFileSync("sox", ["-n", "-r", "44100", "-b", "16", "-c", "2", p("music.wav"), "synth", String(SECONDS),
    "pinknoise", "tremolo", "3", "40", "sinc", "40-12000", "gain", "-6"]);
  return { speech: `/${OUT}/speech.wav`, music: `/${OUT}/music.wav` };
}

/** The size of `path` as `gzip -9` makes it (what scripts/pkg.sh prints; zlib's level 9 differs). */
function gz(path) {
  return execFileSync("sh", ["-c", `gzip -9 -c "${ROOT}${path}" | wc -c`]).toString().trim() * 1;
}

function moduleSizes() {
  const kib = (n) => (n / 1024).toFixed(0);
  const js = (dir, files) => files.reduce((s, f) => s + gz(`${dir}/${f}`), 0);
  return {
    base: `${kib(gz("pkg/tapesync_bg.wasm"))} KiB wasm + ${kib(js("pkg", ["tapesync.js"]))} KiB JS`,
    module: `${kib(gz("pkg/compress/tapesync_compress_bg.wasm"))} KiB wasm + ${kib(js("pkg/compress", ["index.js", "encoder.js", "worker.js", "tapesync_compress.js"]))} KiB JS`,
  };
}

const ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--js-flags=--expose-gc",
];

async function main() {
  if (!existsSync(`${ROOT}pkg/compress/tapesync_compress_bg.wasm`)) throw new Error("build the package first: make pkg");
  const inputs = makeInputs();
  log(`compress bench: inputs ${inputs ? "espeak-ng speech + sox noise" : "made in JS (no espeak-ng/sox)"}, ${SECONDS} s each`);
  const server = await serve({ root: ROOT });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ARGS });
  try {
    const page = await (await browser.newContext()).newPage();
    page.on("pageerror", (e) => log(`page error: ${e.message}`));
    await page.goto(`${server.url}/tests/js/pages/blank.html`);
    await page.evaluate(async () => {
      await window.tapesyncReady;
      window.kit = await import("/tests/js/pages/compress-kit.js");
    });
    const rows = [];
    for (const kind of ["speech", "music"]) {
      for (const format of ["flac", "opus"]) {
        const r = await page.evaluate(async ({ kind, format, url, seconds }) => {
          let wav;
          if (url) wav = new Blob([await (await fetch(url)).arrayBuffer()], { type: "audio/wav" });
          else if (kind === "speech") wav = kit.wav(kit.signal({ seconds, sampleRate: 48000, channels: 1 }), 48000, "i16");
          else wav = kit.wav(kit.signal({ seconds, sampleRate: 44100, channels: 2, noise: true }), 44100, "i16");
          const store = await tapesync.RecordingStore.open({ name: `bench-${kind}-${format}` });
          // The first save loads the module and starts the worker: not timed.
          await store.save(kit.wav(kit.signal({ seconds: 0.5, sampleRate: 16000, channels: 1 }), 16000), { compress: format });
          // The main thread's longest task while encoding (the Long Tasks API reports those over
          // 50 ms), and a 5 ms timer's largest lateness (which a loaded machine inflates too).
          let longest = 0;
          const observer = new PerformanceObserver((list) => {
            for (const e of list.getEntries()) longest = Math.max(longest, e.duration);
          });
          observer.observe({ type: "longtask" });
          let worst = 0;
          let last = performance.now();
          let ticking = true;
          const tick = () => {
            const t = performance.now();
            worst = Math.max(worst, t - last - 5);
            last = t;
            if (ticking) setTimeout(tick, 5);
          };
          setTimeout(tick, 5);
          const t0 = performance.now();
          const rec = await store.save(wav, { compress: format });
          const secs = (performance.now() - t0) / 1000;
          ticking = false;
          await new Promise((r) => setTimeout(r, 100));
          for (const e of observer.takeRecords()) longest = Math.max(longest, e.duration);
          observer.disconnect();
          store.close();
          await tapesync.RecordingStore.destroy(`bench-${kind}-${format}`);
          return { original: wav.size, size: rec.size, secs, durationMs: rec.durationMs, worst, longest, mimeType: rec.mimeType };
        }, { kind, format, url: inputs?.[kind], seconds: SECONDS });
        const row = {
          input: kind, format, mimeType: r.mimeType,
          ratio: r.size / r.original,
          mbps: r.original / 1e6 / r.secs,
          realtime: r.durationMs / 1000 / r.secs,
          stallMs: r.worst,
          longestTask: r.longest,
          original: r.original, size: r.size,
        };
        rows.push(row);
        log(`${kind.padEnd(6)} ${format.padEnd(4)} ${(r.original / 1e6).toFixed(1)} MB -> ${(r.size / 1e6).toFixed(2)} MB ` +
          `(${(row.ratio * 100).toFixed(1)}%), ${row.mbps.toFixed(1)} MB/s, ${row.realtime.toFixed(0)}x realtime, ` +
          `main thread: longest task ${row.longestTask ? `${row.longestTask.toFixed(0)} ms` : "none over 50 ms"}, timer lateness ${row.stallMs.toFixed(0)} ms`);
      }
    }

    // A long recording through the worker's code, on the page, for the wasm memory it takes.
    const long = await page.evaluate(async (minutes) => {
      const enc = await import("/pkg/compress/encoder.js");
      const wasm = await enc.load();
      const before = wasm.memory.buffer.byteLength;
      const second = kit.wav(kit.signal({ seconds: 1, sampleRate: 48000, channels: 1, seed: 2 }), 48000, "i16");
      const body = await second.slice(44).arrayBuffer();
      const n = minutes * 60;
      const header = kit.header("i16", 1, 48000, body.byteLength * n);
      const wav = new Blob([header, ...Array.from({ length: n }, () => body)], { type: "audio/wav" });
      const t0 = performance.now();
      const out = await enc.transcode(wav, { format: "flac" });
      const secs = (performance.now() - t0) / 1000;
      return { before, after: wasm.memory.buffer.byteLength, original: wav.size, size: out.size, secs };
    }, LONG_MINUTES);
    const growth = (long.after - long.before) / 2 ** 20;
    log(`${LONG_MINUTES}-minute 48 kHz mono WAV (${(long.original / 1e6).toFixed(0)} MB) to FLAC on the page: ` +
      `wasm memory ${(long.before / 2 ** 20).toFixed(1)} -> ${(long.after / 2 ** 20).toFixed(1)} MiB (growth ${growth.toFixed(1)} MiB), ` +
      `${(long.original / 1e6 / long.secs).toFixed(1)} MB/s`);
    const sizes = moduleSizes();
    log(`module sizes (gzip -9): base ${sizes.base}; encoder module ${sizes.module}, loaded on first use`);

    if (!QUICK) {
      const pct = (x) => `${(x * 100).toFixed(1)}%`;
      writeSection(new URL("../BENCHMARKS.md", import.meta.url), {
        start: "<!-- compress:start -->",
        end: "<!-- compress:end -->",
        heading: "## Compression (issue 16)",
        lines: [
          "",
          `\`node bench/compress.mjs\` (in \`make bench\`) on ${machine()}, headless Chromium; inputs: ` +
            `${inputs ? "speech from espeak-ng (48 kHz mono 16-bit, via sox) and music-like pink noise from sox (44.1 kHz stereo 16-bit)" : "JS-made speech-like tones and noise"}, ${SECONDS} s each. ` +
            "Time is that of `store.save(wav, { compress })` (encoding in the worker and the IndexedDB write). On the page meanwhile: the longest task the Long Tasks API reported (it reports those over 50 ms) and a 5 ms timer's largest lateness, which other load on the machine inflates too " +
            `(1-minute load average at the start: ${loadAtStart.toFixed(1)} on ${os.cpus().length} cores).`,
          "",
          "| Input | Format | WAV | Stored | Size | MB/s | x realtime | Longest task | Timer lateness |",
          "|---|---|---|---|---|---|---|---|---|",
          ...rows.map((r) => `| ${r.input} | ${r.format} | ${(r.original / 1e6).toFixed(1)} MB | ${(r.size / 1e6).toFixed(2)} MB | ${pct(r.ratio)} | ${r.mbps.toFixed(1)} | ${r.realtime.toFixed(0)}x | ${r.longestTask ? `${r.longestTask.toFixed(0)} ms` : "none > 50 ms"} | ${r.stallMs.toFixed(0)} ms |`),
          "",
          `- Wasm memory over a ${LONG_MINUTES}-minute 48 kHz mono recording (${(long.original / 1e6).toFixed(0)} MB of WAV) encoded to FLAC: ` +
            `${(long.before / 2 ** 20).toFixed(1)} MiB before, ${(long.after / 2 ** 20).toFixed(1)} MiB after (growth ${growth.toFixed(1)} MiB); ${(long.original / 1e6 / long.secs).toFixed(1)} MB/s.`,
          `- Sizes (gzip -9): base package ${sizes.base}; encoder module (pkg/compress/, loaded on first use) ${sizes.module}.`,
          "",
        ],
      });
      log("compress bench: results written to BENCHMARKS.md");
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
