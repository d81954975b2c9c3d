#!/usr/bin/env bash
# The engine's push of one large group: N users (default 200000) imported into a directory, every one a member
# of the group "All"; the app's initial full sync into an empty roster target (the users, then the group with
# its N members), then a full reconcile with nothing to change. Checks that the target holds the N users and the
# group with exactly N members. Directory on SQLite (default) or PostgreSQL; the target is on SQLite.
# Usage: bench/grouppush.sh [N] [sqlite|postgres]   Needs: python3; PostgreSQL on 127.0.0.1:5432 for postgres.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-200000}"
db_kind="${2:-sqlite}"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

directory_db "$db_kind" grouppush
sdb="$db"
echo "machine: $(nproc) cores; directory on $db_kind; one group of $n members; $(date -u +%F)"
python3 - "$n" >"$work/users.csv" <<'PY'
import sys
n = int(sys.argv[1])
print('userName,externalId,name.givenName,name.familyName,active,groups')
for i in range(n):
    print(f"member{i:07d}@example.com,M{i:07d},Given{i % 1000},Family{i % 5000},true,All")
PY
read -r secs rss < <(measure "$roster" import "$work/users.csv" --database "$sdb")
printf '%-58s %8s s   (peak RSS %s MiB)\n' "import of $n users, each a member of All" "$secs" "$rss"

tdb="$work/target.db"
ttok="$("$roster" token create --name bench --database "sqlite://$tdb" 2>/dev/null)"
port="$(free_port)"
ROSTER_LOG=warn "$roster" serve --no-engine --listen "127.0.0.1:$port" --database "sqlite://$tdb" >"$work/target.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$port/healthz"
printf '%s\n' "$ttok" >"$work/app.token"
"$roster" app add push --scim-url "http://127.0.0.1:$port/scim/v2" --token-file "$work/app.token" \
  --push-groups true --max-group-deprovisions 0 --reconcile-every-hours 0 --database "$sdb" >/dev/null 2>&1
read -r secs rss < <(measure "$roster" sync push --full --database "$sdb")
printf '%-58s %8s s   (peak RSS %s MiB)\n' "initial sync: $n users, then the group with $n members" "$secs" "$rss"
# What the target holds, read from its database file.
python3 - "$tdb" "$n" <<'PY'
import sqlite3, sys
db, n = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
users = db.execute("SELECT COUNT(*) FROM resources WHERE resource_type = 'User'").fetchone()[0]
groups = db.execute("SELECT id FROM resources WHERE resource_type = 'Group' AND display_name_lc = 'all'").fetchall()
members = db.execute("SELECT COUNT(*) FROM memberships WHERE group_id = ?", (groups[0][0],)).fetchone()[0] if groups else 0
print(f"target holds {users} users and {len(groups)} group All with {members} members")
if users != n or len(groups) != 1 or members != n:
    sys.exit(f"the target does not hold what the directory does (want {n} users, one group of {n})")
PY
read -r secs rss < <(measure "$roster" sync push --full --database "$sdb")
printf '%-58s %8s s   (peak RSS %s MiB)\n' "full reconcile, nothing to change" "$secs" "$rss"
