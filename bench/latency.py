"""Directory change → applied at the target: PATCHes K users through roster's SCIM API (one every 20 ms), waits
until the engine has logged each, and prints p50/p95/max of (provisioning log time − journal time).

Usage: python3 latency.py BASE_URL TOKEN DATABASE K    (DATABASE: the SQLite file, or a postgres:// URL read
with psql)
"""

import json
import sqlite3
import subprocess
import sys
import time
import urllib.request

base, token, db, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def call(method, path, body=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


ids = [u["id"] for u in call("GET", f"/Users?count={k}&attributes=id")["Resources"]]
marker = int(time.time())
for i, uid in enumerate(ids):
    call("PATCH", f"/Users/{uid}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                    "Operations": [{"op": "replace", "path": "title", "value": f"T{marker}-{i}"}]})
    time.sleep(0.02)  # pacing of the load, not synchronisation

QUERY = """SELECT j.resource_id, j.at, MIN(l.at) FROM journal j
           JOIN provisioning_log l ON l.source_id = j.resource_id AND l.action = 'update' AND l.at >= j.at
           WHERE j.seq > (SELECT MAX(seq) - {k} FROM journal) GROUP BY j.seq, j.resource_id, j.at"""


def applied():
    sql = QUERY.format(k=len(ids))
    if db.startswith("postgres"):
        out = subprocess.run(["psql", db, "-tA", "-F", ",", "-c", sql], check=True, capture_output=True, text=True)
        return [tuple(int(x) if x.lstrip("-").isdigit() else x for x in line.split(",")) for line in out.stdout.split()]
    return sqlite3.connect(db).execute(sql).fetchall()


deadline = time.time() + 60
rows = []
while time.time() < deadline:
    rows = applied()
    if len(rows) >= len(ids):
        break
    time.sleep(0.2)
lat = sorted((applied - changed) / 1000.0 for _, changed, applied in rows)
if len(lat) < len(ids):
    sys.exit(f"only {len(lat)} of {len(ids)} changes reached the target within 60 s")
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"{'change → target latency (' + str(len(lat)) + ' changes)':<52} p50 {pick(0.5):.1f} ms   p95 {pick(0.95):.1f} ms   max {lat[-1]:.1f} ms")
