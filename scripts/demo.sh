#!/usr/bin/env bash
# Runs the demo PWA against a local cloud (what `make demo` runs after building pkg/):
#   1. starts the Firebase Auth and Storage emulators (emulators/start.sh; the first run installs a Java runtime),
#      or with BACKEND=supabase the local Supabase (emulators/supabase: Storage and Auth on 127.0.0.1:54321),
#      or with BACKEND=s3 the local S3 (emulators/s3: endpoint 127.0.0.1:9000, admin 9001, moto 5000)
#   2. serves the repository root on 127.0.0.1:$PORT (default 8000), so the app at /www/ imports /pkg/tapesync.js;
#      with BACKEND=s3 also the demo's presign backend (POST /sign, GET /s3-config: scripts/s3-sign.mjs), which
#      signs the page's S3 requests with the local S3 user's keys, so no credentials reach the page
#   3. prints the app's URL and waits; Ctrl-C stops the server and the emulators it started.
# Emulators that were already running (another demo, a test run, a manual emulators/start.sh) are shared and
# left running for their other users.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT=${PORT:-8000}
BACKEND=${BACKEND:-firebase}
case "$BACKEND" in
  firebase) URL="http://127.0.0.1:$PORT/www/?backend=firebase" ;;
  supabase) URL="http://127.0.0.1:$PORT/www/?backend=supabase" ;;
  s3) URL="http://127.0.0.1:$PORT/www/?backend=s3" ;;
  *) echo "demo: error: BACKEND must be firebase, supabase or s3, not \"$BACKEND\"" >&2; exit 1 ;;
esac
SUPABASE_PID=
S3_PID=
S3_INFO=
SERVE_ARGS=()
LOG_DIR=.tools/demo
SERVER_PID=
EMULATORS=

say() { echo "demo: $*"; }

if [[ ! -f pkg/tapesync.js || ! -f pkg/tapesync_bg.wasm ]]; then
  say "error: pkg/ is not built; run \`make demo\` (it builds it) or scripts/pkg.sh" >&2
  exit 1
fi
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
  say "error: something already answers on 127.0.0.1:$PORT; stop it or run with PORT=<another port>" >&2
  exit 1
fi

stop_all() {
  trap - EXIT INT TERM HUP
  echo
  if [[ -n "$SERVER_PID" ]]; then
    say "stopping the web server (pid $SERVER_PID)"
    kill "$SERVER_PID" 2>/dev/null || true   # a Ctrl-C in the terminal may have ended it already
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "$SUPABASE_PID" ]]; then
    say "stopping the local Supabase (pid $SUPABASE_PID)"
    kill "$SUPABASE_PID" 2>/dev/null || true
    wait "$SUPABASE_PID" 2>/dev/null || true
  fi
  if [[ -n "$S3_PID" ]]; then
    say "stopping the local S3 (pid $S3_PID)"
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
  fi
  # The info file holds the local S3's (random, per start) keys: outside the served root, and gone with the demo.
  if [[ -n "$S3_INFO" ]]; then rm -f "$S3_INFO"; fi
  if [[ -n "$EMULATORS" ]]; then
    say "stopping the emulators (they keep running if another user still needs them)"
    emulators/stop.sh --client $$ || true
  fi
  say "stopped"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$LOG_DIR"
if [[ "$BACKEND" == supabase ]]; then
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:54321/health"; then
    say "error: something already answers on 127.0.0.1:54321 (another local Supabase?); stop it first" >&2
    exit 1
  fi
  say "starting the local Supabase, Storage and Auth, on 127.0.0.1:54321 (log: $LOG_DIR/supabase.log)"
  node emulators/supabase/harness.mjs --port 54321 >"$LOG_DIR/supabase.log" 2>&1 &
  SUPABASE_PID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:54321/health" && break
    if ! kill -0 "$SUPABASE_PID" 2>/dev/null; then
      say "error: the local Supabase exited:" >&2
      cat "$LOG_DIR/supabase.log" >&2
      exit 1
    fi
    sleep 0.2
  done
elif [[ "$BACKEND" == s3 ]]; then
  for port in 9000 9001 5000; do
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
      say "error: something already answers on 127.0.0.1:$port (another local S3?); stop it first" >&2
      exit 1
    fi
  done
  S3_INFO=$(mktemp /tmp/tapesync-demo-s3.XXXXXX.json)   # mktemp: readable by this user only
  say "starting the local S3 on 127.0.0.1:9000 (the first start installs moto, a few minutes; log: $LOG_DIR/s3.log)"
  node emulators/s3/harness.mjs --port 9000 --admin-port 9001 --moto-port 5000 >"$S3_INFO" 2>"$LOG_DIR/s3.log" &
  S3_PID=$!
  # It prints its info JSON (endpoint, bucket, users' keys) on stdout once it is ready, then "s3: ready" on stderr.
  until grep -q "^s3: ready" "$LOG_DIR/s3.log" 2>/dev/null; do
    if ! kill -0 "$S3_PID" 2>/dev/null; then
      say "error: the local S3 exited:" >&2
      cat "$LOG_DIR/s3.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  SERVE_ARGS=(--s3-info "$S3_INFO")
else
  say "starting the Firebase Auth (127.0.0.1:9099) and Storage (127.0.0.1:9199) emulators"
  EMULATORS=1
  # --client: this script is one user of the emulators; stop.sh --client stops them when the last user leaves.
  emulators/start.sh --client $$
fi

say "serving the repository root on 127.0.0.1:$PORT (request log: $LOG_DIR/serve.log)"
node scripts/serve.mjs --root . --port "$PORT" "${SERVE_ARGS[@]}" >"$LOG_DIR/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do
  curl -s -o /dev/null --max-time 1 "$URL" && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    say "error: the web server exited:" >&2
    cat "$LOG_DIR/serve.log" >&2
    exit 1
  fi
  sleep 0.2
done

cat <<EOF

  tapesync demo:  $URL

  Record a few clips, then try the network toggle of your browser's DevTools: recordings stay, and sync
  when the network returns. Open "Account & other devices" to add an email and password, then sign in
  with them in another browser profile (or a private window) to see the same recordings there.
  (With BACKEND=s3 the account is a user id of the local S3, alice or bob: choose the same one there.)
  The local cloud ($BACKEND) keeps everything in memory: stopping it empties the cloud.

  Press Ctrl-C to stop.

EOF
wait "$SERVER_PID"
