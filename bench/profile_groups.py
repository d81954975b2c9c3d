"""Groups a flat perf report (`perf report --no-children --sort symbol --stdio -q -g none` on stdin) by where
each symbol lives, and prints the shares, then the top 40 symbols."""

import re
import sys

GROUPS = [
    ("kernel (network, syscalls, scheduling)", r"^\[k\]"),
    ("SQLite", r"sqlite3|rusqlite|libsqlite"),
    ("PostgreSQL client (sqlx, protocol)", r"sqlx|postgres"),
    ("JSON parse and render (serde_json)", r"serde_json|serde::|ryu|itoa"),
    ("projection, schema, render (roster_scim)", r"roster_scim"),
    ("store (roster_store)", r"roster_store"),
    ("server handlers (roster_server)", r"roster_server"),
    ("auth (sha2, token)", r"sha2|Sha256|compress256|token"),
    ("HTTP (hyper, axum, tower, http)", r"hyper|axum|tower|http::|httparse|h1"),
    ("async runtime (tokio)", r"tokio"),
    ("allocator and memory (mimalloc, memcpy)", r"mi_|mimalloc|memcpy|memmove|memset|malloc|free|alloc"),
    ("strings, hashing, formatting (core, alloc, std)", r"core::|alloc::|std::|hashbrown|fmt"),
]

rows = []
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(.*)", line)
    if m:
        rows.append((float(m.group(1)), m.group(2).strip()))
totals = {}
for share, sym in rows:
    for name, pat in GROUPS:
        if re.search(pat, sym):
            totals[name] = totals.get(name, 0) + share
            break
    else:
        totals["other"] = totals.get("other", 0) + share
print(f"{'where':<50} {'share':>7}")
for name, share in sorted(totals.items(), key=lambda x: -x[1]):
    print(f"{name:<50} {share:>6.1f}%")
print()
for share, sym in rows[:40]:
    print(f"{share:>6.2f}%  {sym[:140]}")
