#!/usr/bin/env bash
# Builds the npm package into pkg/: tapesync.js (ES module, default export initialises the module),
# tapesync.d.ts, a size-optimised tapesync_bg.wasm and package.json. Prints the gzipped size.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "pkg: compiling the crates for wasm32 (release): tapesync and the encoder module (compress/)"
cargo build --quiet --release --lib --target wasm32-unknown-unknown -p tapesync -p tapesync-compress
rm -rf pkg
echo "pkg: generating the JS bindings (wasm-bindgen --target web)"
wasm-bindgen --target web --out-dir pkg --out-name tapesync \
  --remove-name-section --remove-producers-section \
  target/wasm32-unknown-unknown/release/tapesync.wasm
echo "pkg: optimising for size (wasm-opt -Oz, npm binaryen)"
# The features rustc enables by default for wasm32-unknown-unknown, so wasm-opt accepts them.
node_modules/.bin/wasm-opt -Oz --strip-debug --strip-producers \
  --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/tapesync_bg.wasm -o pkg/tapesync_bg.wasm

# The encoder module (docs/compression.md): a second wasm in pkg/compress/, which tapesync imports
# on the first save or capture that compresses, so the base package does not grow with it.
echo "pkg: the encoder module (pkg/compress/)"
wasm-bindgen --target web --out-dir pkg/compress --out-name tapesync_compress \
  --remove-name-section --remove-producers-section \
  target/wasm32-unknown-unknown/release/tapesync_compress.wasm
node_modules/.bin/wasm-opt -O3 --strip-debug --strip-producers \
  --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/compress/tapesync_compress_bg.wasm -o pkg/compress/tapesync_compress_bg.wasm
cp compress/js/index.js compress/js/encoder.js compress/js/worker.js pkg/compress/
# The encoder's wasm-bindgen glue is internal (apps import tapesync/compress, which has no
# exports): its .d.ts files would only ship wasm-bindgen's esnext-only Symbol.dispose.
rm -f pkg/compress/.gitignore pkg/compress/package.json pkg/compress/*.d.ts

# The .d.ts for TypeScript consumers on lib ES2022 as well as esnext. wasm-bindgen declares
# `[Symbol.dispose](): void;` on every class, which does not compile without lib esnext.disposable
# (tsc --strict, lib ["ES2022", "DOM"], skipLibCheck false: TS2339/TS1166). Its JS adds that method
# only where the engine has Symbol.dispose (`if (Symbol.dispose) ...`), so the types say the same:
# each class extends TapesyncDisposable, which is `{ [Symbol.dispose](): void }` where the
# consumer's lib declares Symbol.dispose (so `using` works) and `{}` where it does not.
echo "pkg: the .d.ts without lib esnext (Symbol.dispose where the consumer's lib has it)"
node - pkg/tapesync.d.ts <<'JS'
const fs = require("node:fs");
const file = process.argv[2];
let dts = fs.readFileSync(file, "utf8");
const classes = [];
dts = dts.replace(/(export class (\w+) \{[^]*?)\n *\[Symbol\.dispose\]\(\): void;/g, (all, head, name) => {
  classes.push(name);
  return head;
});
if (classes.length === 0 || dts.includes("[Symbol.dispose]")) {
  console.error("pkg: wasm-bindgen's d.ts changed: [Symbol.dispose] not found where expected");
  process.exit(1);
}
// Before the init plumbing, at the start of its line.
const at = dts.lastIndexOf("\n", dts.indexOf("export type InitInput")) + 1;
dts = dts.slice(0, at) + `/**
 * \`[Symbol.dispose]()\` (the same as \`free()\`), so \`using\` works, where TypeScript's lib
 * declares \`Symbol.dispose\` (esnext); nothing where it does not (ES2022), as the JS adds it only
 * where the engine has \`Symbol.dispose\`.
 */
export type TapesyncDisposable = SymbolConstructor extends { readonly dispose: infer K extends symbol }
  ? { [P in K]: () => void }
  : {};
${classes.map((name) => `export interface ${name} extends TapesyncDisposable {}\n`).join("")}
` + dts.slice(at);
fs.writeFileSync(file, dts);
JS

# Startup (BENCHMARKS.md "Startup"): V8 compiles a script's functions lazily, each at its first
# call and on the main thread, and the glue's functions (one per wasm import) are many of the work
# on the way to the first list(): ~125 of them compiled there, 40-54 ms at 4x CPU throttling
# (Chromium trace, V8.CompileCode). V8's explicit compile hint (Chrome 136+; a plain comment
# elsewhere, and bundlers that drop comments lose only the hint) has the whole file compiled as it
# loads instead: 22 functions left. After the first line, which stays the @ts-self-types comment.
echo "pkg: compile hint for the JS glue (//# allFunctionsCalledOnLoad)"
sed -i '1a //# allFunctionsCalledOnLoad' pkg/tapesync.js

version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
# For bundlers and for a static server alike: the files are ES modules that find each other by
# relative URLs (snippets/, compress/) and the wasm by new URL("tapesync_bg.wasm", import.meta.url),
# which Vite, webpack 5 and Parcel emit as assets and a static server or a CDN serves as they are.
# sideEffects: a bundler may drop a module nothing imports a name from, except these: the encoder
# module's entry registers itself on globalThis (a service worker imports it for that alone) and
# its worker is an entry of its own.
cat > pkg/package.json <<JSON
{
  "name": "tapesync",
  "version": "$version",
  "description": "Offline-first audio recordings for the web: IndexedDB storage and cloud sync, in WebAssembly.",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./tapesync.js",
  "module": "./tapesync.js",
  "types": "./tapesync.d.ts",
  "exports": {
    ".": { "types": "./tapesync.d.ts", "default": "./tapesync.js" },
    "./tapesync_bg.wasm": "./tapesync_bg.wasm",
    "./compress": "./compress/index.js",
    "./compress/*": "./compress/*",
    "./package.json": "./package.json"
  },
  "files": ["tapesync.js", "tapesync.d.ts", "tapesync_bg.wasm", "tapesync_bg.wasm.d.ts", "snippets/", "compress/"],
  "sideEffects": ["./compress/index.js", "./compress/worker.js"]
}
JSON
rm -f pkg/.gitignore
wasm=$(gzip -9 -c pkg/tapesync_bg.wasm | wc -c)
js=$(gzip -9 -c pkg/tapesync.js | wc -c)
echo "pkg: built pkg/ — gzipped: wasm $((wasm / 1024)) KiB + JS glue $((js / 1024)) KiB = $(((wasm + js) / 1024)) KiB"
cwasm=$(gzip -9 -c pkg/compress/tapesync_compress_bg.wasm | wc -c)
cjs=$(cat pkg/compress/*.js | gzip -9 | wc -c)
echo "pkg: encoder module pkg/compress/ (loaded on first use) — gzipped: wasm $((cwasm / 1024)) KiB + JS $((cjs / 1024)) KiB"
