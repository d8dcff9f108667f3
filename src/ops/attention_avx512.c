// attention_avx512: AVX-512 kernels of attention.c: 16 query rows in the
// lanes of a vector for the scores (two vectors where 32 rows remain; an
// 8-row tail goes to the AVX2 kernel), 16
// output values per vector for the weighted sums of values. Each element is
// one fma chain in the order the scalar kernels use, so the results are bit
// for bit theirs.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "ops/attention_kernels.h"

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

// acc + q * (the float at p, broadcast), with the broadcast folded into the
// instruction (compilers emit a separate broadcast for the intrinsics).
AI __m512 fmadd_b(__m512 acc, __m512 q, const float *p) {
  __asm__("vfmadd231ps %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(q), "m"(*p));
  return acc;
}

// nm x 16 rows from m0 against 8 keys from j0: with two row vectors each
// key element, broadcast once, feeds two FMAs (16 chains in flight).
AI void qk_rows(const float *qt, int mp, int m0, int kd, const float *kf, int j0, float *st, __m512 scale,
                const int nm) {
  __m512 acc[2][8];
  UNROLL
  for (int i = 0; i < nm; i++) {
    UNROLL
    for (int j = 0; j < 8; j++) acc[i][j] = _mm512_setzero_ps();
  }
  const float *k = kf + j0 * kd;
  for (int d = 0; d < kd; d++) {
    __m512 q[2];
    UNROLL
    for (int i = 0; i < nm; i++) q[i] = _mm512_loadu_ps(qt + d * mp + m0 + 16 * i);
    UNROLL
    for (int j = 0; j < 8; j++) {
      if (nm == 1) {
        acc[0][j] = fmadd_b(acc[0][j], q[0], k + j * kd + d);
        continue;
      }
      __m512 kv = _mm512_set1_ps(k[j * kd + d]);
      UNROLL
      for (int i = 0; i < nm; i++) acc[i][j] = _mm512_fmadd_ps(q[i], kv, acc[i][j]);
    }
  }
  UNROLL
  for (int i = 0; i < nm; i++) {
    UNROLL
    for (int j = 0; j < 8; j++) _mm512_storeu_ps(st + (j0 + j) * mp + m0 + 16 * i, _mm512_mul_ps(acc[i][j], scale));
  }
}

void attn_qk_avx512(const float *qt, int mp, int m_used, int kd, const float *kf, float *st, float scale) {
  __m512 vs = _mm512_set1_ps(scale);
  int m0 = 0;
  for (; m0 + 32 <= m_used; m0 += 32)
    for (int j0 = 0; j0 < ATTN_TILE; j0 += 8) qk_rows(qt, mp, m0, kd, kf, j0, st, vs, 2);
  for (; m0 + 16 <= m_used; m0 += 16)
    for (int j0 = 0; j0 < ATTN_TILE; j0 += 8) qk_rows(qt, mp, m0, kd, kf, j0, st, vs, 1);
  // 8 rows left: the AVX2 kernel on those columns (the same fma chains, so the same bits).
  if (m0 < m_used) attn_qk_avx2(qt + m0, mp, m_used - m0, kd, kf, st + m0, scale);
}

// nr rows (<= 6) x nv vectors of output from c0, over the tile's keys. A
// row's weight is broadcast once into a register for its nv FMAs: folded
// into each FMA it was loaded nv times, and the loads, not the FMAs, bound
// the loop (session 11: this kernel's share of a Q4_0 prompt's samples fell
// by a fifth to a quarter).
AI void pv_rows(const float *st, int mp, int r0, const float *vf, int vd, int c0, float *const *o, const int nr,
                const int nv) {
  __m512 acc[6][4];
  UNROLL
  for (int r = 0; r < nr; r++) {
    UNROLL
    for (int v = 0; v < nv; v++) acc[r][v] = _mm512_loadu_ps(o[r] + c0 + 16 * v);
  }
  for (int j = 0; j < ATTN_TILE; j++) {
    __m512 x[4];
    UNROLL
    for (int v = 0; v < nv; v++) x[v] = _mm512_loadu_ps(vf + j * vd + c0 + 16 * v);
    UNROLL
    for (int r = 0; r < nr; r++) {
      const float *p = st + j * mp + r0 + r;
      if (nv == 1) {
        acc[r][0] = fmadd_b(acc[r][0], x[0], p);
        continue;
      }
      __m512 w = _mm512_set1_ps(*p);
      UNROLL
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(x[v], w, acc[r][v]);
    }
  }
  UNROLL
  for (int r = 0; r < nr; r++) {
    UNROLL
    for (int v = 0; v < nv; v++) _mm512_storeu_ps(o[r] + c0 + 16 * v, acc[r][v]);
  }
}

#define PV_CASE(n)                                      \
  case n:                                               \
    if (wide) pv_rows(st, mp, r0, vf, vd, c0, o, n, 4); \
    else pv_rows(st, mp, r0, vf, vd, c0, o, n, 1);      \
    break;

void attn_pv_avx512(const float *st, int mp, int r0, int nr, const float *vf, int vd, float *const *o) {
  for (int c0 = 0; c0 < vd;) {
    int wide = vd - c0 >= 64;
    switch (nr) {
      PV_CASE(1)
      PV_CASE(2)
      PV_CASE(3)
      PV_CASE(4)
      PV_CASE(5)
      default: PV_CASE(6)
    }
    c0 += wide ? 64 : 16;
  }
}

// ---- softmax, 16 rows at a time (see softmax_scalar and exp_neg in attention.c)

AI __m512 exp_neg(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(ATTN_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-ATTN_LN2_HI), x);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-ATTN_LN2_LO), r);
  __m512 p = _mm512_set1_ps(ATTN_EXP_C7);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_C6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_C5));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_C4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_C3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(ATTN_EXP_C2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

void attn_softmax_avx512(float *st, int mp, int M, int n, const int32_t *lo, const int32_t *hi) {
  for (int m0 = 0; m0 < M; m0 += 16) {
    __m512i vlo = _mm512_loadu_si512(lo + m0), vhi = _mm512_loadu_si512(hi + m0);
    __m512 max = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < n; j++) {
      __m512i vj = _mm512_set1_epi32(j);
      __mmask16 k = _mm512_cmpge_epi32_mask(vj, vlo) & _mm512_cmplt_epi32_mask(vj, vhi);
      max = _mm512_mask_max_ps(max, k, max, _mm512_loadu_ps(st + j * mp + m0));
    }
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int j = 0; j < n; j++) {
      __m512i vj = _mm512_set1_epi32(j);
      __mmask16 k = _mm512_cmpge_epi32_mask(vj, vlo) & _mm512_cmplt_epi32_mask(vj, vhi);
      float *s = st + j * mp + m0;
      __m512 e = _mm512_maskz_mov_ps(k, exp_neg(_mm512_sub_ps(_mm512_loadu_ps(s), max)));
      _mm512_storeu_ps(s, e);
      s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
      s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
    }
    __m512d one = _mm512_set1_pd(1.0);
    __m512 inv = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_div_pd(one, s0))),
                                    _mm512_cvtpd_ps(_mm512_div_pd(one, s1)), 1);
    for (int j = 0; j < n; j++) _mm512_storeu_ps(st + j * mp + m0, _mm512_mul_ps(_mm512_loadu_ps(st + j * mp + m0), inv));
  }
}
