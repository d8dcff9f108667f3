#!/usr/bin/env bash
# `make serve [MODEL=path.gguf]`: starts llmux on a model. With no model it
# uses the demo model ../shared/models/stories260K.gguf when present, else
# downloads a small real chat model with `llmux pull`.
# Until `llmux serve` lands (issue 3), this starts an interactive `llmux chat`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/llmux
MODEL=${1:-}
if [ -z "$MODEL" ]; then
  if [ -f ../shared/models/stories260K.gguf ]; then
    MODEL=../shared/models/stories260K.gguf
  else
    MODEL=$("$BIN" pull hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf)
  fi
fi
if "$BIN" --help | grep -q '^  serve '; then
  exec "$BIN" serve -m "$MODEL"
fi
echo "llmux: serving arrives with issue 3; chatting with $MODEL instead (Ctrl-D to end)" >&2
exec "$BIN" chat -m "$MODEL"
