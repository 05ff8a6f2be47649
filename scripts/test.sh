#!/usr/bin/env bash
# Runs every check and test of tapesync and ends with one line: "N passed, N failed" (followed by
# ", N skipped" when tests were skipped), the counts over every step:
#   1. cargo fmt --check; cargo clippy -D warnings, native and wasm32
#   2. native tests: the core's unit tests, doctests and the multi-device sync simulation
#   3. browser tests (wasm-bindgen-test): the store in a page, a dedicated worker and a service worker,
#      in each engine: Chromium, Firefox, WebKit with an on-disk profile (Safari) and WebKit ephemeral
#      (Safari's private mode, where IndexedDB refuses Blobs); WebKit under a virtual display
#   4. the npm package (scripts/pkg.sh), then the end-to-end tests of it (node --test + playwright-core):
#      the built package, real servers. They run only against the package this run built: when the build
#      fails, they are not run (and count as failed), never against an older pkg/.
#
# Honest counts: a step that breaks (non-zero exit) without reporting a failed test counts as one failure;
# cancelled node tests (a hook or the file failed, a timeout) count as failed; skipped and todo node tests
# and ignored cargo tests are counted and printed as skipped. The exit status is 0 only when nothing failed.
#
# E2E_CONCURRENCY (default 2) is how many end-to-end test files run at once: they share one set of
# emulators (started once for the step) and each starts its own browser and page server. The emulators use
# fixed ports: two runs of this script on one machine at once must not overlap.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

passed=0
failed=0
skipped=0
todo=0
cancelled=0
broken=()
log=$(mktemp -d)
started=$(date +%s)

# Adds the counts that cargo test ("test result: ... N passed; M failed; K ignored") or node --test's TAP
# summary ("# pass N", "# fail N", "# skipped N", "# todo N", "# cancelled N") printed; sets `own` to how
# many failed and cancelled tests the step reported.
count() {
  local p f s t c
  read -r p f s t c < <(awk '
    /test result:/ {
      for (i = 1; i < NF; i++) {
        if ($(i+1) ~ /^passed/) p += $i
        if ($(i+1) ~ /^failed/) f += $i
        if ($(i+1) ~ /^ignored/) s += $i
      }
    }
    /^# pass [0-9]+$/ { p += $3 }
    /^# fail [0-9]+$/ { f += $3 }
    /^# skipped [0-9]+$/ { s += $3 }
    /^# todo [0-9]+$/ { t += $3 }
    /^# cancelled [0-9]+$/ { c += $3 }
    END { print p + 0, f + 0, s + 0, t + 0, c + 0 }' "$1")
  passed=$((passed + p))
  failed=$((failed + f + c))
  skipped=$((skipped + s))
  todo=$((todo + t))
  cancelled=$((cancelled + c))
  own=$((f + c))
}

# Runs one step; returns non-zero when it broke. A broken step that reported no failed test of its own
# (a lint, a build, a runner that crashed) counts as one failure.
step() {
  local name=$1
  shift
  echo "==> $name"
  local out="$log/$(echo "$name" | tr -c 'a-z0-9' '_').log"
  local t0=$SECONDS ok=0
  if "$@" 2>&1 | tee "$out"; then :; else ok=1; fi
  local own=0
  count "$out"
  if [[ $ok -ne 0 ]]; then
    broken+=("$name")
    [[ $own -eq 0 ]] && failed=$((failed + 1))
  fi
  echo "==> $name: $([[ $ok -eq 0 ]] && echo ok || echo FAILED) in $((SECONDS - t0)) s"
  return $ok
}

export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-120}

step "cargo fmt --check" cargo fmt --check
step "clippy (native)" cargo clippy --quiet --workspace --all-targets -- -D warnings
step "clippy (wasm32)" cargo clippy --quiet --workspace --all-targets --target wasm32-unknown-unknown -- -D warnings
step "native tests" cargo test --workspace
wasm_tests=()
for f in tests/*.rs; do
  grep -q '^#!\[cfg(target_arch = "wasm32")\]' "$f" && wasm_tests+=(--test "$(basename "$f" .rs)")
done
wasm_test=(cargo test --target wasm32-unknown-unknown "${wasm_tests[@]}")
# Runs the browser tests with the driver variables given ("$@" is `env ...`), again (up to five
# attempts) when the runner broke before any test reported: nothing of tapesync ran. Seen on a loaded
# machine: Firefox failing to evaluate the runner's own service-worker script (it "threw an exception
# during script evaluation" before the test module loaded: 1 run in 6 here at first, later about every
# other run under load, twice in a row once), after which the runner waits out its timeout; a driver
# slow to start. A test that failed is never run again: its failure stands. Only the attempt that
# stands is counted.
browser_tests() {
  local out rc attempt
  out=$(mktemp)
  for attempt in 1 2 3 4 5; do
    rc=0
    "$@" "${wasm_test[@]}" 2>&1 | tee "$out" | sed -u 's/^test result:/(attempt) test result -/' || rc=$?
    # 124: the timeout ended a hang, which is tapesync's and stands.
    if [[ $rc -eq 0 || $rc -eq 124 || $attempt -eq 5 ]] ||
      grep -qE '^test .* \.\.\. FAIL|test result: FAILED|^failures:' "$out"; then
      break
    fi
    echo "==> the runner broke before a test reported (driver or browser start): attempt $((attempt + 1)) of 5"
  done
  grep '^test result:' "$out"
  rm -f "$out"
  return $rc
}
# The driver gets 30 s to bind its port (the runner's default, 5 s, is short on a loaded machine).
export WASM_BINDGEN_TEST_DRIVER_TIMEOUT=${WASM_BINDGEN_TEST_DRIVER_TIMEOUT:-30}
step "browser tests (Chromium)" browser_tests env
# The runner takes the first driver variable it finds (GECKODRIVER, SAFARIDRIVER, CHROMEDRIVER), so
# each engine's step unsets the others. A WebKit session started without a display hangs silently:
# every run is bounded by a timeout.
step "browser tests (Firefox)" browser_tests env -u CHROMEDRIVER \
  GECKODRIVER="$(command -v geckodriver)" timeout 900
step "browser tests (WebKit)" browser_tests env -u CHROMEDRIVER \
  SAFARIDRIVER="$PWD/tests/engines/webkit-driver.mjs" timeout 900 xvfb-run -a
step "browser tests (WebKit ephemeral: Safari private mode)" browser_tests env -u CHROMEDRIVER \
  SAFARIDRIVER=/usr/bin/WebKitWebDriver timeout 900 xvfb-run -a
if step "npm package (make pkg)" scripts/pkg.sh; then
  # One start of the emulators for all the test files: this script registers as their user for the whole
  # step (each file's harness finds them running and registers too), so they are not started and stopped
  # once per file. A start that fails is a broken step; the files then fail on their own start.
  step "emulators (start)" bash emulators/start.sh --client $$
  trap 'bash emulators/stop.sh --client $$ >/dev/null 2>&1' EXIT
  # The TAP reporter explicitly: the summary lines counted above are TAP's, and newer Node versions print
  # another format by default (whose counts would read 0).
  step "end-to-end tests (node --test)" \
    node --test --test-reporter=tap --test-concurrency="${E2E_CONCURRENCY:-2}" tests/js/*.test.mjs
  bash emulators/stop.sh --client $$ >/dev/null 2>&1
  trap - EXIT
else
  echo "==> end-to-end tests (node --test): NOT RUN: the npm package did not build, and pkg/ may be stale"
  broken+=("end-to-end tests (not run)")
  failed=$((failed + 1))
fi

rm -rf "$log"
echo "time: $(( $(date +%s) - started )) s"
if [[ ${#broken[@]} -gt 0 ]]; then
  echo "failed steps: ${broken[*]}"
fi
if [[ $((skipped + todo + cancelled)) -gt 0 ]]; then
  echo "not run to the end: $skipped skipped (skip or ignored), $todo todo, $cancelled cancelled (counted as failed)"
fi
summary="$passed passed, $failed failed"
[[ $((skipped + todo)) -gt 0 ]] && summary+=", $((skipped + todo)) skipped"
echo "$summary"
[[ ${#broken[@]} -eq 0 && $failed -eq 0 ]]
