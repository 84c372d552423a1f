#!/usr/bin/env bash
# expect-exit.sh CODE COMMAND...: runs COMMAND and succeeds only if it exits with CODE.
set -uo pipefail
expected="$1"
shift
"$@" >/dev/null 2>&1
actual=$?
if [[ "$actual" != "$expected" ]]; then
  echo "expected exit code $expected from: $*; got $actual" >&2
  exit 1
fi
