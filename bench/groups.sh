#!/usr/bin/env bash
# Large groups: a member-only PATCH, a read without members and a filter on groups, for a group of 20 members
# and one of N (default 20000), on SQLite and on PostgreSQL (bench/groups.py does the measuring).
# Usage: bench/groups.sh [N] [sqlite|postgres|both]   Needs: python3, curl; PostgreSQL on 127.0.0.1:5432 for
# postgres (a database is created for the run and dropped after).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-20000}"
dbs="${2:-both}"
(cd "$root" && cargo build -q --release -p roster)
roster="$root/target/release/roster"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
pgdb="roster_bench_groups_$$"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $pgdb" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }

measure() {
  local label="$1" db="$2" port token
  port="$(free_port)"
  token="$("$roster" token create --name "bench-$label" --database "$db" 2>/dev/null)"
  ROSTER_LOG=warn "$roster" serve --no-engine --listen "127.0.0.1:$port" --database "$db" >"$work/serve-$label.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_up "http://127.0.0.1:$port/healthz"
  echo "== $label: $(nproc) cores; groups of 20 and $n members; one client; median of ${REPEAT:-20} =="
  python3 "$root/bench/groups.py" "http://127.0.0.1:$port/scim/v2" "$token" "$n" 20
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

if [ "$dbs" = sqlite ] || [ "$dbs" = both ]; then
  measure sqlite "sqlite://$work/groups.db"
fi
if [ "$dbs" = postgres ] || [ "$dbs" = both ]; then
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pgdb" >/dev/null
  measure postgres "postgres://postgres@127.0.0.1:5432/$pgdb"
fi
