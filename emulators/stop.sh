#!/usr/bin/env bash
# Stops the emulators that emulators/start.sh started: the whole process group (firebase-tools and the rules
# runtime java process it spawned). SIGINT first, so firebase-tools shuts down cleanly; then TERM, then KILL.
#
# Usage: emulators/stop.sh [--client PID]
#   --client PID  unregisters user PID (see start.sh) and stops the emulators only if no other live user, and
#                 no manual start, remains. Without it: stops them whoever uses them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE="$ROOT/.tools/emulators"
PIDFILE="$STATE/emulators.pid"

say() { echo "emulators: $*"; }

mkdir -p "$STATE/clients"
if [[ -z "${_TAPESYNC_EMULATORS_LOCK_HELD:-}" ]]; then
  exec 9>"$STATE/lock"
  flock -w 900 9 || { say "error: could not get $STATE/lock" >&2; exit 1; }
fi

if [[ "${1:-}" == "--client" ]]; then
  rm -f "$STATE/clients/${2:?--client needs a pid}"
  users=()
  for f in "$STATE/clients/"*; do
    [[ -e "$f" ]] || continue
    user=$(basename "$f")
    if [[ "$user" == manual ]] || kill -0 "$user" 2>/dev/null; then
      users+=("$user")
    else
      rm -f "$f"   # a user that died without unregistering
    fi
  done
  if (( ${#users[@]} > 0 )); then
    say "still in use (${users[*]}): leaving them running"
    exit 0
  fi
fi

if [[ ! -f "$PIDFILE" ]]; then
  say "not running (no $PIDFILE)"
  rm -f "$STATE/clients/"*
  exit 0
fi
pid=$(cat "$PIDFILE")
# start.sh runs the emulators under setsid, so the pid is also the process group id.
group_alive() { kill -0 -- "-$pid" 2>/dev/null; }

if ! group_alive; then
  say "not running (pid $pid is gone)"
  rm -f "$PIDFILE" "$STATE/clients/"*
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
rm -f "$PIDFILE" "$STATE/clients/"*
if group_alive; then
  say "error: process group $pid survived SIGKILL" >&2
  exit 1
fi
say "stopped"
