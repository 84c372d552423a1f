#!/usr/bin/env bash
# explore-all.sh CFEMU [SEEDS] [JOBS]: the big explore (`make explore`). Every scenario of
# scenarios/ over SEEDS seeds (default 1000; the production day and the multi-day scenarios over
# SEEDS/50, at least 5; those longer than 30 days over SEEDS/200, at least 2), each seed run twice for the determinism check, on JOBS threads (default:
# every core). Failing seeds are shrunk into --faults plans under build/shrunk/. Exits 1 when any
# scenario had a failing or nondeterministic seed.
set -uo pipefail
cfemu="$1"
seeds="${2:-1000}"
jobs="${3:-$(nproc 2>/dev/null || echo 2)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
status=0
for scenario in "$root"/scenarios/*.json; do
  duration=$(sed -n 's/.*"duration_s": *\([0-9.]*\).*/\1/p' "$scenario" | head -1)
  n="$seeds"
  if [[ -z "$duration" || "${duration%.*}" -gt 2592000 ]]; then
    n=$((seeds / 200))
    ((n < 2)) && n=2
  elif [[ "${duration%.*}" -gt 3600 ]]; then
    n=$((seeds / 50))
    ((n < 5)) && n=5
  fi
  "$cfemu" explore "$scenario" --seeds "$n" --jobs "$jobs" --shrink \
    --shrink-dir "$root/build/shrunk" || status=1
done
exit $status
