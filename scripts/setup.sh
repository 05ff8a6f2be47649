#!/usr/bin/env bash
# Installs what building and testing tapesync needs, idempotently: each step checks first and says
# what it does. Sources: rustup, Debian's packages, crates.io and the npm registry only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "setup: $*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "adding the Rust component $component"
    rustup component add "$component"
  fi
done

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  say "installing Debian's chromium and chromium-driver (headless browser tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# The other engines users run: Firefox ESR, and WebKitGTK (Safari's engine) with its WebDriver, a
# virtual display for it, and the GObject bindings tests/engines/webkit-browser.py is written with.
engine_pkgs=(firefox-esr webkit2gtk-driver xvfb xauth python3-gi gir1.2-webkit2-4.1)
missing=()
for p in "${engine_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  say "installing Debian's ${missing[*]} (Firefox and WebKit browser tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v geckodriver >/dev/null; then
  say "installing geckodriver from crates.io (Firefox's WebDriver), about 2 minutes"
  cargo install geckodriver --version 0.37.1 --locked --quiet
fi

# wasm-bindgen-cli must be exactly the version Cargo.lock pins for the wasm-bindgen crate.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [[ "$have" != "$want" ]]; then
  # Not --locked: one of its locked dependency versions is missing from the registry here.
  say "installing wasm-bindgen-cli $want (was: ${have:-none}); this builds from source, about 4 minutes"
  cargo install wasm-bindgen-cli --version "$want" --quiet
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm packages from package-lock.json"
  # Without install scripts: the one that matters here is re2's (an optional dependency of the
  # Firebase emulators' static server, which falls back to plain JS without it), and it fetches a
  # prebuilt binary from GitHub or else compiles C++ for minutes. esbuild's is run: it checks that
  # its binary (an npm package) is there.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  npm rebuild esbuild --loglevel=error
fi

# `make bench` only: the speech and noise the compression benchmark encodes.
if [[ "${1:-}" == "--bench" ]] && { ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; }; then
  say "installing Debian's espeak-ng and sox (speech and noise for bench/compress.mjs)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends espeak-ng sox >/dev/null
fi

# `make bench` only: twiggy, which tells where the package's bytes go (bench/size.mjs).
if [[ "${1:-}" == "--bench" ]] && ! command -v twiggy >/dev/null; then
  say "installing twiggy 0.8.0 from crates.io (the wasm size profiler), about 2 minutes"
  cargo install twiggy --version 0.8.0 --locked --quiet
fi

say "ready"
