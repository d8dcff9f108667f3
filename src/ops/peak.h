// peak: the machine's peak arithmetic rate, measured with tight register-only
// loops of the instructions the kernels use: f32 FMA (F32/F16/BF16 weights
// are computed in f32) and int8 dot products (quantized weights: VNNI on
// AVX-512, maddubs+madd on AVX2). `llmux bench` reports prompt processing as
// a share of it. Rates count a multiply-add as 2 operations, per thread.
#ifndef LLMUX_PEAK_H
#define LLMUX_PEAK_H
#include <stdint.h>

#include "core/threadpool.h"

// Operations per second of all the pool's threads together (best of 5 runs).
double peak_f32_fma(pool *p);
double peak_int8_dot(pool *p);
// The AMX tile unit's int8 rate (tdpbssd), 0 below SIMD_AMX. At that level
// the prompt kernels of the quantized types run on it, but every 32 values
// (a K-quant's 256) of each product leave it to be scaled in AVX-512, so
// bench reports prompt speed against both.
double peak_int8_amx(pool *p);
// The peak that applies to a weight type (f32 FMA for float types, int8 otherwise).
double peak_for_type(pool *p, uint32_t type);

#endif
