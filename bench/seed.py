"""Seeds N users into a roster server through POST /Bulk (1000 operations per request) and prints the rate.

Usage: python3 seed.py BASE_URL TOKEN N
Prints the id of the first user on the last line (for GET-by-id benchmarks).
"""

import json
import sys
import time
import urllib.request

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def post(url, token, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        return json.load(resp)


def main():
    base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    first = None
    start = time.monotonic()
    for batch in range(0, n, 1000):
        ops = []
        for i in range(batch, min(n, batch + 1000)):
            ops.append({"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"user{i:07d}@example.com", "externalId": f"ext-{i}", "displayName": f"User {i}",
                "title": ("Engineer", "Manager", "Designer", "Analyst")[i % 4],
                "name": {"givenName": f"Given{i}", "familyName": f"Family{i % 977}"}, "active": i % 10 != 0,
                "emails": [{"value": f"user{i:07d}@example.com", "type": "work", "primary": True}]}})
        res = post(f"{base}/Bulk", token, {"schemas": [BULK], "Operations": ops})
        bad = [o for o in res["Operations"] if o["status"] != "201"]
        if bad:
            sys.exit(f"seeding failed: {bad[0]}")
        if first is None:
            first = res["Operations"][0]["location"].rsplit("/", 1)[1]
    took = time.monotonic() - start
    print(f"seeded {n} users in {took:.1f} s ({n / took:.0f} users/s through /Bulk)", file=sys.stderr)
    print(first)


if __name__ == "__main__":
    main()
