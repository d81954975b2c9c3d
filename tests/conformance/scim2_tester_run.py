"""Runs the third-party SCIM conformance checker scim2-tester against a live roster server.

Usage: python scim2_tester_run.py BASE_URL TOKEN
Prints every check with its status and exits 1 unless every check that ran succeeded.
"""

import sys
from collections import Counter

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    http = httpx2.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    counts = Counter()
    failures = []
    for r in results:
        counts[r.status.name] += 1
        line = f"{r.status.name:<10} {r.title}"
        if r.reason:
            line += f" -- {r.reason}"
        print(line)
        if r.status not in (Status.SUCCESS, Status.SKIPPED):
            failures.append(line)
    print()
    print("scim2-tester:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if failures:
        print(f"{len(failures)} check(s) did not succeed:")
        for f in failures:
            print("  " + f)
        return 1
    if counts["SUCCESS"] == 0:
        print("no check succeeded: the checker did not run")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
