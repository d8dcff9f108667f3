// norm: RMS normalization.
#include <math.h>

#include "ops/ops.h"

static inline double sq(float v) { return (double)(v * v); }

float op_rms_scale(const float *x, int64_t n, float eps) {
  // The squares are summed in double as the reference does. It adds them in
  // order; here eight interleaved partial sums (one chain is bound by the
  // add's latency: 4x slower) differ from that by at most a few units in the
  // double's last place, far below the float result's.
  double p0 = 0, p1 = 0, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    p0 += sq(x[i]), p1 += sq(x[i + 1]), p2 += sq(x[i + 2]), p3 += sq(x[i + 3]);
    p4 += sq(x[i + 4]), p5 += sq(x[i + 5]), p6 += sq(x[i + 6]), p7 += sq(x[i + 7]);
  }
  double sum = ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7));
  for (; i < n; i++) sum += sq(x[i]);
  return 1.0f / sqrtf((float)(sum / (double)n) + eps);
}

void op_rms_apply(float *y, const float *x, const float *w, float scale, int64_t n) {
  if (w) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
  }
}

void op_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps) {
  op_rms_apply(y, x, w, op_rms_scale(x, n, eps), n);
}
