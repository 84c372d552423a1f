#!/usr/bin/env bash
# Conformance with the official client: installs the pinned `cloudflare` package (npm ci, from
# package-lock.json), starts `cfemu serve --virtual-time` on a free port and runs
# conformance.mjs against it. Exits 77 (skipped) when npm is missing or the install fails
# (no registry), 0 when every check passed, 1 otherwise.
set -euo pipefail
cfemu="$1"
here="$(cd "$(dirname "$0")" && pwd)"
command -v npm > /dev/null || { echo "npm not found: skipped" >&2; exit 77; }
if [[ ! -d "$here/node_modules/cloudflare" ]]; then
  (cd "$here" && timeout 300 npm ci --no-audit --no-fund > /dev/null 2>&1) ||
    { echo "npm ci failed (no registry?): skipped" >&2; exit 77; }
fi
dir=$(mktemp -d)
pid=""
trap '[[ -n "$pid" ]] && kill -9 "$pid" 2> /dev/null; rm -rf "$dir"' EXIT
"$cfemu" serve --port 0 --virtual-time --token conformance > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$dir/out" && break
  sleep 0.1
done
url=$(sed -n 's|.*listening on ||p' "$dir/out")
[[ -n "$url" ]] || { echo "serve did not start" >&2; cat "$dir/err" >&2; exit 1; }
timeout 120 node "$here/conformance.mjs" "$url"
kill -TERM "$pid"
wait "$pid"
pid=""
