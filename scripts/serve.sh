#!/usr/bin/env bash
# `make serve [MODEL=path.gguf]`: serves a model over the OpenAI API on
# http://127.0.0.1:8080 (HOST and PORT override). With no model it uses the
# demo model ../shared/models/stories260K.gguf when present, else downloads a
# small real chat model with `llmux pull`.
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
echo "llmux: serving $MODEL; try: curl http://${HOST:-127.0.0.1}:${PORT:-8080}/v1/models" >&2
exec "$BIN" serve -m "$MODEL" --host "${HOST:-127.0.0.1}" --port "${PORT:-8080}"
