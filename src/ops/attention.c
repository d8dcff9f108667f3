// attention: the query heads of one KV group against that KV head's cached
// keys and values. The inner loops (f16 row conversion, q.k for the group,
// the weighted sum of values) have AVX2 variants (attention_avx2.c).
#include <math.h>
#include <string.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "ops/ops.h"

#if defined(__x86_64__)
void attn_f16_to_f32_avx2(float *y, const uint16_t *x, int n);
void attn_dots_avx2(const float *q, int n_q, long q_stride, const float *k, int n, float *out);
void attn_axpys_avx2(float *y, long y_stride, int n_q, const float *a, const float *v, int n);
#else
// No AVX2 file is built off x86-64; these are never reached there (simd is false).
#define attn_f16_to_f32_avx2(y, x, n) ((void)0)
#define attn_dots_avx2(q, n_q, qs, k, n, out) ((void)0)
#define attn_axpys_avx2(y, ys, n_q, a, v, n) ((void)0)
#endif

static float dot_f32(const float *q, const float *k, int n) {
  float s = 0;
  for (int i = 0; i < n; i++) s += q[i] * k[i];
  return s;
}

static void axpy_f32(float *y, float a, const float *v, int n) {
  for (int i = 0; i < n; i++) y[i] += a * v[i];
}

// Row j of kv head kvh as f32: in place for an f32 cache, else converted into buf.
static const float *kv_row(const attn_kv *kv, bool simd, const void *base, int64_t row, int dim, int kvh, int64_t j,
                           float *buf) {
  int64_t off = j * row + (int64_t)kvh * dim;
  if (!kv->f16) return (const float *)base + off;
  const uint16_t *h = (const uint16_t *)base + off;
  if (simd) attn_f16_to_f32_avx2(buf, h, dim);
  else
    for (int i = 0; i < dim; i++) buf[i] = fp16_to_fp32(h[i]);
  return buf;
}

void op_attend(const attn_kv *kv, int kvh, const float *q, int n_q, int64_t q_stride, int64_t lo, int64_t hi,
               float *scores, float *row_buf, float *out, int64_t out_stride) {
#if defined(__x86_64__)
  bool simd = cpu_simd_level() >= SIMD_AVX2 && kv->k_dim % 8 == 0 && kv->v_dim % 8 == 0;
#else
  bool simd = false;
#endif
  int64_t n = hi - lo;
  float max[ATTN_MAX_GROUP], inv[ATTN_MAX_GROUP];
  for (int h = 0; h < n_q; h++) max[h] = -INFINITY;
  // Each key row is read (and converted) once for all the query heads sharing it.
  for (int64_t j = lo; j < hi; j++) {
    const float *k = kv_row(kv, simd, kv->k, kv->k_row, kv->k_dim, kvh, j, row_buf);
    float dots[ATTN_MAX_GROUP];
    if (simd) attn_dots_avx2(q, n_q, (long)q_stride, k, kv->k_dim, dots);
    else
      for (int h = 0; h < n_q; h++) dots[h] = dot_f32(q + h * q_stride, k, kv->k_dim);
    for (int h = 0; h < n_q; h++) {
      float s = dots[h] * kv->scale;
      if (kv->softcap > 0) s = kv->softcap * tanhf(s / kv->softcap);
      scores[h * n + j - lo] = s;
      if (s > max[h]) max[h] = s;
    }
  }
  for (int h = 0; h < n_q; h++) {
    double sum = 0;
    float *sc = scores + h * n;
    for (int64_t j = 0; j < n; j++) {
      sc[j] = expf(sc[j] - max[h]);
      sum += sc[j];
    }
    inv[h] = (float)(1.0 / sum);
    memset(out + h * out_stride, 0, sizeof(float) * (size_t)kv->v_dim);
  }
  for (int64_t j = lo; j < hi; j++) {
    const float *v = kv_row(kv, simd, kv->v, kv->v_row, kv->v_dim, kvh, j, row_buf);
    float a[ATTN_MAX_GROUP];
    for (int h = 0; h < n_q; h++) a[h] = scores[h * n + j - lo] * inv[h];
    if (simd) attn_axpys_avx2(out, (long)out_stride, n_q, a, v, kv->v_dim);
    else
      for (int h = 0; h < n_q; h++) axpy_f32(out + h * out_stride, a[h], v, kv->v_dim);
  }
}
