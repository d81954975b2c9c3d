#!/usr/bin/env bash
# Listings of a large directory and their totalResults: N users (default 1000000) imported, then, one core for
# the server and one for wrk -t1 -c8 (DURATION seconds each, default 5): a full first page (its total is not
# told by the page), a page of totals only (count=0), a deep page (startIndex N/2: the offset's own scan), a
# cursor page, and a filtered lookup. Then the creates' rate with eight clients at once (the per-type count must
# not serialise concurrent creates), and the total checked against the number of users after them.
# Usage: bench/totals.sh [N] [sqlite|postgres]   Needs: wrk (Debian), python3, taskset; PostgreSQL for postgres.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-1000000}"
db_kind="${2:-sqlite}"
duration="${DURATION:-5}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

directory_db "$db_kind" totals
echo "machine: $(nproc) cores; directory on $db_kind; $n users; server on core 0, wrk -t1 -c8 on core 1, ${duration}s each; $(date -u +%F)"
python3 - "$n" >"$work/users.csv" <<'PY'
import sys
n = int(sys.argv[1])
print('userName,externalId,name.givenName,name.familyName,active')
for i in range(n):
    print(f"user{i:07d}@example.com,E{i:07d},Given{i % 1000},Family{i % 5000},true")
PY
read -r secs rss < <(measure "$roster" import "$work/users.csv" --database "$db")
printf 'import of %s users: %s s (peak RSS %s MiB)\n' "$n" "$secs" "$rss"

token="$("$roster" token create --name bench --database "$db" 2>/dev/null)"
port="$(free_port)"
ROSTER_LOG=warn taskset -c 0 "$roster" serve --no-engine --listen "127.0.0.1:$port" --database "$db" >"$work/serve.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$port/scim/v2"
wait_up "http://127.0.0.1:$port/healthz"

# total URL: the listing's totalResults, checked against what it must be.
total() {
  python3 - "$1" "$token" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
print(json.load(urllib.request.urlopen(req))["totalResults"])
PY
}
got="$(total "$base/Users?count=1")"
[ "$got" = "$n" ] || { echo "totalResults is $got, want $n" >&2; exit 1; }

echo "| measure | req/s | p50 | p99 |"
echo "|---|---|---|---|"
run() {
  local label="$1" url="$2" script="${3:-}" out
  out="$(taskset -c 1 wrk -t1 -c8 -d"${duration}s" --latency -H "Authorization: Bearer $token" ${script:+-s "$script"} "$url")"
  if grep -q Non-2xx <<<"$out"; then echo "$label: $(grep Non-2xx <<<"$out")" >&2; exit 1; fi
  printf '| %-44s | %9s | %-8s | %-8s |\n' "$label" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
    "$(awk '$1=="50%"{print $2}' <<<"$out")" "$(awk '$1=="99%"{print $2}' <<<"$out")"
}
cursor="$(python3 - "$base/Users?count=100&cursor" "$token" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
print(json.load(urllib.request.urlopen(req)).get("nextCursor", ""))
PY
)"
run "first page, count=100" "$base/Users?count=100"
run "totals only, count=0" "$base/Users?count=0"
run "second cursor page, count=100" "$base/Users?count=100&cursor=$cursor"
run "deep page, startIndex=$((n / 2)), count=100" "$base/Users?startIndex=$((n / 2))&count=100"
run "filter=userName eq (one match)" "$base/Users?filter=userName%20eq%20%22user0000500@example.com%22"

# Creates from eight clients at once, each a new userName.
cat >"$work/create.lua" <<'LUA'
local counter = 0
wrk.headers["Content-Type"] = "application/scim+json"
request = function()
  counter = counter + 1
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"created' .. counter .. '@example.com"}'
  return wrk.format("POST", nil, nil, body)
end
LUA
out="$(taskset -c 1 wrk -t1 -c8 -d"${duration}s" --latency -H "Authorization: Bearer $token" -s "$work/create.lua" "$base/Users")"
created="$(awk '/requests in/{print $1}' <<<"$out")"
if grep -q Non-2xx <<<"$out"; then echo "creates: $(grep Non-2xx <<<"$out")" >&2; exit 1; fi
printf '| %-44s | %9s | %-8s | %-8s |\n' "POST /Users, 8 clients at once" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
  "$(awk '$1=="50%"{print $2}' <<<"$out")" "$(awk '$1=="99%"{print $2}' <<<"$out")"
# wrk counts the answers it read; the server may have created a few more for requests still open at the end. A
# filter counts the rows themselves.
counted="$(total "$base/Users?count=0&filter=userName%20sw%20%22created%22")"
got="$(total "$base/Users?count=1")"
want=$((n + counted))
[ "$got" = "$want" ] || { echo "after $counted creates totalResults is $got, want $want" >&2; exit 1; }
[ "$counted" -ge "$created" ] || { echo "wrk had $created creates answered, the directory holds $counted" >&2; exit 1; }
echo "after $counted creates ($created answered within the run) totalResults is $got: right"
