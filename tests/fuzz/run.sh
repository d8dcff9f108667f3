#!/usr/bin/env bash
# Runs one libFuzzer target for a short, bounded time (LLMUX_FUZZ_SECONDS,
# default 20) from a seed corpus of real files. Any crash, leak or sanitizer
# report fails the test; the reproducer is left in the work directory.
set -euo pipefail
bin=$1; name=$2
secs=${LLMUX_FUZZ_SECONDS:-20}
shared=${LLMUX_SHARED:-../shared}
[ -x "$bin" ] || { echo "fuzz target $bin is not built (make build-asan)"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
case "$name" in
  fuzz_gguf)
    # Heads of real files (valid headers and metadata, truncated tensors).
    for f in "$shared"/models/*.gguf "$shared"/models/vocab/ggml-vocab-gpt-2.gguf; do
      head -c 65536 "$f" > "$work/corpus/$(basename "$f")"
    done ;;
  fuzz_tokenizer)
    for f in "$shared"/models/vocab/*.inp; do head -c 4096 "$f" > "$work/corpus/$(basename "$f")"; done ;;
  *)
    for f in "$(dirname "$0")"/corpus/"$name"/*; do [ -f "$f" ] && cp "$f" "$work/corpus/"; done ;;
esac
cd "$work"
"$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus 2>&1 | tail -n 15
