// silu_exp: the vector exp that act_avx2.c and act_avx512.c compute
// operation for operation, so that both levels give the
// same bits (test_core checks): exp(x) = 2^n * e^r, n = round(x / ln 2),
// r = x - n ln2 in two steps (hi + lo), e^r = 1 + r + r^2 * p(r) with p of
// degree 5 (about 1 ulp over the range SiLU needs). Inputs are clamped so
// that 2^n stays a normal float, where silu is already x or 0 to float
// precision.
#ifndef LLMUX_SILU_EXP_H
#define LLMUX_SILU_EXP_H

#define SILU_EXP_MAX 88.0f
#define SILU_EXP_MIN -87.0f
#define SILU_LOG2E 1.44269504088896341f
#define SILU_LN2_HI 0.693359375f
#define SILU_LN2_LO -2.12194440e-4f
#define SILU_P5 1.9875691500e-4f
#define SILU_P4 1.3981999507e-3f
#define SILU_P3 8.3334519073e-3f
#define SILU_P2 4.1665795894e-2f
#define SILU_P1 1.6666665459e-1f
#define SILU_P0 5.0000001201e-1f

// The exp itself, written once for both widths so that they cannot drift:
// SILU_EXP_DEFINE(name, V, P, ROUND, CASTI) defines `static inline V name(V x)`
// for vector type V with intrinsic prefix P (_mm256, _mm512), its
// round-to-nearest ROUND(v, imm) and its int-to-float cast CASTI.
#define SILU_EXP_DEFINE(name, V, P, ROUND, CASTI)                              \
  static inline V name(V x) {                                                  \
    x = P##_max_ps(P##_min_ps(x, P##_set1_ps(SILU_EXP_MAX)),                   \
                   P##_set1_ps(SILU_EXP_MIN));                                 \
    V n = ROUND(P##_mul_ps(x, P##_set1_ps(SILU_LOG2E)),                        \
                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);                \
    V r = P##_fnmadd_ps(n, P##_set1_ps(SILU_LN2_HI), x);                       \
    r = P##_fnmadd_ps(n, P##_set1_ps(SILU_LN2_LO), r);                         \
    V p = P##_set1_ps(SILU_P5);                                                \
    p = P##_fmadd_ps(p, r, P##_set1_ps(SILU_P4));                              \
    p = P##_fmadd_ps(p, r, P##_set1_ps(SILU_P3));                              \
    p = P##_fmadd_ps(p, r, P##_set1_ps(SILU_P2));                              \
    p = P##_fmadd_ps(p, r, P##_set1_ps(SILU_P1));                              \
    p = P##_fmadd_ps(p, r, P##_set1_ps(SILU_P0));                              \
    p = P##_fmadd_ps(p, P##_mul_ps(r, r), P##_add_ps(r, P##_set1_ps(1.0f)));   \
    return P##_mul_ps(                                                         \
        p, CASTI(P##_slli_epi32(                                               \
               P##_add_epi32(P##_cvtps_epi32(n), P##_set1_epi32(127)), 23)));  \
  }

#endif
