#!/usr/bin/env bash
# The peak loops (src/ops/peak*.c) that `llmux bench` divides prompt speed by
# must keep their independent chains in the compiled code. GCC 12 once
# merged 12 vpdpbusd chains that started equal into one, and the "peak" was
# then ten times the rate of one dependent chain (1.5x the real one on Zen 5,
# 4.6x on AVX2). Reads the built binary's disassembly: no timing here.
set -uo pipefail
BIN=${LLMUX_BIN:?}
command -v objdump >/dev/null || { echo "FAIL: objdump (binutils) is needed"; exit 1; }
dis=$(mktemp); trap 'rm -f "$dis"' EXIT
objdump -d --no-show-raw-insn "$BIN" > "$dis" || { echo "FAIL: objdump $BIN"; exit 1; }
fail=0
# count FUNCTION MNEMONIC: that instruction's occurrences in the function's body.
count() { awk -v f="<$1>:" -v m="$2" '$2 == f {on = 1; next} on && /^$/ {exit} on && $2 ~ ("^" m "$") {n++} END {print n + 0}' "$dis"; }
expect() {  # FUNCTION MNEMONIC CHAINS
  local n; n=$(count "$1" "$2")
  [ "$n" -ge "$3" ] && echo "ok: $1 has $n $2 (chains: $3)" || { echo "FAIL: $1 has $n $2, its loop counts $3 chains"; fail=1; }
}
if [ "$(uname -m)" = x86_64 ]; then
  expect peak_dot_avx512 vpdpbusd 12
  expect peak_fma_avx512 "vfmadd(132|213|231)ps" 10
  expect peak_fma_avx2 "vfmadd(132|213|231)ps" 10
  expect peak_dot_avx2 vpmaddubsw 8
  expect peak_dot_avxvnni "[{]vex[}]" 8  # objdump prints the VEX form as "{vex} vpdpbusd"
else
  echo "ok: no x86 peak loops on $(uname -m) (the scalar loops are plain C)"
fi
exit $fail
