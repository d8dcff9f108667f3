#!/usr/bin/env bash
# The engine benchmark of docs/PERFORMANCE.md: random-weight models with the
# shapes of Qwen2.5-0.5B and Llama-3.2-1B at F16, Q8_0, Q4_0 and Q4_K, each run
# with `llmux bench` at 1 and 2 threads. Models are written once into
# bench/models/ (about 6 GB in all). Results: one JSON line per run in
# bench/results.jsonl and a table on stdout.
#   SHAPES="qwen2.5-0.5b" TYPES="q8_0" THREADS="2" REPS=5 bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SHAPES=${SHAPES:-"qwen2.5-0.5b llama3.2-1b"}
TYPES=${TYPES:-"f16 q8_0 q4_0 q4_K"}
THREADS=${THREADS:-"1 2"}
REPS=${REPS:-5}
PP=${PP:-512}
TG=${TG:-128}
mkdir -p bench/models
out=bench/results.jsonl
: > "$out"
for shape in $SHAPES; do
  for type in $TYPES; do
    m=bench/models/$shape-$type.gguf
    [ -f "$m" ] || "$BUILD"/bench/llmux-make-model "$shape" "$type" "$m"
    for t in $THREADS; do
      echo "== $shape $type, $t thread(s)" >&2
      "$BUILD"/llmux bench -m "$m" -p "$PP" -n "$TG" -t "$t" -r "$REPS" --json | tee -a "$out"
    done
  done
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| model | threads | mem bw GB/s | pp512 tok/s | pp % of peak (GOP/s) | tg128 tok/s | tg % of roofline |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    pp = f"{r['pp_peak_pct']:.0f}% ({r['pp_gops']:.0f} of {r['peak_gops']:.0f})"
    print(f"| {r['model']} | {r['threads']} | {r['mem_bw_gbs']:.1f} | {r['pp_tps']:.0f} | {pp} | {r['tg_tps']:.1f} |"
          f" {r['tg_roofline_pct']:.0f}% |")
PY
