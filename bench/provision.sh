#!/usr/bin/env bash
# Provisioning benchmark (loopback only, bounded): N users (default 100000) in a SQLite directory, imported from
# a generated CSV; a release `roster serve --no-engine` on SQLite as the SCIM target.
#   1. the target's raw create rate (wrk POST /Users, same concurrency as the engine, own database), and through
#      /Bulk with 100 creates a request (own database), same run;
#   2. the initial sync (`roster sync --full`) into an empty target: users/s, ratio to 1., peak RSS; then the
#      same with bulk creates off (one POST per account) into another empty target;
#   3. a full reconcile of the converged state (reads every account): users/s, peak RSS;
#   4. directory change → applied at the target: K PATCHes through the directory server with the engine
#      running; latency = provisioning log time − journal time of the change, p50/p95/max;
#   5. a burst of N/10 joiners (at most 10,000) imported while the engine runs: time until the target has them.
# Placement: in production the target runs on other machines than roster. Here both share this machine, so the
# target is pinned to the upper half of the cores and everything else (wrk, roster sync, the directory server)
# to the lower half, for the raw measures and the syncs alike: the target gets the same CPU in both, and
# roster's own work does not take it from the target. PIN=0 runs everything unpinned (on a 2-core VM the
# engine and the target then wake each other across cores, which costs both; see docs/ARCHITECTURE.md).
# SOURCE=postgres keeps the directory (the source of the syncs, the directory server of 4. and 5.) in a fresh
# PostgreSQL database instead of SQLite; the target stays on SQLite. PGQUERY is appended to that database's URL
# (PGQUERY='?options=-c%20plan_cache_mode%3Dforce_custom_plan' runs roster with PostgreSQL's custom plans only).
# Usage: bench/provision.sh [N] [K]     Needs: wrk (Debian), python3, taskset (util-linux) for the placement; psql
# for SOURCE=postgres.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-100000}"
k="${2:-200}"
conc="${CONCURRENCY:-8}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
# Starts a target server on a free port, left in $port (not a subshell, so its pid reaches the cleanup).
serve_target() {
  port="$(free_port)"
  ROSTER_LOG=warn "${target[@]}" "$roster" serve --no-engine --listen "127.0.0.1:$port" --database "$1" >"$work/target-$port.log" 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$port/healthz"
}

cores="$(nproc)"
client=(); target=(); placement="unpinned"
if [ "${PIN:-1}" = 1 ] && [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then
  half=$((cores / 2))
  client=(taskset -c "0-$((half - 1))"); target=(taskset -c "$half-$((cores - 1))")
  placement="target on cores $half-$((cores - 1)), roster and wrk on 0-$((half - 1))"
fi
echo "machine: $cores cores, $(free -g | awk '/Mem:/{print $2}') GiB; users: $n; engine concurrency: $conc; $placement"

# 1. Raw create rate of the target. `raw_requests NAME` serves an empty target database of its own and runs wrk
# for 10 s with the Lua `request` function on stdin (given `token`, `tid` and `counter`); prints requests/s.
raw_requests() {
  local db="sqlite://$work/raw-$1.db" tok
  tok="$("$roster" token create --name bench --database "$db" 2>/dev/null)"
  serve_target "$db"
  { printf 'token = "%s"\nlocal counter = 0\nlocal thread_id = 0\n' "$tok"
    echo 'function setup(thread) thread:set("tid", thread_id); thread_id = thread_id + 1 end'
    cat; } >"$work/$1.lua"
  "${client[@]}" wrk -t1 -c"$conc" -d10s -s "$work/$1.lua" "http://127.0.0.1:$port" | awk '/Requests\/sec/{print $2}'
  # Started in this command substitution's subshell, so the exit trap would not see it.
  kill "${pids[-1]}"
}
raw="$(raw_requests post <<'LUA'
request = function()
  counter = counter + 1
  local body = string.format('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"raw%d-%d@example.com","externalId":"x%d-%d","name":{"givenName":"G","familyName":"F"},"emails":[{"value":"raw%d-%d@example.com","primary":true}],"active":true}', tid, counter, tid, counter, tid, counter)
  return wrk.format("POST", "/scim/v2/Users", {["Content-Type"]="application/scim+json", ["Authorization"]="Bearer " .. token}, body)
end
LUA
)"
printf '%-52s %10s creates/s\n' "target raw POST /Users (wrk, $conc connections, 10 s)" "$raw"
# The same through /Bulk, 100 creates a request (what the engine sends a target that supports Bulk).
rawbulk="$(raw_requests bulk <<'LUA'
request = function()
  local ops = {}
  for i = 1, 100 do
    counter = counter + 1
    ops[i] = string.format('{"method":"POST","path":"/Users","bulkId":"%d","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulk%d-%d@example.com","externalId":"b%d-%d","name":{"givenName":"G","familyName":"F"},"emails":[{"value":"bulk%d-%d@example.com","primary":true}],"active":true}}', counter, tid, counter, tid, counter, tid, counter)
  end
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[' .. table.concat(ops, ",") .. ']}'
  return wrk.format("POST", "/scim/v2/Bulk", {["Content-Type"]="application/scim+json", ["Authorization"]="Bearer " .. token}, body)
end
LUA
)"
rawbulk="$(python3 -c "print(round($rawbulk * 100))")"
printf '%-52s %10s creates/s\n' "target raw POST /Bulk, 100 creates each (wrk, 10 s)" "$rawbulk"

# The directory: N users from a CSV, as an HR export would deliver them.
if [ "${SOURCE:-sqlite}" = postgres ]; then
  pgdb="roster_bench_provision_$$"
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $pgdb" >/dev/null
  sdb="postgres://postgres@127.0.0.1:5432/$pgdb${PGQUERY:-}"; latency_db="postgres://postgres@127.0.0.1:5432/$pgdb"
else
  sdb="sqlite://$work/source.db"; latency_db="$work/source.db"
fi
echo "directory: ${SOURCE:-sqlite}"
python3 - "$n" >"$work/users.csv" <<'PY'
import sys
n = int(sys.argv[1])
print('userName,externalId,name.givenName,name.familyName,emails[type eq "work"].value,active,title')
for i in range(n):
    print(f"user{i:07d}@example.com,HR{i:07d},Given{i % 1000},Family{i % 5000},user{i:07d}@example.com,true,Title{i % 50}")
PY
read -r secs rss < <(measure "$roster" import "$work/users.csv" --database "$sdb")
printf '%-52s %10s users/s   (%s s, peak RSS %s MiB)\n' "roster import of $n users (CSV)" "$(python3 -c "print(round($n/$secs))")" "$secs" "$rss"

# 2. Initial sync.
tdb="sqlite://$work/target.db"
ttok="$("$roster" token create --name bench --database "$tdb" 2>/dev/null)"
serve_target "$tdb"; tport="$port"
printf '%s\n' "$ttok" >"$work/app.token"
"$roster" app add bench --scim-url "http://127.0.0.1:$tport/scim/v2" --token-file "$work/app.token" --concurrency "$conc" \
  --reconcile-every-hours 0 --database "$sdb" 2>/dev/null
read -r secs rss < <(measure "${client[@]}" "$roster" sync bench --full --database "$sdb")
rate="$(python3 -c "print(round($n/$secs))")"
printf '%-52s %10s users/s   (%s s, %s%% of raw bulk, %s%% of raw POST, peak RSS %s MiB)\n' "initial sync of $n users (roster sync --full)" "$rate" "$secs" "$(python3 -c "print(round(100*$rate/$rawbulk))")" "$(python3 -c "print(round(100*$rate/$raw))")" "$rss"

# 2b. The same initial sync one POST per account (bulk off): a second app on the directory, into another empty
# target; removed afterwards.
sgdb="sqlite://$work/target-single.db"
sgtok="$("$roster" token create --name bench --database "$sgdb" 2>/dev/null)"
serve_target "$sgdb"; sgport="$port"
printf '%s\n' "$sgtok" >"$work/single.token"
"$roster" app add single --scim-url "http://127.0.0.1:$sgport/scim/v2" --token-file "$work/single.token" --concurrency "$conc" \
  --reconcile-every-hours 0 --bulk false --database "$sdb" 2>/dev/null
read -r secs rss < <(measure "${client[@]}" "$roster" sync single --full --database "$sdb")
rate="$(python3 -c "print(round($n/$secs))")"
printf '%-52s %10s users/s   (%s s, %s%% of raw POST, peak RSS %s MiB)\n' "the same, one POST per account (--bulk false)" "$rate" "$secs" "$(python3 -c "print(round(100*$rate/$raw))")" "$rss"
"$roster" app remove single --database "$sdb" >/dev/null 2>&1
kill "${pids[-1]}" 2>/dev/null || true

# 3. Full reconcile of the converged state.
read -r secs rss < <(measure "${client[@]}" "$roster" sync bench --full --database "$sdb")
printf '%-52s %10s users/s   (%s s, peak RSS %s MiB)\n' "full reconcile, nothing to change" "$(python3 -c "print(round($n/$secs))")" "$secs" "$rss"

# 4. Change → target latency with the engine running in the directory server.
stok="$("$roster" token create --name idp --database "$sdb" 2>/dev/null)"
sport="$(free_port)"
ROSTER_LOG=warn "${client[@]}" "$roster" serve --listen "127.0.0.1:$sport" --database "$sdb" >"$work/source.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$sport/healthz"
"${client[@]}" python3 "$root/bench/latency.py" "http://127.0.0.1:$sport/scim/v2" "$stok" "$latency_db" "$k"

# 5. A burst of joiners through the journal (an HR import while the engine runs): B = N/10 (at most 10,000) new
# users imported into the directory by another process; the time until the target holds them all (the engine
# notices another process's writes within its 1 s poll on SQLite; it matches each identity, then creates in bulk).
b=$((n / 10 < 10000 ? n / 10 : 10000))
python3 - "$b" >"$work/burst.csv" <<'PY2'
import sys
print('userName,externalId,name.givenName,name.familyName,emails[type eq "work"].value,active')
for i in range(int(sys.argv[1])):
    print(f"join{i:07d}@example.com,J{i:07d},Joiner,Family{i % 5000},join{i:07d}@example.com,true")
PY2
started="$(date +%s.%N)"
"$roster" import "$work/burst.csv" --database "$sdb" >/dev/null 2>&1
total() { curl -s -H "Authorization: Bearer $ttok" "http://127.0.0.1:$tport/scim/v2/Users?count=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totalResults"])'; }
for _ in $(seq 1 6000); do [ "$(total)" -ge $((n + b)) ] && break; sleep 0.1; done
secs="$(python3 -c "import time; print(round(time.time() - $started, 2))")"
printf '%-52s %10s users/s   (%s s until the target held all %s)\n' "burst of $b joiners (import → target)" "$(python3 -c "print(round($b/$secs))")" "$secs" "$b"
