#!/usr/bin/env bash
# Fault-storm benchmark: N users (default 2000) provisioned by the engine loop (`run_engine`, as `roster serve`
# runs it) into a SCIM target behind a fault-injecting proxy that answers 5 % of requests 429 with
# `Retry-After: 1`, 10 % 503 and drops 1 % of connections; on SQLite and on PostgreSQL (when it is reachable).
# Rates per thousand can be changed with RATE_LIMITED, SERVER_ERRORS, RESETS and LOST (answers lost after the
# target applied the request). Prints one Markdown table row per backend: seconds to converge (every user has
# exactly one account, nothing queued), requests, faults met, provisioning log entries per user, the highest
# attempt number, Retry-After violations and duplicate accounts (both must be 0).
# Usage: bench/faultstorm.sh [N]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build -q --release -p roster-engine --example fault_storm
exec "$root/target/release/examples/fault_storm" "${1:-2000}"
