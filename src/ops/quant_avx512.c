// quant_avx512: AVX-512 (F, BW, VL, DQ, VNNI) variants of the quant kernels
// (see quant.h). Only called when the CPU has all of them.
//
// The matrix kernels work on 16 weight rows at once, "row-interleaved": the
// rows' packed bytes are transposed (t16x4) so that each 32-bit lane of a
// vector holds 4 consecutive bytes of one row, then unpacked in place to
// unsigned 8-bit values. A dot product step is then one vpdpbusd of such a
// vector with 4 activation bytes broadcast to all lanes, the per-block scales
// of the 16 rows form one float vector, and the 16 results come out as one
// vector: no horizontal sums anywhere. Weights stored with an offset (Q4_0's
// q - 8, Q8_0's signed bytes, Q6_K's q - 32 ...) are used unsigned and the
// offset comes back through activation sums (act_aux.corr, Q8_K bsums).
//   gemv: up to 8 activation rows; the unpacked vectors feed the products directly.
//   pack/run: prompt batches; a tile is unpacked once per K-chunk into a
//   panel, which then meets a few activation rows per call (for the
//   32-element types a group of them, TILE_GROUP): 32 rows (two
//   halves of 16) x 6 activation rows for the 32-element types, 32 x 12 for
//   the float types, 16 x 8 for the K-quants. The integer panels add each
//   row's terms in the order gemv does, so a row's result is the same bits
//   in any batch (see load16).
// The per-row vec_dot kernels (for callers other than matmul) use 512-bit
// vectors over consecutive blocks.
#include <immintrin.h>
#include <string.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "ops/avx512_rows.h"
#include "ops/quant.h"

#define NC 8      // activation rows per run call
// Elements per K-chunk of an integer panel (the 32-element types' is 160
// KiB, the K-quants' 91) and of a float panel (128 KiB). Each chunk of a
// product reads and writes the outputs once more, and its run calls start
// anew; against chunks of 1024 (and 512 for floats), one thread, 512
// tokens, GFLOP/s, alternating builds: Q8_0 2048 x 2048 484-485 -> 550-554,
// 2048 x 8192 430-432 -> 529-532; Q4_K 2048 x 8192 442-466 -> 510-519; F16
// 2048 x 2048 165 -> 177. That the panel no longer fits L1 costs less.
#define KC 4096
#define KCF 1024

// ---- helpers ---------------------------------------------------------------------------

AI float h2f(uint16_t h) { return _cvtsh_ss(h); }

// acc + dot of the unsigned bytes of w with the 4 signed bytes at p broadcast,
// with the broadcast folded into the instruction as a memory operand, which
// compilers do not emit for this (they issue a separate broadcast; this
// measured up to 10% faster where each broadcast feeds one product).
AI __m512i dpbusd_b(__m512i acc, __m512i w, const void *p) {
  __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)p));
  return acc;
}

// Streaming prefetch for gemv. The 16 rows read side by side are 16 slow
// streams, which the hardware prefetcher follows poorly (a plain read of 16
// interleaved rows of 0.5-1 KB reaches about 60% of sequential bandwidth on
// an Intel Xeon; with no software prefetch, an AMD Zen 5 core streamed Q8_0
// weights at half the speed). But a tile of rows is one contiguous region, so
// while one tile is computed a later one is prefetched linearly, spread over
// the block steps. Which one, and into which level, is the core's:
//   Intel (Sapphire Rapids): the tile after next, into L2; the next into L1
//   measured 5-9% slower in generation (Qwen2.5-0.5B Q4_0, 504-byte rows).
//   AMD (Zen 5): the next tile, into L1; the tile after next into L2 measured
//   6-8% slower on Qwen2.5-0.5B Q4_0 and 8-20% on Llama-3.2-1B Q4_K.
//   But a tile larger than L1 (48 KiB; 16 rows of a feed-forward down
//   projection, 44-139 KiB) evicts itself from there before it is read, so
//   there each row of the 32-element types is prefetched PF_ROW_AHEAD bytes
//   ahead of its reads instead (medians of 7, GB/s, out of cache): Q8_0
//   2048 x 8192 24.6 against 18.8, 896 x 4864 26.4 / 20.7; Q5_0 1.20-1.33x,
//   Q4_1 1.15x, Q4_0 1.06-1.08x. Tiles of 34 KiB measured the same, smaller
//   ones slower, and the K-quants 0.66-0.86x (they keep the next tile).
//   Tiled weights (quant.h) read as one stream, which is prefetched
//   PF_AHEAD bytes ahead of the reads: in bench_read_patterns 2-16 KiB read
//   the grouped order at 0.78-0.93 of a linear read, 1 KiB at 0.70; in the
//   kernels (shares of the probe, long rows) 8 KiB gave Q8_0 0.71-0.79 and
//   Q4_0 0.82-0.92, 4 KiB 0.68 and 0.75-0.79, 16-32 KiB about as 8 with
//   more spread. But once the tiles' columns were loaded as 256-bit halves
//   (tcol), the hardware alone streamed rows of up to about 2 KiB faster
//   (us per call, weights spread over 1 GiB, one thread, with against
//   without): Q8_0 4864 x 896 170, 163 -> 149, 143; 151936 x 896 5300,
//   5115 -> 4817, 4540; 8192 x 2048 651-743 -> 606-634 (two threads 336-354
//   -> 317-328); Q4_0 8192 x 2048 373-377 -> 317-367, Q4_1 and Q5_1
//   4864 x 896 10-12% faster. Longer rows still gain from it: Q4_0
//   2048 x 8192 427, 434 against 460, 467 without, Q8_0 695, 770 against
//   748, 808, Q4_0 896 x 4864 104-110 against 110-129.
//   The K-quants' tiles are the exception: they stream at half the speed
//   without software prefetch, so they always have it (gemvKt_n).
#define PF_STREAM_MIN_ROW 2304
#define PF_TILE_L1 (40 * 1024)
#define PF_ROW_AHEAD 512
#define PF_AHEAD 8192
typedef struct {
  const char *p, *end;
  int lines, rows;  // rows: per-row prefetch, not the next tile
  const char *t;    // tiled: the read position + PF_AHEAD
} prefetcher;

static int g_pf_near;  // AMD: next tile into L1 (set by quant_avx512_table)

AI void pf_init(prefetcher *pf, const void *w, size_t stride, int64_t r0, int64_t nr, size_t block_bytes,
                int rows_ok) {
  int64_t ahead = g_pf_near ? 16 : 32;
  int64_t first = r0 + ahead < nr ? r0 + ahead : nr, last = r0 + ahead + 16 < nr ? r0 + ahead + 16 : nr;
  pf->p = (const char *)w + (size_t)first * stride;
  pf->end = (const char *)w + (size_t)last * stride;
  pf->lines = (int)((16 * block_bytes + 63) / 64);
  pf->rows = rows_ok && g_pf_near && 16 * stride > PF_TILE_L1;
}

// Tiled weights: the stream of the nr rows at w, prefetched ahead of reads
// that have consumed `done` bytes more; rows of up to min_row bytes are left
// to the hardware prefetchers.
AI void pf_stream_init(prefetcher *pf, const void *w, size_t stride, int64_t nr, size_t min_row) {
  pf->p = pf->t = w;
  pf->end = (const char *)w + (stride > min_row ? (size_t)nr * stride : 0);
}

AI void pf_stream(prefetcher *pf, size_t done) {
  pf->t += done;
  const char *stop = pf->t < pf->end ? pf->t : pf->end;
  for (; pf->p < stop; pf->p += 64) _mm_prefetch(pf->p, _MM_HINT_T0);
}

AI void pf_step(prefetcher *pf) {
  if (g_pf_near)
    for (int i = 0; i < pf->lines && pf->p < pf->end; i++, pf->p += 64) _mm_prefetch(pf->p, _MM_HINT_T0);
  else
    for (int i = 0; i < pf->lines && pf->p < pf->end; i++, pf->p += 64) _mm_prefetch(pf->p, _MM_HINT_T1);
}

// The prefetch for a step that reads bytes [off, off + span) of each row
// (`steps` steps of the tile prefetch). Past a row's end the per-row
// prefetch touches the next row's start, which is read soon after, or
// memory beside the matrix, which prefetches may name without faulting.
AI void pf_advance(prefetcher *pf, const rows16 *R, size_t off, size_t span, int steps) {
  if (!pf->rows) {
    for (int i = 0; i < steps; i++) pf_step(pf);
    return;
  }
  UNROLL
  for (int r = 0; r < 16; r++) {
    const char *p = (const char *)R->r[r] + off + PF_ROW_AHEAD;
    for (size_t o = 0; o < span; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);  // every line of a long span
    _mm_prefetch(p + span - 1, _MM_HINT_T0);
  }
}

// One block's products with one activation block: the int32 sums per row.
// Four chains of two: a block's sums are ready sooner, so more blocks
// overlap (tiled gemv in L2: Q4_0 68-71 -> 75-77 GB/s, Q8_0 86-89 -> 92-93,
// against two chains of four). Integer sums: the same bits in any order.
AI __m512i dot8(const __m512i W[8], const int8_t *qs, __m512i init) {
  __m512i s[4] = {init, _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
  UNROLL
  for (int k = 0; k < 8; k++) s[k % 4] = dpbusd_b(s[k % 4], W[k], qs + 4 * k);
  return _mm512_add_epi32(_mm512_add_epi32(s[0], s[1]), _mm512_add_epi32(s[2], s[3]));
}

// Activation block b: quants and (Q8_1) the block size differ.
AI const int8_t *act_qs(const void *a, int64_t b, int q81) {
  return q81 ? ((const block_q8_1 *)a)[b].qs : ((const block_q8_0 *)a)[b].qs;
}

// Token c's activation row and side data.
AI const void *act_row(const void *a, size_t a_stride, int c) { return (const uint8_t *)a + (size_t)c * a_stride; }
AI const act_aux *aux_row(const act_aux *aux, size_t aux_stride, int c) {
  return (const act_aux *)((const uint8_t *)aux + (size_t)c * aux_stride);
}

// acc += the products of one unpacked block with token block x (Q8_0 or Q8_1).
AI __m512 block32(__m512 acc, const __m512i W[8], __m512 D, __m512 M, const int8_t *qs, const act_aux *x, int q81) {
  __m512i s = dot8(W, qs, q81 ? _mm512_setzero_si512() : _mm512_set1_epi32(x->corr));
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(D, _mm512_set1_ps(x->d)), acc);
  return q81 ? _mm512_fmadd_ps(M, _mm512_set1_ps(x->s), acc) : acc;
}

// acc[c] += block b of the unpacked rows with each activation row c.
AI void gemv32_block(__m512 *acc, const __m512i W[8], __m512 D, __m512 M, int64_t b, const void *a, size_t a_stride,
                     const act_aux *aux, size_t aux_stride, int q81, const int nc) {
  UNROLL
  for (int c = 0; c < nc; c++)
    acc[c] = block32(acc[c], W, D, M, act_qs(act_row(a, a_stride, c), b, q81), aux_row(aux, aux_stride, c) + b, q81);
}

// Blocks are unpacked two at a time (pair32 in avx512_rows.h) and still add
// in order, one at a time.
AI void gemv32_n(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride,
                 const act_aux *aux, size_t aux_stride, float *y, int64_t ldy, unpack32_fn unpack, int q81,
                 size_t bytes, pair32_load_fn load, pair32_fn pair, quad32_load_fn qload, quad32_fn quad,
                 const int nc) {
  for (int64_t r0 = 0; r0 < nr; r0 += 16) {
    rows16 R;
    rows16_init(&R, (const uint8_t *)w + (size_t)r0 * stride, stride, nr - r0);
    prefetcher pf;
    pf_init(&pf, w, stride, r0, nr, bytes, 1);
    __m512 acc[NC];
    UNROLL
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    int64_t b = 0, nb = n / QK;
    // Quads for one token only: beside 4-8 activation rows the quad's
    // vectors spill and it measured 10-20% slower than pairs.
    for (; qload && nc == 1 && b + 3 < nb; b += 4) {
      pf_advance(&pf, &R, (size_t)b * bytes, 4 * bytes, 4);
      quad32 Q;
      qload(&R, (size_t)b * bytes, &Q);
      UNROLL
      for (int i = 0; i < 4; i++) {
        __m512i W[8];
        __m512 D, M;
        quad(&Q, i, W, &D, &M);
        gemv32_block(acc, W, D, M, b + i, a, a_stride, aux, aux_stride, q81, nc);
      }
    }
    for (; b + 1 < nb; b += 2) {
      pf_advance(&pf, &R, (size_t)b * bytes, 2 * bytes, 2);
      pair32 P;
      load(&R, (size_t)b * bytes, &P);
      __m512i W[8];
      __m512 D, M;
      pair(&P, 1, W, &D, &M);
      gemv32_block(acc, W, D, M, b, a, a_stride, aux, aux_stride, q81, nc);
      pair(&P, 0, W, &D, &M);
      gemv32_block(acc, W, D, M, b + 1, a, a_stride, aux, aux_stride, q81, nc);
    }
    for (; b < nb; b++) {
      pf_advance(&pf, &R, (size_t)b * bytes, bytes, 1);
      __m512i W[8];
      __m512 D, M;
      unpack(&R, b, W, &D, &M);
      gemv32_block(acc, W, D, M, b, a, a_stride, aux, aux_stride, q81, nc);
    }
    UNROLL
    for (int c = 0; c < nc; c++) store16(y + c * ldy + r0, acc[c], nr - r0, 0);
  }
}

// Long rows, one token: four tiles at once, each block of the input read
// once for all four. A tile of rows longer than PF_STREAM_MIN_ROW streams
// more than L1 between two reads of the same input block, so tile by tile
// the input row came back from L2 for every tile (with the input confined to
// 32 of 152 blocks, timing only, Q8_0 896 x 4864 took 175 us against 205).
// Four tiles side by side are four streams, each prefetched as the single
// one is (weights over 1 GiB, one thread, us per call, tile by tile against
// four at once): Q8_0 896 x 4864 165, 166 -> 140, 138 (two threads 87.5,
// 87.4 -> 83.2, 86.3); Q8_0 2048 x 8192 682, 695 -> 507, 557; Q4_0
// 2048 x 8192 402, 393 -> 305, 322; Q5_0 896 x 4864 128, 135 -> 98, 98;
// Q4_0 896 x 4864 94, 100 -> 83, 87. Two at once gained about half as
// much; on short rows four streams were 15-30% slower than one.
// Each stream is prefetched a quarter as far ahead as a single one, so that
// the four keep as much in flight in L1 as one does: 8 KiB each (32 KiB of
// the 48 KiB L1) pushed out lines before they were read (GB/s, one thread,
// 2 KiB against 8 KiB each): Q4_0 2048 x 8192 33.3 against 30.6, 896 x
// 4864 31.5 / 28.7, Q8_0 the same shapes 33.3 / 29.3 and 33.9 / 31.7; two
// threads Q4_0 52.5-56.9 / 47.5-52.9, Q8_0 54.4-60.6 / 49.4-57.4. 1.5 KiB
// measured about as 2, 1 KiB and 3 KiB lower.
#define GEMV_GROUP 4

AI void gemv32t_group(int64_t nb, const uint8_t *tile0, size_t tile_bytes, size_t blk, const void *a,
                      const act_aux *aux, float *y, int q81, tunpack32_fn tunpack) {
  __m512 acc[GEMV_GROUP][1];
  prefetcher pf[GEMV_GROUP];
  UNROLL
  for (int t = 0; t < GEMV_GROUP; t++) {
    pf_stream_init(&pf[t], tile0 + (size_t)t * tile_bytes, tile_bytes, 1, PF_STREAM_MIN_ROW);
    pf_stream(&pf[t], PF_AHEAD / GEMV_GROUP);
    acc[t][0] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; b++) {
    UNROLL
    for (int t = 0; t < GEMV_GROUP; t++) {
      pf_stream(&pf[t], blk);
      __m512i W[8];
      __m512 D, M;
      tunpack(tile0 + (size_t)t * tile_bytes + (size_t)b * blk, 16, W, &D, &M);
      gemv32_block(acc[t], W, D, M, b, a, 0, aux, 0, q81, 1);
    }
  }
  UNROLL
  for (int t = 0; t < GEMV_GROUP; t++) store16(y + 16 * t, acc[t][0], 16, 0);
}

// The nb blocks of a tile of nt rows with nc activation rows, into acc.
AI void gemv32t_tile(__m512 *acc, const uint8_t *tile, int nt, int64_t nb, size_t bytes, const void *a,
                     size_t a_stride, const act_aux *aux, size_t aux_stride, int q81, tunpack32_fn tunpack,
                     prefetcher *pf, const int nc) {
  size_t blk = (size_t)nt * bytes;
  UNROLL
  for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    pf_stream(pf, blk);
    __m512i W[8];
    __m512 D, M;
    tunpack(tile + (size_t)b * blk, nt, W, &D, &M);
    gemv32_block(acc, W, D, M, b, a, a_stride, aux, aux_stride, q81, nc);
  }
}

// gemv32_n for blocks stored transposed (tunpack): one block a step, the
// tiles read front to back as one stream (long rows: four streams, above).
AI void gemv32t_n(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride,
                  const act_aux *aux, size_t aux_stride, float *y, int64_t ldy, int q81, tunpack32_fn tunpack,
                  const int nc) {
  int64_t nb = n / QK, r0 = 0;
  size_t bytes = stride / (size_t)nb;
  if (nc == 1 && stride > PF_STREAM_MIN_ROW)
    for (; r0 + 16 * GEMV_GROUP <= nr; r0 += 16 * GEMV_GROUP)
      gemv32t_group(nb, (const uint8_t *)w + (size_t)r0 * stride, 16 * stride, 16 * bytes, a, aux, y + r0, q81,
                    tunpack);
  prefetcher pf;
  pf_stream_init(&pf, (const uint8_t *)w + (size_t)r0 * stride, stride, nr - r0, PF_STREAM_MIN_ROW);
  pf_stream(&pf, PF_AHEAD);
  for (; r0 < nr; r0 += 16) {
    const uint8_t *tile = (const uint8_t *)w + (size_t)r0 * stride;
    __m512 acc[NC];
    if (nr - r0 >= 16)  // nt a constant: in L2, Q5_0 12.5-12.8 -> 11.1-11.6 us (512 x 2048), Q4_0 7.5 -> 7.2
      gemv32t_tile(acc, tile, 16, nb, bytes, a, a_stride, aux, aux_stride, q81, tunpack, &pf, nc);
    else
      gemv32t_tile(acc, tile, (int)(nr - r0), nb, bytes, a, a_stride, aux, aux_stride, q81, tunpack, &pf, nc);
    UNROLL
    for (int c = 0; c < nc; c++) store16(y + c * ldy + r0, acc[c], nr - r0, 0);
  }
}

// Tiles of 32 rows (the panel of avx512_rows.h): each activation word,
// broadcast once, feeds both halves: 12 independent sums for 6 activation
// rows, measured 14-19% faster than 16 rows x 8 (one vpdpbusd per broadcast).
#define QROWS 32
#define QCOLS 6

// The run kernels read their activations grouped (TILE_GROUP in quant.h):
// a call's six rows side by side, block by block, as two streams where
// plain rows were twelve, and written in one pass by act_group (quantizing,
// then scattering and summing the quants again took a tenth of a 896 x 896
// product). Q4_0, one thread, 512 tokens, GFLOP/s, medians of 5, plain rows
// / grouped by quant_act_tile's scatter / grouped by act_group: 896 x 896
// 537.7 / 534.0 / 559.4; 896 x 4864 489.7 / 491.1 / 510.1; 4864 x 896
// 564.2 / 576.0 / 573.6.
_Static_assert(QCOLS == QUANT_GROUP_ROWS, "a run call reads one group");
AI const int8_t *group_qs(const void *a, int64_t b, int c) {
  return (const int8_t *)a + (size_t)(b * QUANT_GROUP_ROWS + c) * QK;
}
AI const act_aux *group_aux(const act_aux *aux, int64_t b, int c) { return aux + b * QUANT_GROUP_ROWS + c; }
// Their quantizers (quant_gemm.act_group), with the activation quantizers below.
static void group_q8_0(const float *src, int64_t n, int bias, int64_t b0, int r, void *group, act_aux *aux);
static void group_q8_1(const float *src, int64_t n, int bias, int64_t b0, int r, void *group, act_aux *aux);
static void group_rows_q8_0(const float *src, int n, int bias, int64_t b, void *group, act_aux *aux);
static void group_rows_q8_1(const float *src, int n, int bias, int64_t b, void *group, act_aux *aux);

// A block's int32 sums start from the unsigned offset's correction (Q8_0-style types) or 0 (Q8_1).
AI void sums32_init(__m512i s[2][QCOLS], const act_aux *aux, int64_t b, int q81, const int nc) {
  UNROLL
  for (int c = 0; c < nc; c++)
    s[0][c] = s[1][c] = q81 ? _mm512_setzero_si512() : _mm512_set1_epi32(group_aux(aux, b, c)->corr);
}

// The int32 sums of one panel block (both halves) with nc activation blocks.
AI void sums32(const __m512i *p, const void *a, const act_aux *aux, int64_t b, int q81, __m512i s[2][QCOLS],
               const int nc) {
  sums32_init(s, aux, b, q81, nc);
  UNROLL
  for (int k = 0; k < 8; k++) {
    __m512i w0 = _mm512_load_si512(p + k), w1 = _mm512_load_si512(p + 8 + k);
    UNROLL
    for (int c = 0; c < nc; c++) {
      __m512i x = bcast32(group_qs(a, b, c) + 4 * k);
      s[0][c] = _mm512_dpbusd_epi32(s[0][c], w0, x);
      s[1][c] = _mm512_dpbusd_epi32(s[1][c], w1, x);
    }
  }
}

// A block's int32 sums, scaled, into the tile's float sums: acc[h][c] +=
// s x D x d (+ M x the activations' sum for Q8_1).
AI void scale32(__m512 acc[2][QCOLS], __m512i s[2][QCOLS], const __m512 D[2], const __m512 M[2], const act_aux *aux,
                int64_t b, int q81, const int nc) {
  UNROLL
  for (int h = 0; h < 2; h++) {
    UNROLL
    for (int c = 0; c < nc; c++) {
      const act_aux *x = group_aux(aux, b, c);
      acc[h][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[h][c]), _mm512_mul_ps(D[h], _mm512_set1_ps(x->d)), acc[h][c]);
      if (q81) acc[h][c] = _mm512_fmadd_ps(M[h], _mm512_set1_ps(x->s), acc[h][c]);
    }
  }
}

AI void acc32_load(__m512 acc[2][QCOLS], const float *y, int64_t ldy, int nr, int accum, const int nc) {
  UNROLL
  for (int c = 0; c < nc; c++) {
    acc[0][c] = load16(y + c * ldy, nr, accum);
    acc[1][c] = load16(y + c * ldy + 16, nr - 16, accum);
  }
}

AI void acc32_store(__m512 acc[2][QCOLS], float *y, int64_t ldy, int nr, const int nc) {
  UNROLL
  for (int c = 0; c < nc; c++) {
    store16(y + c * ldy, acc[0][c], nr, 0);
    if (nr > 16) store16(y + c * ldy + 16, acc[1][c], nr - 16, 0);
  }
}

AI void run32_n(const void *panel, int nr, int64_t k0, int64_t kn, const void *a, const act_aux *aux, float *y,
                int64_t ldy, int accum, int q81, const int nc) {
  __m512 acc[2][QCOLS];
  acc32_load(acc, y, ldy, nr, accum, nc);
  const __m512i *p = panel;
  for (int64_t b = k0 / QK; b < (k0 + kn) / QK; b++, p += P32_VECS) {
    __m512i s[2][QCOLS];
    sums32(p, a, aux, b, q81, s, nc);
    __m512 D[2] = {_mm512_load_ps(p + 16), _mm512_load_ps(p + 17)};
    __m512 M[2] = {_mm512_load_ps(p + 18), _mm512_load_ps(p + 19)};
    scale32(acc, s, D, M, aux, b, q81, nc);
  }
  acc32_store(acc, y, ldy, nr, nc);
}

// The run kernel of the tiled layout: its 16-row tiles read in place, a
// quarter block at a time (tquarter), with no panel. Each call unpacks the
// quants again (an and and a shift per vector of nibbles, Q8_0 an xor),
// where packing wrote and read back 1.25 bytes per weight (Q4_0 holds
// 0.56) and each thread packed every tile of its slice. Qwen2.5-0.5B Q4_0,
// pp512, two threads, alternating: 1.04 x the packed panels' tokens/s. A
// whole block's eight vectors per half (tunpack) spilled registers: 0.89.
AI void run32t_n(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, const void *a, const act_aux *aux,
                 float *y, int64_t ldy, int accum, int q81, tquarter_fn quarter, size_t bytes, const int nc) {
  // Rows 0-15 and 16-31; a tile of 16 rows or fewer repeats the first half,
  // which is never stored. A full tile's row count is a constant (nr = 32).
  int nt[2] = {nr < 16 ? nr : 16, nr - 16};
  const uint8_t *tile[2] = {w, (const uint8_t *)w + 16 * stride};
  if (nr <= 16) nt[1] = nt[0], tile[1] = tile[0];
  __m512 acc[2][QCOLS];
  acc32_load(acc, y, ldy, nr, accum, nc);
  for (int64_t b = k0 / QK; b < (k0 + kn) / QK; b++) {
    const uint8_t *blk[2] = {tile[0] + (size_t)(b * nt[0]) * bytes, tile[1] + (size_t)(b * nt[1]) * bytes};
    __m512i s[2][QCOLS];
    sums32_init(s, aux, b, q81, nc);
    UNROLL
    for (int k = 0; k < 4; k++) {
      __m512i lo[2], hi[2];
      UNROLL
      for (int h = 0; h < 2; h++) quarter(blk[h], nt[h], k, &lo[h], &hi[h]);
      UNROLL
      for (int c = 0; c < nc; c++) {
        __m512i x = bcast32(group_qs(a, b, c) + 4 * k), z = bcast32(group_qs(a, b, c) + 16 + 4 * k);
        UNROLL
        for (int h = 0; h < 2; h++) {
          s[h][c] = _mm512_dpbusd_epi32(s[h][c], lo[h], x);
          s[h][c] = _mm512_dpbusd_epi32(s[h][c], hi[h], z);
        }
      }
    }
    __m512 D[2], M[2];
    UNROLL
    for (int h = 0; h < 2; h++) tscales(blk[h], nt[h], q81, &D[h], &M[h]);
    scale32(acc, s, D, M, aux, b, q81, nc);
  }
  acc32_store(acc, y, ldy, nr, nc);
}

// Specializes a run body for each activation-row count 1..N (registers, not
// memory): RUN_SWITCH up to NC, RUN_SWITCH6 and RUN_SWITCH12 for the tiles
// whose kernels take 6 and 12 rows.
#define RUN_CASE(n, body, ...) \
  case n: body(__VA_ARGS__, n); break;
#define RUN_CASES5(body, ...)                                                                   \
  RUN_CASE(1, body, __VA_ARGS__) RUN_CASE(2, body, __VA_ARGS__) RUN_CASE(3, body, __VA_ARGS__) \
  RUN_CASE(4, body, __VA_ARGS__) RUN_CASE(5, body, __VA_ARGS__)
#define RUN_SWITCH6(body, ...) \
  switch (nc) { RUN_CASES5(body, __VA_ARGS__) default: body(__VA_ARGS__, 6); break; }
#define RUN_SWITCH(body, ...)                                                                \
  switch (nc) {                                                                              \
    RUN_CASES5(body, __VA_ARGS__) RUN_CASE(6, body, __VA_ARGS__) RUN_CASE(7, body, __VA_ARGS__) \
  default: body(__VA_ARGS__, 8); break;                                                      \
  }
#define RUN_SWITCH12(body, ...)                                                                    \
  switch (nc) {                                                                                    \
    RUN_CASES5(body, __VA_ARGS__) RUN_CASE(6, body, __VA_ARGS__) RUN_CASE(7, body, __VA_ARGS__)       \
    RUN_CASE(8, body, __VA_ARGS__) RUN_CASE(9, body, __VA_ARGS__) RUN_CASE(10, body, __VA_ARGS__)     \
    RUN_CASE(11, body, __VA_ARGS__) default: body(__VA_ARGS__, 12); break;                          \
  }

// The tiled layout's gemv, and its run kernel (in place) or pack. Q5_0 and
// Q5_1 pack: their fifth bits (q5_bit, a shuffle and a test per vector)
// unpacked in every run call read 0.92x the packed panels' tokens/s
// (Qwen2.5-0.5B "Q4_K", whose 896-wide rows are Q5_0, pp512, two threads).
#define TYPE32_GEMV_TILED(name, q81)                                                                         \
  static void gemv_tiled_##name(int64_t n, const void *w, size_t stride, int64_t nr, const void *a,          \
                          size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy) { \
    RUN_SWITCH(gemv32t_n, n, w, stride, nr, a, a_stride, aux, aux_stride, y, ldy, q81, tunpack_##name)       \
  }
#define TYPE32_IN_PLACE(name, q81)                                                                           \
  TYPE32_GEMV_TILED(name, q81)                                                                               \
  static void run_tiled_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a, \
                               size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y,     \
                               int64_t ldy, int acc) {                                                       \
    (void)a_stride, (void)aux_stride;                                                                        \
    if (nr == 32) {                                                                                          \
      RUN_SWITCH6(run32t_n, w, w_stride, 32, k0, kn, a, aux, y, ldy, acc, q81, tquarter_##name,              \
                  sizeof(block_##name))                                                                      \
    } else {                                                                                                 \
      RUN_SWITCH6(run32t_n, w, w_stride, nr, k0, kn, a, aux, y, ldy, acc, q81, tquarter_##name,              \
                  sizeof(block_##name))                                                                      \
    }                                                                                                        \
  }
#define TYPE32_PACKED(name, q81)                                                                             \
  TYPE32_GEMV_TILED(name, q81)                                                                               \
  static void pack_tiled_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) { \
    pack32t(w, stride, nr, k0, kn, panel, tunpack_##name, sizeof(block_##name));                            \
  }
#define TYPE32(name, q81, bias, qload, quad, run_t, pack_t)                                                    \
  static void gemv_##name(int64_t n, const void *w, size_t stride, int64_t nr, const void *a,                \
                          size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy) { \
    RUN_SWITCH(gemv32_n, n, w, stride, nr, a, a_stride, aux, aux_stride, y, ldy, unpack_##name, q81,          \
               sizeof(block_##name), load_##name, pair_##name, qload, quad)                                  \
  }                                                                                                          \
  static void pack_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {       \
    pack32(w, stride, nr, k0, kn, panel, unpack_##name,                                                      \
        load_##name, pair_##name, sizeof(block_##name), 0);                                                  \
  }                                                                                                          \
  static void run_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,      \
                         size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy, \
                         int acc) {                                                                          \
    (void)w_stride, (void)a_stride, (void)aux_stride;                                                        \
    RUN_SWITCH6(run32_n, w, nr, k0, kn, a, aux, y, ldy, acc, q81)                                            \
  }                                                                                                          \
  static const quant_gemm gemm_##name = {.rows = QROWS, .cols = QCOLS, .kc = KC, .aux_bias = q81 ? -1 : bias, \
                                         .panel_bytes = (size_t)(KC / QK) * P32_VECS * 64, .act_tiles = TILE_GROUP, \
                                         .act_group = q81 ? group_q8_1 : group_q8_0,                       \
                                         .act_group_rows = q81 ? group_rows_q8_1 : group_rows_q8_0,        \
                                         .pack = pack_##name,                                                \
                                         .run = run_##name, .gemv = gemv_##name, .gemv_cols = NC,          \
                                         .gemv_tiled = gemv_tiled_##name, .run_tiled = run_t,                \
                                         .pack_tiled = pack_t,                                               \
                                         .gemv_group = GEMV_GROUP, .gemv_group_row = PF_STREAM_MIN_ROW};
TYPE32_IN_PLACE(q4_0, 0)
TYPE32(q4_0, 0, 8, load_quad_q4_0, quad_q4_0, run_tiled_q4_0, NULL)
TYPE32_IN_PLACE(q4_1, 1)
TYPE32(q4_1, 1, 0, load_quad_q4_1, quad_q4_1, run_tiled_q4_1, NULL)
TYPE32_PACKED(q5_0, 0)
TYPE32(q5_0, 0, 16, load_quad_q5_0, quad_q5_0, NULL, pack_tiled_q5_0)
TYPE32_PACKED(q5_1, 1)
TYPE32(q5_1, 1, 0, load_quad_q5_1, quad_q5_1, NULL, pack_tiled_q5_1)
TYPE32_IN_PLACE(q8_0, 0)
TYPE32(q8_0, 0, 128, load_quad_q8_0, quad_q8_0, run_tiled_q8_0, NULL)

// ---- K-quants, 16 rows (unpacking in avx512_rows.h) --------------------------------------------

// Sub-block products: the int32 sum of q . a over 16 values.
AI __m512i dot4(const __m512i *W, const int8_t *qs) {
  __m512i s0 = dpbusd_b(_mm512_setzero_si512(), W[0], qs);
  __m512i s1 = dpbusd_b(_mm512_setzero_si512(), W[2], qs + 8);
  s0 = dpbusd_b(s0, W[1], qs + 4);
  s1 = dpbusd_b(s1, W[3], qs + 12);
  return _mm512_add_epi32(s0, s1);
}

// A super-block's end: f (the scaled sub-block sums) less DM x the mins, times
// the activations' d, into acc.
AI __m512 kfinish(__m512 acc, __m512 DM, __m512 f, __m512i msum, float yd) {
  return _mm512_fmadd_ps(_mm512_fnmadd_ps(DM, _mm512_cvtepi32_ps(msum), f), _mm512_set1_ps(yd), acc);
}

// The order in which the kernels add the scaled sums of the 16 sub-blocks of
// a super-block where each has its own scale: the order the gemv kernel's
// groups produce them (group_q2_K, _q3_K, _q6_K), so gemv and the panels agree to the bit.
static const int kgroup_order[16] = {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15};

// One super-block (b, at b * bytes) of the 16 rows of S with each
// activation row c < nc, into acc[c]. exact: sub-block sums scaled by
// integer multiplies into one int32 sum per super-block, finished by
// kfinish_int (the AMX level's panels compute that sum exactly, so gemv must
// too for a row to be the same bits in any batch); otherwise each is scaled
// in float by D x its scale (the AVX-512 panels). Each of the four groups
// first advances the prefetch: tiled, the stream by pf_done bytes; in GGUF's
// layout, a step of the next tile's.
AI void ksuper(__m512 *acc, const ksrc *S, int64_t b, size_t bytes, const void *a, size_t a_stride, khead_fn head,
               kgroup_fn group, int sub32, int exact, int fold, prefetcher *pf, size_t pf_done, const int nc) {
  size_t off = (size_t)b * bytes;
  khead H;
  head(S, off, &H);
  __m512 f[NC];
  __m512i is[NC];
  UNROLL
  for (int c = 0; c < nc; c++) f[c] = _mm512_setzero_ps(), is[c] = _mm512_setzero_si512();
#define SCALED(c, sum, q)                                                          \
  if (exact) is[c] = _mm512_add_epi32(is[c], _mm512_mullo_epi32(sum, H.SC[J[q]])); \
  else f[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), dsc[q], f[c]);
#define GROUP(g)                                                                                     \
  {                                                                                                  \
    if (S->tiled) pf_stream(pf, pf_done);                                                            \
    else pf_step(pf);                                                                                \
    __m512i W[16];                                                                                   \
    int J[4];                                                                                        \
    group(S, off, &H, g, W, J);                                                                      \
    __m512 dsc[4];                                                                                   \
    UNROLL                                                                                           \
    for (int q = 0; q < 4; q++) dsc[q] = _mm512_mul_ps(_mm512_cvtepi32_ps(H.SC[J[q]]), H.D);         \
    UNROLL                                                                                           \
    for (int c = 0; c < nc; c++) {                                                                   \
      const int8_t *qs = ((const block_q8_K *)act_row(a, a_stride, c))[b].qs;                        \
      if (sub32) { /* sub-blocks 4g, 4g+1 and 4g+2, 4g+3 share a scale */                          \
        __m512i s0 = _mm512_add_epi32(dot4(W, qs + 16 * J[0]), dot4(W + 4, qs + 16 * J[1]));        \
        __m512i s1 = _mm512_add_epi32(dot4(W + 8, qs + 16 * J[2]), dot4(W + 12, qs + 16 * J[3]));   \
        SCALED(c, s0, 0)                                                                             \
        SCALED(c, s1, 2)                                                                             \
      } else {                                                                                       \
        UNROLL                                                                                       \
        for (int q = 0; q < 4; q++) {                                                                \
          SCALED(c, dot4(W + 4 * q, qs + 16 * J[q]), q)                                              \
        }                                                                                            \
      }                                                                                              \
    }                                                                                                \
  }
  FOR_GROUPS(GROUP)
#undef GROUP
#undef SCALED
  UNROLL
  for (int c = 0; c < nc; c++) {
    const block_q8_K *x = (const block_q8_K *)act_row(a, a_stride, c) + b;
    if (exact) acc[c] = kfinish_int(acc[c], H.D, H.DM, is[c], kmins(H.CM, x), x->d, fold);
    else acc[c] = kfinish(acc[c], H.DM, f[c], kmins(H.CM, x), x->d);
  }
}

AI void gemvK_n(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride, float *y,
                int64_t ldy, size_t bytes, khead_fn head, kgroup_fn group, int sub32, int exact, int fold,
                const int nc) {
  for (int64_t r0 = 0; r0 < nr; r0 += 16) {
    rows16 R;
    rows16_init(&R, (const uint8_t *)w + (size_t)r0 * stride, stride, nr - r0);
    const ksrc S = {.R = &R, .tiled = 0};
    prefetcher pf;
    pf_init(&pf, w, stride, r0, nr, bytes / 4, 0);  // a quarter per group; the next tile always
    __m512 acc[NC];
    UNROLL
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++)
      ksuper(acc, &S, b, bytes, a, a_stride, head, group, sub32, exact, fold, &pf, 0, nc);
    UNROLL
    for (int c = 0; c < nc; c++) store16(y + c * ldy + r0, acc[c], nr - r0, 0);
  }
}

// The nb super-blocks of a tile (S) with nc activation rows, into acc.
AI void gemvKt_tile(__m512 *acc, const ksrc *S, int64_t nb, size_t bytes, const void *a, size_t a_stride,
                    khead_fn head, kgroup_fn group, int sub32, prefetcher *pf, const int nc) {
  UNROLL
  for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++)
    ksuper(acc, S, b, bytes, a, a_stride, head, group, sub32, 0, 0, pf, (size_t)S->nt * bytes / 4, nc);
}

// gemvK_n for tiled weights: the tiles read front to back as one stream,
// always prefetched: the hardware prefetchers alone streamed them at half
// the speed (one thread, weights over 1 GiB, us per call, without against
// with: Q4_K 2048 x 2048 129-132 -> 74, 8192 x 2048 509-512 -> 280; Q6_K
// 8192 x 2048 929-947 -> 340-382). Nor do long rows take four tiles at once
// as gemv32t_n's do: one stream measured faster (Q4_K 2048 x 8192 378-381
// four at once against 253-257, Q6_K 821-832 against 360-374).
AI void gemvKt_n(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride, float *y,
                 int64_t ldy, size_t bytes, khead_fn head, kgroup_fn group, int sub32, const int nc) {
  int64_t nb = n / QK_K;
  prefetcher pf;
  pf_stream_init(&pf, w, stride, nr, 0);
  pf_stream(&pf, PF_AHEAD);
  for (int64_t r0 = 0; r0 < nr; r0 += 16) {
    __m512 acc[NC];
    const uint8_t *tile = (const uint8_t *)w + (size_t)r0 * stride;
    if (nr - r0 >= 16) {  // nt a constant: the columns' addresses fold into immediates (in L2,
      // Q4_K 512 x 2048 22.6 -> 7.3 us; a runtime nt spilled a pointer per column)
      const ksrc S = {.tile = tile, .nt = 16, .tiled = 1};
      gemvKt_tile(acc, &S, nb, bytes, a, a_stride, head, group, sub32, &pf, nc);
    } else {
      const ksrc S = {.tile = tile, .nt = (int)(nr - r0), .tiled = 1};
      gemvKt_tile(acc, &S, nb, bytes, a, a_stride, head, group, sub32, &pf, nc);
    }
    UNROLL
    for (int c = 0; c < nc; c++) store16(y + c * ldy + r0, acc[c], nr - r0, 0);
  }
}

// K panel per super-block: W[64] (sub-block j at 4j), DSC[16] (D x the scale of
// sub-block j, as float: exact, 11 x at most 8 significant bits), CM[8], DM.
#define PK_VECS 89

AI void store_plain(__m512i *p, int v, __m512i w, __m512i sc, int arg) {
  (void)sc, (void)arg;
  _mm512_store_si512(p + v, w);
}

AI void packK(const ksrc *S, int64_t k0, int64_t kn, void *panel, size_t bytes, khead_fn head, kgroup_fn group) {
  __m512i *p = panel;
  for (int64_t b = k0 / QK_K; b < (k0 + kn) / QK_K; b++, p += PK_VECS) {
    khead H;
    kunpack(S, (size_t)b * bytes, head, group, &H, p, store_plain, 0);
    UNROLL
    for (int j = 0; j < 16; j++) _mm512_store_ps(p + 64 + j, _mm512_mul_ps(_mm512_cvtepi32_ps(H.SC[j]), H.D));
    UNROLL
    for (int i = 0; i < 8; i++) _mm512_store_si512(p + 80 + i, H.CM[i]);
    _mm512_store_ps(p + 88, H.DM);
  }
}

// packK for one tile (nr <= 16 rows) of the tiled layout; a full one with nt a constant, as in gemvKt_n.
AI void packKt(const void *w, int nr, int64_t k0, int64_t kn, void *panel, size_t bytes, khead_fn head,
               kgroup_fn group) {
  if (nr == 16) {
    const ksrc S = {.tile = w, .nt = 16, .tiled = 1};
    packK(&S, k0, kn, panel, bytes, head, group);
  } else {
    const ksrc S = {.tile = w, .nt = nr, .tiled = 1};
    packK(&S, k0, kn, panel, bytes, head, group);
  }
}

// sub32: the type's scales cover 32 values (Q4_K, Q5_K), so two sub-blocks
// of 16 share one scale step. A sub-block's int32 sum is scaled in float
// (convert and FMA with DSC) rather than by an integer multiply: vpmulld is
// two uops on the ports vpdpbusd needs, and the sum needs a convert anyway
// (+8% Q4_K, +13% Q6_K). Sharing broadcasts between two 16-row halves, as
// the 32-element types do, measured 5% slower here (the panel doubles).
// Each activation row's sum runs as two chains of vpdpbusd, not one of 4 or
// 8: the sum is ready sooner (Q4_K 2048 x 2048, 256 tokens, one thread,
// alternating builds: 471-520 against 455-499 GFLOP/s; Q6_K even).
AI void runK_n(const void *panel, int nr, int64_t k0, int64_t kn, const void *a, size_t a_stride, float *y, int64_t ldy,
               int accum, int sub32, const int nc) {
  __m512 acc[NC];
  UNROLL
  for (int c = 0; c < nc; c++) acc[c] = load16(y + c * ldy, nr, accum);
  const __m512i *p = panel;
  const int step = sub32 ? 2 : 1;
  for (int64_t b = k0 / QK_K; b < (k0 + kn) / QK_K; b++, p += PK_VECS) {
    __m512 f[NC];
    UNROLL
    for (int c = 0; c < nc; c++) f[c] = _mm512_setzero_ps();
    for (int i = 0; i < 16; i += step) {
      const int j = sub32 ? i : kgroup_order[i];
      __m512i W[8];
      UNROLL
      for (int k = 0; k < 4 * step; k++) W[k] = _mm512_load_si512(p + 4 * j + k);
      __m512 dsc = _mm512_load_ps(p + 64 + j);
      UNROLL
      for (int c = 0; c < nc; c++) {
        const int8_t *qs = ((const block_q8_K *)((const uint8_t *)a + (size_t)c * a_stride))[b].qs + 16 * j;
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        UNROLL
        for (int k = 0; k < 2 * step; k++) {
          s0 = dpbusd_b(s0, W[k], qs + 4 * k);
          s1 = dpbusd_b(s1, W[2 * step + k], qs + 8 * step + 4 * k);
        }
        f[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), dsc, f[c]);
      }
    }
    __m512 DM = _mm512_load_ps(p + 88);
    UNROLL
    for (int c = 0; c < nc; c++) {
      const block_q8_K *x = (const block_q8_K *)((const uint8_t *)a + (size_t)c * a_stride) + b;
      acc[c] = kfinish(acc[c], DM, f[c], kmins((const __m512i *)(p + 80), x), x->d);
    }
  }
  UNROLL
  for (int c = 0; c < nc; c++) store16(y + c * ldy, acc[c], nr, 0);
}

#define TYPEK(name, sub32)                                                                                   \
  static void gemv_##name(int64_t n, const void *w, size_t stride, int64_t nr, const void *a,                \
                          size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy) { \
    (void)aux, (void)aux_stride;                                                                             \
    RUN_SWITCH(gemvK_n, n, w, stride, nr, a, a_stride, y, ldy, sizeof(block_##name), head_##name,            \
               group_##name, sub32, 0, 0)                                                                    \
  }                                                                                                          \
  static void gemv_int_##name(int64_t n, const void *w, size_t stride, int64_t nr, const void *a,            \
                              size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y,      \
                              int64_t ldy) {                                                                 \
    (void)aux, (void)aux_stride;                                                                             \
    RUN_SWITCH(gemvK_n, n, w, stride, nr, a, a_stride, y, ldy, sizeof(block_##name), head_##name,            \
               group_##name, sub32, 1, KOFF_##name != 0)                                                         \
  }                                                                                                          \
  static void gemv_tiled_##name(int64_t n, const void *w, size_t stride, int64_t nr, const void *a,          \
                                size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y,    \
                                int64_t ldy) {                                                               \
    (void)aux, (void)aux_stride;                                                                             \
    RUN_SWITCH(gemvKt_n, n, w, stride, nr, a, a_stride, y, ldy, sizeof(block_##name), head_##name,           \
               group_##name, sub32)                                                                          \
  }                                                                                                          \
  static void pack_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {       \
    rows16 R;                                                                                                \
    rows16_init(&R, w, stride, nr);                                                                          \
    const ksrc S = {.R = &R, .tiled = 0};                                                                    \
    packK(&S, k0, kn, panel, sizeof(block_##name), head_##name, group_##name);                               \
  }                                                                                                          \
  static void pack_tiled_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) { \
    (void)stride;                                                                                            \
    packKt(w, nr, k0, kn, panel, sizeof(block_##name), head_##name, group_##name);                           \
  }                                                                                                          \
  static void run_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,      \
                         size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy, \
                         int acc) {                                                                          \
    (void)w_stride, (void)aux, (void)aux_stride;                                                             \
    RUN_SWITCH(runK_n, w, nr, k0, kn, a, a_stride, y, ldy, acc, sub32)                                       \
  }                                                                                                          \
  static const quant_gemm gemm_##name = {.rows = 16, .cols = NC, .kc = KC, .aux_bias = 0,                 \
                                         .panel_bytes = (size_t)(KC / QK_K) * PK_VECS * 64, .pack = pack_##name, \
                                         .run = run_##name, .gemv = gemv_##name, .gemv_cols = 4,             \
                                         .gemv_tiled = gemv_tiled_##name, .pack_tiled = pack_tiled_##name};
TYPEK(q2_K, 0)
TYPEK(q3_K, 0)
TYPEK(q4_K, 1)
TYPEK(q5_K, 1)
TYPEK(q6_K, 0)

// ---- float types -------------------------------------------------------------------------------
// Panel: the 16 rows' values as float, transposed (vector k = element k of
// every row); run: each activation element (as float) broadcast against it.

AI __m512 load_fp(const void *p, uint32_t type, __mmask16 m) {
  if (type == T_F32) return _mm512_maskz_loadu_ps(m, p);
  __m256i h = _mm256_maskz_loadu_epi16(m, p);
  if (type == T_F16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AI void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  UNROLL
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  UNROLL
  for (int g = 0; g < 16; g += 4) {
    u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
    u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g]), _mm512_castps_pd(t[g + 2])));
    u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
    u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[g + 1]), _mm512_castps_pd(t[g + 3])));
  }
  // u[4g + e] holds column e + 4L (128-bit lane L) of rows 4g..4g+3
  UNROLL
  for (int e = 0; e < 4; e++) {
    __m512 v = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88), w = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);
    __m512 v2 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88), w2 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
    r[e] = _mm512_shuffle_f32x4(v, v2, 0x88);
    r[e + 8] = _mm512_shuffle_f32x4(v, v2, 0xDD);
    r[e + 4] = _mm512_shuffle_f32x4(w, w2, 0x88);
    r[e + 12] = _mm512_shuffle_f32x4(w, w2, 0xDD);
  }
}

// The float panel holds 32 rows: per element k, the vector of rows 0-15 and
// the vector of rows 16-31 (a tile of 16 rows or fewer repeats its rows in
// the second half, which is never stored). Each broadcast activation element
// then feeds two FMAs: 24 accumulators for 12 activation rows, measured 30%
// faster than 16 rows x 8 (whose broadcasts fed one FMA each).
#define FROWS 32
#define FCOLS 12

AI void packF16(const rows16 *R, int64_t k, __mmask16 m, uint32_t type, float *p) {
  size_t es = type == T_F32 ? 4 : 2;
  __m512 r[16];
  UNROLL
  for (int i = 0; i < 16; i++) r[i] = load_fp(R->r[i] + (size_t)k * es, type, m);
  transpose16(r);
  UNROLL
  for (int i = 0; i < 16; i++) _mm512_store_ps(p + FROWS * i, r[i]);
}

AI void packF(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel, uint32_t type) {
  rows16 R0, R1;
  rows16_init(&R0, w, stride, nr);
  if (nr > 16) rows16_init(&R1, (const uint8_t *)w + 16 * stride, stride, nr - 16);
  else R1 = R0;
  float *p = panel;
  for (int64_t k = k0; k < k0 + kn; k += 16, p += 16 * FROWS) {
    int64_t left = k0 + kn - k;
    __mmask16 m = lanes16(left);
    packF16(&R0, k, m, type, p);
    packF16(&R1, k, m, type, p + 16);
  }
}

// Activations come as floats (F16 / BF16 ones already rounded through their type).
AI void runF_n(const void *panel, int nr, int64_t k0, int64_t kn, const void *a, size_t a_stride, float *y,
               int64_t ldy, int accum, const int nc) {
  const float *x = (const float *)a + k0;
  const size_t xs = a_stride / sizeof(float);
  __m512 lo[FCOLS], hi[FCOLS];
  UNROLL
  for (int c = 0; c < nc; c++) lo[c] = hi[c] = _mm512_setzero_ps();
  const float *p = panel;
  for (int64_t k = 0; k < kn; k++, p += FROWS) {
    __m512 w0 = _mm512_load_ps(p), w1 = _mm512_load_ps(p + 16);
    UNROLL
    for (int c = 0; c < nc; c++) {
      __m512 v = _mm512_set1_ps(x[c * xs + k]);
      lo[c] = _mm512_fmadd_ps(w0, v, lo[c]);
      hi[c] = _mm512_fmadd_ps(w1, v, hi[c]);
    }
  }
  UNROLL
  for (int c = 0; c < nc; c++) {
    store16(y + c * ldy, lo[c], nr, accum);
    if (nr > 16) store16(y + c * ldy + 16, hi[c], nr - 16, accum);
  }
}

// Small batches without packing: each weight row streams once, in order (one
// sequential stream, which the hardware prefetcher follows; two rows side by
// side measured at half the bandwidth without software prefetch; one token's
// long rows go four at a time, prefetched: gemvF_rows4), each 16 values converted once and
// multiplied with every activation row; sums reduced at the end of the row.
// F16 / BF16 activations come in their type (quant_gemm.gemv_act_half),
// half the bytes of floats, so that more of a long activation row stays in
// L1 under the weight rows' stream rather than coming back from L2 for every
// row: F16 896 x 4864 (weights over 1 GiB) 376-379 -> 298-301 us per call on
// one thread, 181-185 -> 168-172 on two; 2048 x 8192 about even.
// Rows longer than PF_STREAM_MIN_ROW bytes are also prefetched PF_AHEAD
// ahead, as the tiled stream is (F16, us per call, without against with):
// two threads 2048 x 8192 777-783 -> 663-701, 128256 x 2048 9314-9417 ->
// 9097-9276; one thread 2048 x 8192 1320-1505 -> 1272-1395, 8192 x 2048
// 1172-1186 -> 1109-1129. Shorter rows read no faster so (151936 x 896, two
// threads, 4622-4664 against 4774-4804).
AI void gemvF_step(const uint8_t *wr, int64_t k, __mmask16 m, const void *a, size_t a_stride, uint32_t type,
                   __m512 *acc, const int nc) {
  size_t es = type == T_F32 ? 4 : 2;
  __m512 v = load_fp(wr + (size_t)k * es, type, m);
  UNROLL
  for (int c = 0; c < nc; c++)
    acc[c] = _mm512_fmadd_ps(v, load_fp((const uint8_t *)act_row(a, a_stride, c) + (size_t)k * es, type, m), acc[c]);
}

// One token, long rows: four rows at once, each 16 values of the input
// converted once for all four, and each row's stream prefetched a quarter
// of PF_AHEAD ahead, into the same row of the next four past its end (as
// the quantized types' long rows, gemv32t_group). F16, GB/s, medians of 5,
// row by row / four at once: one thread 896 x 4864 21.5 / 26.0, 2048 x
// 8192 21.3 / 25.9, 8192 x 2048 26.4 / 26.4; two threads 49.8 / 51.1,
// 44.0 / 54.6, 55.8 / 57.3. 4 KiB ahead per row read 2-12% less, 1 KiB
// about the same. Each row's sums are added as gemvF_n adds them for one
// token, so a row is the same bits whichever rows a thread takes.
#define GEMVF_ROWS 4
AI void gemvF_rows4(int64_t n, const uint8_t *w, size_t stride, const void *a, float *y, uint32_t type) {
  const size_t es = type == T_F32 ? 4 : 2, ahead = PF_AHEAD / GEMVF_ROWS;
  __m512 acc[GEMVF_ROWS][4];
  UNROLL
  for (int r = 0; r < GEMVF_ROWS; r++) {
    UNROLL
    for (int i = 0; i < 4; i++) acc[r][i] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 64 <= n; k += 64) {
    size_t off = (size_t)k * es + ahead;
    off += off >= stride ? (GEMVF_ROWS - 1) * stride : 0;
    UNROLL
    for (int r = 0; r < GEMVF_ROWS; r++)
      for (size_t l = 0; l < 64 * es; l += 64) _mm_prefetch((const char *)w + r * stride + off + l, _MM_HINT_T0);
    UNROLL
    for (int i = 0; i < 4; i++) {
      __m512 x = load_fp((const uint8_t *)a + (size_t)(k + 16 * i) * es, type, 0xffff);
      UNROLL
      for (int r = 0; r < GEMVF_ROWS; r++)
        acc[r][i] = _mm512_fmadd_ps(load_fp(w + r * stride + (size_t)(k + 16 * i) * es, type, 0xffff), x, acc[r][i]);
    }
  }
  for (; k < n; k += 16) {
    __mmask16 m = lanes16(n - k);
    __m512 x = load_fp((const uint8_t *)a + (size_t)k * es, type, m);
    UNROLL
    for (int r = 0; r < GEMVF_ROWS; r++)
      acc[r][0] = _mm512_fmadd_ps(load_fp(w + r * stride + (size_t)k * es, type, m), x, acc[r][0]);
  }
  UNROLL
  for (int r = 0; r < GEMVF_ROWS; r++)
    y[r] = _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]), acc[r][2]), acc[r][3]));
}

AI void gemvF_n(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride, float *y,
                int64_t ldy, uint32_t type, const int nc) {
  // With few activation rows, more sets of partial sums keep FMAs in flight.
  const int sets = nc == 1 ? 4 : nc == 2 ? 2 : 1;
  const size_t es = type == T_F32 ? 4 : 2;
  if (nc == 1 && stride > PF_STREAM_MIN_ROW) {
    int64_t r = 0;
    for (; r + GEMVF_ROWS <= nr; r += GEMVF_ROWS)
      gemvF_rows4(n, (const uint8_t *)w + (size_t)r * stride, stride, a, y + r, type);
    w = (const uint8_t *)w + (size_t)r * stride, nr -= r, y += r;
  }
  prefetcher pf;
  pf_stream_init(&pf, w, stride, nr, PF_STREAM_MIN_ROW);
  pf_stream(&pf, PF_AHEAD);
  for (int64_t r = 0; r < nr; r++) {
    const uint8_t *wr = (const uint8_t *)w + (size_t)r * stride;
    __m512 acc[4][NC];
    UNROLL
    for (int i = 0; i < sets; i++) {
      UNROLL
      for (int c = 0; c < nc; c++) acc[i][c] = _mm512_setzero_ps();
    }
    int64_t k = 0;
    for (; k + 16 * sets <= n; k += 16 * sets) {
      pf_stream(&pf, 16 * (size_t)sets * es);
      UNROLL
      for (int i = 0; i < sets; i++) gemvF_step(wr, k + 16 * i, 0xffff, a, a_stride, type, acc[i], nc);
    }
    pf_stream(&pf, stride - (size_t)k * es);  // the row's tail: the stream keeps pace with the reads
    for (; k < n; k += 16) {
      __mmask16 m = lanes16(n - k);
      gemvF_step(wr, k, m, a, a_stride, type, acc[0], nc);
    }
    UNROLL
    for (int c = 0; c < nc; c++) {
      __m512 t = acc[0][c];
      UNROLL
      for (int i = 1; i < sets; i++) t = _mm512_add_ps(t, acc[i][c]);
      y[c * ldy + r] = _mm512_reduce_add_ps(t);
    }
  }
}

#define TYPEF(name, tid)                                                                                     \
  static void pack_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {       \
    packF(w, stride, nr, k0, kn, panel, tid);                                                                \
  }                                                                                                          \
  static void run_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,      \
                         size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy, \
                         int acc) {                                                                          \
    (void)w_stride, (void)aux, (void)aux_stride;                                                             \
    RUN_SWITCH12(runF_n, w, nr, k0, kn, a, a_stride, y, ldy, acc)                                            \
  }                                                                                                          \
  static void gemv_##name(int64_t n, const void *w, size_t stride, int64_t nr, const void *a,                \
                          size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy) { \
    (void)aux, (void)aux_stride;                                                                             \
    RUN_SWITCH(gemvF_n, n, w, stride, nr, a, a_stride, y, ldy, tid)                                          \
  }                                                                                                          \
  static const quant_gemm gemm_##name = {.rows = FROWS, .cols = FCOLS, .kc = KCF, .act_f32 = 1,            \
                                         .gemv_act_half = tid != T_F32,                                     \
                                         .panel_bytes = (size_t)KCF * FROWS * 4, .pack = pack_##name,       \
                                         .run = run_##name,                                                 \
                                         .gemv = gemv_##name, .gemv_cols = NC};
TYPEF(f32, T_F32)
TYPEF(f16, T_F16)
TYPEF(bf16, T_BF16)

static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

#define FLOAT_DOT(name, tid)                                                                   \
  static void vec_dot_##name(int64_t n, float *out, const void *w, const void *a) {            \
    size_t es = tid == T_F32 ? 4 : 2;                                                          \
    const uint8_t *x = w, *y = a;                                                              \
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                                \
    int64_t i = 0;                                                                             \
    for (; i + 64 <= n; i += 64) {                                                             \
      s0 = _mm512_fmadd_ps(load_fp(x + i * es, tid, 0xffff), load_fp(y + i * es, tid, 0xffff), s0); \
      s1 = _mm512_fmadd_ps(load_fp(x + (i + 16) * es, tid, 0xffff), load_fp(y + (i + 16) * es, tid, 0xffff), s1); \
      s2 = _mm512_fmadd_ps(load_fp(x + (i + 32) * es, tid, 0xffff), load_fp(y + (i + 32) * es, tid, 0xffff), s2); \
      s3 = _mm512_fmadd_ps(load_fp(x + (i + 48) * es, tid, 0xffff), load_fp(y + (i + 48) * es, tid, 0xffff), s3); \
    }                                                                                          \
    for (; i < n; i += 16) {                                                                   \
      __mmask16 m = lanes16(n - i);       \
      s0 = _mm512_fmadd_ps(load_fp(x + i * es, tid, m), load_fp(y + i * es, tid, m), s0);       \
    }                                                                                          \
    *out = hsum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));                  \
  }
FLOAT_DOT(f32, T_F32)
FLOAT_DOT(f16, T_F16)
FLOAT_DOT(bf16, T_BF16)

// ---- per-row dot products, 32-element types -------------------------------------------------------
// Two blocks per vector: 32 unsigned weight bytes each (value + bias), the
// bias taken back out through the activations' sum (vpdpbusd with bias bytes).

AI __m256i nibbles256(const uint8_t *qs) {
  __m128i q = load128(qs);
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0F));
}

AI __m256i high_bits256(const uint8_t *qh4) {  // bit j of qh -> 0x10 in byte j
  uint32_t x;
  memcpy(&x, qh4, 4);
  __mmask32 m = (__mmask32)x;
  return _mm256_maskz_mov_epi8(m, _mm256_set1_epi8(0x10));
}

AI __m256i blk_u8(const void *x, uint32_t type) {
  switch (type) {
  case T_Q4_0: return nibbles256(((const block_q4_0 *)x)->qs);
  case T_Q4_1: return nibbles256(((const block_q4_1 *)x)->qs);
  case T_Q5_0: return _mm256_or_si256(nibbles256(((const block_q5_0 *)x)->qs), high_bits256(((const block_q5_0 *)x)->qh));
  case T_Q5_1: return _mm256_or_si256(nibbles256(((const block_q5_1 *)x)->qs), high_bits256(((const block_q5_1 *)x)->qh));
  default: return _mm256_xor_si256(load256(((const block_q8_0 *)x)->qs), _mm256_set1_epi8((char)0x80));
  }
}

AI void vd32(int64_t n, float *out, const void *w, const void *a, uint32_t type, size_t wb, int bias, int q81) {
  const uint8_t *x = w, *y = a;
  size_t ab = q81 ? sizeof(block_q8_1) : sizeof(block_q8_0), aq = q81 ? 4 : 2;
  const __m512i vbias = _mm512_set1_epi8((char)bias);
  __m512 acc = _mm512_setzero_ps();
  float summs = 0;
  int64_t nb = n / QK, b = 0;
  for (; b < nb; b += 2) {
    const uint8_t *x0 = x + (size_t)b * wb, *y0 = y + (size_t)b * ab;
    int two = b + 1 < nb;
    const uint8_t *x1 = two ? x0 + wb : x0, *y1 = two ? y0 + ab : y0;
    __m512i W = _mm512_inserti64x4(_mm512_castsi256_si512(blk_u8(x0, type)), blk_u8(x1, type), 1);
    __m512i A = _mm512_inserti64x4(_mm512_castsi256_si512(load256(y0 + aq)), load256(y1 + aq), 1);
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W, A);
    if (bias) s = _mm512_sub_epi32(s, _mm512_dpbusd_epi32(_mm512_setzero_si512(), vbias, A));
    uint16_t d0, d1, e0, e1;
    memcpy(&d0, x0, 2), memcpy(&d1, x1, 2), memcpy(&e0, y0, 2), memcpy(&e1, y1, 2);
    float s0 = h2f(d0) * h2f(e0), s1 = two ? h2f(d1) * h2f(e1) : 0.0f;
    __m512 sc = _mm512_insertf32x8(_mm512_set1_ps(s0), _mm256_set1_ps(s1), 1);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc);
    if (q81) {
      uint16_t m0, m1, t0, t1;
      memcpy(&m0, x0 + 2, 2), memcpy(&m1, x1 + 2, 2), memcpy(&t0, y0 + 2, 2), memcpy(&t1, y1 + 2, 2);
      summs += h2f(m0) * h2f(t0) + (two ? h2f(m1) * h2f(t1) : 0.0f);
    }
  }
  *out = hsum(acc) + summs;
}

static void vec_dot_q4_0(int64_t n, float *o, const void *w, const void *a) { vd32(n, o, w, a, T_Q4_0, 18, 8, 0); }
static void vec_dot_q4_1(int64_t n, float *o, const void *w, const void *a) { vd32(n, o, w, a, T_Q4_1, 20, 0, 1); }
static void vec_dot_q5_0(int64_t n, float *o, const void *w, const void *a) { vd32(n, o, w, a, T_Q5_0, 22, 16, 0); }
static void vec_dot_q5_1(int64_t n, float *o, const void *w, const void *a) { vd32(n, o, w, a, T_Q5_1, 24, 0, 1); }
static void vec_dot_q8_0(int64_t n, float *o, const void *w, const void *a) { vd32(n, o, w, a, T_Q8_0, 34, 128, 0); }

// ---- per-row dot products, K-quants ----------------------------------------------------------------
// 64 values per vector: maddubs (unsigned weights x activations -> int16
// pairs, no saturation for these ranges), then vpdpwssd with each sub-block's
// scale as int16; mins and offsets through bsums, in scalar code.

// int16 scales for 4 sub-blocks of 16: s[j0], s[j0+1], s[j0+2], s[j0+3], 8 each (s: 16 bytes).
AI __m512i scales4(__m128i s, int j0, int is_signed) {
  __m256i both = _mm256_broadcastsi128_si256(s);
  __m256i idx = _mm256_setr_epi64x((long long)(0x0101010101010101ull * (uint64_t)j0),
                                   (long long)(0x0101010101010101ull * (uint64_t)(j0 + 1)),
                                   (long long)(0x0101010101010101ull * (uint64_t)(j0 + 2)),
                                   (long long)(0x0101010101010101ull * (uint64_t)(j0 + 3)));
  __m256i b = _mm256_shuffle_epi8(both, idx);
  return is_signed ? _mm512_cvtepi8_epi16(b) : _mm512_cvtepu8_epi16(b);
}

AI __m512i pair512(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

AI __m512i kstep(__m512i isum, __m512i w, const int8_t *qs, __m512i sc) {
  return _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(w, load512(qs)), sc);
}

AI int bsum_dot(const int8_t *s, const int16_t *bsums, int is_signed) {
  int m = 0;
  UNROLL
  for (int j = 0; j < 16; j++) m += (is_signed ? s[j] : (int)(uint8_t)s[j]) * bsums[j];
  return m;
}

static void vec_dot_q2_K(int64_t n, float *out, const void *w, const void *a) {
  const block_q2_K *x = w;
  const block_q8_K *y = a;
  __m512 acc = _mm512_setzero_ps();
  float summs = 0;
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < n / QK_K; b++) {
    int8_t sc[16], mn[16];
    UNROLL
    for (int j = 0; j < 16; j++) sc[j] = (int8_t)(x[b].scales[j] & 0xF), mn[j] = (int8_t)(x[b].scales[j] >> 4);
    __m128i s = load128(sc);
    __m512i isum = _mm512_setzero_si512();
    UNROLL
    for (int h = 0; h < 2; h++) {
      __m256i q = load256(x[b].qs + 32 * h);
      __m256i u0 = _mm256_and_si256(q, m3), u1 = _mm256_and_si256(_mm256_srli_epi16(q, 2), m3);
      __m256i u2 = _mm256_and_si256(_mm256_srli_epi16(q, 4), m3), u3 = _mm256_and_si256(_mm256_srli_epi16(q, 6), m3);
      isum = kstep(isum, pair512(u0, u1), y[b].qs + 128 * h, scales4(s, 8 * h, 0));
      isum = kstep(isum, pair512(u2, u3), y[b].qs + 128 * h + 64, scales4(s, 8 * h + 4, 0));
    }
    float d = y[b].d * h2f(x[b].d);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(isum), acc);
    summs += y[b].d * h2f(x[b].dmin) * (float)bsum_dot(mn, y[b].bsums, 0);
  }
  *out = hsum(acc) - summs;
}

static void vec_dot_q3_K(int64_t n, float *out, const void *w, const void *a) {
  const block_q3_K *x = w;
  const block_q8_K *y = a;
  __m512 acc = _mm512_setzero_ps();
  float summs = 0;
  const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / QK_K; b++) {
    int8_t sc[16];
    UNROLL
    for (int j = 0; j < 16; j++) sc[j] = (int8_t)quant_k3_scale(j, x[b].scales);
    __m128i s = load128(sc);
    __m256i hm = load256(x[b].hmask);
    __m512i isum = _mm512_setzero_si512();
    UNROLL
    for (int h = 0; h < 2; h++) {
      __m256i q = load256(x[b].qs + 32 * h), u[4];
      UNROLL
      for (int k = 0; k < 4; k++) {
        __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
        __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + k), m1), 2);
        u[k] = _mm256_or_si256(lo, hb);
      }
      isum = kstep(isum, pair512(u[0], u[1]), y[b].qs + 128 * h, scales4(s, 8 * h, 1));
      isum = kstep(isum, pair512(u[2], u[3]), y[b].qs + 128 * h + 64, scales4(s, 8 * h + 4, 1));
    }
    float d = y[b].d * h2f(x[b].d);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(isum), acc);
    summs += d * (float)(4 * bsum_dot(sc, y[b].bsums, 1));
  }
  *out = hsum(acc) - summs;
}

// Q4_K / Q5_K scales doubled per 16 (sc) and mins per 16 (mn).
AI void k45_scales(const uint8_t *scales, int8_t sc[16], int8_t mn[16]) {
  UNROLL
  for (int j = 0; j < 8; j++) {
    uint8_t s, m;
    quant_k4_scale_min(j, scales, &s, &m);
    sc[2 * j] = sc[2 * j + 1] = (int8_t)s;
    mn[2 * j] = mn[2 * j + 1] = (int8_t)m;
  }
}

AI void vd45(int64_t n, float *out, const void *w, const void *a, int five) {
  const block_q8_K *y = a;
  size_t bytes = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
  __m512 acc = _mm512_setzero_ps();
  float summs = 0;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / QK_K; b++) {
    const uint8_t *blk = (const uint8_t *)w + (size_t)b * bytes;
    uint16_t dh, mh;
    memcpy(&dh, blk, 2), memcpy(&mh, blk + 2, 2);
    int8_t sc[16], mn[16];
    k45_scales(blk + 4, sc, mn);
    __m128i s = load128(sc);
    const uint8_t *qs = blk + (five ? 48 : 16);
    __m256i qh = five ? load256(blk + 16) : _mm256_setzero_si256();
    __m512i isum = _mm512_setzero_si512();
    UNROLL
    for (int c = 0; c < 4; c++) {
      __m256i q = load256(qs + 32 * c);
      __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if (five) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), m1), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), m1), 4));
      }
      isum = kstep(isum, pair512(lo, hi), y[b].qs + 64 * c, scales4(s, 4 * c, 0));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(y[b].d * h2f(dh)), _mm512_cvtepi32_ps(isum), acc);
    summs += y[b].d * h2f(mh) * (float)bsum_dot(mn, y[b].bsums, 0);
  }
  *out = hsum(acc) - summs;
}

static void vec_dot_q4_K(int64_t n, float *o, const void *w, const void *a) { vd45(n, o, w, a, 0); }
static void vec_dot_q5_K(int64_t n, float *o, const void *w, const void *a) { vd45(n, o, w, a, 1); }

static void vec_dot_q6_K(int64_t n, float *out, const void *w, const void *a) {
  const block_q6_K *x = w;
  const block_q8_K *y = a;
  __m512 acc = _mm512_setzero_ps();
  float summs = 0;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < n / QK_K; b++) {
    __m128i s = load128(x[b].scales);
    __m512i isum = _mm512_setzero_si512();
    UNROLL
    for (int h = 0; h < 2; h++) {
      __m256i l0 = load256(x[b].ql + 64 * h), l1 = load256(x[b].ql + 64 * h + 32), qh = load256(x[b].qh + 32 * h);
      __m256i u0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
      __m256i u1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
      __m256i u2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
      __m256i u3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
      isum = kstep(isum, pair512(u0, u1), y[b].qs + 128 * h, scales4(s, 8 * h, 1));
      isum = kstep(isum, pair512(u2, u3), y[b].qs + 128 * h + 64, scales4(s, 8 * h + 4, 1));
    }
    float d = y[b].d * h2f(x[b].d);
    acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(isum), acc);
    summs += d * (float)(32 * bsum_dot(x[b].scales, y[b].bsums, 1));
  }
  *out = hsum(acc) - summs;
}

// ---- activation quantizers -------------------------------------------------------------------------------
// Bit-identical to the scalar reference (quant.c): the same divisions, the
// conversion's round-half-even, and F16C for the fp16 scale (round to nearest
// even, as fp16_from_fp32).

AI __m512 vabs512(__m512 v) { return _mm512_abs_ps(v); }

AI uint16_t f2h(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

// Up to 16 blocks of 32 (Q8_0 / Q8_1) at once, so that the two divisions per
// block (d = amax / 127 and 127 / amax) are two vector divisions per 16 blocks
// instead of a serial chain per block. Block b's quants go to qs(b); d[b] and
// (sums) sum[b], the sum of its quants, are returned.
AI void quant_blocks32(const float *src, int nb, uint8_t *dst, size_t bytes, size_t qs_off, float d[16], int sum[16],
                       int sums) {
  // The maxima gathered in a register: stored one by one and loaded as a
  // vector they stalled the load (no store forwarding from several stores),
  // which took two fifths of a call for the six blocks of a group.
  __m512 am = _mm512_setzero_ps();
  for (int b = 0; b < nb; b++) {
    __m512 m = _mm512_max_ps(vabs512(_mm512_loadu_ps(src + 32 * b)), vabs512(_mm512_loadu_ps(src + 32 * b + 16)));
    am = _mm512_mask_blend_ps((__mmask16)(1u << b), am, _mm512_set1_ps(_mm512_reduce_max_ps(m)));
  }
  __mmask16 nz = _mm512_cmp_ps_mask(am, _mm512_setzero_ps(), _CMP_NEQ_OQ);
  _Alignas(64) float id[16];
  _mm512_store_ps(id, _mm512_maskz_div_ps(nz, _mm512_set1_ps(127.0f), am));
  _mm512_storeu_ps(d, _mm512_div_ps(am, _mm512_set1_ps(127.0f)));
  for (int b = 0; b < nb; b++) {
    __m512 s = _mm512_set1_ps(id[b]);
    __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src + 32 * b), s));  // nearest even
    __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(src + 32 * b + 16), s));
    int8_t *qs = (int8_t *)(dst + (size_t)b * bytes + qs_off);
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtsepi32_epi8(q1));
    if (sums) sum[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

static void quantize_q8_0(const float *src, void *dst, int64_t n) {
  block_q8_0 *y = dst;
  float d[16];
  for (int64_t b = 0; b < n / QK; b += 16) {
    int nb = n / QK - b < 16 ? (int)(n / QK - b) : 16;
    quant_blocks32(src + b * QK, nb, (uint8_t *)(y + b), sizeof *y, 2, d, NULL, 0);
    for (int i = 0; i < nb; i++) y[b + i].d = f2h(d[i]);
  }
}

// Q8_0 / Q8_1 into a TILE_GROUP group (quant_gemm.act_group), with the
// sums the blocks are quantized with: quantizing and then scattering the
// quants and summing them again took a tenth of Q4_0 896 x 896 x 512.
AI act_aux group_aux_of(float d, int sum, int bias, int q81) {
  float dh = _cvtsh_ss(f2h(d));
  return q81 ? (act_aux){.d = dh, .s = _cvtsh_ss(f2h(d * (float)sum))} : (act_aux){.d = dh, .corr = -bias * sum};
}
AI void group32(const float *src, int64_t n, int bias, int64_t b0, int r, void *group, act_aux *aux, int q81) {
  float d[16];
  int sum[16];
  for (int64_t b = 0; b < n / QK; b += 16) {
    int nb = n / QK - b < 16 ? (int)(n / QK - b) : 16;
    int64_t at = (b0 + b) * QUANT_GROUP_ROWS + r;
    quant_blocks32(src + b * QK, nb, (uint8_t *)group + at * QK, QUANT_GROUP_ROWS * QK, 0, d, sum, 1);
    for (int i = 0; i < nb; i++) aux[at + i * QUANT_GROUP_ROWS] = group_aux_of(d[i], sum[i], bias, q81);
  }
}
static void group_q8_0(const float *src, int64_t n, int bias, int64_t b0, int r, void *group, act_aux *aux) {
  group32(src, n, bias, b0, r, group, aux, 0);
}
static void group_q8_1(const float *src, int64_t n, int bias, int64_t b0, int r, void *group, act_aux *aux) {
  group32(src, n, bias, b0, r, group, aux, 1);
}
// Block b of a group's first n rows at once (quant_gemm.act_group_rows):
// one block of one row per call took four times as long per block.
AI void group32_rows(const float *src, int n, int bias, int64_t b, void *group, act_aux *aux, int q81) {
  float d[16];
  int sum[16];
  int64_t at = b * QUANT_GROUP_ROWS;
  quant_blocks32(src, n, (uint8_t *)group + at * QK, QK, 0, d, sum, 1);
  for (int i = 0; i < n; i++) aux[at + i] = group_aux_of(d[i], sum[i], bias, q81);
}
static void group_rows_q8_0(const float *src, int n, int bias, int64_t b, void *group, act_aux *aux) {
  group32_rows(src, n, bias, b, group, aux, 0);
}
static void group_rows_q8_1(const float *src, int n, int bias, int64_t b, void *group, act_aux *aux) {
  group32_rows(src, n, bias, b, group, aux, 1);
}

static void quantize_q8_1(const float *src, void *dst, int64_t n) {
  block_q8_1 *y = dst;
  float d[16];
  int sum[16];
  for (int64_t b = 0; b < n / QK; b += 16) {
    int nb = n / QK - b < 16 ? (int)(n / QK - b) : 16;
    quant_blocks32(src + b * QK, nb, (uint8_t *)(y + b), sizeof *y, 4, d, sum, 1);
    for (int i = 0; i < nb; i++) {
      y[b + i].d = f2h(d[i]);
      y[b + i].s = f2h(d[i] * (float)sum[i]);
    }
  }
}

// A Q8_K block's quants (within -127..127: |src| <= amax) and their sums
// of 16, from 64 quants at a time: psadbw sums 8 bytes (offset to
// unsigned) per qword, and adjacent qwords make a sum of 16. A horizontal
// add per 16 quants (reduce_add) was most of the quantizer's time.
AI void q8_K_quants(const float *src, __m512 is, block_q8_K *y) {
  __m512i h[4];
  UNROLL
  for (int m = 0; m < 4; m++) {
    __m128i p[4];
    UNROLL
    for (int i = 0; i < 4; i++) {
      __m512 v = _mm512_mul_ps(_mm512_loadu_ps(src + 64 * m + 16 * i), is);
      p[i] = _mm512_cvtsepi32_epi8(_mm512_min_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(127)));
    }
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(p[1], p[0])),
                                   _mm256_set_m128i(p[3], p[2]), 1);
    _mm512_storeu_si512(y->qs + 64 * m, z);
    __m512i sad = _mm512_sad_epu8(_mm512_xor_si512(z, _mm512_set1_epi8((char)0x80)), _mm512_setzero_si512());
    h[m] = _mm512_add_epi64(sad, _mm512_shuffle_epi32(sad, _MM_PERM_BADC));  // qwords 2j, 2j + 1: sum j
  }
  const __m512i lo = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i hi = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 8, 12, 16, 20, 24, 28);
  __m512i sums = _mm512_mask_blend_epi32(0xFF00, _mm512_permutex2var_epi32(h[0], lo, h[1]),
                                         _mm512_permutex2var_epi32(h[2], hi, h[3]));
  sums = _mm512_sub_epi32(sums, _mm512_set1_epi32(16 * 128));
  _mm256_storeu_si256((__m256i *)y->bsums, _mm512_cvtepi32_epi16(sums));
}

// Q8_K as the reference: -127 / (the first value of largest magnitude), ties to even.
static void quantize_q8_K(const float *src, void *dst, int64_t n) {
  block_q8_K *y = dst;
  for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
    __m512 m = _mm512_setzero_ps();
    UNROLL
    for (int k = 0; k < QK_K; k += 16) m = _mm512_max_ps(m, vabs512(_mm512_loadu_ps(src + k)));
    float amax = _mm512_reduce_max_ps(m);
    if (amax == 0) {
      memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    int first = 0;
    __m512 am = _mm512_set1_ps(amax);
    for (int k = 0; k < QK_K; k += 16) {
      __mmask16 eq = _mm512_cmp_ps_mask(vabs512(_mm512_loadu_ps(src + k)), am, _CMP_EQ_OQ);
      if (eq) {
        first = k + __builtin_ctz((unsigned)eq);
        break;
      }
    }
    float iscale = -127.0f / src[first];
    q8_K_quants(src, _mm512_set1_ps(iscale), &y[b]);
    y[b].d = 1.0f / iscale;
  }
}

// ---- table ---------------------------------------------------------------------------------------------

void quant_avx512_table(quant_kernels *t) {
  g_pf_near = cpu_is_amd();
  t[T_F32] = (quant_kernels){.vec_dot = vec_dot_f32, .gemm = &gemm_f32};
  t[T_F16] = (quant_kernels){.vec_dot = vec_dot_f16, .gemm = &gemm_f16};
  t[T_BF16] = (quant_kernels){.vec_dot = vec_dot_bf16, .gemm = &gemm_bf16};
  t[T_Q4_0] = (quant_kernels){.vec_dot = vec_dot_q4_0, .gemm = &gemm_q4_0};
  t[T_Q4_1] = (quant_kernels){.vec_dot = vec_dot_q4_1, .gemm = &gemm_q4_1};
  t[T_Q5_0] = (quant_kernels){.vec_dot = vec_dot_q5_0, .gemm = &gemm_q5_0};
  t[T_Q5_1] = (quant_kernels){.vec_dot = vec_dot_q5_1, .gemm = &gemm_q5_1};
  t[T_Q8_0] = (quant_kernels){.vec_dot = vec_dot_q8_0, .gemm = &gemm_q8_0, .quantize_act = quantize_q8_0};
  t[T_Q8_1].quantize_act = quantize_q8_1;
  t[T_Q8_K].quantize = quantize_q8_K;
  t[T_Q2_K] = (quant_kernels){.vec_dot = vec_dot_q2_K, .gemm = &gemm_q2_K};
  t[T_Q3_K] = (quant_kernels){.vec_dot = vec_dot_q3_K, .gemm = &gemm_q3_K};
  t[T_Q4_K] = (quant_kernels){.vec_dot = vec_dot_q4_K, .gemm = &gemm_q4_K};
  t[T_Q5_K] = (quant_kernels){.vec_dot = vec_dot_q5_K, .gemm = &gemm_q5_K};
  t[T_Q6_K] = (quant_kernels){.vec_dot = vec_dot_q6_K, .gemm = &gemm_q6_K};
}

gemv_fn quant_avx512_gemv_int(uint32_t type) {
  switch (type) {
  case T_Q2_K: return gemv_int_q2_K;
  case T_Q3_K: return gemv_int_q3_K;
  case T_Q4_K: return gemv_int_q4_K;
  case T_Q5_K: return gemv_int_q5_K;
  case T_Q6_K: return gemv_int_q6_K;
  default: return NULL;
  }
}
