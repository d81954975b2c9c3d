#!/usr/bin/env bash
# Several `roster serve` processes on one PostgreSQL, each on its own port, a client mix spread over the ports.
# For 1, 2 and 3 processes (PROCS="1 2 3"), DURATION seconds each (default 10), 1,000 users seeded:
#   - reads: GET /Users/{id}, one wrk (-t1 -c4) per process at once, req/s summed;
#   - creates: POST /Users with names of their own per process, the same way;
#   - PATCHes: replace one user's title, each process patching a user of its own;
#   - the correctness check (bench/multiprocess_check.py): every write through one process read back through
#     another as soon as it is answered, a group's member adds spread over the processes applied once each;
#   - a sync: B users (default 2,000) imported into the directory while every process runs its engine, into one
#     SCIM target (roster on SQLite, another process): time until the target holds them all, then the checks that
#     each user was created once (one link per user, one successful create in the provisioning log per user).
# Unpinned: on this 2-core machine the processes, PostgreSQL and wrk share the cores, so the sums say whether
# processes interfere (locks, lost work), not how far a cluster of real machines scales.
# Usage: bench/multiprocess.sh [B]     Needs: wrk (Debian), python3, curl, psql.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
b="${1:-2000}"
duration="${DURATION:-10}"
procs="${PROCS:-1 2 3}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# ROSTER_BIN=PATH measures another build instead (a before/after comparison).
[ -n "${ROSTER_BIN:-}" ] || (cd "$root" && cargo build -q --release -p roster)
roster="${ROSTER_BIN:-$root/target/release/roster}"
work="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
dbs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "${dbs[@]}"; do psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Every process on one PostgreSQL seals credentials under the same key (roster makes the file the first time).
export ROSTER_SECRET_KEY_FILE="$work/secret.key"
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; exit 1; }
# new_db SUFFIX: a fresh database, its URL in $db_url (not printed: a command substitution's subshell would keep
# the name from the cleanup's list).
new_db() {
  local name="roster_bench_mp_$$_$1"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $name" >/dev/null
  dbs+=("$name")
  db_url="postgres://postgres@127.0.0.1:5432/$name"
}
# serve N DB [ENGINE]: starts N processes on DB, their ports in $ports, pids in $serve_pids.
serve() {
  local n="$1" db="$2" engine="${3---no-engine}" port
  ports=(); serve_pids=()
  for _ in $(seq 1 "$n"); do
    port="$(free_port)"
    ROSTER_LOG=warn "$roster" serve $engine --listen "127.0.0.1:$port" --database "$db" >>"$work/serve.log" 2>&1 &
    pids+=($!); serve_pids+=($!); ports+=("$port")
  done
  for port in "${ports[@]}"; do wait_up "http://127.0.0.1:$port/healthz"; done
}
stop() { for p in "${serve_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
# spread LABEL TOKEN PATH SCRIPT...: one wrk (-t1 -c4) per port at once, port i running SCRIPT i ("-": none) on
# PATH; prints the summed req/s and non-2xx answers as a table row.
spread() {
  local label="$1" token="$2" path="$3"; shift 3
  local i=0 files=() wrks=() script
  for port in "${ports[@]}"; do
    script="${1:--}"; [ "$#" -gt 1 ] && shift
    [ "$script" = - ] && script=""
    wrk -t1 -c4 -d"${duration}s" -H "Authorization: Bearer $token" ${script:+-s "$script"} \
      "http://127.0.0.1:$port$path" >"$work/wrk-$i.out" &
    wrks+=($!); files+=("$work/wrk-$i.out"); i=$((i + 1))
  done
  wait "${wrks[@]}"
  printf '| %-44s | %9s | %s |\n' "$label" "$(awk '/Requests\/sec/{s += $2} END {printf "%.0f", s}' "${files[@]}")" \
    "$(awk '/Non-2xx/{s += $5} END {print s + 0}' "${files[@]}")"
}

echo "machine: $(nproc) cores, unpinned; PostgreSQL 127.0.0.1:5432; ${duration}s per measure; $(date -u +%F)"
new_db serve; db="$db_url"
token="$("$roster" token create --name bench --database "$db" 2>/dev/null)"
for n in $procs; do
  echo
  echo "### $n process(es)"
  echo "| measure (all processes at once) | req/s | non-2xx |"
  echo "|---|---|---|"
  # Each round starts with the planner's statistics up to date: the rounds before it created tens of thousands of
  # users, and where autovacuum is off (as on CI's PostgreSQL) a plan chosen without statistics of that size made
  # the check 3.5 × slower, which the earlier version of this table read as the cost of more processes.
  psql -q -h 127.0.0.1 -U postgres -d "${db_url##*/}" -c ANALYZE
  serve "$n" "$db"
  base="http://127.0.0.1:${ports[0]}/scim/v2"
  [ "$n" = "${procs%% *}" ] && python3 "$root/bench/seed.py" "$base" "$token" 1000 >/dev/null 2>&1
  id="$(curl -s -H "Authorization: Bearer $token" "$base/Users?count=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Resources"][0]["id"])')"
  # 50 users per process to PATCH, one after another (an identity provider's updates touch many users).
  patch_ids=()
  for i in $(seq 0 $((n - 1))); do
    patch_ids+=("$(curl -s -H "Authorization: Bearer $token" "$base/Users?count=50&startIndex=$((i * 50 + 2))" | python3 -c 'import json,sys; print(",".join(chr(34) + r["id"] + chr(34) for r in json.load(sys.stdin)["Resources"]))')")
  done
  spread "GET /Users/{id}" "$token" "/scim/v2/Users/$id" -
  scripts=()
  for port in "${ports[@]}"; do
    cat >"$work/create-$port.lua" <<LUA
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"mp$n-$port-%d@example.com"}', counter)
  return wrk.format("POST", "/scim/v2/Users", {["Content-Type"]="application/scim+json", ["Authorization"]="Bearer $token"}, body)
end
LUA
    scripts+=("$work/create-$port.lua")
  done
  spread "POST /Users" "$token" / "${scripts[@]}"
  scripts=()
  for i in $(seq 0 $((n - 1))); do
    cat >"$work/patch-$i.lua" <<LUA
local ids = {${patch_ids[$i]}}
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"t%d"}]}', counter)
  return wrk.format("PATCH", "/scim/v2/Users/" .. ids[counter % #ids + 1], {["Content-Type"]="application/scim+json", ["Authorization"]="Bearer $token"}, body)
end
LUA
    scripts+=("$work/patch-$i.lua")
  done
  spread "PATCH /Users/{id} (50 users per process)" "$token" / "${scripts[@]}"
  bases=(); for port in "${ports[@]}"; do bases+=("http://127.0.0.1:$port/scim/v2"); done
  echo
  python3 "$root/bench/multiprocess_check.py" "$token" 300 8 "${bases[@]}"
  stop
done

# The sync: a fresh directory per process count, one target.
echo
echo "### Sync of $b joiners with every process running its engine"
echo "| processes | seconds until the target held all | users/s | links | creates logged ok | target users |"
echo "|---|---|---|---|---|---|"
python3 - "$b" >"$work/joiners.csv" <<'PY'
import sys
print('userName,externalId,name.givenName,name.familyName,emails[type eq "work"].value,active')
for i in range(int(sys.argv[1])):
    print(f"join{i:07d}@example.com,J{i:07d},Joiner,Family{i % 5000},join{i:07d}@example.com,true")
PY
for n in $procs; do
  tdb="sqlite://$work/target-$n.db"
  ttok="$("$roster" token create --name bench --database "$tdb" 2>/dev/null)"
  tport="$(free_port)"
  ROSTER_LOG=warn "$roster" serve --no-engine --listen "127.0.0.1:$tport" --database "$tdb" >"$work/target-$n.log" 2>&1 &
  pids+=($!); target_pid=$!
  wait_up "http://127.0.0.1:$tport/healthz"
  printf '%s\n' "$ttok" >"$work/app-$n.token"
  new_db "sync$n"; sdb="$db_url"
  "$roster" app add bench --scim-url "http://127.0.0.1:$tport/scim/v2" --token-file "$work/app-$n.token" \
    --reconcile-every-hours 0 --database "$sdb" >/dev/null 2>&1
  serve "$n" "$sdb" ""
  started="$(date +%s.%N)"
  "$roster" import "$work/joiners.csv" --database "$sdb" >/dev/null 2>&1
  total() { curl -s -H "Authorization: Bearer $ttok" "http://127.0.0.1:$tport/scim/v2/Users?count=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totalResults"])'; }
  for _ in $(seq 1 3000); do [ "$(total)" -ge "$b" ] && break; sleep 0.1; done
  secs="$(python3 -c "import time; print(round(time.time() - $started, 2))")"
  sleep 2  # let the engines write their last links and log entries before counting them
  q() { psql -tA -h 127.0.0.1 -U postgres -d "${sdb##*/}" -c "$1"; }
  links="$(q "SELECT COUNT(*) FROM links WHERE app = 'bench' AND resource_type = 'User'")"
  creates="$(q "SELECT COUNT(*) FROM (SELECT source_id FROM provisioning_log WHERE app = 'bench' AND action = 'create' AND outcome = 'ok' GROUP BY source_id) s")"
  dup_creates="$(q "SELECT COUNT(*) FROM (SELECT source_id FROM provisioning_log WHERE app = 'bench' AND action = 'create' AND outcome = 'ok' GROUP BY source_id HAVING COUNT(*) > 1) s")"
  printf '| %s | %s | %s | %s | %s (%s twice) | %s |\n' "$n" "$secs" "$(python3 -c "print(round($b/$secs))")" "$links" "$creates" "$dup_creates" "$(total)"
  stop
  kill "$target_pid" 2>/dev/null || true
done
