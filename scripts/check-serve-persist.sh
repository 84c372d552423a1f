#!/usr/bin/env bash
# `cfemu serve --persist DIR` survives kill -9: a job added over the admin API, a message whose
# push answered 200, a D1 commit and a KV write made before the kill are all there after a
# restart on the same directory, and the engine then runs the job (on virtual time, moved by
# run-until-idle); `cfemu migrate` then finds a database created over REST. Plain bash
# (/dev/tcp) as the client; every wait is bounded.
set -euo pipefail
cfemu="$1"
dir=$(mktemp -d)
pid=""
trap '[[ -n "$pid" ]] && kill -9 "$pid" 2> /dev/null; rm -rf "$dir"' EXIT
api=/client/v4/accounts/a

start() {
  : > "$dir/out"
  "$cfemu" serve --port 0 --virtual-time --persist "$dir/state" > "$dir/out" 2> "$dir/err" &
  pid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$dir/out" && break
    sleep 0.1
  done
  port=$(sed -n 's|.*listening on http://.*:||p' "$dir/out")
  [[ -n "$port" ]] || { echo "serve did not start" >&2; cat "$dir/err" >&2; exit 1; }
}

request() {  # request METHOD PATH [BODY] -> the whole response
  exec 3<> "/dev/tcp/127.0.0.1/$port"
  printf '%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "$1" "$2" "${#3}" "${3:-}" >&3
  timeout 10 cat <&3
  exec 3<&-
}

expect() {  # expect WHAT RESPONSE PATTERN
  [[ "$2" == *"$3"* ]] || { echo "$1: no '$3' in: $2" >&2; exit 1; }
}

start
queue=$(request GET "$api/queues" "" | grep -o '"queue_id":"[0-9a-f]*","queue_name":"jobs"' |
        head -n 1 | cut -d'"' -f4)
[[ -n "$queue" ]] || { echo "no queue 'jobs'" >&2; exit 1; }
db=$(request GET "$api/d1/database" "" | grep -o '"uuid":"[0-9a-f-]*"' | head -n 1 | cut -d'"' -f4)
kv=$(request GET "$api/storage/kv/namespaces" "" | grep -o '"id":"[0-9a-f]*"' | head -n 1 |
     cut -d'"' -f4)
expect add "$(request POST /admin/v1/queues/jobs/jobs '{"name":"kept","opts":{"jobId":"j1"}}')" \
  '"state":"waiting"'
expect push "$(request POST "$api/queues/$queue/messages" '{"body":{"n":1}}')" " 200 "
expect d1 "$(request POST "$api/d1/database/$db/query" \
  '{"sql":"CREATE TABLE t(a); INSERT INTO t VALUES (?)","params":[42]}')" '"success":true'
expect kv "$(request PUT "$api/storage/kv/namespaces/$kv/values/k" 'kept')" '"success":true'
made=$(request POST "$api/d1/database" '{"name":"made"}' | grep -o '"uuid":"[0-9a-f-]*"' |
       cut -d'"' -f4)
[[ -n "$made" ]] || { echo "no database created over REST" >&2; exit 1; }
kill -9 "$pid"
wait "$pid" 2> /dev/null || true
pid=""

start
expect idle "$(request POST /admin/v1/time/run-until-idle '{}')" '"idle":true'
expect job "$(request GET /admin/v1/queues/jobs/jobs/j1 '')" '"state":"completed"'
# The pushed message is no job's envelope: the engine's consumer quarantined it.
expect message "$(request GET /admin/v1/queues/jobs/dead-letters '')" '"body":"{\"n\":1}"'
expect d1 "$(request POST "$api/d1/database/$db/query" '{"sql":"SELECT a FROM t"}')" '{"a":42}'
expect kv "$(request GET "$api/storage/kv/namespaces/$kv/values/k" '')" 'kept'
kill -TERM "$pid"
wait "$pid"
pid=""
# `cfemu migrate` finds the database created over REST, by name and by id.
expect migrate "$("$cfemu" migrate --persist "$dir/state" --database made)" "applied migration"
expect migrate "$("$cfemu" migrate --persist "$dir/state" --database "$made")" "up to date"
echo "after kill -9: the job ran, the pushed message, the D1 row and the KV value were there;"
echo "migrate found the database created over REST"
