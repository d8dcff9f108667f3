// attention: one query head against the cached keys and values of its KV head.
// The two inner loops (q.k over positions, and the weighted sum of values)
// have AVX2 variants for fp16 and f32 caches (attention_avx2.c).
#include <math.h>
#include <string.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "ops/ops.h"

float attn_dot_f16_avx2(const float *q, const uint16_t *k, int n);
void attn_axpy_f16_avx2(float *y, float a, const uint16_t *v, int n);
float attn_dot_f32_avx2(const float *q, const float *k, int n);
void attn_axpy_f32_avx2(float *y, float a, const float *v, int n);

static float dot_f16(const float *q, const uint16_t *k, int n) {
  float s = 0;
  for (int i = 0; i < n; i++) s += q[i] * fp16_to_fp32(k[i]);
  return s;
}

static void axpy_f16(float *y, float a, const uint16_t *v, int n) {
  for (int i = 0; i < n; i++) y[i] += a * fp16_to_fp32(v[i]);
}

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
#define attn_dot_f16_avx2 dot_f16
#define attn_axpy_f16_avx2 axpy_f16
#define attn_dot_f32_avx2 dot_f32
#define attn_axpy_f32_avx2 axpy_f32
#endif

static float kv_dot(const attn_kv *kv, bool simd, const float *q, int64_t off) {
  int n = kv->k_dim;
  if (kv->f16) {
    const uint16_t *k = (const uint16_t *)kv->k + off;
    return simd ? attn_dot_f16_avx2(q, k, n) : dot_f16(q, k, n);
  }
  const float *k = (const float *)kv->k + off;
  return simd ? attn_dot_f32_avx2(q, k, n) : dot_f32(q, k, n);
}

static void kv_axpy(const attn_kv *kv, bool simd, float *y, float a, int64_t off) {
  int n = kv->v_dim;
  if (kv->f16) {
    const uint16_t *v = (const uint16_t *)kv->v + off;
    if (simd) attn_axpy_f16_avx2(y, a, v, n);
    else axpy_f16(y, a, v, n);
    return;
  }
  const float *v = (const float *)kv->v + off;
  if (simd) attn_axpy_f32_avx2(y, a, v, n);
  else axpy_f32(y, a, v, n);
}

void op_attend(const attn_kv *kv, int kvh, const float *q, int64_t lo, int64_t hi, float *scores, float *out) {
#if defined(__x86_64__)
  bool simd = cpu_simd_level() >= SIMD_AVX2 && kv->k_dim % 8 == 0 && kv->v_dim % 8 == 0;
#else
  bool simd = false;
#endif
  int64_t k_off = (int64_t)kvh * kv->k_dim, v_off = (int64_t)kvh * kv->v_dim;
  float max = -INFINITY;
  for (int64_t j = lo; j < hi; j++) {
    float s = kv_dot(kv, simd, q, j * kv->k_row + k_off) * kv->scale;
    if (kv->softcap > 0) s = kv->softcap * tanhf(s / kv->softcap);
    scores[j - lo] = s;
    if (s > max) max = s;
  }
  double sum = 0;
  for (int64_t j = lo; j < hi; j++) {
    float e = expf(scores[j - lo] - max);
    scores[j - lo] = e;
    sum += e;
  }
  memset(out, 0, sizeof(float) * (size_t)kv->v_dim);
  float inv = (float)(1.0 / sum);
  for (int64_t j = lo; j < hi; j++) kv_axpy(kv, simd, out, scores[j - lo] * inv, j * kv->v_row + v_off);
}
