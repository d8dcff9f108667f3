// attention_exp: the constants of the softmax's exp (attention.c and its SIMD
// kernels compute it with the same operations, so they must share them).
#ifndef LLMUX_ATTENTION_EXP_H
#define LLMUX_ATTENTION_EXP_H
#define ATTN_LOG2E 1.44269504088896341f
#define ATTN_LN2_HI 0.693145751953125f      // ln 2 rounded to 16 bits of mantissa: n * ATTN_LN2_HI is exact
#define ATTN_LN2_LO 1.428606765330187e-06f  // ln 2 - ATTN_LN2_HI
#define ATTN_EXP_C2 (1.0f / 2)
#define ATTN_EXP_C3 (1.0f / 6)
#define ATTN_EXP_C4 (1.0f / 24)
#define ATTN_EXP_C5 (1.0f / 120)
#define ATTN_EXP_C6 (1.0f / 720)
#define ATTN_EXP_C7 (1.0f / 5040)
#endif
