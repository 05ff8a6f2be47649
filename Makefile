# tapesync's commands. Each one installs what it needs first (scripts/setup.sh, idempotent).
.PHONY: setup test pkg bench demo clean

setup:
	@scripts/setup.sh

## make test: every check and test; ends with "N passed, N failed".
test: setup
	@scripts/test.sh

## make pkg: the npm package in pkg/ (ES module, .d.ts, size-optimised wasm).
pkg: setup
	@scripts/pkg.sh

## make bench: speed and memory against raw IndexedDB, Dexie and localForage in Chromium, against raw IndexedDB in Firefox and WebKit, the compression figures, startup (import to first list()) under 4x CPU throttling, and where the package's bytes go.
bench: pkg
	@scripts/setup.sh --bench
	@node bench/run.mjs
	@node bench/engines.mjs
	@node bench/compress.mjs
	@node bench/scale.mjs
	@node bench/startup.mjs
	@node bench/size.mjs

clean:
	rm -rf pkg target .tools

## make demo: builds pkg/, starts the local Firebase emulators, serves the demo PWA at http://127.0.0.1:8000/www/.
demo: pkg
	@scripts/demo.sh
