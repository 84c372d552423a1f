#!/usr/bin/env bash
# `cfemu migrate` as a user runs it: the first run applies the schema to the persisted D1
# database, the second finds it up to date, and bad input exits with 2.
set -euo pipefail
cfemu="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
first=$("$cfemu" migrate --persist "$dir")
echo "$first"
[[ "$first" == *"applied migration 1"* ]] || { echo "the first run applied nothing" >&2; exit 1; }
ls "$dir"/d1/*.sqlite > /dev/null
second=$("$cfemu" migrate --persist "$dir" --database jobs)
echo "$second"
[[ "$second" == *"up to date"* ]] || { echo "the second run was not a no-op" >&2; exit 1; }
set +e
"$cfemu" migrate --persist "$dir" --database nope 2> /dev/null
code=$?
set -e
[[ $code -eq 2 ]] || { echo "an unknown database gave exit code $code, not 2" >&2; exit 1; }
