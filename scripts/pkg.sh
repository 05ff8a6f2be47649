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
rm -f pkg/compress/.gitignore pkg/compress/package.json

version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
cat > pkg/package.json <<JSON
{
  "name": "tapesync",
  "version": "$version",
  "description": "Offline-first audio recordings for the web: IndexedDB storage and cloud sync, in WebAssembly.",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "tapesync.js",
  "module": "tapesync.js",
  "types": "tapesync.d.ts",
  "exports": {
    ".": { "types": "./tapesync.d.ts", "default": "./tapesync.js" },
    "./tapesync_bg.wasm": "./tapesync_bg.wasm",
    "./compress": "./compress/index.js",
    "./compress/*": "./compress/*"
  },
  "files": ["tapesync.js", "tapesync.d.ts", "tapesync_bg.wasm", "tapesync_bg.wasm.d.ts", "snippets/", "compress/"],
  "sideEffects": ["./compress/index.js"]
}
JSON
rm -f pkg/.gitignore
wasm=$(gzip -9 -c pkg/tapesync_bg.wasm | wc -c)
js=$(gzip -9 -c pkg/tapesync.js | wc -c)
echo "pkg: built pkg/ — gzipped: wasm $((wasm / 1024)) KiB + JS glue $((js / 1024)) KiB = $(((wasm + js) / 1024)) KiB"
cwasm=$(gzip -9 -c pkg/compress/tapesync_compress_bg.wasm | wc -c)
cjs=$(cat pkg/compress/*.js | gzip -9 | wc -c)
echo "pkg: encoder module pkg/compress/ (loaded on first use) — gzipped: wasm $((cwasm / 1024)) KiB + JS $((cjs / 1024)) KiB"
