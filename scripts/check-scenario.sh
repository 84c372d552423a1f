#!/usr/bin/env bash
# check-scenario.sh CFEMU SCENARIO [SEED]: runs the scenario at SEED (default 1) twice; passes
# when every required invariant and expectation held and both runs gave the same trace hash.
set -uo pipefail
cfemu="$1"
scenario="$2"
seed="${3:-1}"
hash_of() {
  local out
  out=$("$cfemu" run "$scenario" --seed "$seed" --json)
  local code=$?
  if [[ $code -ne 0 ]]; then
    echo "$out" >&2
    echo "cfemu run $scenario --seed $seed exited with $code" >&2
    return 1
  fi
  sed -n 's/.*"trace_hash":"\([0-9a-f]\{16\}\)".*/\1/p' <<<"$out"
}
first=$(hash_of) || exit 1
second=$(hash_of) || exit 1
echo "$scenario seed $seed: $first, again: $second"
[[ -n "$first" && "$first" == "$second" ]] || { echo "the run did not replay" >&2; exit 1; }
