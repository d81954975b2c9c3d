#!/usr/bin/env bash
# Runs the third-party checker scim2-tester (PyPI) against the real `roster serve` binary on a free loopback
# port with a fresh SQLite database, and fails unless every check succeeds.
# Usage: tests/conformance/run.sh [path/to/roster]   (default: target/debug/roster, built if missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
roster="${1:-$root/target/debug/roster}"
[ -x "$roster" ] || (cd "$root" && cargo build -q -p roster)

venv="$root/target/conformance-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
db="sqlite://$work/roster.db"
token="$("$roster" token create --name scim2-tester --database "$db" 2>/dev/null)"
"$roster" serve --listen "127.0.0.1:$port" --database "$db" >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
healthy() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; }
for _ in $(seq 1 100); do
  healthy "http://127.0.0.1:$port/healthz" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; echo "roster serve exited early" >&2; exit 1; }
  sleep 0.1
done
"$venv/bin/python" "$here/scim2_tester_run.py" "http://127.0.0.1:$port/scim/v2" "$token"
