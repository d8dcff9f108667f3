// act_avx512: the gated SiLU of act.c, 16 lanes at a time, with the vector
// exp of act_avx2.c (ops/silu_exp.h) operation for operation, so both levels
// give the same bits (the division is correctly rounded at any width).
#include <immintrin.h>
#include <stdint.h>

#include "ops/silu_exp.h"

void op_silu_mul_avx512(float *gate, const float *up, int64_t n);
void op_silu_mul_avx2(float *gate, const float *up, int64_t n);

static inline __m512 exp_avx512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(SILU_EXP_MAX)), _mm512_set1_ps(SILU_EXP_MIN));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(SILU_LOG2E)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(SILU_LN2_HI), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(SILU_LN2_LO), r);
  __m512 p = _mm512_set1_ps(SILU_P5);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SILU_P4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SILU_P3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SILU_P2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SILU_P1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SILU_P0));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

void op_silu_mul_avx512(float *gate, const float *up, int64_t n) {
  int64_t i = 0;
  const __m512 one = _mm512_set1_ps(1.0f);
  for (; i + 16 <= n; i += 16) {
    __m512 g = _mm512_loadu_ps(gate + i);
    __m512 e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_storeu_ps(gate + i, _mm512_mul_ps(s, _mm512_loadu_ps(up + i)));
  }
  if (i < n) op_silu_mul_avx2(gate + i, up + i, n - i);
}
