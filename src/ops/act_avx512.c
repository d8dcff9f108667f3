// act_avx512: the gated SiLU of act.c, 16 lanes at a time, with the vector
// exp of act_avx2.c (ops/silu_exp.h) operation for operation, so both levels
// give the same bits (the division is correctly rounded at any width).
#include <immintrin.h>
#include <stdint.h>

#include "ops/silu_exp.h"

void op_silu_mul_avx512(float *dst, const float *gate, const float *up, int64_t n);
void op_silu_mul_avx2(float *dst, const float *gate, const float *up, int64_t n);

SILU_EXP_DEFINE(exp_avx512, __m512, _mm512, _mm512_roundscale_ps, _mm512_castsi512_ps)

void op_silu_mul_avx512(float *dst, const float *gate, const float *up, int64_t n) {
  int64_t i = 0;
  const __m512 one = _mm512_set1_ps(1.0f);
  for (; i + 16 <= n; i += 16) {
    __m512 g = _mm512_loadu_ps(gate + i);
    __m512 e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_storeu_ps(dst + i, _mm512_mul_ps(s, _mm512_loadu_ps(up + i)));
  }
  if (i < n) op_silu_mul_avx2(dst + i, gate + i, up + i, n - i);
}
