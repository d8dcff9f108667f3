// attention: one query head against the cached keys and values of its KV head.
// The two inner loops (q.k over positions, and the weighted sum of values)
// have AVX2 variants for fp16 and f32 caches (attention_avx2.c).
#include <math.h>
#include <string.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "ops/ops.h"

float attn_dot_f32_avx2(const float *q, const float *k, int n);
void attn_axpy_f32_avx2(float *y, float a, const float *v, int n);



static float dot_f32(const float *q, const float *k, int n) {
  float s = 0;
  for (int i = 0; i < n; i++) s += q[i] * k[i];
  return s;
}

static void axpy_f32(float *y, float a, const float *v, int n) {
  for (int i = 0; i < n; i++) y[i] += a * v[i];
}

#if !defined(__x86_64__)
// No AVX2 file is built off x86-64: the scalar loops stand in.
#define attn_f16_to_f32_avx2(y, x, n) ((void)0)
#define attn_dot_f32_avx2 dot_f32
#define attn_axpy_f32_avx2 axpy_f32
#endif

void attn_f16_to_f32_avx2(float *y, const uint16_t *x, int n);

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
    for (int h = 0; h < n_q; h++) {
      const float *qh = q + h * q_stride;
      float s = (simd ? attn_dot_f32_avx2(qh, k, kv->k_dim) : dot_f32(qh, k, kv->k_dim)) * kv->scale;
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
    for (int h = 0; h < n_q; h++) {
      float a = scores[h * n + j - lo] * inv[h];
      if (simd) attn_axpy_f32_avx2(out + h * out_stride, a, v, kv->v_dim);
      else axpy_f32(out + h * out_stride, a, v, kv->v_dim);
    }
  }
}
