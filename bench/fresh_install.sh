#!/usr/bin/env bash
# The README's first command on a fresh machine: clone this repository into an empty directory, run
# `make run` with pip's cache off, and print the seconds until /healthz answers. Port 8080 must be
# free. The server is stopped and the clone removed afterwards.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
log="$work/make-run.log"
trap 'kill -- -"$pid" 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT

git clone --quiet "$repo" "$work/seecodes"
cd "$work/seecodes"
started=$(date +%s.%N)
PIP_NO_CACHE_DIR=1 setsid make run >"$log" 2>&1 &
pid=$!
until curl -sf http://127.0.0.1:8080/healthz >/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -20 "$log"
    echo "make run stopped before /healthz answered" >&2
    exit 1
  fi
  sleep 0.5
done
elapsed=$(echo "$(date +%s.%N) - $started" | bc)
built=$(grep -c "Building wheel for" "$log" || true)
echo "fresh make run: /healthz answered after ${elapsed} s (pip cache off; ${built} packages built from source)"
.venv/bin/seecodes demo --url http://127.0.0.1:8080 | tail -3
