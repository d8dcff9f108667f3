// peak_avx2: register-only loops for peak.c: 10 independent FMA chains (enough
// to cover the FMA latency on two ports), and the int8 dot products of the
// avx2 level's quantized kernels (maddubs+madd, or AVX-VNNI's vpdpbusd). Each chain passes through an
// empty asm every step, or the compiler merges chains that start equal (see
// peak_avx512.c).
#include <immintrin.h>

double peak_fma_avx2(long iters);
double peak_dot_avx2(long iters);
double peak_dot_avxvnni(long iters);

double peak_fma_avx2(long iters) {
  __m256 a0 = _mm256_set1_ps(0.f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(0.5f);
  for (long i = 0; i < iters; i++) {
    a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y), a2 = _mm256_fmadd_ps(a2, x, y);
    a3 = _mm256_fmadd_ps(a3, x, y), a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
    a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y), a8 = _mm256_fmadd_ps(a8, x, y);
    a9 = _mm256_fmadd_ps(a9, x, y);
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8),
                     "+x"(a9));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(_mm256_add_ps(a6, a7), _mm256_add_ps(a8, a9))));
  volatile float sink = _mm256_cvtss_f32(s);
  (void)sink;
  return 2.0 * 8 * 10 * (double)iters;
}

// The int8 dot-product loop: 8 independent chains of one step each, every
// step in asm (in asm the chains share their inputs; as intrinsics the
// compiler computes the product once for all of them). One step is 32 u8 x
// s8 multiply-adds into int32 lanes, as the avx2 level's integer kernels
// do them: maddubs (pairs into int16), madd (pairs into int32) and an add;
// or, where the CPU has AVX-VNNI (cpu_avxvnni), one vpdpbusd, VEX-encoded
// ({vex}: the assembler would otherwise pick the AVX-512 form). An asm
// instruction needs no compiler flag, so both loops live here.
#define DOT_PEAK_DEFINE(name, STEP)                                                           \
  double name(long iters) {                                                                  \
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, \
            a7 = a0, t;                                                                      \
    const __m256i u = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1); \
    for (long i = 0; i < iters; i++) {                                                       \
      STEP(a0); STEP(a1); STEP(a2); STEP(a3); STEP(a4); STEP(a5); STEP(a6); STEP(a7);        \
    }                                                                                        \
    __m256i r = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)), \
                                 _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7))); \
    volatile int sink = _mm256_extract_epi32(r, 0);                                          \
    (void)sink, (void)t, (void)ones;                                                         \
    return 2.0 * 32 * 8 * (double)iters;                                                     \
  }

#define MADDUBS_STEP(acc)                                                                                \
  __asm__ volatile("vpmaddubsw %[s], %[u], %[t]\n\tvpmaddwd %[ones], %[t], %[t]\n\tvpaddd %[t], %[a], %[a]" \
                   : [a] "+x"(acc), [t] "=&x"(t)                                                         \
                   : [u] "x"(u), [s] "x"(s), [ones] "x"(ones))
#define VNNI_STEP(acc) __asm__ volatile("%{vex%} vpdpbusd %[s], %[u], %[a]" : [a] "+x"(acc) : [u] "x"(u), [s] "x"(s))

DOT_PEAK_DEFINE(peak_dot_avx2, MADDUBS_STEP)
DOT_PEAK_DEFINE(peak_dot_avxvnni, VNNI_STEP)
