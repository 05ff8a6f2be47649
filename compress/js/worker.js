// The worker tapesync starts for encoding (index.js starts it on first use): the page's main
// thread only posts Blobs and typed arrays here and gets Blobs and bytes back.
import { load, transcode, PcmSession, choose } from "./encoder.js";

const sessions = new Map();
/** Per-key promise chains: a capture's chunks are encoded in order, apart from other work. */
const chains = new Map();

function queue(key, work) {
  const next = (chains.get(key) ?? Promise.resolve()).then(work, work);
  chains.set(key, next);
  next.then(() => {
    if (chains.get(key) === next) chains.delete(key);
  });
  return next;
}

self.onmessage = (event) => {
  const { id, op, key, args } = event.data;
  queue(key ?? `call-${id}`, async () => {
    try {
      let result;
      const transfer = [];
      if (op === "transcode") {
        result = await transcode(args.blob, args.options);
      } else if (op === "choose") {
        result = await choose(args.format, args.channels, args.bitrate, args.plays);
      } else if (op === "open") {
        sessions.get(key)?.free();
        sessions.set(key, new PcmSession(args));
        result = true;
      } else if (op === "push") {
        result = await session(key).push(args.samples);
        transfer.push(result.buffer);
      } else if (op === "finish") {
        result = await session(key).finish();
        sessions.delete(key);
        transfer.push(result.bytes.buffer);
      } else if (op === "close") {
        sessions.get(key)?.free();
        sessions.delete(key);
        result = true;
      } else {
        throw new Error(`unknown operation ${op}`);
      }
      self.postMessage({ id, ok: true, result }, transfer);
    } catch (e) {
      self.postMessage({ id, ok: false, error: { message: String(e?.message ?? e), code: e?.code ?? null } });
    }
  });
};

function session(key) {
  const s = sessions.get(key);
  if (!s) throw new Error("the capture's encoder is gone (finished or closed)");
  return s;
}

load().then(
  () => self.postMessage({ ready: true }),
  (e) => self.postMessage({ ready: false, error: String(e?.message ?? e) }),
);
