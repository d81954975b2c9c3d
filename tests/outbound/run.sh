#!/usr/bin/env bash
# Provisions into a third-party SCIM server: the python scim2-server (PyPI) on a free loopback port is the app,
# the real `roster` binary the directory and the engine. Checks the initial sync, a change, a deprovision, a
# return, and that a full dry run after convergence plans nothing.
# Usage: tests/outbound/run.sh [path/to/roster]   (default: target/debug/roster, built if missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
roster="${1:-$root/target/debug/roster}"
[ -n "${1:-}" ] || (cd "$root" && cargo build -q -p roster)

venv="$root/target/outbound-venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"

work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
tport="$(free_port)"
sport="$(free_port)"
app_token="outbound-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
db="sqlite://$work/roster.db"
dir_token="$("$roster" token create --name idp --database "$db" 2>/dev/null)"
"$venv/bin/scim2-server" --hostname 127.0.0.1 --port "$tport" --bearer-token "$app_token" >"$work/target.log" 2>&1 &
tpid=$!
"$roster" serve --listen "127.0.0.1:$sport" --database "$db" --no-engine >"$work/serve.log" 2>&1 &
spid=$!
trap 'kill "$tpid" "$spid" 2>/dev/null || true; wait "$tpid" "$spid" 2>/dev/null || true; rm -rf "$work"' EXIT
up() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; }
for _ in $(seq 1 100); do up "http://127.0.0.1:$sport/healthz" && break; sleep 0.1; done
for _ in $(seq 1 100); do
  python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$tport" 2>/dev/null && break
  kill -0 "$tpid" 2>/dev/null || { cat "$work/target.log"; echo "scim2-server exited early" >&2; exit 1; }
  sleep 0.1
done
printf '%s\n' "$app_token" > "$work/app.token"
"$roster" app add s2 --scim-url "http://127.0.0.1:$tport/v2" --token-file "$work/app.token" --database "$db"
"$roster" app test s2 --database "$db"
python3 "$here/check.py" "http://127.0.0.1:$sport/scim/v2" "$dir_token" "http://127.0.0.1:$tport/v2" "$app_token" \
  "$roster" "$db"
