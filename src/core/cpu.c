// cpu: see cpu.h. x86-64 detection uses cpuid and xgetbv, so that a CPU whose
// OS does not save the AVX-512 registers is treated as AVX2 (or scalar).
#include "core/cpu.h"

#include "core/log.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>

#define ARCH_REQ_XCOMP_PERM 0x1023  // linux/arch/x86/include/uapi/asm/prctl.h
#define XFEATURE_XTILEDATA 18

static unsigned long long xgetbv0(void) {
  unsigned int eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

// Linux hands out the 8 KiB of tile state only on request (once per
// process, for all its threads); before that, the first tile instruction faults.
static int amx_permitted(void) {
#if defined(__linux__)
  return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
  return 0;
#endif
}

static int detect(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return SIMD_SCALAR;
  int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
  if (!osxsave || !fma || !f16c) return SIMD_SCALAR;
  unsigned long long xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return SIMD_SCALAR;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return SIMD_SCALAR;
  int avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
  if (!avx2 || !bmi2) return SIMD_SCALAR;
  int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1;
  int avx512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
  int zmm_saved = (xcr0 & 0xe0) == 0xe0;
  if (!(avx512f && avx512dq && avx512bw && avx512vl && vnni && zmm_saved)) return SIMD_AVX2;
  int amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1, tiles_saved = (xcr0 & 0x60000) == 0x60000;
  if (amx_tile && amx_int8 && tiles_saved) {
    if (amx_permitted()) return SIMD_AMX;
    log_info("the CPU has AMX but the OS refused the tile state (arch_prctl): AVX-512 kernels");
  }
  return SIMD_AVX512;
}
#else
static int detect(void) { return SIMD_SCALAR; }
#endif

static _Atomic int g_max = -1;
static _Atomic int g_level = -1;

// *slot, computed by init on first use (-1: not yet). Threads that race
// there compute the same value, so no lock.
static int cached(_Atomic int *slot, int (*init)(void)) {
  int v = atomic_load(slot);
  if (v < 0) {
    v = init();
    atomic_store(slot, v);
  }
  return v;
}

enum simd_level cpu_max_simd_level(void) { return (enum simd_level)cached(&g_max, detect); }

static int level_from_env(void) {
  enum simd_level max = cpu_max_simd_level();
  const char *env = getenv("LLMUX_SIMD");
  if (!env) return max;
  enum simd_level want = max;
  if (!strcmp(env, "scalar")) want = SIMD_SCALAR;
  else if (!strcmp(env, "avx2")) want = SIMD_AVX2;
  else if (!strcmp(env, "avx512")) want = SIMD_AVX512;
  else if (!strcmp(env, "amx")) want = SIMD_AMX;
  else log_warn("LLMUX_SIMD=%s is not a kernel level (scalar, avx2, avx512 or amx); using %s", env, cpu_simd_name(max));
  return want < max ? want : max;
}

enum simd_level cpu_simd_level(void) { return (enum simd_level)cached(&g_level, level_from_env); }

enum simd_level cpu_set_simd_level(enum simd_level level) {
  enum simd_level max = cpu_max_simd_level();
  if (level > max) level = max;
  atomic_store(&g_level, (int)level);
  return level;
}

static int detect_avxvnni(void) {
#if defined(__x86_64__)
  unsigned int a, b, c, d;
  if (cpu_max_simd_level() < SIMD_AVX2 || !__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
  return (a >> 4) & 1;
#else
  return 0;
#endif
}

static _Atomic int g_has_vnni = -1;
static _Atomic int g_vnni = -1;

int cpu_has_avxvnni(void) { return cached(&g_has_vnni, detect_avxvnni); }

// LLMUX_AVXVNNI: "0" turns AVX-VNNI off, "1" (or unset) leaves it on where
// the CPU has it; anything else is named and ignored.
static int avxvnni_from_env(void) {
  const char *env = getenv("LLMUX_AVXVNNI");
  if (env && !strcmp(env, "0")) return 0;
  if (env && strcmp(env, "1") != 0)
    log_warn("LLMUX_AVXVNNI=%s is neither 0 (off) nor 1 (on where the CPU has it); leaving it %s", env,
             cpu_has_avxvnni() ? "on" : "off (this CPU lacks it)");
  return cpu_has_avxvnni();
}

int cpu_avxvnni(void) { return cached(&g_vnni, avxvnni_from_env); }

int cpu_set_avxvnni(int on) {
  int v = on && cpu_has_avxvnni();
  atomic_store(&g_vnni, v);
  return v;
}

const char *cpu_simd_name(enum simd_level level) {
  switch (level) {
  case SIMD_AMX: return "amx";
  case SIMD_AVX512: return "avx512";
  case SIMD_AVX2: return cpu_avxvnni() ? "avx2+vnni" : "avx2";
  default: return "scalar";
  }
}

int cpu_is_amd(void) {
#if defined(__x86_64__)
  unsigned int a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
  char v[13];
  memcpy(v, &b, 4), memcpy(v + 4, &d, 4), memcpy(v + 8, &c, 4);
  v[12] = 0;
  return strcmp(v, "AuthenticAMD") == 0;
#else
  return 0;
#endif
}

int cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}
