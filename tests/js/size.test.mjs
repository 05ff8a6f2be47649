// The base package stays within its size budget (tests/js/size-budget.mjs): what every app using
// tapesync downloads on a cold start. The encoder module (pkg/compress/) is loaded only by apps that
// compress and has a budget of its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { BUDGET_KIB } from "./size-budget.mjs";

const gz = (path) => gzipSync(readFileSync(new URL(`../../pkg/${path}`, import.meta.url)), { level: 9 }).length;

test("the base package (wasm + JS glue, gzipped) stays within its budget", () => {
  const wasm = gz("tapesync_bg.wasm");
  const js = gz("tapesync.js");
  const kib = (wasm + js) / 1024;
  assert.ok(kib <= BUDGET_KIB, `the package is ${kib.toFixed(1)} KiB gzipped (wasm ${(wasm / 1024).toFixed(1)} + JS ${(js / 1024).toFixed(1)}), over its budget of ${BUDGET_KIB} KiB`);
});

test("the encoder module stays within its own budget (110 KiB gzipped: wasm + JS)", () => {
  const wasm = gz("compress/tapesync_compress_bg.wasm");
  const js = ["index.js", "encoder.js", "worker.js", "tapesync_compress.js"].reduce((s, f) => s + gz(`compress/${f}`), 0);
  const kib = (wasm + js) / 1024;
  assert.ok(kib <= 110, `the encoder module is ${kib.toFixed(1)} KiB gzipped`);
});
