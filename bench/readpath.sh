#!/usr/bin/env bash
# The read path on one core, as issue 22 measures it: the server pinned to core 0, wrk -t1 -c8 on core 1,
# DURATION seconds each (default 10), 1,000 users. roster on SQLite and on PostgreSQL side by side, with the
# peers measured in the same run so ratios hold on a noisy machine: a bare axum handler answering one fixed user
# (crates/server/examples/bare.rs: the machine's limit for this stack) and the python scim2-server from PyPI.
# Prints one table: req/s, p50, p99 and the ratio to the bare handler.
# Usage: bench/readpath.sh [sqlite|postgres|both]   Needs: wrk (Debian), python3 with venv, curl, taskset, psql.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dbs="${1:-both}"
duration="${DURATION:-10}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
(cd "$root" && cargo build -q --release -p roster && cargo build -q --release -p roster-server --example bare)
roster="$root/target/release/roster"
bare="$root/target/release/examples/bare"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
pgdb="roster_bench_readpath_$$"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $pgdb" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }

# A POST body for wrk (`.search`).
cat >"$work/search.lua" <<'LUA'
wrk.method = "POST"
wrk.body = [[{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"user0000500@example.com\""}]]
wrk.headers["Content-Type"] = "application/scim+json"
LUA

bare_rps=""
# run LABEL URL TOKEN [LUA]: one line of the table.
run() {
  local label="$1" url="$2" auth="$3" script="${4:-}" out rps p50 p99 errs ratio
  taskset -c 1 wrk -t1 -c8 -d2s -H "Authorization: Bearer $auth" ${script:+-s "$script"} "$url" >/dev/null
  out="$(taskset -c 1 wrk -t1 -c8 -d"${duration}s" --latency -H "Authorization: Bearer $auth" ${script:+-s "$script"} "$url")"
  rps="$(awk '/Requests\/sec/{print $2}' <<<"$out")"
  p50="$(awk '$1=="50%"{print $2}' <<<"$out")"
  p99="$(awk '$1=="99%"{print $2}' <<<"$out")"
  errs="$(awk '/Non-2xx/{print $5}' <<<"$out")"
  [ -n "$bare_rps" ] || bare_rps="$rps"
  ratio="$(python3 -c "print(f'{float(\"$rps\") / float(\"$bare_rps\"):.2f}')")"
  printf '| %-52s | %10s | %-8s | %-8s | %5s × |%s\n' "$label" "$rps" "$p50" "$p99" "$ratio" "${errs:+ non-2xx: $errs}"
}

echo "machine: $(nproc) cores; server on core 0, wrk -t1 -c8 on core 1, ${duration}s each; 1,000 users; $(date -u +%F)"
echo "| measure | req/s | p50 | p99 | of bare |"
echo "|---|---|---|---|---|"
port="$(free_port)"
taskset -c 0 "$bare" "127.0.0.1:$port" >"$work/bare.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$port/scim/v2/Users/x"
run "bare axum handler, one fixed user" "http://127.0.0.1:$port/scim/v2/Users/x" none
kill "${pids[-1]}"

measure() {
  local label="$1" db="$2" port token base id pid
  port="$(free_port)"
  token="$("$roster" token create --name "bench" --database "$db" 2>/dev/null)"
  ROSTER_LOG=warn taskset -c 0 "$roster" serve --no-engine --listen "127.0.0.1:$port" --database "$db" >"$work/serve-$label.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  base="http://127.0.0.1:$port/scim/v2"
  wait_up "http://127.0.0.1:$port/healthz"
  id="$(python3 "$root/bench/seed.py" "$base" "$token" 1000 2>/dev/null | tail -1)"
  run "roster ($label) GET /Users/{id}" "$base/Users/$id" "$token"
  run "roster ($label) filter=userName eq" "$base/Users?filter=userName%20eq%20%22user0000500@example.com%22" "$token"
  run "roster ($label) list page count=100" "$base/Users?count=100" "$token"
  run "roster ($label) POST /Users/.search userName eq" "$base/Users/.search" "$token" "$work/search.lua"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
if [ "$dbs" = sqlite ] || [ "$dbs" = both ]; then
  measure sqlite "sqlite://$work/readpath.db"
fi
if [ "$dbs" = postgres ] || [ "$dbs" = both ]; then
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pgdb" >/dev/null
  measure postgres "postgres://postgres@127.0.0.1:5432/$pgdb"
fi

venv="$root/target/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check scim2-server==0.8.3
pport="$(free_port)"
taskset -c 0 "$venv/bin/scim2-server" --hostname 127.0.0.1 --port "$pport" --bearer-token benchtoken >"$work/py.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$pport/v2/ServiceProviderConfig"
pid_user="$(curl -s -X POST "http://127.0.0.1:$pport/v2/Users" -H "Authorization: Bearer benchtoken" -H 'Content-Type: application/scim+json' \
  -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')"
run "python scim2-server GET /Users/{id}" "http://127.0.0.1:$pport/v2/Users/$pid_user" benchtoken
