#!/usr/bin/env bash
# Where a request's time goes: roster serve (release build with debug symbols, SQLite or PostgreSQL) pinned to
# core 0 with 1,000 users, wrk (-t1 -c8) on core 1 for DURATION seconds (default 10) against one URL, sampled with
# perf at 1999 Hz. Prints req/s and the top symbols grouped by where they live (auth, store/SQLite, JSON,
# projection, HTTP, allocator, kernel), then the top 40 symbols.
# Usage: bench/profile.sh [get|eq|list] [sqlite|postgres]   Needs: perf, wrk (Debian), python3, curl, taskset.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
what="${1:-get}"
db_kind="${2:-sqlite}"
duration="${DURATION:-10}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# A target directory of its own: the symbols change the build, and the other benchmarks keep theirs.
# ROSTER_BIN=PATH measures another build instead (a before/after comparison).
if [ -n "${ROSTER_BIN:-}" ]; then
  roster="$ROSTER_BIN"
else
  (cd "$root" && CARGO_TARGET_DIR="$root/target/profile" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build -q --release -p roster)
  roster="$root/target/profile/release/roster"
fi
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
pgdb="roster_bench_profile_$$"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ "$db_kind" = postgres ] && psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $pgdb" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }

if [ "$db_kind" = postgres ]; then
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pgdb" >/dev/null
  db="postgres://postgres@127.0.0.1:5432/$pgdb"
else
  db="sqlite://$work/profile.db"
fi
port="$(free_port)"
token="$("$roster" token create --name bench --database "$db" 2>/dev/null)"
ROSTER_LOG=warn taskset -c 0 "$roster" serve --no-engine --listen "127.0.0.1:$port" --database "$db" >"$work/serve.log" 2>&1 &
pid=$!
pids+=("$pid")
base="http://127.0.0.1:$port/scim/v2"
wait_up "http://127.0.0.1:$port/healthz"
id="$(python3 "$root/bench/seed.py" "$base" "$token" 1000 | tail -1)"
case "$what" in
  get) url="$base/Users/$id" ;;
  eq) url="$base/Users?filter=userName%20eq%20%22user0000500@example.com%22" ;;
  list) url="$base/Users?count=100" ;;
  *) echo "what: get, eq or list" >&2; exit 2 ;;
esac
# Warm up, then sample the server while wrk runs (PERF=0: measure without sampling; KEEP=FILE keeps perf.data;
# CALLGRAPH=dwarf FREQ=499 unwinds Rust frames too, to say who calls the allocator).
taskset -c 1 wrk -t1 -c8 -d2s -H "Authorization: Bearer $token" "$url" >/dev/null
if [ "${PERF:-1}" = 0 ]; then
  out="$(taskset -c 1 wrk -t1 -c8 -d"${duration}s" -H "Authorization: Bearer $token" "$url")"
  echo "$what on $db_kind, 1,000 users, server on core 0, wrk -t1 -c8 on core 1: $(awk '/Requests\/sec/{print $2}' <<<"$out") req/s"
  exit 0
fi
perf record -q -F "${FREQ:-1999}" --call-graph "${CALLGRAPH:-fp}" -p "$pid" -o "$work/perf.data" -- sleep "$duration" 2>/dev/null &
perf_pid=$!
out="$(taskset -c 1 wrk -t1 -c8 -d"${duration}s" -H "Authorization: Bearer $token" "$url")"
wait "$perf_pid" || true
echo "$what on $db_kind, 1,000 users, server on core 0, wrk -t1 -c8 on core 1, sampled: $(awk '/Requests\/sec/{print $2}' <<<"$out") req/s"
[ -n "${KEEP:-}" ] && cp "$work/perf.data" "$KEEP"
perf report -i "$work/perf.data" --no-children --sort symbol --stdio -q -g none 2>/dev/null \
  | python3 "$root/bench/profile_groups.py"
