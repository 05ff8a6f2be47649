#!/usr/bin/env bash
# Stops the emulators that emulators/start.sh started: the whole process group (firebase-tools and the rules
# runtime java process it spawned). SIGINT first, so firebase-tools shuts down cleanly; then TERM, then KILL.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIDFILE="$ROOT/.tools/emulators/emulators.pid"

say() { echo "emulators: $*"; }

if [[ ! -f "$PIDFILE" ]]; then
  say "not running (no $PIDFILE)"
  exit 0
fi
pid=$(cat "$PIDFILE")
# start.sh runs the emulators under setsid, so the pid is also the process group id.
group_alive() { kill -0 -- "-$pid" 2>/dev/null; }

if ! group_alive; then
  say "not running (pid $pid is gone)"
  rm -f "$PIDFILE"
  exit 0
fi

say "stopping (process group $pid)"
for sig in INT TERM KILL; do
  kill "-$sig" -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    group_alive || break 2
    sleep 0.25
  done
  say "still alive after SIG$sig"
done
rm -f "$PIDFILE"
if group_alive; then
  say "error: process group $pid survived SIGKILL" >&2
  exit 1
fi
say "stopped"
