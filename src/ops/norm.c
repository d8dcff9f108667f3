// norm: RMS normalization.
#include <math.h>

#include "ops/ops.h"

void op_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
  float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
  if (w) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
  }
}
