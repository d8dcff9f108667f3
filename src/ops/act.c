// act: element-wise activations and vector arithmetic.
#include <math.h>

#include "core/cpu.h"
#include "ops/ops.h"

void op_silu_mul_avx2(float *gate, const float *up, int64_t n);

void op_silu_mul(float *gate, const float *up, int64_t n) {
#if defined(__x86_64__)
  if (cpu_simd_level() >= SIMD_AVX2) {
    op_silu_mul_avx2(gate, up, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; i++) {
    float g = gate[i];
    gate[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

// GELU, tanh approximation (what Gemma uses).
void op_gelu_mul(float *gate, const float *up, int64_t n) {
  const float k = 0.7978845608028654f;  // sqrt(2/pi)
  for (int64_t i = 0; i < n; i++) {
    float x = gate[i];
    gate[i] = 0.5f * x * (1.0f + tanhf(k * x * (1.0f + 0.044715f * x * x))) * up[i];
  }
}

void op_softcap(float *x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}

void op_add(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void op_mul(float *y, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] *= x[i];
}

void op_scale(float *y, float s, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] *= s;
}
