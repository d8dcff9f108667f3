// membw: see membw.h.
#include "core/membw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/cpu.h"
#include "core/timing.h"

uint64_t membw_read_avx2(const uint8_t *p, size_t n);

typedef struct {
  const uint8_t *buf;
  size_t bytes;
  uint64_t sink[64];
} read_job;

static uint64_t read_scalar(const uint8_t *p, size_t n) {
  const uint64_t *w = (const uint64_t *)p;
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n / 8; i += 4) a ^= w[i], b ^= w[i + 1], c ^= w[i + 2], d ^= w[i + 3];
  return a ^ b ^ c ^ d;
}

static void read_task(void *arg, int ith, int nth) {
  read_job *j = arg;
  long lo, hi;
  long lines = (long)(j->bytes / 64);
  pool_split(lines, ith, nth, &lo, &hi);
  const uint8_t *p = j->buf + (size_t)lo * 64;
  size_t n = (size_t)(hi - lo) * 64;
#if defined(__x86_64__)
  uint64_t s = cpu_simd_level() >= SIMD_AVX2 ? membw_read_avx2(p, n) : read_scalar(p, n);
#else
  uint64_t s = read_scalar(p, n);
#endif
  j->sink[ith % 64] ^= s;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// In 2 MiB pages where the kernel gives them, as the model's weights are
// mapped (core/filemap.h): the roofline is what the best-mapped read reaches.
static uint8_t *buffer(size_t bytes) {
  void *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) return NULL;
  madvise(buf, bytes, MADV_HUGEPAGE);
  return buf;
}

struct membw_probe {
  uint8_t *buf;
  size_t bytes;
};

membw_probe *membw_probe_new(size_t bytes) {
  membw_probe *b = malloc(sizeof *b);
  if (!b || !(b->buf = buffer(bytes))) {
    free(b);
    return NULL;
  }
  b->bytes = bytes;
  memset(b->buf, 1, bytes);  // commit the pages before timing
  return b;
}

void membw_probe_free(membw_probe *b) {
  if (!b) return;
  munmap(b->buf, b->bytes);
  free(b);
}

double membw_probe_run(membw_probe *b, pool *p, int reps) {
  if (reps < 1) return 0;
  read_job j = {.buf = b->buf, .bytes = b->bytes};
  double *bw = malloc(sizeof *bw * (size_t)reps);
  if (!bw) return 0;
  pool_run(p, read_task, &j);  // warm-up pass
  for (int r = 0; r < reps; r++) {
    int64_t t0 = time_ns();
    pool_run(p, read_task, &j);
    bw[r] = (double)b->bytes / ((double)(time_ns() - t0) * 1e-9);
  }
  qsort(bw, (size_t)reps, sizeof *bw, cmp_double);
  double med = bw[reps / 2];
  free(bw);
  return med;
}

double membw_measure(pool *p, size_t bytes, int reps) {
  membw_probe *b = reps >= 1 ? membw_probe_new(bytes) : NULL;
  double bw = b ? membw_probe_run(b, p, reps) : 0;
  membw_probe_free(b);
  return bw;
}
