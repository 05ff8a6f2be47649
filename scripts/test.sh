#!/usr/bin/env bash
# Runs every check and test of tapesync and ends with one line: "N passed, N failed".
#   1. cargo fmt --check; cargo clippy -D warnings, native and wasm32
#   2. native tests: the core's unit tests, doctests and the multi-device sync simulation
#   3. browser tests (wasm-bindgen-test, headless Chromium): the store in a page, a dedicated worker
#      and a service worker
#   4. end-to-end tests (node --test + playwright-core): the built npm package, real servers
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

passed=0
failed=0
broken=()
log=$(mktemp -d)

# Adds the counts that cargo test ("test result: ... N passed; M failed") or node --test
# ("# pass N" / "# fail N") printed.
count() {
  read -r p f < <(awk '
    /test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
    /^# pass [0-9]+$/ { p += $3 }
    /^# fail [0-9]+$/ { f += $3 }
    END { print p + 0, f + 0 }' "$1")
  passed=$((passed + p))
  failed=$((failed + f))
}

step() {
  local name=$1
  shift
  echo "==> $name"
  local out="$log/$(echo "$name" | tr -c 'a-z0-9' '_').log"
  if "$@" 2>&1 | tee "$out"; then :; else broken+=("$name"); fi
  count "$out"
}

export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-120}

step "cargo fmt --check" cargo fmt --check
step "clippy (native)" cargo clippy --quiet --all-targets -- -D warnings
step "clippy (wasm32)" cargo clippy --quiet --all-targets --target wasm32-unknown-unknown -- -D warnings
step "native tests" cargo test
wasm_tests=()
for f in tests/*.rs; do
  grep -q '^#!\[cfg(target_arch = "wasm32")\]' "$f" && wasm_tests+=(--test "$(basename "$f" .rs)")
done
step "browser tests (wasm-bindgen-test)" cargo test --target wasm32-unknown-unknown "${wasm_tests[@]}"
step "npm package (make pkg)" scripts/pkg.sh
step "end-to-end tests (node --test)" node --test --test-concurrency=1 tests/js/

rm -rf "$log"
if [[ ${#broken[@]} -gt 0 ]]; then
  echo "failed steps: ${broken[*]}"
  [[ $failed -eq 0 ]] && failed=${#broken[@]}
fi
echo "$passed passed, $failed failed"
[[ ${#broken[@]} -eq 0 && $failed -eq 0 ]]
