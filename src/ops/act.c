// act: element-wise activations and vector arithmetic.
#include <math.h>

#include "core/cpu.h"
#include "ops/ops.h"

void op_silu_mul_avx2(float *dst, const float *gate, const float *up, int64_t n);
void op_silu_mul_avx512(float *dst, const float *gate, const float *up, int64_t n);

void op_silu_mul(float *dst, const float *gate, const float *up, int64_t n) {
#if defined(__x86_64__)
  if (cpu_simd_level() >= SIMD_AVX512) {
    op_silu_mul_avx512(dst, gate, up, n);
    return;
  }
  if (cpu_simd_level() >= SIMD_AVX2) {
    op_silu_mul_avx2(dst, gate, up, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; i++) {
    float g = gate[i];
    dst[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

// GELU, tanh approximation (what Gemma uses).
void op_gelu_mul(float *dst, const float *gate, const float *up, int64_t n) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  for (int64_t i = 0; i < n; i++) {
    float x = gate[i];
    dst[i] = 0.5f * x * (1.0f + tanhf(k * x * (1.0f + 0.044715f * x * x))) * up[i];
  }
}

void op_softcap(float *x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}

// In steps of 8, which GCC at -O2 turns into vector code (its cheap
// vectorizer leaves a loop of unknown count scalar); restrict: no overlap.
#define ELEMENTWISE(y, x, n, op)                                  \
  do {                                                            \
    int64_t i = 0;                                                \
    for (; i + 8 <= (n); i += 8)                                  \
      for (int k = 0; k < 8; k++) (y)[i + k] op (x)[i + k];       \
    for (; i < (n); i++) (y)[i] op (x)[i];                        \
  } while (0)

void op_add(float *restrict y, const float *restrict x, int64_t n) { ELEMENTWISE(y, x, n, +=); }

void op_mul(float *restrict y, const float *restrict x, int64_t n) { ELEMENTWISE(y, x, n, *=); }

void op_scale(float *y, float s, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] *= s;
}
