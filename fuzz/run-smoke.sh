#!/usr/bin/env bash
# A short fuzz run of every target (seconds each: $1, default 20). Needs the nightly toolchain, which cargo-fuzz
# requires; where it is missing the run is skipped with a loud message (the fuzz run is an extra, not the test
# suite).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-20}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "*** SKIPPING fuzz smoke run: no nightly toolchain on this machine (cargo-fuzz needs it). ***"
  exit 0
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
for target in filter patch; do
  mkdir -p "corpus/$target"
  cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "fuzz: $target for ${secs}s"
  cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$secs" -max_len=4096 2>&1 | tail -n 3
done
