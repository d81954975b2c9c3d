#!/usr/bin/env bash
# Every measure in one go, tables written to target/bench-results-DATE.md and to stdout:
#   1. the read path on one core, SQLite and PostgreSQL, with the bare axum handler and python scim2-server
#      measured in the same run (bench/readpath.sh);
#   2. large groups at N_GROUP members (default 20000), SQLite and PostgreSQL (bench/groups.sh);
#   3. the directory at N_DIR users (default 20000), SQLite and PostgreSQL, with the python peer
#      (bench/directory.sh);
#   4. provisioning N_PROV users (default 20000) into a SCIM target, the directory on SQLite and on PostgreSQL
#      (bench/provision.sh, SOURCE=postgres);
#   5. 1, 2 and 3 processes on one PostgreSQL: reads, creates, PATCHes, the applied-once check and a sync of
#      N_SYNC joiners (default 2000) with every process's engine running (bench/multiprocess.sh);
#   6. the engine's push of one group of N_PUSH members (default 20000; 200000 is the issue's size, about 4
#      minutes on SQLite) into a SCIM target, the directory on SQLite and on PostgreSQL (bench/grouppush.sh);
#   7. listings and their totalResults at N_TOTALS users (default 1000000: the import takes about a minute on
#      SQLite and on PostgreSQL), SQLite and PostgreSQL (bench/totals.sh).
# Each script is bounded and binds 127.0.0.1 only. Figures vary by up to 15 % between runs on a shared VM:
# compare ratios to the peers of the same run, or repeat.
# Usage: bench/all.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/bench-results-$(date -u +%Y%m%dT%H%M%SZ).md"
mkdir -p "$root/target"
{
  echo "# roster benchmarks, $(date -u +%F), $(nproc) cores, commit $(git -C "$root" rev-parse --short HEAD)"
  echo
  echo "## Read path (bench/readpath.sh both)"
  bash "$root/bench/readpath.sh" both
  echo
  echo "## Large groups (bench/groups.sh ${N_GROUP:-20000} both)"
  echo '```'
  bash "$root/bench/groups.sh" "${N_GROUP:-20000}" both
  echo '```'
  echo
  for source in sqlite postgres; do
    echo "## Directory on $source (bench/directory.sh ${N_DIR:-20000} $source)"
    echo '```'
    bash "$root/bench/directory.sh" "${N_DIR:-20000}" "$source"
    echo '```'
    echo
  done
  for source in sqlite postgres; do
    echo "## Provisioning, the directory on $source (SOURCE=$source bench/provision.sh ${N_PROV:-20000} 100)"
    echo '```'
    SOURCE="$source" bash "$root/bench/provision.sh" "${N_PROV:-20000}" 100
    echo '```'
    echo
  done
  echo "## Several processes on one PostgreSQL (bench/multiprocess.sh ${N_SYNC:-2000})"
  bash "$root/bench/multiprocess.sh" "${N_SYNC:-2000}"
  echo
  for source in sqlite postgres; do
    echo "## The push of one large group, the directory on $source (bench/grouppush.sh ${N_PUSH:-20000} $source)"
    echo '```'
    bash "$root/bench/grouppush.sh" "${N_PUSH:-20000}" "$source"
    echo '```'
    echo
  done
  for source in sqlite postgres; do
    echo "## Listings of a large directory, on $source (bench/totals.sh ${N_TOTALS:-1000000} $source)"
    bash "$root/bench/totals.sh" "${N_TOTALS:-1000000}" "$source"
    echo
  done
} 2>&1 | tee "$out"
echo "written: $out"
