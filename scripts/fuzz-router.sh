#!/usr/bin/env bash
# Runs the router's libFuzzer target (tests/fuzz/router_fuzz.cc) from the committed seed corpus:
#   scripts/fuzz-router.sh BINARY [RUNS] [extra libFuzzer flags...]
# RUNS inputs with a fixed seed (default 30,000; 0 = until stopped), new inputs go to a
# scratch directory, never into the committed corpus. Exits 77 (skipped) when the target was
# not built (no clang++ or no libFuzzer runtime), non-zero with the crashing input on a finding.
set -euo pipefail
binary="$1"
runs="${2:-30000}"
shift $(( $# < 2 ? $# : 2 ))
[[ -x "$binary" ]] || { echo "fuzz-router: $binary was not built (clang++ with libFuzzer?)" >&2; exit 77; }
here=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The fixture lives for the whole run on purpose, and the GCC-built half defines some inline
# globals the instrumented half defines too: neither is a finding.
export ASAN_OPTIONS="detect_leaks=0:detect_odr_violation=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}"
"$binary" "$scratch" "$here/tests/fuzz/corpus" -seed=1 -runs="$runs" -max_len=4096 \
  -dict="$here/tests/fuzz/router.dict" -artifact_prefix="$scratch/" -print_final_stats=1 "$@" ||
  { status=$?; for f in "$scratch"/crash-* "$scratch"/timeout-* "$scratch"/oom-*; do
      [[ -e "$f" ]] && { echo "finding: $f" >&2; od -c "$f" | head -20 >&2; }; done; exit $status; }
