// cpu: which SIMD level the kernels may use, detected once at run time.
// The level can be lowered (never raised past what the CPU has) with the
// environment variable LLMUX_SIMD=scalar|avx2|avx512|amx, or by tests through
// cpu_set_simd_level() to compare every path against the scalar one. AMX is
// AVX-512 plus the AMX-INT8 tile unit (Intel Xeon since Sapphire Rapids),
// which the prompt kernels of some integer types use; it needs the OS to
// grant the process the tile state, which detection asks for.
#ifndef LLMUX_CPU_H
#define LLMUX_CPU_H

enum simd_level { SIMD_SCALAR = 0, SIMD_AVX2 = 1, SIMD_AVX512 = 2, SIMD_AMX = 3 };
#define SIMD_LEVELS 4

// Highest level this CPU supports (cached after the first call).
enum simd_level cpu_max_simd_level(void);
// Level the kernels use now.
enum simd_level cpu_simd_level(void);
// Sets the level the kernels use; clamped to cpu_max_simd_level(). Returns the level set.
enum simd_level cpu_set_simd_level(enum simd_level level);
const char *cpu_simd_name(enum simd_level level);
// AVX-VNNI, the 256-bit vpdpbusd without AVX-512 (Intel since Alder Lake,
// AMD since Zen 5): the avx2 level's integer kernels use it where the CPU
// has it, unless LLMUX_AVXVNNI=0. cpu_set_avxvnni (for tests) is clamped to
// what the CPU has and returns the setting.
int cpu_has_avxvnni(void);
int cpu_avxvnni(void);
int cpu_set_avxvnni(int on);
// Number of online CPUs.
int cpu_count(void);
// Whether the CPU is AMD's (cpuid vendor "AuthenticAMD"): some kernels tune
// their software prefetch by vendor, where the cores' prefetch handling differs.
int cpu_is_amd(void);

#endif
