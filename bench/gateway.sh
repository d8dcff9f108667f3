#!/usr/bin/env bash
# The gateway benchmark of docs/PERFORMANCE.md: the gateway's own cost in
# front of the fastest upstream we have (llmux-fake-upstream), measured with
# wrk at 64 connections, directly and through the gateway, with a real key
# (lookup, limits and a durable usage record on every request):
#   - requests/s and latency percentiles, and the latency the gateway adds;
#   - SSE pass-through: the time per chunk the gateway adds to a stream;
#   - memory over a soak (SOAK_S seconds, default 600): RSS every 30 s, split
#     into anonymous memory and mapped files (libraries, SQLite's -shm index).
#   DURATION=15 SOAK_S=600 bash bench/gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-15}
SOAK_S=${SOAK_S:-600}
CONNS=${CONNS:-64}
work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/deps.sh"; exit 1; }

"$BUILD"/bench/llmux-fake-upstream 0 1 > "$work/up.txt" & pids+=($!)
for _ in $(seq 50); do [ -s "$work/up.txt" ] && break; sleep 0.1; done
up="http://127.0.0.1:$(awk '{print $2}' "$work/up.txt")"
cat > "$work/gw.yaml" <<YAML
listen: {host: 127.0.0.1, port: 0}
admin_key: bench-admin
store: {path: $work/gw.db}
health_check: {interval_s: 5}
backends:
  - {name: fake, url: $up, models: [bench]}
YAML
${GW_WRAP:-} "$BUILD"/llmux gateway -c "$work/gw.yaml" 2> "$work/gw.log" & gw_pid=$!; pids+=($gw_pid)
for _ in $(seq 50); do grep -q listening "$work/gw.log" && break; sleep 0.1; done
gw=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/gw.log")
key=$(curl -s -X POST -H 'Authorization: Bearer bench-admin' -d '{"name":"bench"}' "$gw/admin/keys" |
      sed -n 's/.*"key": *"\(sk-lmx-[A-Za-z0-9]*\)".*/\1/p')

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}'
wrk.headers["Content-Type"] = "application/json"
LUA
run_wrk() {  # run_wrk LABEL URL [header]; C=connections
  echo "== $1" >&2
  wrk -t "$(( ${C:-$CONNS} < 2 ? 1 : 2 ))" -c "${C:-$CONNS}" -d "${DURATION}s" --latency -s "$work/post.lua" ${3:+-H "$3"} "$2/v1/chat/completions" > "$work/$1.txt"
  local rps p50 p90 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/$1.txt"); p90=$(awk '$1=="90%" {print $2}' "$work/$1.txt"); p99=$(awk '$1=="99%" {print $2}' "$work/$1.txt")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' "$work/$1.txt" | tr '\n' ' ')
  echo "| $1 | $rps | $p50 | $p90 | $p99 | ${errs:-none} |"
}
echo "| path | requests/s | p50 | p90 | p99 | errors |"
echo "|---|---|---|---|---|---|"
run_wrk direct "$up"
run_wrk gateway "$gw" "Authorization: Bearer $key"
# One connection: the latency the gateway adds to a request, without queueing.
C=1 run_wrk direct-1conn "$up"
C=1 run_wrk gateway-1conn "$gw" "Authorization: Bearer $key"

# SSE: one stream of 2000 chunks, 5 times each way; median total time.
stream_ms() {  # stream_ms URL [auth]
  local t=()
  for _ in 1 2 3 4 5; do
    t+=($(curl -s -o /dev/null -w '%{time_total}' ${2:+-H "$2"} -d '{"model":"bench","stream":true,"max_tokens":2000}' "$1/v1/chat/completions"))
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n 3p
}
d=$(stream_ms "$up"); g=$(stream_ms "$gw" "Authorization: Bearer $key")
awk -v d="$d" -v g="$g" 'BEGIN { printf "SSE 2000 chunks: direct %.1f ms, gateway %.1f ms, added %.3f ms per chunk\n", d*1000, g*1000, (g-d)*1000/2000 }'

# Soak: RSS of the gateway under constant load.
if [ "$SOAK_S" -gt 0 ]; then
  echo "soak: ${SOAK_S} s at $CONNS connections; gateway RSS = anonymous + file-backed / store memory (MiB) every 30 s:"
  wrk -t 2 -c "$CONNS" -d "${SOAK_S}s" -s "$work/post.lua" -H "Authorization: Bearer $key" "$gw/v1/chat/completions" > "$work/soak.txt" &
  soak=$!
  while kill -0 "$soak" 2>/dev/null; do
    rss=$(awk '/RssAnon/ {a=$2} /RssFile/ {f=$2} /RssShmem/ {m=$2} END {printf "%.1f=%.1f+%.1f", (a+f+m)/1024, a/1024, (f+m)/1024}' "/proc/$gw_pid/status")
    store=$(curl -s "$gw/metrics" | awk '/^llmux_gateway_store_memory_bytes / {printf "%.1f", $2/1048576}')
    printf '%s/%s ' "$rss" "$store"; sleep 30
  done
  echo; awk '/Requests\/sec|requests in/' "$work/soak.txt"
fi
