// peak: see peak.h. Each thread runs the loop for a fixed count; the rate is
// total operations over the slowest thread's time, the best of 5 runs: the
// peak is what the hardware can do, and on a shared machine a neighbour only
// ever lowers a reading (a median once read 183 of about 400 GFLOP/s when
// three of the five runs met one).
#include "ops/peak.h"

#include <stdlib.h>

#include "core/cpu.h"
#include "core/timing.h"
#include "ops/types.h"

// Each returns the operations it performed (2 per multiply-add).
double peak_fma_avx2(long iters);
double peak_fma_avx512(long iters);
double peak_dot_avx2(long iters);
double peak_dot_avxvnni(long iters);
double peak_dot_avx512(long iters);
double peak_dot_amx(long iters);

// 32 chains with unequal starts (equal ones are merged by the compiler),
// which it vectorizes into 8 chains of 4 lanes: enough to cover the latency
// of a multiply and an add (8 lanes measured 2 vector chains, latency-bound).
#define SCALAR_CHAINS 32
static double fma_scalar(long iters) {
  float a[SCALAR_CHAINS], x = 0.999f, y = 0.5f, sum = 0;
  for (int k = 0; k < SCALAR_CHAINS; k++) a[k] = (float)k;
  for (long i = 0; i < iters; i++) {
#pragma GCC unroll 32  // the chains in registers, not stored and reloaded each step
    for (int k = 0; k < SCALAR_CHAINS; k++) a[k] = a[k] * x + y;
  }
  for (int k = 0; k < SCALAR_CHAINS; k++) sum += a[k];
  volatile float sink = sum;
  (void)sink;
  return 2.0 * SCALAR_CHAINS * (double)iters;
}

static double dot_scalar(long iters) {
  int32_t a[8] = {0}, sum = 0;
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < 8; k++) a[k] += (int8_t)(i + k) * (int8_t)(k - 3);
  for (int k = 0; k < 8; k++) sum += a[k];
  volatile int32_t sink = sum;
  (void)sink;
  return 2.0 * 8 * (double)iters;
}

typedef struct {
  double (*fn)(long);
  long iters;
  double ops[64];
} peak_job;

static void peak_task(void *arg, int ith, int nth) {
  (void)nth;
  peak_job *j = arg;
  j->ops[ith % 64] = j->fn(j->iters);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double measure(pool *p, double (*fn)(long), long iters) {
  peak_job j = {.fn = fn, .iters = iters};
  double rates[5];
  pool_run(p, peak_task, &j);  // warm up (clocks, caches)
  for (int r = 0; r < 5; r++) {
    int64_t t0 = time_ns();
    pool_run(p, peak_task, &j);
    double secs = (double)(time_ns() - t0) * 1e-9, ops = 0;
    for (int t = 0; t < pool_size(p) && t < 64; t++) ops += j.ops[t];
    rates[r] = ops / secs;
  }
  qsort(rates, 5, sizeof *rates, cmp_double);
  return rates[4];
}

// The loop for the current SIMD level; AVX-512 loops do twice the work per step.
static double measure_level(pool *p, double (*avx512)(long), double (*avx2)(long), double (*scalar)(long)) {
#if defined(__x86_64__)
  enum simd_level l = cpu_simd_level();
  if (l >= SIMD_AVX512) return measure(p, avx512, 2000000);
  if (l == SIMD_AVX2) return measure(p, avx2, 4000000);
#else
  (void)avx512, (void)avx2;
#endif
  return measure(p, scalar, 4000000);
}

double peak_f32_fma(pool *p) { return measure_level(p, peak_fma_avx512, peak_fma_avx2, fma_scalar); }
double peak_int8_dot(pool *p) {
#if defined(__x86_64__)
  // The avx2 level's integer kernels take vpdpbusd where the CPU has AVX-VNNI.
  if (cpu_avxvnni()) return measure_level(p, peak_dot_avx512, peak_dot_avxvnni, dot_scalar);
#endif
  return measure_level(p, peak_dot_avx512, peak_dot_avx2, dot_scalar);
}

double peak_int8_amx(pool *p) {
#if defined(__x86_64__)
  if (cpu_simd_level() >= SIMD_AMX) return measure(p, peak_dot_amx, 400000);
#endif
  (void)p;
  return 0;
}

double peak_for_type(pool *p, uint32_t type) {
  return type == T_F32 || type == T_F16 || type == T_BF16 ? peak_f32_fma(p) : peak_int8_dot(p);
}
