#!/usr/bin/env bash
# Directory benchmark: seeds N users (default 100000) into `roster serve` (release build) through
# /Bulk, then measures with wrk on loopback: GET /Users/{id}, filter=userName eq, filter=userName co, and deep
# paging; and GET /Users/{id} on the python scim2-server in the same run for comparison.
# Every load is bounded (DURATION seconds each, default 10) and targets 127.0.0.1 only.
# The directory on SQLite (default) or PostgreSQL; the python peer (in memory) is the same either way.
# Usage: bench/directory.sh [N] [sqlite|postgres]   Needs: wrk (Debian), python3 with venv, curl; PostgreSQL on
# 127.0.0.1:5432 for postgres.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-100000}"
db_kind="${2:-sqlite}"
duration="${DURATION:-10}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

port="$(free_port)"
directory_db "$db_kind" directory
token="$("$roster" token create --name bench --database "$db" 2>/dev/null)"
serve() {
  ROSTER_LOG=warn,roster_store::statistics=info "$roster" serve --listen "127.0.0.1:$port" --database "$db" \
    >"$work/serve.log" 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$port/healthz"
}
serve
base="http://127.0.0.1:$port/scim/v2"
id="$(python3 "$root/bench/seed.py" "$base" "$token" "$n")"
# On PostgreSQL, roster serve brings the planner's statistics (where autovacuum is off) and the search indexes'
# pending lists up to date at start and every minute: the measures start after such a round, as they would a
# minute after seeding (a restart starts one at once).
if [ "$db_kind" = postgres ]; then
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
  serve
  for _ in $(seq 1 600); do grep -q "brought up to date" "$work/serve.log" && break; sleep 0.1; done
  grep -q "brought up to date" "$work/serve.log" || { echo "the server's maintenance did not run" >&2; exit 1; }
fi

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; directory on $db_kind; users: $n; wrk: 2 threads, 32 connections, ${duration}s each"
# run LABEL URL TOKEN [CONNECTIONS]: 2 threads and 32 connections, or one thread and one connection when
# CONNECTIONS is 1 (a single client's latency).
run() {
  local label="$1" url="$2" auth="$3" conns="${4:-32}"
  local threads=2 out
  [ "$conns" -gt 1 ] || threads=1
  out="$(wrk -t"$threads" -c"$conns" -d"${duration}s" --latency -H "Authorization: Bearer $auth" "$url")"
  local rps p50 p99
  rps="$(awk '/Requests\/sec/{print $2}' <<<"$out")"
  p50="$(awk '$1=="50%"{print $2}' <<<"$out")"
  p99="$(awk '$1=="99%"{print $2}' <<<"$out")"
  local errs
  errs="$(awk '/Non-2xx/{print $5}' <<<"$out")"
  printf '%-44s %12s req/s   p50 %-9s p99 %-9s %s\n' "$label" "$rps" "$p50" "$p99" "${errs:+non-2xx: $errs}"
}
# Requests wrk leaves in flight keep the server busy after it stops; the next measure starts once a cheap
# indexed request answers quickly again (at most 120 s).
settle() {
  for _ in $(seq 1 600); do
    t="$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "$base/Users?filter=userName%20eq%20%22settle%22")"
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 0.05 else 1)" "$t" && return 0
    sleep 0.2
  done
}
run "roster GET /Users/{id}" "$base/Users/$id" "$token"; settle
run "roster filter=userName eq (indexed)" "$base/Users?filter=userName%20eq%20%22user0054321@example.com%22" "$token"; settle
run "roster filter=userName eq, one client" "$base/Users?filter=userName%20eq%20%22user0054321@example.com%22" "$token" 1; settle
run "roster filter=userName co (trigram index)" "$base/Users?filter=userName%20co%20%2254321%22" "$token"; settle
run "roster filter=emails.value co (trigram index)" "$base/Users?filter=emails.value%20co%20%22r00543%22&count=10" "$token"; settle
# A cursor page at depth n/2. The cursor is made here from the user at startIndex n/2 (kind, meta.created in
# microseconds, id: the format roster gives out), to measure one page at that depth without walking there.
mid="$(curl -s -H "Authorization: Bearer $token" "$base/Users?startIndex=$((n / 2))&count=1&attributes=id,meta")"
cursor="$(python3 -c '
import base64, datetime, json, sys
u = json.loads(sys.argv[1])["Resources"][0]
t = datetime.datetime.fromisoformat(u["meta"]["created"].replace("Z", "+00:00"))
us = (t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1)
print(base64.urlsafe_b64encode(("1:User:%d:%s" % (us, u["id"])).encode()).decode().rstrip("="))' "$mid")"
settle
run "roster cursor page at depth $((n / 2)) count=100" "$base/Users?count=100&cursor=$cursor" "$token"; settle
run "roster paging startIndex=$((n / 2)) count=100" "$base/Users?startIndex=$((n / 2))&count=100" "$token"; settle
run "roster filter=name.familyName eq (expression index, count=10)" "$base/Users?filter=name.familyName%20eq%20%22Family500%22&count=10" "$token"; settle
run "roster filter=title eq (JSON scan, count=10)" "$base/Users?filter=title%20eq%20%22Engineer%22&count=10" "$token"; settle

# The python scim2-server, same machine, same run.
venv="$root/target/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check scim2-server==0.8.3
pport="$(free_port)"
"$venv/bin/scim2-server" --hostname 127.0.0.1 --port "$pport" --bearer-token benchtoken >"$work/py.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$pport/v2/ServiceProviderConfig"
pid_user="$(curl -s -X POST "http://127.0.0.1:$pport/v2/Users" -H "Authorization: Bearer benchtoken" -H 'Content-Type: application/scim+json' \
  -d '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')"
run "python scim2-server GET /Users/{id}" "http://127.0.0.1:$pport/v2/Users/$pid_user" benchtoken
# Its substring filter with 1,000 users (DESIGN.md's yardstick for roster's `co` at 1M).
python3 - "http://127.0.0.1:$pport/v2" <<'PY'
import json, sys, urllib.request
for i in range(999):
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"user{i:07d}@example.com"}
    req = urllib.request.Request(sys.argv[1] + "/Users", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer benchtoken", "Content-Type": "application/scim+json"})
    urllib.request.urlopen(req, timeout=30).read()
PY
run "python scim2-server filter=userName co, 1,000 users" "http://127.0.0.1:$pport/v2/Users?filter=userName%20co%20%22543%22" benchtoken
