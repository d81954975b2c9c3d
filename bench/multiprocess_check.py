"""Several roster processes on one PostgreSQL: is every write applied once, and does every process read it as soon
as the write is answered?

Usage: python3 multiprocess_check.py TOKEN OPS THREADS BASE_URL [BASE_URL ...]

OPS operations, THREADS at a time, each on two processes a and b (a different pair for each operation):
  1. POST a user through a (201), then GET it through b: the same ETag and userName;
  2. PATCH one shared group through a, adding the user as a member (no If-Match: the server applies it to the
     current version), then GET the user through b: its derived `groups` name the group;
  3. PATCH the user's title through b, then GET it through a: the new title and a newer ETag.
At the end the group has exactly OPS members and version 1 + OPS (each add applied once, none lost), and exactly
OPS users carry this run's prefix. Prints one line with the figures; exits 1 on any violation.
"""

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def call(method, url, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return resp.status, resp.headers.get("ETag"), (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        return e.code, None, e.read().decode(errors="replace")


def version(etag):
    return int(etag.strip('W/"'))


def main():
    token, ops, threads, bases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    run = uuid.uuid4().hex[:8]
    status, _, group = call("POST", f"{bases[0]}/Groups", token, {"schemas": [GROUP], "displayName": f"mp-{run}"})
    assert status == 201, (status, group)
    gid = group["id"]
    violations = []

    def op(i):
        a, b = bases[i % len(bases)], bases[(i + 1) % len(bases)]
        name = f"mp-{run}-{i}@example.com"
        status, etag, user = call("POST", f"{a}/Users", token, {"schemas": [USER], "userName": name})
        if status != 201:
            return [f"create {name}: {status} {user}"]
        uid, out = user["id"], []
        status, etag_b, seen = call("GET", f"{b}/Users/{uid}", token)
        if status != 200 or etag_b != etag or seen.get("userName") != name:
            out.append(f"read of a create through another process: {status} {etag} vs {etag_b}")
        status, _, body = call("PATCH", f"{a}/Groups/{gid}", token, {"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": uid}]}]})
        if status not in (200, 204):
            out.append(f"group add {uid}: {status} {body}")
        status, _, seen = call("GET", f"{b}/Users/{uid}", token)
        if status != 200 or gid not in [g["value"] for g in seen.get("groups", [])]:
            out.append(f"read of a membership through another process: {status} {seen}")
        status, etag_p, body = call("PATCH", f"{b}/Users/{uid}", token, {"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "title", "value": f"t{i}"}]})
        if status != 200:
            out.append(f"user patch {uid}: {status} {body}")
            return out
        status, etag_a, seen = call("GET", f"{a}/Users/{uid}", token)
        if status != 200 or seen.get("title") != f"t{i}" or version(etag_a) < version(etag_p) or etag_p == etag:
            out.append(f"read of a patch through another process: {status} {etag_p} vs {etag_a}")
        return out

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for out in pool.map(op, range(ops)):
            violations.extend(out)
    secs = time.monotonic() - started
    status, etag, group = call("GET", f"{bases[0]}/Groups/{gid}?attributes=members", token)
    members = len(group.get("members", [])) if status == 200 else -1
    if members != ops or version(etag) != 1 + ops:
        violations.append(f"the group has {members} members at {etag}; expected {ops} at W/\"{1 + ops}\"")
    status, _, listed = call("GET", f"{bases[-1]}/Users?filter=userName%20sw%20%22mp-{run}-%22&count=0", token)
    if status != 200 or listed["totalResults"] != ops:
        violations.append(f"{listed.get('totalResults') if status == 200 else status} users of this run; expected {ops}")
    requests = ops * 7
    print(f"{len(bases)} processes: {ops} operations ({requests} requests, {threads} at a time) in {secs:.1f} s, "
          f"{requests / secs:.0f} req/s; group {members} members at {etag}; violations: {len(violations)}")
    for v in violations[:20]:
        print("  " + v)
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()
