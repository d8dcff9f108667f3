// attention_avx2: AVX2/F16C inner loops of attention.c (n a multiple of 8).
#include <immintrin.h>
#include <stdint.h>

void attn_f16_to_f32_avx2(float *y, const uint16_t *x, int n);
void attn_dots_avx2(const float *q, int n_q, long q_stride, const float *k, int n, float *out);
void attn_axpys_avx2(float *y, long y_stride, int n_q, const float *a, const float *v, int n);

static float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void attn_f16_to_f32_avx2(float *y, const uint16_t *x, int n) {
  for (int i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
}

// out[h] = q_h . k for n_q query heads in one call (no call per row and head).
void attn_dots_avx2(const float *q, int n_q, long q_stride, const float *k, int n, float *out) {
  for (int h = 0; h < n_q; h++) {
    const float *qh = q + h * q_stride;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i), _mm256_loadu_ps(k + i), acc);
    out[h] = hsum(acc);
  }
}

// y_h += a[h] * v for n_q heads, each value chunk loaded once for all heads.
void attn_axpys_avx2(float *y, long y_stride, int n_q, const float *a, const float *v, int n) {
  for (int i = 0; i < n; i += 8) {
    __m256 vv = _mm256_loadu_ps(v + i);
    for (int h = 0; h < n_q; h++) {
      float *yh = y + h * y_stride + i;
      _mm256_storeu_ps(yh, _mm256_fmadd_ps(_mm256_set1_ps(a[h]), vv, _mm256_loadu_ps(yh)));
    }
  }
}
