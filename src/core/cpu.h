// cpu: which SIMD level the kernels may use, detected once at run time.
// The level can be lowered (never raised past what the CPU has) with the
// environment variable LLMUX_SIMD=scalar|avx2|avx512, or by tests through
// cpu_set_simd_level() to compare every path against the scalar one.
#ifndef LLMUX_CPU_H
#define LLMUX_CPU_H

enum simd_level { SIMD_SCALAR = 0, SIMD_AVX2 = 1, SIMD_AVX512 = 2 };

// Highest level this CPU supports (cached after the first call).
enum simd_level cpu_max_simd_level(void);
// Level the kernels use now.
enum simd_level cpu_simd_level(void);
// Sets the level the kernels use; clamped to cpu_max_simd_level(). Returns the level set.
enum simd_level cpu_set_simd_level(enum simd_level level);
const char *cpu_simd_name(enum simd_level level);
// Number of online CPUs.
int cpu_count(void);

#endif
