#!/usr/bin/env bash
# llmux serve refuses what it cannot serve, at start-up, with a clear message
# and a non-zero exit: a chat template it cannot parse or that fails on one
# user message, a missing model file, a busy port, a bad option.
set -euo pipefail
bin=${LLMUX_BIN:?}; shared=${LLMUX_SHARED:-../shared}
model="$shared/models/stories260K.gguf"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

expect_fail() {  # expect_fail WANTED-RC PATTERN ARGS...
  local want=$1 pattern=$2; shift 2
  local rc=0
  "$bin" serve "$@" --port 0 >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = "$want" ] || { echo "serve $*: exit $rc, expected $want"; cat "$work/err"; exit 1; }
  grep -q -- "$pattern" "$work/err" || { echo "serve $*: no '$pattern' in:"; cat "$work/err"; exit 1; }
}

printf '{{ raise_exception("no system message") }}' > "$work/raise.jinja"
printf '{%% for m in messages %%}{{ m.content }' > "$work/broken.jinja"
expect_fail 1 "fails on a single user message: .*no system message" -m "$model" --chat-template "$work/raise.jinja"
expect_fail 1 "cannot be used: .*unterminated" -m "$model" --chat-template "$work/broken.jinja"
expect_fail 1 "no-such-template" -m "$model" --chat-template no-such-template
expect_fail 1 "missing.gguf" -m "$work/missing.gguf"
expect_fail 2 "unknown option" -m "$model" --frobnicate
expect_fail 2 "give a model"
expect_fail 2 "needs --advertise" -m "$model" --register http://127.0.0.1:1
# The gateway refuses a configuration it cannot use, naming the field.
gw_fail() {  # gw_fail WANTED-RC PATTERN ARGS...
  local want=$1 pattern=$2; shift 2
  local rc=0
  "$bin" gateway "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = "$want" ] && grep -q -- "$pattern" "$work/err" || { echo "gateway $*: exit $rc"; cat "$work/err"; exit 1; }
}
printf 'backends:\n  - {name: a, url: ftp://x, models: [m]}\n' > "$work/bad.yaml"
gw_fail 1 "backends\[0\].url: must be an http" --config "$work/bad.yaml" --check
gw_fail 1 "cannot open" --config "$work/missing.yaml"
gw_fail 2 "give the configuration"
# A busy port.
"$bin" serve -m "$model" --port 0 2>"$work/first" & first=$!
for _ in $(seq 100); do grep -q ready "$work/first" && break; sleep 0.1; done
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$work/first" | head -1)
rc=0; "$bin" serve -m "$model" --port "$port" 2>"$work/err" || rc=$?
kill "$first"; wait "$first" || true
[ "$rc" = 1 ] && grep -q "cannot listen" "$work/err" || { echo "busy port: exit $rc"; cat "$work/err"; exit 1; }
echo "serve errors: ok"
