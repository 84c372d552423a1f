#!/usr/bin/env bash
# `cfemu serve` as a user runs it: it starts on an ephemeral port and prints the address,
# answers the REST API (403 without the token, 200 with it), and exits 0 on SIGTERM after a
# graceful stop. Plain bash (/dev/tcp) as the client; every wait is bounded.
set -euo pipefail
cfemu="$1"
dir=$(mktemp -d)
pid=""
trap '[[ -n "$pid" ]] && kill -9 "$pid" 2> /dev/null; rm -rf "$dir"' EXIT
"$cfemu" serve --port 0 --token secret > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$dir/out" && break
  sleep 0.1
done
address=$(sed -n 's|.*listening on http://||p' "$dir/out")
[[ -n "$address" ]] || { echo "serve printed no address" >&2; cat "$dir/err" >&2; exit 1; }
port="${address##*:}"

request() {  # request AUTH_HEADER -> the status line
  exec 3<> "/dev/tcp/127.0.0.1/$port"
  printf 'GET /client/v4/accounts/a/queues HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n' \
    "$1" >&3
  timeout 10 head -n 1 <&3
  exec 3<&-
}
denied=$(request "")
[[ "$denied" == *" 403 "* ]] || { echo "without the token: $denied" >&2; exit 1; }
allowed=$(request $'Authorization: Bearer secret\r\n')
[[ "$allowed" == *" 200 "* ]] || { echo "with the token: $allowed" >&2; exit 1; }

kill -TERM "$pid"
set +e
timeout 10 tail --pid="$pid" -f /dev/null
wait "$pid"
code=$?
set -e
pid=""
[[ $code -eq 0 ]] || { echo "serve exited with $code after SIGTERM" >&2; exit 1; }
echo "serve on $address: 403 without the token, 200 with it, exit 0 on SIGTERM"
