"""Large groups: what a member-only PATCH, a read without members and a filter on groups cost for a group of
SMALL members and for one of N members, on a running roster server.

Seeds N + 2 users through /Bulk, builds the two groups with PATCH adds of 5,000 members, then times each request
REPEAT times (default 20) with one client and prints the median and the slowest in milliseconds, and the size of
the answer.

Usage: python3 groups.py BASE_URL TOKEN N [SMALL]
"""

import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
REPEAT = int(os.environ.get("REPEAT", "20"))


class Client:
    def __init__(self, base, token):
        u = urllib.parse.urlparse(base)
        self.path = u.path.rstrip("/")
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    def call(self, method, path, body=None):
        """The status, the body's bytes and the seconds the request took (sent to last byte read)."""
        data = json.dumps(body).encode() if body is not None else None
        start = time.perf_counter()
        self.conn.request(method, self.path + path, body=data, headers=self.headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        took = time.perf_counter() - start
        if resp.status >= 400:
            raise SystemExit(f"{method} {path}: {resp.status} {raw[:300]!r}")
        return resp.status, raw, took


def seed_users(c, n, prefix):
    ids = []
    for batch in range(0, n, 1000):
        ops = [{"method": "POST", "path": "/Users", "bulkId": f"{prefix}{i}", "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"{prefix}{i:07d}@example.com", "active": True}}
            for i in range(batch, min(n, batch + 1000))]
        _, raw, _ = c.call("POST", "/Bulk", {"schemas": [BULK], "Operations": ops})
        for op in json.loads(raw)["Operations"]:
            ids.append(op["location"].rsplit("/", 1)[1])
    return ids


def group(c, name, members):
    _, raw, _ = c.call("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                           "displayName": name})
    gid = json.loads(raw)["id"]
    for i in range(0, len(members), 5000):
        ops = [{"op": "add", "path": "members", "value": [{"value": m} for m in members[i:i + 5000]]}]
        c.call("PATCH", f"/Groups/{gid}?excludedAttributes=members", {"schemas": [PATCH], "Operations": ops})
    return gid


def timed(c, method, path, body=None):
    times, size, status = [], 0, 0
    for _ in range(REPEAT):
        status, raw, took = c.call(method, path, body)
        times.append(took * 1000)
        size = len(raw)
    return statistics.median(times), max(times), size, status


def main():
    base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    small = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    c = Client(base, token)
    start = time.monotonic()
    users = seed_users(c, n + 2, "m")
    extra = users[n:]
    groups = {small: group(c, "Few", users[:small]), n: group(c, "All", users[:n])}
    print(f"seeded {n + 2} users and groups of {small} and {n} members in {time.monotonic() - start:.0f} s",
          file=sys.stderr)
    print(f"{'request':<58} {'members':>8} {'median ms':>10} {'max ms':>8} {'bytes':>10} {'status':>6}")
    for size, gid in groups.items():
        name = "Few" if size == small else "All"
        add = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": extra[0]}]}]}
        remove = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": f'members[value eq "{extra[0]}"]'}]}
        rows = []
        # An add and a remove alternate so each request changes the group; each is timed on its own.
        adds, removes = [], []
        for _ in range(REPEAT):
            status_a, raw_a, ta = c.call("PATCH", f"/Groups/{gid}", add)
            status_r, raw_r, tr = c.call("PATCH", f"/Groups/{gid}", remove)
            adds.append(ta * 1000)
            removes.append(tr * 1000)
        rows.append(("PATCH add one member", statistics.median(adds), max(adds), len(raw_a), status_a))
        rows.append(("PATCH remove one member", statistics.median(removes), max(removes), len(raw_r), status_r))
        renames = []
        for i in range(REPEAT):
            rename = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName",
                                                          "value": f"{name} {i % 2}"}]}
            status_n, raw_n, tn = c.call("PATCH", f"/Groups/{gid}", rename)
            renames.append(tn * 1000)
        c.call("PATCH", f"/Groups/{gid}", {"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "displayName", "value": name}]})
        rows.append(("PATCH replace displayName", statistics.median(renames), max(renames), len(raw_n), status_n))
        rows.append(("GET /Groups/{id}?excludedAttributes=members",
                     *timed(c, "GET", f"/Groups/{gid}?excludedAttributes=members")))
        rows.append((f'GET /Groups?filter=displayName eq "{name}"&excluded…=members',
                     *timed(c, "GET", f"/Groups?filter=displayName%20eq%20%22{name}%22&excludedAttributes=members")))
        rows.append(("GET /Groups/{id} (every member)", *timed(c, "GET", f"/Groups/{gid}")))
        for label, med, worst, nbytes, status in rows:
            print(f"{label:<58} {size:>8} {med:>10.2f} {worst:>8.2f} {nbytes:>10} {status:>6}")


main()
