// core: fp16/bf16 conversions, CPU vendor detection, the thread pool, the text stream (stop strings
// and UTF-8 hold-back) and the sampler chain.
#include <math.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "core/threadpool.h"
#include "engine/textstream.h"
#include "llmux.h"
#include "ops/ops.h"
#include "testutil.h"

static void test_fp16(void) {
  CHECK(fp16_to_fp32(0x3c00) == 1.0f);
  CHECK(fp16_to_fp32(0xc000) == -2.0f);
  CHECK(fp16_to_fp32(0x0001) == 5.9604645e-8f);  // smallest subnormal
  CHECK(isinf(fp16_to_fp32(0x7c00)));
  CHECK(fp16_from_fp32(1.0f) == 0x3c00);
  CHECK(fp16_from_fp32(65504.0f) == 0x7bff);
  CHECK(fp16_from_fp32(1e6f) == 0x7c00);
  CHECK(fp16_from_fp32(5.9604645e-8f) == 0x0001);
  // Every half value round-trips exactly.
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaNs
    if (fp16_from_fp32(fp16_to_fp32((uint16_t)h)) != h) bad++;
  }
  CHECK_MSG(bad == 0, "%d half values do not round-trip", bad);
  // Ties round to even: 1 + 2^-11 lies halfway between 1 and the next half.
  CHECK(fp16_from_fp32(1.0f + 1.0f / 2048) == 0x3c00);
  CHECK(fp16_from_fp32(1.0f + 3.0f / 2048) == 0x3c02);
  CHECK(bf16_to_fp32(bf16_from_fp32(3.140625f)) == 3.140625f);
  CHECK(bf16_from_fp32(1.0f + 1.0f / 256) == 0x3f80);  // tie to even
}

typedef struct {
  _Atomic long sum;
  int hits[8];
} pool_job;

static void pool_task(void *arg, int ith, int nth) {
  pool_job *j = arg;
  long lo, hi;
  pool_split(1000, ith, nth, &lo, &hi);
  for (long i = lo; i < hi; i++) atomic_fetch_add(&j->sum, i);
  j->hits[ith]++;
}

static void test_pool(void) {
  for (int n = 1; n <= 4; n++) {
    pool *p = pool_new(n);
    CHECK(p && pool_size(p) == n);
    pool_job j = {0};
    for (int r = 0; r < 500; r++) pool_run(p, pool_task, &j);
    CHECK(atomic_load(&j.sum) == 500L * 999 * 1000 / 2);
    for (int t = 0; t < n; t++) CHECK(j.hits[t] == 500);
    pool_free(p);
  }
  CHECK(pool_new(POOL_MAX_THREADS + 1) == NULL);
  CHECK_MSG(strstr(llmux_last_error(), "threads asked for"), "error: %s", llmux_last_error());
  long lo, hi, total = 0;
  for (int i = 0; i < 3; i++) pool_split(10, i, 3, &lo, &hi), total += hi - lo;
  CHECK(total == 10);
}

// Balanced splits, taken one thread after another outside a run, where
// every step is known: the plan follows the noted speeds, an owner takes
// its range front first, and then steals the back half of what is left.
static void test_pool_plan_sequential(void) {
  pool *p = pool_new(2);
  long lo, hi;
  pool_plan(p, 100, 1);  // nothing noted: even
  CHECK(pool_take(p, 1, &lo, &hi) && lo == 50 && hi == 62);  // a quarter of 50
  long own = 0;
  while (own < 50 && pool_take(p, 0, &lo, &hi)) {
    CHECK(lo == own);
    own = hi;
  }
  CHECK(own == 50);
  CHECK(pool_take(p, 0, &lo, &hi) && lo == 81 && hi == 100);  // half of [62, 100), from the back
  pool_note(p, 0, 3000, 1000);
  pool_note(p, 1, 1000, 1000);  // a third as fast
  pool_plan(p, 400, 8);  // on grains: the split at 300 rounds to 304, a quarter down to 8s
  CHECK(pool_take(p, 1, &lo, &hi) && lo == 304 && hi == 328);
  CHECK(pool_take(p, 0, &lo, &hi) && lo == 0 && hi == 72);
  pool_note(p, 1, 1, 1000000);  // far slower: still a quarter of the fastest
  pool_plan(p, 500, 1);
  CHECK(pool_take(p, 1, &lo, &hi) && lo >= 390 && lo <= 410);
  pool_free(p);
}

typedef struct {
  pool *p;
  _Atomic int taken[1000];
  long done[4];
  _Atomic int split_grains;  // pieces that do not start and end on grains
} steal_job;

#define STEAL_GRAIN 3

// Thread 1 dawdles over each piece: the others take what it has left.
static void steal_task(void *arg, int ith, int nth) {
  (void)nth;
  steal_job *j = arg;
  long lo, hi;
  while (pool_take(j->p, ith, &lo, &hi)) {
    for (long i = lo; i < hi; i++) atomic_fetch_add(&j->taken[i], 1);
    if (lo % STEAL_GRAIN || (hi % STEAL_GRAIN && hi != 1000)) atomic_fetch_add(&j->split_grains, 1);
    j->done[ith] += hi - lo;
    if (ith == 1) usleep(2000);
  }
}

static void test_pool_steal(void) {
  for (int n = 2; n <= 4; n++) {
    pool *p = pool_new(n);
    static steal_job j;
    memset(&j, 0, sizeof j);
    j.p = p;
    pool_plan(p, 1000, STEAL_GRAIN);
    pool_run(p, steal_task, &j);
    int bad = 0;
    for (int i = 0; i < 1000; i++) bad += atomic_load(&j.taken[i]) != 1;
    CHECK_MSG(bad == 0, "%d units not taken exactly once with %d threads", bad, n);
    CHECK_MSG(atomic_load(&j.split_grains) == 0, "%d pieces split a grain with %d threads", atomic_load(&j.split_grains), n);
    CHECK_MSG(j.done[1] < 1000 / n, "the slow thread did %ld of 1000 units with %d threads", j.done[1], n);
    pool_free(p);
  }
}

typedef struct {
  char out[256];
  size_t len;
  int calls;
} sink;

static bool collect(const char *t, size_t n, void *u) {
  sink *s = u;
  memcpy(s->out + s->len, t, n);
  s->len += n;
  s->out[s->len] = 0;
  s->calls++;
  return true;
}

static void test_textstream(void) {
  const char *stops[] = {"STOP", "\n\n"};
  sink s = {0};
  textstream ts;
  textstream_init(&ts, stops, 2, collect, &s);
  CHECK(textstream_push(&ts, "hello ST", 8));
  CHECK(!strcmp(s.out, "hello "));  // "ST" held back: it may start "STOP"
  CHECK(textstream_push(&ts, "ART and ", 8));
  CHECK(!strcmp(s.out, "hello START and "));
  CHECK(!textstream_push(&ts, "soSTOPx", 7));
  CHECK(!strcmp(s.out, "hello START and so"));
  textstream_finish(&ts);
  CHECK(!strcmp(s.out, "hello START and so"));
  textstream_free(&ts);
  // A split UTF-8 character is held until complete.
  sink u = {0};
  textstream_init(&ts, NULL, 0, collect, &u);
  textstream_push(&ts, "a\xe2\x96", 3);
  CHECK(!strcmp(u.out, "a"));
  textstream_push(&ts, "\x81", 1);
  CHECK(!strcmp(u.out, "a\xe2\x96\x81"));
  textstream_finish(&ts);
  textstream_free(&ts);
}

static void test_sampler(void) {
  float logits[8] = {0.1f, 2.0f, 0.5f, 1.9f, -1.0f, 0.0f, 0.3f, 1.0f};
  llmux_sampler_params p = llmux_sampler_default_params();
  p.temperature = 0;
  llmux_sampler *s = llmux_sampler_new(&p, 8);
  CHECK(llmux_sampler_sample(s, logits) == 1);
  llmux_sampler_free(s);
  // Logit bias bans the best token; penalties push a repeated token down.
  llmux_logit_bias ban = {1, -INFINITY};
  p.logit_bias = &ban;
  p.n_logit_bias = 1;
  s = llmux_sampler_new(&p, 8);
  CHECK(llmux_sampler_sample(s, logits) == 3);
  llmux_sampler_free(s);
  p.logit_bias = NULL, p.n_logit_bias = 0, p.repeat_penalty = 2.0f;
  s = llmux_sampler_new(&p, 8);
  llmux_sampler_accept(s, 1);
  CHECK(llmux_sampler_sample(s, logits) == 3);  // 2.0 / 2 = 1.0 < 1.9
  llmux_sampler_free(s);
  // top-k 1 is greedy whatever the temperature; same seed, same draws.
  p = llmux_sampler_default_params();
  p.top_k = 1, p.temperature = 5.0f, p.seed = 7;
  s = llmux_sampler_new(&p, 8);
  CHECK(llmux_sampler_sample(s, logits) == 1);
  llmux_sampler_free(s);
  p.top_k = 0, p.top_p = 1.0f, p.min_p = 0.0f, p.temperature = 1.0f;
  int a[64], b[64], counts[8] = {0};
  for (int pass = 0; pass < 2; pass++) {
    s = llmux_sampler_new(&p, 8);
    for (int i = 0; i < 64; i++) (pass ? b : a)[i] = llmux_sampler_sample(s, logits);
    llmux_sampler_free(s);
  }
  CHECK(!memcmp(a, b, sizeof a));
  for (int i = 0; i < 64; i++) counts[a[i]]++;
  CHECK(counts[1] > 0 && counts[3] > 0 && counts[1] + counts[3] < 64);  // really sampling
  // top-p 0.5 keeps only the two best (softmax mass of token 1 alone is < 0.5).
  p.top_p = 0.5f;
  s = llmux_sampler_new(&p, 8);
  for (int i = 0; i < 100; i++) {
    int t = llmux_sampler_sample(s, logits);
    CHECK(t == 1 || t == 3);
  }
  llmux_sampler_free(s);
  // min-p 0.5 keeps tokens with p >= 0.5 * p_max: only 1 and 3.
  p.top_p = 1.0f, p.min_p = 0.5f;
  s = llmux_sampler_new(&p, 8);
  for (int i = 0; i < 100; i++) {
    int t = llmux_sampler_sample(s, logits);
    CHECK(t == 1 || t == 3);
  }
  llmux_sampler_free(s);
}

// Each vector SiLU agrees with the scalar one (expf) to a few ulp, and the
// levels with one another to the bit (the same exp, operation for operation);
// at every level its result in place is the one it writes elsewhere.
static void test_silu_levels(void) {
  enum { N = 4099 };  // not a multiple of 16 or 8: the tails too
  static float ref[N], prev[N], g[N], g0[N], d[N], up[N];
  for (int i = 0; i < N; i++) g0[i] = -60.0f + 120.0f * (float)i / N, up[i] = 0.5f + (float)(i % 7);
  cpu_set_simd_level(SIMD_SCALAR);
  op_silu_mul(ref, g0, up, N);
  memcpy(g, g0, sizeof g);
  op_silu_mul(g, g, up, N);
  CHECK_MSG(!memcmp(g, ref, sizeof g), "scalar silu in place differs from out of place");
  for (int l = SIMD_AVX2; l <= (int)cpu_max_simd_level() && l <= SIMD_AVX512; l++) {
    memcpy(g, g0, sizeof g);
    cpu_set_simd_level((enum simd_level)l);
    op_silu_mul(g, g, up, N);
    op_silu_mul(d, g0, up, N);
    CHECK_MSG(!memcmp(g, d, sizeof g), "silu at %s in place differs from out of place", cpu_simd_name((enum simd_level)l));
    double worst = 0;
    for (int i = 0; i < N; i++)
      if (fabsf(ref[i]) > 1e-20f) worst = fmax(worst, fabs((double)g[i] - ref[i]) / fabs((double)ref[i]));
    CHECK_MSG(worst < 2e-6, "silu at %s differs from scalar by %g", cpu_simd_name((enum simd_level)l), worst);
    if (l > SIMD_AVX2)
      CHECK_MSG(!memcmp(g, prev, sizeof g), "silu at %s differs from avx2 in its bits", cpu_simd_name((enum simd_level)l));
    memcpy(prev, g, sizeof g);
  }
  cpu_set_simd_level(cpu_max_simd_level());
}

// cpu_is_amd (which picks the gemv prefetch) agrees with the kernel's
// vendor_id; off x86-64 it is always false.
static void test_cpu_vendor(void) {
#if defined(__x86_64__)
  FILE *f = fopen("/proc/cpuinfo", "r");
  CHECK_MSG(f != NULL, "cannot read /proc/cpuinfo to check the CPU vendor");
  if (!f) return;
  char line[512], vendor[64] = "";
  while (!vendor[0] && fgets(line, sizeof line, f)) sscanf(line, "vendor_id : %63s", vendor);
  fclose(f);
  CHECK_MSG(vendor[0] != 0, "/proc/cpuinfo names no vendor_id");
  CHECK_MSG(cpu_is_amd() == (strcmp(vendor, "AuthenticAMD") == 0), "cpu_is_amd() = %d for vendor %s", cpu_is_amd(),
            vendor);
#else
  CHECK(!cpu_is_amd());
#endif
}

int main(void) {
  test_fp16();
  test_cpu_vendor();
  test_silu_levels();
  test_pool();
  test_pool_plan_sequential();
  test_pool_steal();
  test_textstream();
  test_sampler();
  return tu_finish();
}
