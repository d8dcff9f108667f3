#!/usr/bin/env bash
# llmux run on stories260K reproduces the reference texts (greedy), prints only
# the generated text, and fails cleanly on bad input.
set -euo pipefail
BIN=${LLMUX_BIN:?}; SHARED=${LLMUX_SHARED:-../shared}
M=$SHARED/models/stories260K.gguf
EXP=$SHARED/reference/stories260K.expected.json
fail=0
check() { if [ "$1" != "$2" ]; then echo "FAIL: $3"; echo " got:      $(printf %q "$1")"; echo " expected: $(printf %q "$2")"; fail=1; else echo "ok: $3"; fi; }

expected() { python3 -c "import json,sys; c=[c for c in json.load(open('$EXP'))['cases'] if c['name']=='$1'][0]; sys.stdout.write(c.get('expected_text') or c['expected_text_including_prompt'])"; }

got=$("$BIN" run -m "$M" -p "" -n 200 --temp 0 2>/dev/null)
check "$got" "$(expected bos_only_200_steps)" "bos_only_200_steps"
got=$("$BIN" run -m "$M" -p "Once upon a time" -n 60 --temp 0 2>/dev/null)
check "Once upon a time$got" "$(expected once_upon_a_time_64_positions)" "once_upon_a_time"
got=$("$BIN" run -m "$M" -p "Zoo" -n 57 --temp 0 2>/dev/null)
check "Zoo$got" "$(expected zoo_60_positions)" "zoo"

# Same seed, same output; stop strings cut the text.
a=$("$BIN" run -m "$M" -p "Once" -n 40 --temp 1 --seed 42 2>/dev/null)
b=$("$BIN" run -m "$M" -p "Once" -n 40 --temp 1 --seed 42 2>/dev/null)
check "$a" "$b" "seeded sampling is repeatable"
got=$("$BIN" run -m "$M" -p "Once upon a time" -n 60 --temp 0 --stop "Lily" 2>/dev/null)
check "$got" ", there was a little girl named " "stop string"

# Errors: non-zero exit and a message on stderr, nothing on stdout.
if out=$("$BIN" run -m /nonexistent.gguf -p x 2>/tmp/llmux-err-$$); then echo "FAIL: missing model accepted"; fail=1; fi
grep -q "cannot open" /tmp/llmux-err-$$ && [ -z "$out" ] && echo "ok: missing model" || { echo "FAIL: missing model message"; fail=1; }
if "$BIN" run -m "$M" -p "Once upon a time" -c 4 >/dev/null 2>/tmp/llmux-err-$$; then echo "FAIL: overlong prompt accepted"; fail=1; fi
grep -q "does not fit the context" /tmp/llmux-err-$$ && echo "ok: prompt longer than context" || { echo "FAIL: context message: $(cat /tmp/llmux-err-$$)"; fail=1; }
rm -f /tmp/llmux-err-$$
exit $fail
