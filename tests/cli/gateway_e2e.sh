#!/usr/bin/env bash
# llmux gateway end to end, with real processes on loopback: two `llmux
# serve` workers on stories260K, a misbehaving upstream, a redis-server, and
# three gateways (one alone, two sharing Redis and the key store); then the
# official openai SDK and plain fetch against them (tests/e2e/gateway.mjs).
# Also: a worker that registers itself, and SIGTERM ending a gateway cleanly.
set -euo pipefail
bin=$(realpath "${LLMUX_BIN:?}"); shared=$(realpath "${LLMUX_SHARED:-../shared}")
here=$(cd "$(dirname "$0")" && pwd)
model="$shared/models/stories260K.gguf"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
command -v redis-server >/dev/null || { echo "redis-server is missing: run scripts/deps.sh"; exit 1; }
[ -d "$here/../e2e/node_modules/openai" ] || { echo "tests/e2e/node_modules missing: run scripts/test-setup.sh"; exit 1; }

wait_for() {  # wait_for LOGFILE PATTERN
  for _ in $(seq 150); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  cat "$1"; echo "timed out waiting for '$2'"; exit 1
}
url_of() { sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$1" | head -1; }

worker() {  # worker NAME PORT [extra args]: starts a serve worker, sets $url and $pid
  local name=$1 port=$2; shift 2
  "$bin" serve -m "$model" --port "$port" --parallel 4 --ctx 256 -t 1 "$@" 2>"$work/$name.log" &
  pid=$!; pids+=($pid)
  wait_for "$work/$name.log" ready
  url=$(url_of "$work/$name.log")
}

worker w1 0; w1_url=$url; w1_pid=$pid; w1_port=${url##*:}
worker w2 0; w2_url=$url

node "$here/../e2e/fault_upstream.mjs" > "$work/fault.log" & pids+=($!)
wait_for "$work/fault.log" listening
fault_port=$(awk '{print $2}' "$work/fault.log")

# Fixed ports sit below the ephemeral range (32768-60999), where a client
# connection of this very test may hold the port.
redis_port=$(( 20000 + RANDOM % 6000 ))
redis-server --port "$redis_port" --save '' --appendonly no --bind 127.0.0.1 > "$work/redis.log" 2>&1 & pids+=($!)
wait_for "$work/redis.log" "Ready to accept"

cat > "$work/gateway.yaml" <<EOF
listen: {host: 127.0.0.1, port: 0}
admin_key: admin-secret
store: {path: $work/gateway.db}
health_check: {interval_s: 0.3, timeout_s: 1}
ejection: {consecutive_failures: 2, cooldown_s: 30}
retries: 2
# first_byte_s covers a whole non-streamed generation queued behind others
# (slow when every process is built with the sanitizers); idle_s is what
# the drip fault trips.
timeouts: {connect_s: 1, first_byte_s: 6, idle_s: 1.5}
registry: {ttl_s: 3, key: reg-secret}
aliases: {story: stories260K}
backends:
  - {name: w1, url: $w1_url, models: [stories260K]}
  - {name: w2, url: $w2_url, models: [stories260K]}
  - name: faults
    url: http://127.0.0.1:$fault_port/
    models: [fault-500, fault-garbage, fault-slow, fault-drip, fault-reset, fault-ok]
EOF
sed -e "s#path: $work/gateway.db#path: $work/shared.db#" "$work/gateway.yaml" > "$work/shared.yaml"
printf 'redis: {host: 127.0.0.1, port: %s, prefix: "t:"}\n' "$redis_port" >> "$work/shared.yaml"

"$bin" gateway --check -c "$work/gateway.yaml" >/dev/null
gateway() {  # gateway NAME CONFIG: sets $url and $pid
  "$bin" gateway -c "$2" 2>"$work/$1.log" &
  pid=$!; pids+=($pid)
  wait_for "$work/$1.log" listening
  url=$(url_of "$work/$1.log")
}
gateway gw "$work/gateway.yaml"; gw=$url; gw_pid=$pid
gateway gw2 "$work/shared.yaml"; gw2=$url
gateway gw3 "$work/shared.yaml"; gw3=$url

# Restart w1 on its port when the test asks (after it kill -9'd it).
( while [ ! -f "$work/restart" ]; do sleep 0.1; done
  exec "$bin" serve -m "$model" --port "$w1_port" --parallel 4 --ctx 256 -t 1 2>"$work/w1b.log" ) & pids+=($!)

cd "$here/../e2e"
GW=$gw GW2=$gw2 GW3=$gw3 W1_URL=$w1_url W2_URL=$w2_url W1_PID=$w1_pid W1_RESTART=$work/restart node gateway.mjs

# A worker that registers itself becomes routable, and expires when it stops.
w3_port=$(( 26000 + RANDOM % 6000 ))
"$bin" serve -m "$model" --port "$w3_port" --alias registered --ctx 256 -t 1 --register "$gw" --register-key reg-secret \
  --advertise "http://127.0.0.1:$w3_port" 2>"$work/w3.log" & w3=$!; pids+=($w3)
wait_for "$work/w3.log" ready
key=$(curl -s -X POST -H 'Authorization: Bearer admin-secret' -d '{"name":"reg"}' "$gw/admin/keys" | sed -n 's/.*"key": *"\(sk-lmx-[A-Za-z0-9]*\)".*/\1/p')
ok=""
for _ in $(seq 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
    -d '{"model":"registered","prompt":"Once","max_tokens":3}' "$gw/v1/completions")
  [ "$code" = 200 ] && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || { echo "the registered worker never became routable"; cat "$work/w3.log"; exit 1; }
kill "$w3"; wait "$w3" 2>/dev/null || true
sleep 3.5
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
  -d '{"model":"registered","prompt":"Once","max_tokens":3}' "$gw/v1/completions")
[ "$code" = 404 ] || [ "$code" = 503 ] || { echo "an expired registration still routes ($code)"; exit 1; }
# One more TTL later the gateway forgets it altogether.
gone=""
for _ in $(seq 60); do
  curl -s -H 'Authorization: Bearer admin-secret' "$gw/admin/backends" | grep -q ":$w3_port\"" || { gone=1; break; }
  sleep 0.1
done
[ -n "$gone" ] || { echo "a lapsed registration is still listed"; exit 1; }

kill -TERM "$gw_pid"
rc=0; wait "$gw_pid" || rc=$?
[ "$rc" = 0 ] || { echo "gateway exit code $rc after SIGTERM"; cat "$work/gw.log"; exit 1; }
# Under the sanitizer build (asan/gateway_e2e), any report in a log fails the test.
if grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$work"/*.log; then
  grep -h -A30 "AddressSanitizer\|LeakSanitizer\|runtime error:" "$work"/*.log | head -60; exit 1
fi
echo "gateway e2e: ok"
