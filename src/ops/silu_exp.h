// silu_exp: the constants of the vector exp that act_avx2.c and
// act_avx512.c compute operation for operation, so that both levels give the
// same bits (test_core checks): exp(x) = 2^n * e^r, n = round(x / ln 2),
// r = x - n ln2 in two steps (hi + lo), e^r = 1 + r + r^2 * p(r) with p of
// degree 5 (about 1 ulp over the range SiLU needs). Inputs are clamped so
// that 2^n stays a normal float, where silu is already x or 0 to float precision.
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

#endif
