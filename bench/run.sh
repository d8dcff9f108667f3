#!/usr/bin/env bash
# The engine benchmark of docs/PERFORMANCE.md: random-weight models with the
# shapes of Qwen2.5-0.5B and Llama-3.2-1B at F16, Q8_0, Q4_0 and Q4_K, each run
# with `llmux bench` at 1 and 2 threads. Models are written once into
# bench/models/ (about 6 GB in all). Results: one JSON line per run in
# bench/results.jsonl and a table on stdout.
#   SHAPES="qwen2.5-0.5b" TYPES="q8_0" THREADS="2" REPS=5 bash bench/run.sh
# PASSES=N goes through all the runs N times and the table gives each
# figure's median over the passes, with the range of the two shares: a
# shared machine's slow minutes then fall on different models in each pass
# rather than on all repeats of one (a run of the 16 lasts 4-5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SHAPES=${SHAPES:-"qwen2.5-0.5b llama3.2-1b"}
TYPES=${TYPES:-"f16 q8_0 q4_0 q4_K"}
THREADS=${THREADS:-"1 2"}
REPS=${REPS:-5}
PASSES=${PASSES:-1}
[[ "$PASSES" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: PASSES must be a whole number of passes, 1 or more (got '$PASSES')" >&2; exit 2; }
PP=${PP:-512}
TG=${TG:-128}
mkdir -p bench/models
out=bench/results.jsonl
: > "$out"
for shape in $SHAPES; do
  for type in $TYPES; do
    m=bench/models/$shape-$type.gguf
    [ -f "$m" ] || "$BUILD"/bench/llmux-make-model "$shape" "$type" "$m"
  done
done
for pass in $(seq "$PASSES"); do
  for shape in $SHAPES; do
    for type in $TYPES; do
      for t in $THREADS; do
        echo "== pass $pass of $PASSES: $shape $type, $t thread(s)" >&2
        "$BUILD"/llmux bench -m "bench/models/$shape-$type.gguf" -p "$PP" -n "$TG" -t "$t" -r "$REPS" --json |
          sed "s/^{/{\"pass\": $pass, /" | tee -a "$out"
      done
    done
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
cells = {}  # (model, threads) -> its runs, in the order first run
for line in open(sys.argv[1]):
    r = json.loads(line)
    cells.setdefault((r["model"], r["threads"]), []).append(r)
def med(runs, key):
    return statistics.median(r[key] for r in runs)
def share(runs, key):
    lo, hi = min(r[key] for r in runs), max(r[key] for r in runs)
    return f"{med(runs, key):.0f}%" + (f" [{lo:.0f}-{hi:.0f}]" if len(runs) > 1 else "")
print("| model | threads | mem bw GB/s | pp512 tok/s | pp % of peak (GOP/s) | tg128 tok/s | tg % of roofline |")
print("|---|---|---|---|---|---|---|")
for (model, threads), runs in cells.items():
    pp = f"{share(runs, 'pp_peak_pct')} ({med(runs, 'pp_gops'):.0f} of {med(runs, 'peak_gops'):.0f})"
    print(f"| {model} | {threads} | {med(runs, 'mem_bw_gbs'):.1f} | {med(runs, 'pp_tps'):.0f} | {pp} |"
          f" {med(runs, 'tg_tps'):.1f} | {share(runs, 'tg_roofline_pct')} |")
PY
