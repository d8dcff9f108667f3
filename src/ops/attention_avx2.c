// attention_avx2: AVX2/F16C kernels of attention.c: 8 query rows in the
// lanes of a vector for the scores, 8 output values per vector for the
// weighted sums of values. Each element is one fma chain in the order the
// scalar kernels use, so the results are bit for bit theirs.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "ops/attention_kernels.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")


void attn_f16_to_f32_avx2(float *y, const uint16_t *x, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
  for (; i < n; i++) y[i] = _cvtsh_ss(x[i]);
}

// 8 rows from m0 against 8 keys from j0.
AI void qk_8x8(const float *qt, int mp, int m0, int kd, const float *kf, int j0, float *st, __m256 scale) {
  __m256 acc[8];
  UNROLL
  for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
  const float *k = kf + j0 * kd;
  for (int d = 0; d < kd; d++) {
    __m256 q = _mm256_loadu_ps(qt + d * mp + m0);
    UNROLL
    for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(q, _mm256_broadcast_ss(k + j * kd + d), acc[j]);
  }
  UNROLL
  for (int j = 0; j < 8; j++) _mm256_storeu_ps(st + (j0 + j) * mp + m0, _mm256_mul_ps(acc[j], scale));
}

void attn_qk_avx2(const float *qt, int mp, int m_used, int kd, const float *kf, float *st, float scale) {
  __m256 vs = _mm256_set1_ps(scale);
  for (int m0 = 0; m0 < m_used; m0 += 8)
    for (int j0 = 0; j0 < ATTN_TILE; j0 += 8) qk_8x8(qt, mp, m0, kd, kf, j0, st, vs);
}

// nr rows (<= 4) x 4 vectors of output, over the tile's keys.
AI void pv_rows(const float *st, int mp, int r0, const float *vf, int vd, int c0, float *const *o, const int nr,
                const int nv) {
  __m256 acc[4][4];
  UNROLL
  for (int r = 0; r < nr; r++) {
    UNROLL
    for (int v = 0; v < nv; v++) acc[r][v] = _mm256_loadu_ps(o[r] + c0 + 8 * v);
  }
  for (int j = 0; j < ATTN_TILE; j++) {
    __m256 x[4];
    UNROLL
    for (int v = 0; v < nv; v++) x[v] = _mm256_loadu_ps(vf + j * vd + c0 + 8 * v);
    UNROLL
    for (int r = 0; r < nr; r++) {
      __m256 p = _mm256_broadcast_ss(st + j * mp + r0 + r);
      UNROLL
      for (int v = 0; v < nv; v++) acc[r][v] = _mm256_fmadd_ps(p, x[v], acc[r][v]);
    }
  }
  UNROLL
  for (int r = 0; r < nr; r++) {
    UNROLL
    for (int v = 0; v < nv; v++) _mm256_storeu_ps(o[r] + c0 + 8 * v, acc[r][v]);
  }
}

#define PV_CASE(n)                                                         \
  case n:                                                                  \
    if (wide) pv_rows(st, mp, r0, vf, vd, c0, o, n, 4);                    \
    else pv_rows(st, mp, r0, vf, vd, c0, o, n, 1);                         \
    break;

void attn_pv_avx2(const float *st, int mp, int r0, int nr, const float *vf, int vd, float *const *o) {
  for (int c0 = 0; c0 < vd;) {
    int wide = vd - c0 >= 32;
    switch (nr) {
      PV_CASE(1)
      PV_CASE(2)
      PV_CASE(3)
      default: PV_CASE(4)
    }
    c0 += wide ? 32 : 8;
  }
}

// ---- softmax, 8 rows at a time (see softmax_scalar and exp_neg in attention.c)

AI __m256 exp_neg(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(ATTN_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-ATTN_LN2_HI), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(-ATTN_LN2_LO), r);
  __m256 p = _mm256_set1_ps(ATTN_EXP_C7);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_C6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_C5));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_C4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_C3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(ATTN_EXP_C2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

void attn_softmax_avx2(float *st, int mp, int M, int n, const int32_t *lo, const int32_t *hi) {
  for (int m0 = 0; m0 < M; m0 += 8) {
    __m256i vlo = _mm256_loadu_si256((const __m256i *)(lo + m0)), vhi = _mm256_loadu_si256((const __m256i *)(hi + m0));
    __m256 max = _mm256_set1_ps(-INFINITY);
    for (int j = 0; j < n; j++) {
      __m256i vj = _mm256_set1_epi32(j);
      // valid: lo <= j < hi, i.e. not (lo > j) and (hi > j)
      __m256 k = _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_cmpgt_epi32(vlo, vj), _mm256_cmpgt_epi32(vhi, vj)));
      max = _mm256_blendv_ps(max, _mm256_max_ps(max, _mm256_loadu_ps(st + j * mp + m0)), k);
    }
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (int j = 0; j < n; j++) {
      __m256i vj = _mm256_set1_epi32(j);
      __m256 k = _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_cmpgt_epi32(vlo, vj), _mm256_cmpgt_epi32(vhi, vj)));
      float *s = st + j * mp + m0;
      __m256 e = _mm256_and_ps(k, exp_neg(_mm256_sub_ps(_mm256_loadu_ps(s), max)));
      _mm256_storeu_ps(s, e);
      s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
      s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    __m256d one = _mm256_set1_pd(1.0);
    __m256 inv = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(_mm256_div_pd(one, s0))),
                                      _mm256_cvtpd_ps(_mm256_div_pd(one, s1)), 1);
    for (int j = 0; j < n; j++) _mm256_storeu_ps(st + j * mp + m0, _mm256_mul_ps(_mm256_loadu_ps(st + j * mp + m0), inv));
  }
}
