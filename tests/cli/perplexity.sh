#!/usr/bin/env bash
# Quantization ground truth: `llmux perplexity` reproduces every value of
# ../shared/reference/perplexity.json (files written by the reference
# quantizer, one per tensor type) to within 0.1%, with the method described
# there (context 128, windows starting with BOS, second half scored).
set -uo pipefail
BIN=${LLMUX_BIN:?}; SHARED=${LLMUX_SHARED:-../shared}
REF=$SHARED/reference/perplexity.json
TOL=${PPL_TOLERANCE_PCT:-0.1}
fail=0
while read -r rel expected; do
  got=$("$BIN" perplexity -m "$SHARED/$rel" -f "$SHARED/reference/story.txt" -c 128 --json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["perplexity"])') || { echo "FAIL: $rel: llmux perplexity failed"; fail=1; continue; }
  verdict=$(python3 -c "g=$got; e=$expected; d=(g-e)/e*100; print(('ok' if abs(d) <= $TOL else 'FAIL') + f': {\"$rel\":42s} {g:10.4f} vs {e:10.4f} ({d:+.4f}%)')")
  echo "$verdict"
  [[ $verdict == ok* ]] || fail=1
done < <(python3 -c "import json; [print(k, v) for k, v in json.load(open('$REF'))['ppl'].items()]")
exit $fail
