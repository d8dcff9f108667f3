// peak_avxvnni: the int8 dot-product loop of peak.c for the avx2 level where
// it uses AVX-VNNI (cpu_avxvnni): 8 independent chains of the 256-bit
// vpdpbusd, VEX-encoded (without {vex} the assembler would pick the AVX-512
// form), each step through asm so that the compiler cannot merge the chains.
#include <immintrin.h>

double peak_dot_avxvnni(long iters);

#define VNNI_STEP(acc) __asm__ volatile("%{vex%} vpdpbusd %[s], %[u], %[a]" : [a] "+x"(acc) : [u] "x"(u), [s] "x"(s))

double peak_dot_avxvnni(long iters) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  const __m256i u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-2);
  for (long i = 0; i < iters; i++) {
    VNNI_STEP(a0);
    VNNI_STEP(a1);
    VNNI_STEP(a2);
    VNNI_STEP(a3);
    VNNI_STEP(a4);
    VNNI_STEP(a5);
    VNNI_STEP(a6);
    VNNI_STEP(a7);
  }
  __m256i r = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                               _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)));
  volatile int sink = _mm256_extract_epi32(r, 0);
  (void)sink;
  return 2.0 * 32 * 8 * (double)iters;
}
