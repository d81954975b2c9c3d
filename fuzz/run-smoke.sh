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
# `fuzz/` holds the light targets (roster-scim only); `fuzz/store/` the ones that build the engine and the
# store (a longer build): run those with a second argument `store` (or `all`).
run() {
  local dir="$1" target="$2"
  mkdir -p "$dir/corpus/$target"
  cp -n "$dir/seeds/$target"/* "$dir/corpus/$target/" 2>/dev/null || true
  echo "fuzz: $target for ${secs}s"
  cargo +nightly fuzz run --fuzz-dir "$dir" "$target" "$dir/corpus/$target" -- -max_total_time="$secs" -max_len=4096 2>&1 | tail -n 3
}
which="${2:-light}"
if [ "$which" != "store" ]; then
  for target in filter patch resource bulk; do run . "$target"; done
fi
if [ "$which" = "store" ] || [ "$which" = "all" ]; then
  for target in mapping filter_sql; do run store "$target"; done
fi
