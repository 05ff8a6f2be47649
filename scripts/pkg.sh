#!/usr/bin/env bash
# Builds the npm package into pkg/: tapesync.js (ES module, default export initialises the module),
# tapesync.d.ts, a size-optimised tapesync_bg.wasm and package.json. Prints the gzipped size.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "pkg: compiling the crate for wasm32 (release)"
cargo build --quiet --release --lib --target wasm32-unknown-unknown
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
    "./tapesync_bg.wasm": "./tapesync_bg.wasm"
  },
  "files": ["tapesync.js", "tapesync.d.ts", "tapesync_bg.wasm", "tapesync_bg.wasm.d.ts"],
  "sideEffects": false
}
JSON
rm -f pkg/.gitignore
wasm=$(gzip -9 -c pkg/tapesync_bg.wasm | wc -c)
js=$(gzip -9 -c pkg/tapesync.js | wc -c)
echo "pkg: built pkg/ — gzipped: wasm $((wasm / 1024)) KiB + JS glue $((js / 1024)) KiB = $(((wasm + js) / 1024)) KiB"
