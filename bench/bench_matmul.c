// bench_matmul: times matmul for one weight type and shape.
//
//   make build
//   build/bench/bench_matmul TYPE N_OUT N_IN N_TOKENS THREADS [SECONDS]
//   e.g. build/bench/bench_matmul q4_0 4864 896 1 2
//
// With one token it reports the weight bytes streamed per second; the weights
// are replicated to span 1 GiB so that each call reads them from memory, not
// from the last-level cache (as in a real model, whose layers do not fit), in
// 2 MiB pages (as the engine maps model files), and beside that rate the
// plain streaming read of llmux bench's bandwidth probe, measured just before
// on the same threads, and the kernel's share of it.
// With more tokens it reports GFLOP/s (2 * n_out * n_in * n_tokens per call)
// on one cache-resident copy. LLMUX_SIMD=avx2|scalar lowers the SIMD level;
// BENCH_HOT=1 keeps a single copy for one token too (cache-resident kernel speed).
// BENCH_TILED=1 times the weights in the tiled layout (quant.h), as llmux
// loads them where this machine's kernels read it.
// BENCH_SPAN_MB=N spreads the copies over N MiB instead: until session 13 the
// span was 256 MiB, which read 15-25% faster than a model's weights do (some
// of it stays in a cache the machine has beyond L2); 1 GiB matched the
// model's per-matrix speeds.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/membw.h"
#include "core/threadpool.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/types.h"

static double clock_s(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

static uint32_t parse_type(const char *s) {
  for (uint32_t t = 0; t < T_COUNT; t++)
    if (type_name(t) && !strcasecmp(type_name(t), s)) return t;
  fprintf(stderr, "unknown type %s\n", s);
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s TYPE N_OUT N_IN N_TOKENS THREADS [SECONDS]\n", argv[0]);
    return 2;
  }
  uint32_t type = parse_type(argv[1]);
  int64_t n_out = atoll(argv[2]), n_in = atoll(argv[3]), nt = atoll(argv[4]);
  int threads = atoi(argv[5]);
  double seconds = argc > 6 ? atof(argv[6]) : 1.0;
  if (n_out < 1 || nt < 1 || threads < 1 || n_in < 1 || n_in % type_block_size(type) != 0) {
    fprintf(stderr, "N_OUT, N_TOKENS and THREADS must be positive and N_IN a multiple of %s's block of %lld\n",
            type_name(type), (long long)type_block_size(type));
    return 2;
  }
  size_t rb = type_row_bytes(type, n_in), mat = rb * (size_t)n_out;
  size_t span = getenv("BENCH_SPAN_MB") ? (size_t)atol(getenv("BENCH_SPAN_MB")) << 20 : (size_t)1024 << 20;
  int copies = nt == 1 && !getenv("BENCH_HOT") ? (int)(span / mat) + 1 : 1;
  size_t w_bytes = (mat * (size_t)copies + (2u << 20) - 1) / (2u << 20) * (2u << 20);
  uint8_t *w = mmap(NULL, w_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (w == MAP_FAILED) return perror("mmap"), 1;
  madvise(w, w_bytes, MADV_HUGEPAGE);
  float *row = malloc((size_t)n_in * sizeof *row);
  for (int64_t r = 0; r < n_out; r++) {
    for (int64_t i = 0; i < n_in; i++) row[i] = (float)((r * 31 + i * 17) % 97) / 97.0f - 0.5f;
    quant_quantize(type)(row, w + (size_t)r * rb, n_in);
  }
  mm_weight mw = {.type = type, .n_in = n_in, .n_out = n_out, .row_bytes = rb};
  if (getenv("BENCH_TILED") && atoi(getenv("BENCH_TILED"))) {
    if (!matmul_can_tile(&mw)) return fprintf(stderr, "%s is not tiled on this machine\n", type_name(type)), 2;
    uint8_t *plain = malloc(mat);
    memcpy(plain, w, mat);
    quant_tile_rows(type, plain, w, n_in, n_out);
    free(plain);
    mw.tiled = true;
  }
  for (int c = 1; c < copies; c++) memcpy(w + (size_t)c * mat, w, mat);
  float *x = malloc((size_t)(n_in * nt) * sizeof *x), *y = malloc((size_t)(n_out * nt) * sizeof *y);
  for (int64_t i = 0; i < n_in * nt; i++) x[i] = (float)(i % 13) / 13.0f - 0.5f;
  void *scratch = malloc(matmul_scratch_bytes(type, n_in, nt));
  pool *p = pool_new(threads);
  // The best of 5 trials: the machine is shared, and the best is the kernel's
  // speed. With one thread, the calling thread's CPU time is reported too
  // ("cpu"): it leaves out the time the thread was not running.
  double probe = copies > 1 ? membw_measure(p, (size_t)512 << 20, 3) : 0;
  double per = 1e30, cpu = 1e30;
  long calls = 0;
  for (int trial = 0; trial < 5; trial++) {
    long n = 0;
    double t0 = now(), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), t;
    do {
      mw.data = w + (size_t)(calls++ % copies) * mat;
      matmul(p, &mw, x, n_in, nt, y, n_out, scratch);
      n++;
      t = now() - t0;
    } while (t < seconds / 5);
    if (t / (double)n < per) per = t / (double)n;
    double c = (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)n;
    if (c < cpu) cpu = c;
  }
  double flop = 2.0 * (double)(n_out * n_in * nt);
  printf("%-5s%s %5lld x %5lld  tokens %3lld  threads %d  simd %-6s %8.1f us/call  %6.1f GB/s  %7.1f GFLOP/s",
         type_name(type), mw.tiled ? " tiled" : "", (long long)n_out, (long long)n_in, (long long)nt, threads, cpu_simd_name(cpu_simd_level()),
         per * 1e6, (double)mat / per / 1e9, flop / per / 1e9);
  if (threads == 1) printf("   cpu: %6.1f GB/s %7.1f GFLOP/s", (double)mat / cpu / 1e9, flop / cpu / 1e9);
  if (probe > 0) printf("   probe %5.1f GB/s, share %.2f", probe / 1e9, (double)mat / per / probe);
  printf("\n");
  pool_free(p);
  return 0;
}
