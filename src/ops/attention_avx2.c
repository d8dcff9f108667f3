// attention_avx2: AVX2/F16C inner loops of attention.c (n a multiple of 8).
#include <immintrin.h>
#include <stdint.h>

void attn_f16_to_f32_avx2(float *y, const uint16_t *x, int n);
float attn_dot_f32_avx2(const float *q, const float *k, int n);
void attn_axpy_f32_avx2(float *y, float a, const float *v, int n);

static float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void attn_f16_to_f32_avx2(float *y, const uint16_t *x, int n) {
  for (int i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
}

float attn_dot_f32_avx2(const float *q, const float *k, int n) {
  __m256 acc = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), acc);
  return hsum(acc);
}

void attn_axpy_f32_avx2(float *y, float a, const float *v, int n) {
  __m256 va = _mm256_set1_ps(a);
  for (int i = 0; i < n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(v + i), _mm256_loadu_ps(y + i)));
}
