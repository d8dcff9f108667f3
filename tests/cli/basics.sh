#!/usr/bin/env bash
# The scriptable CLI: results on stdout, errors on stderr, exit codes.
set -uo pipefail
BIN=${LLMUX_BIN:?}; SHARED=${LLMUX_SHARED:-../shared}
M=$SHARED/models/stories260K.gguf
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
expect_eq() { [ "$1" == "$2" ] && ok "$3" || bad "$3: got '$1', expected '$2'"; }

expect_eq "$("$BIN" tokenize -m "$M" "Once upon a time")" "1 403 407 261 378" "tokenize with BOS"
expect_eq "$("$BIN" tokenize -m "$M" --no-bos "Zoo")" "410 469 347" "tokenize without BOS"
expect_eq "$("$BIN" detokenize -m "$M" 1 403 407 261 378)" "Once upon a time" "detokenize"
"$BIN" info "$M" > "$tmp/info" && grep -q 'general.architecture = "llama"' "$tmp/info" && grep -q 'blk.4.ffn_down.weight' "$tmp/info" \
  && ok "info" || bad "info"
grep -q '^memory: .* KV cache' "$tmp/info" && ok "info shows memory needs" || bad "info memory line"
"$BIN" --help | grep -q "run" && ok "--help" || bad "--help"

# chat reads one message per line and answers each (plain format: no template).
printf 'Once upon a time\nThe dog\n' | "$BIN" chat -m "$M" --temp 0 -n 16 > "$tmp/chat" 2>"$tmp/err"
[ $? -eq 0 ] && [ "$(wc -l < "$tmp/chat")" -ge 2 ] && [ -s "$tmp/chat" ] && ok "chat answers two turns" || bad "chat: $(cat "$tmp/err")"

# Unknown command / option: exit 2 with a message.
"$BIN" frobnicate 2>"$tmp/err"; [ $? -eq 2 ] && grep -q "unknown command" "$tmp/err" && ok "unknown command" || bad "unknown command"
"$BIN" run -m "$M" -p x --bogus 2>"$tmp/err"; [ $? -eq 2 ] && grep -q "bogus" "$tmp/err" && ok "unknown option" || bad "unknown option"
"$BIN" detokenize -m "$M" 99999 2>"$tmp/err"; [ $? -ne 0 ] && grep -q "outside the vocabulary" "$tmp/err" && ok "bad token id" || bad "bad token id"
"$BIN" run -m "$M" -p x -n 1 -t 100000 2>"$tmp/err"; [ $? -ne 0 ] && grep -q "100000 threads asked for; a pool runs 1 to" "$tmp/err" \
  && ! grep -q "out of memory" "$tmp/err" && ok "too many threads" || bad "too many threads: $(cat "$tmp/err")"

# bench without the memory for its bandwidth probe (512 MiB) says so and
# what to do, whether or not it generates, and exits 1.
for n in 4 0; do
  out=$( (ulimit -v 300000; "$BIN" bench -m "$M" -p 8 -n $n -t 1 -r 1) 2>&1 ); rc=$?
  if [ $rc = 1 ] && [[ $out == *"cannot map the 512 MiB buffer that measures memory bandwidth: free some memory"* ]]; then
    ok "bench -n $n without memory for the bandwidth probe: a clear error"
  else
    bad "bench -n $n without memory for the probe: rc $rc, $out"
  fi
done

# bench: JSON with the figures docs/PERFORMANCE.md quotes. A prompt runs every
# layer's products per token and the output projection once (last token's
# logits): stories260K's layers hold 5 x (64x64 x2 + 64x32 x2 + 64x172 x3) =
# 226560 multiply-adds per token, its output 64x512 = 32768, so a 32-token
# prompt does 226560 + 32768 / 32 = 227584 per token.
if "$BIN" bench -m "$M" -p 32 -n 4 -t 1 -r 1 --json > "$tmp/bench" 2>"$tmp/err"; then
  python3 - "$tmp/bench" <<'PY' && ok "bench --json counts the products a prompt runs, its share of the peak beside it and the roofline against the bandwidth beside the run" || bad "bench --json: $(cat "$tmp/bench")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["pp_macs_per_token"] == 227584, r
assert r["pp_tps"] > 0 and r["tg_tps"] > 0 and r["peak_gops"] > 0 and r["mem_bw_gbs"] > 0, r
assert abs(r["pp_gops"] - 2 * r["pp_tps"] * 227584 / 1e9) <= 0.051 + 1e-3 * r["pp_gops"], r
# One run: its share is taken against the peak read beside it, which is the
# peak_gops reported (the reading before all runs is kept apart).
assert r["peak_start_gops"] > 0, r
assert abs(r["pp_peak_pct"] - 100 * r["pp_gops"] / r["peak_gops"]) <= 0.2, r
# One run: its share is taken against the bandwidth read beside it, which is
# the mem_bw_gbs reported (the reading before all runs is kept apart).
assert r["mem_bw_start_gbs"] > 0, r
roof = 100 * r["weight_bytes"] * r["tg_tps"] / (r["mem_bw_gbs"] * 1e9)
assert abs(r["tg_roofline_pct"] - roof) <= 0.06 + 2e-3 * roof, (roof, r)
PY
else
  bad "bench: $(cat "$tmp/err")"
fi

# LLMUX_SIMD lowers the kernel level, never raises it past the CPU's (the
# level bench reports with no setting). A quantized model at the amx level
# also gets the AMX peak and the prompt's share of it.
levels="scalar avx2 avx512 amx"
Q=$SHARED/models/quant/ktest-llama-q4_0.gguf
if "$BIN" bench -m "$Q" -p 32 -n 1 -t 1 -r 1 --json > "$tmp/bq" 2>"$tmp/err"; then
  max=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["simd"])' "$tmp/bq")
  python3 - "$tmp/bq" <<'PY' && ok "bench at $max: AMX peak fields" || bad "bench AMX fields: $(cat "$tmp/bq")"
import json, sys
r = json.load(open(sys.argv[1]))
if r["simd"] == "amx":
    assert r["amx_peak_gops"] > r["peak_gops"] > 0, r
    assert abs(r["pp_amx_peak_pct"] - 100 * r["pp_gops"] / r["amx_peak_gops"]) <= 0.2, r
else:
    assert r["amx_peak_gops"] == 0 and r["pp_amx_peak_pct"] == 0, r
PY
  # The avx2 level reports "avx2+vnni" where the CPU has AVX-VNNI (unless LLMUX_AVXVNNI=0).
  max=${max%+vnni}
  vnni=; grep -qw avx_vnni /proc/cpuinfo && vnni=+vnni
  rank() { n=0; for l in $levels; do [ "$l" == "$1" ] && echo $n; n=$((n + 1)); done; }
  simd_at() { env "$@" "$BIN" bench -m "$M" -p 8 -n 1 -t 1 -r 1 --json 2>/dev/null |
              python3 -c 'import json,sys; print(json.load(sys.stdin)["simd"])'; }
  for want in $levels; do
    got=$(simd_at LLMUX_SIMD=$want)
    expect=$want; [ "$(rank "$want")" -gt "$(rank "$max")" ] && expect=$max
    [ "$expect" = avx2 ] && expect=avx2$vnni
    expect_eq "$got" "$expect" "LLMUX_SIMD=$want runs at $expect"
  done
  if [ "$(rank "$max")" -ge 1 ]; then
    expect_eq "$(simd_at LLMUX_SIMD=avx2 LLMUX_AVXVNNI=0)" avx2 "LLMUX_AVXVNNI=0 keeps the avx2 level off AVX-VNNI"
    LLMUX_SIMD=avx2 LLMUX_AVXVNNI=off "$BIN" run -m "$M" -p Once -n 2 >/dev/null 2>"$tmp/err"
    grep -q "LLMUX_AVXVNNI=off is neither 0 (off) nor 1" "$tmp/err" \
      && ok "an unknown LLMUX_AVXVNNI is named, with the accepted values" || bad "unknown LLMUX_AVXVNNI: $(cat "$tmp/err")"
  fi
  LLMUX_SIMD=avx9000 "$BIN" run -m "$M" -p Once -n 2 >/dev/null 2>"$tmp/err"
  grep -q "LLMUX_SIMD=avx9000 is not a kernel level (scalar, avx2, avx512 or amx); using $max" "$tmp/err" \
    && ok "an unknown LLMUX_SIMD is named, with the accepted values" || bad "unknown LLMUX_SIMD: $(cat "$tmp/err")"
else
  bad "bench on $Q: $(cat "$tmp/err")"
fi

# Hostile model files: one-line error naming the problem, non-zero exit, no crash.
printf 'GGML\3\0\0\0' > "$tmp/badmagic.gguf"
head -c 5000 "$M" > "$tmp/truncated.gguf"
python3 - "$M" "$tmp/hugecount.gguf" <<'PY'
import sys, struct
d = bytearray(open(sys.argv[1], 'rb').read())
d[16:24] = struct.pack('<Q', 1 << 50)   # key-value count
open(sys.argv[2], 'wb').write(d)
PY
for f in badmagic truncated hugecount; do
  for cmd in info "run -p x -m" "tokenize x -m"; do
    out=$("$BIN" $cmd "$tmp/$f.gguf" 2>"$tmp/err"); rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ -z "$out" ] && grep -q "$f.gguf: offset" "$tmp/err" && [ "$(wc -l < "$tmp/err")" -le 2 ]; then
      ok "$cmd on $f: $(head -1 "$tmp/err")"
    else
      bad "$cmd on $f (exit $rc): $(cat "$tmp/err")"
    fi
  done
done
exit $fail
