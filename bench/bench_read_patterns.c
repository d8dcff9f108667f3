// bench_read_patterns: how fast one core reads memory in the order the gemv
// kernels read weights, against a plain linear read of the same buffer. No
// arithmetic: only the loads (and the software prefetches the kernels issue),
// so what it shows is the memory system's, not the kernels'.
//
//   make build   (x86-64 only; it needs AVX-512 to run)
//   build/bench/bench_read_patterns ROW_BYTES [ROWS] [ROUNDS] [GROUP_BYTES]
//   e.g. build/bench/bench_read_patterns 504    (Q4_0 rows of 896: a 16-row tile of 8 KiB)
//        build/bench/bench_read_patterns 2736   (Q4_0 rows of 4864: a tile of 43 KiB)
//
// The AVX-512 gemv reads a tile of ROWS (16) consecutive rows side by side,
// 32 bytes of each row per step (256-bit loads, then transposed), and prefetches either the next tile into L1
// (rows short enough for a tile to fit there) or each row 512 bytes ahead.
// Patterns, over 512 MiB in 2 MiB pages, one thread:
//   linear      one stream, 64-byte loads in address order
//   tiled       the gemv's order, no software prefetch
//   tiled+next  the gemv's order, the next tile prefetched into L1 as it goes
//   tiled+row   the gemv's order, each row prefetched 512 bytes ahead
//   grouped     the gemv's order over a layout that stores, per tile, GROUP_BYTES
//               of each row side by side (blocks regrouped at load), so that a
//               step's reads lie in one contiguous span; prefetched 1 KiB ahead
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define BUF_BYTES ((size_t)512 << 20)
#define ROW_AHEAD 512

enum pattern { TILED, TILED_NEXT, TILED_ROW, GROUPED };

static size_t g_ahead = 1024;
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

__attribute__((noinline)) static __m512i read_linear(const char *p, size_t n) {
  __m512i a = _mm512_setzero_si512(), b = a;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a = _mm512_xor_si512(a, _mm512_load_si512(p + i));
    b = _mm512_xor_si512(b, _mm512_load_si512(p + i + 64));
  }
  return _mm512_xor_si512(a, b);
}

// Tiles of `rows` rows of row_bytes; per step 32 bytes of every row of the
// tile, and the pattern's prefetches (the next tile spread evenly over the
// tile's steps, as the kernels spread it).
__attribute__((noinline)) static __m512i read_tiled(const char *p, size_t n, size_t row_bytes, int rows,
                                                    enum pattern pat) {
  __m256i a = _mm256_setzero_si256();
  size_t tile = row_bytes * (size_t)rows, steps = row_bytes / 32;
  size_t per_step = (tile / 64 + steps - 1) / steps;
  for (size_t t0 = 0; t0 + 2 * tile <= n; t0 += tile) {
    const char *next = p + t0 + tile;
    size_t done = 0;
    for (size_t off = 0; off + 32 <= row_bytes; off += 32) {
      for (int r = 0; r < rows; r++) {
        const char *q = p + t0 + (size_t)r * row_bytes + off;
        if (pat == TILED_ROW && (off & 63) == 0) _mm_prefetch(q + ROW_AHEAD, _MM_HINT_T0);
        a = _mm256_xor_si256(a, _mm256_loadu_si256((const __m256i *)q));
      }
      for (size_t k = 0; pat == TILED_NEXT && k < per_step && done < tile; k++, done += 64)
        _mm_prefetch(next + done, _MM_HINT_T0);
    }
  }
  return _mm512_castsi256_si512(a);
}

// Groups of `rows` x group_bytes, one after another; per step 32 bytes of
// every row of the group, as read_tiled, and a linear prefetch 1 KiB ahead.
__attribute__((noinline)) static __m512i read_grouped(const char *p, size_t n, size_t group_bytes, int rows) {
  __m256i a = _mm256_setzero_si256();
  size_t span = group_bytes * (size_t)rows;
  for (size_t g0 = 0; g0 + span + g_ahead <= n; g0 += span) {
    for (size_t o = 0; o < span; o += 64) _mm_prefetch(p + g0 + g_ahead + o, _MM_HINT_T0);
    for (size_t off = 0; off + 32 <= group_bytes; off += 32)
      for (int r = 0; r < rows; r++)
        a = _mm256_xor_si256(a, _mm256_loadu_si256((const __m256i *)(p + g0 + (size_t)r * group_bytes + off)));
  }
  return _mm512_castsi256_si512(a);
}

static double rate(double t0) { return (double)BUF_BYTES / (now() - t0) / 1e9; }

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s ROW_BYTES [ROWS] [ROUNDS] [GROUP_BYTES]\n", argv[0]);
    return 2;
  }
  size_t row_bytes = (size_t)atol(argv[1]);
  int rows = argc > 2 ? atoi(argv[2]) : 16, rounds = argc > 3 ? atoi(argv[3]) : 3;
  size_t group_bytes = argc > 4 ? (size_t)atol(argv[4]) : 136;
  if (getenv("AHEAD")) g_ahead = (size_t)atol(getenv("AHEAD"));
  if (row_bytes < 64 || rows < 1 || rounds < 1 || row_bytes * (size_t)rows * 2 > BUF_BYTES) {
    fprintf(stderr, "ROW_BYTES >= 64, ROWS and ROUNDS >= 1, and a tile well under 512 MiB\n");
    return 2;
  }
  char *p = mmap(NULL, BUF_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return perror("mmap"), 1;
  madvise(p, BUF_BYTES, MADV_HUGEPAGE);
  memset(p, 1, BUF_BYTES);
  __m512i sink = _mm512_setzero_si512();
  printf("rows of %zu bytes, tiles of %d rows (%.1f KiB), GB/s (share of linear)\n", row_bytes, rows,
         (double)(row_bytes * (size_t)rows) / 1024);
  for (int r = 0; r < rounds; r++) {
    double t0 = now();
    sink = _mm512_xor_si512(sink, read_linear(p, BUF_BYTES));
    double lin = rate(t0), g[3];
    for (int pat = TILED; pat <= TILED_ROW; pat++) {
      t0 = now();
      sink = _mm512_xor_si512(sink, read_tiled(p, BUF_BYTES, row_bytes, rows, (enum pattern)pat));
      g[pat] = rate(t0);
    }
    t0 = now();
    sink = _mm512_xor_si512(sink, read_grouped(p, BUF_BYTES, group_bytes, rows));
    double gr = rate(t0);
    printf("linear %5.1f  tiled %5.1f (%.2f)  tiled+next %5.1f (%.2f)  tiled+row %5.1f (%.2f)  grouped %5.1f (%.2f)\n",
           lin, g[0], g[0] / lin, g[1], g[1] / lin, g[2], g[2] / lin, gr, gr / lin);
  }
  munmap(p, BUF_BYTES);
  return _mm512_reduce_or_epi64(sink) == 0x5a5a ? 3 : 0;  // keeps the reads
}
