// attention_kernels: what attention.c shares with its SIMD kernels
// (attention_avx2.c, attention_avx512.c): the tile size, the kernel
// signatures, and the constants of the softmax's exp, which every level
// computes with the same operations (so they must share them). Internal to ops/.
#ifndef LLMUX_ATTENTION_KERNELS_H
#define LLMUX_ATTENTION_KERNELS_H
#include <stdint.h>

#define ATTN_TILE 32  // keys per tile

#define ATTN_LOG2E 1.44269504088896341f
#define ATTN_LN2_HI 0.693145751953125f      // ln 2 rounded to 16 bits of mantissa: n * ATTN_LN2_HI is exact
#define ATTN_LN2_LO 1.428606765330187e-06f  // ln 2 - ATTN_LN2_HI
#define ATTN_EXP_C2 (1.0f / 2)
#define ATTN_EXP_C3 (1.0f / 6)
#define ATTN_EXP_C4 (1.0f / 24)
#define ATTN_EXP_C5 (1.0f / 120)
#define ATTN_EXP_C6 (1.0f / 720)
#define ATTN_EXP_C7 (1.0f / 5040)

// st[j * mp + m] = scale * (q_m . k_j) for the ATTN_TILE keys of kf (rows of
// kd floats) and rows m < m_used (a multiple of 8) of qt (kd x mp).
typedef void (*attn_qk_fn)(const float *qt, int mp, int m_used, int kd, const float *kf, float *st, float scale);
// o[r][0..vd) += sum over the tile's keys j of st[j * mp + r0 + r] * vf[j * vd ..], r < nr.
typedef void (*attn_pv_fn)(const float *st, int mp, int r0, int nr, const float *vf, int vd, float *const *o);
typedef void (*attn_cvt_fn)(float *y, const uint16_t *x, int n);
// Rows m < M of st (n keys; M rounded up to the kernel's lanes is at most mp,
// and lo, hi hold that many entries, the padding rows with no keys): softmax
// over the keys [lo[m], hi[m]), weight 0 elsewhere.
typedef void (*attn_softmax_fn)(float *st, int mp, int M, int n, const int32_t *lo, const int32_t *hi);

#if defined(__x86_64__)
void attn_f16_to_f32_avx2(float *y, const uint16_t *x, int n);
void attn_qk_avx2(const float *qt, int mp, int m_used, int kd, const float *kf, float *st, float scale);
void attn_pv_avx2(const float *st, int mp, int r0, int nr, const float *vf, int vd, float *const *o);
void attn_softmax_avx2(float *st, int mp, int M, int n, const int32_t *lo, const int32_t *hi);
void attn_qk_avx512(const float *qt, int mp, int m_used, int kd, const float *kf, float *st, float scale);
void attn_pv_avx512(const float *st, int mp, int r0, int nr, const float *vf, int vd, float *const *o);
void attn_softmax_avx512(float *st, int mp, int M, int n, const int32_t *lo, const int32_t *hi);
#endif

#endif
