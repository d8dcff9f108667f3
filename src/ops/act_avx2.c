// act_avx2: the gated SiLU of act.c with a vector exp (ops/silu_exp.h).
#include <immintrin.h>
#include <stdint.h>

#include "ops/silu_exp.h"

void op_silu_mul_avx2(float *dst, const float *gate, const float *up, int64_t n);

SILU_EXP_DEFINE(exp_avx2, __m256, _mm256, _mm256_round_ps, _mm256_castsi256_ps)

void op_silu_mul_avx2(float *dst, const float *gate, const float *up, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i);
    __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), g));
    __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(dst + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; i++) {
    float g = gate[i];
    __m128 e = _mm256_castps256_ps128(exp_avx2(_mm256_set1_ps(-g)));
    dst[i] = g / (1.0f + _mm_cvtss_f32(e)) * up[i];
  }
}
