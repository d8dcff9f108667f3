// membw_avx2: the streaming read loop of membw.c with 256-bit loads.
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

uint64_t membw_read_avx2(const uint8_t *p, size_t n);

uint64_t membw_read_avx2(const uint8_t *p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(p + i)));
    b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 32)));
    c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(p + i + 64)));
    d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 96)));
  }
  a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  return (uint64_t)_mm256_extract_epi64(a, 0) ^ (uint64_t)_mm256_extract_epi64(a, 3);
}
