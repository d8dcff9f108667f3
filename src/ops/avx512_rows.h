// avx512_rows: the AVX-512 building blocks that the integer matrix kernels
// share (quant_avx512.c, quant_amx.c): loading and storing 16-lane results,
// addressing 16 weight rows at once, transposing their bytes so that each
// 32-bit lane holds 4 consecutive bytes of one row, unpacking the 32-element
// block types and the K-quants into that layout, and finishing a K-quant
// super-block. Internal to ops/; included only
// by files compiled with the AVX-512 flags.
#ifndef LLMUX_AVX512_ROWS_H
#define LLMUX_AVX512_ROWS_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "ops/pair_layout.h"
#include "ops/quant.h"

#define AI static inline __attribute__((always_inline))
// Small fixed-count loops over vectors must unroll, or their arrays live in
// memory (GCC at -O2 does not unroll them by itself).
#define UNROLL _Pragma("GCC unroll 16")

AI __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
AI __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
AI __m512i load512(const void *p) { return _mm512_loadu_si512(p); }

AI __m512i bcast32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// The first n of 16 lanes (1 <= n).
AI __mmask16 lanes16(int64_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

// y[0..n) as a vector (zero past n), or zero when acc is 0: a kernel that
// continues a row's sum from an earlier K-chunk starts from it, so that the
// sum runs in one order whatever the chunking (and as the gemv kernels run it).
AI __m512 load16(const float *y, int64_t n, int acc) {
  if (!acc || n <= 0) return _mm512_setzero_ps();
  return _mm512_maskz_loadu_ps(lanes16(n), y);
}

AI void store16(float *y, __m512 v, int64_t n, int acc) {
  __mmask16 m = lanes16(n);
  if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, y));
  _mm512_mask_storeu_ps(y, m, v);
}

// vpshufb control: in every dword, byte i takes byte b[i] of the same dword (-1: zero).
AI __m512i dword_shuffle(int b0, int b1, int b2, int b3) {
  uint32_t pat = 0;
  int b[4] = {b0, b1, b2, b3};
  UNROLL
  for (int i = 0; i < 4; i++) pat |= (uint32_t)(b[i] < 0 ? 0x80 : b[i]) << (8 * i);
  __m512i base = _mm512_broadcast_i32x4(_mm_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c));
  return _mm512_add_epi8(_mm512_set1_epi32((int)pat), base);
}

// Byte i of each dword as an unsigned int32.
AI __m512i byte_u32(__m512i v, int i) { return _mm512_shuffle_epi8(v, dword_shuffle(i, -1, -1, -1)); }
// Bytes i and j of each dword as two unsigned int16.
AI __m512i bytes_u16(__m512i v, int i, int j) { return _mm512_shuffle_epi8(v, dword_shuffle(i, -1, j, -1)); }

// ---- 16 rows ---------------------------------------------------------------------------------
// Row r of a tile is at r[min(r, nr - 1)]: a short last tile repeats its last
// row, and the extra lanes are never stored.
typedef struct {
  const uint8_t *r[16];
  __m512i gidx;  // byte offsets of the rows from r[0], for gathers
} rows16;

AI void rows16_init(rows16 *R, const void *w, size_t stride, int64_t nr) {
  int32_t idx[16];
  UNROLL
  for (int i = 0; i < 16; i++) {
    int64_t k = i < nr ? i : nr - 1;
    R->r[i] = (const uint8_t *)w + (size_t)k * stride;
    idx[i] = (int32_t)((size_t)k * stride);
  }
  R->gidx = _mm512_loadu_si512(idx);
}

// 16 bytes at `off` of each row, transposed: T[k] lane r = bytes 4k..4k+3 of row r.
AI void t16x4(const rows16 *R, size_t off, __m512i T[4]) {
  __m512i z[4];
  UNROLL
  for (int i = 0; i < 4; i++) {
    __m512i v = _mm512_castsi128_si512(load128(R->r[i] + off));
    v = _mm512_inserti32x4(v, load128(R->r[i + 4] + off), 1);
    v = _mm512_inserti32x4(v, load128(R->r[i + 8] + off), 2);
    z[i] = _mm512_inserti32x4(v, load128(R->r[i + 12] + off), 3);
  }
  __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  T[0] = _mm512_unpacklo_epi64(t0, t2);
  T[1] = _mm512_unpackhi_epi64(t0, t2);
  T[2] = _mm512_unpacklo_epi64(t1, t3);
  T[3] = _mm512_unpackhi_epi64(t1, t3);
}

// 32 bytes at `off` of each row, transposed: T[k] lane r = bytes 4k..4k+3 of
// row r, k < 8. Two 4x4 transposes per 128-bit lane (rows r and r + 8 share
// a vector), then one two-source permute per output.
AI void t16x8(const rows16 *R, size_t off, __m512i T[8]) {
  __m512i z[8];
  UNROLL
  for (int i = 0; i < 8; i++)
    z[i] = _mm512_inserti64x4(_mm512_castsi256_si512(load256(R->r[i] + off)), load256(R->r[i + 8] + off), 1);
  __m512i a[4], b[4];
  UNROLL
  for (int h = 0; h < 2; h++) {  // rows 4h..4h+3 (and + 8)
    __m512i *o = h ? b : a, *q = z + 4 * h;
    __m512i t0 = _mm512_unpacklo_epi32(q[0], q[1]), t1 = _mm512_unpackhi_epi32(q[0], q[1]);
    __m512i t2 = _mm512_unpacklo_epi32(q[2], q[3]), t3 = _mm512_unpackhi_epi32(q[2], q[3]);
    o[0] = _mm512_unpacklo_epi64(t0, t2);
    o[1] = _mm512_unpackhi_epi64(t0, t2);
    o[2] = _mm512_unpacklo_epi64(t1, t3);
    o[3] = _mm512_unpackhi_epi64(t1, t3);
  }
  // a[k] lanes: dword k (lane 0) and 4 + k (lane 1) of rows 0..3, then of rows 8..11; b: rows 4..7, 12..15
  const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  UNROLL
  for (int k = 0; k < 4; k++) {
    T[k] = _mm512_permutex2var_epi64(a[k], lo, b[k]);
    T[4 + k] = _mm512_permutex2var_epi64(a[k], hi, b[k]);
  }
}

AI __m512i gather32(const rows16 *R, size_t off) { return _mm512_i32gather_epi32(R->gidx, R->r[0] + off, 1); }

// fp16 in the low (hi = 0) or high half of each lane -> float.
AI __m512 half_ps(__m512i v, int hi) {
  if (hi) v = _mm512_srli_epi32(v, 16);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

// ---- 32-element blocks, 16 rows ------------------------------------------------------------------
// Unpacked block b: W[k] lane r = values 4k..4k+3 of row r (unsigned), D the
// row scales, M the row mins (Q4_1 / Q5_1).

AI void nib_split(const __m512i T[4], __m512i W[8]) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  UNROLL
  for (int k = 0; k < 4; k++) {
    W[k] = _mm512_and_si512(T[k], m4);
    W[k + 4] = _mm512_and_si512(_mm512_srli_epi16(T[k], 4), m4);
  }
}

// Adds the 5th bit: value 4k + j of a row is bit 4k + j of its 32-bit qh.
AI void q5_high(__m512i qh, __m512i W[8]) {
  UNROLL
  for (int k = 0; k < 8; k++) {
    __m512i rep = _mm512_shuffle_epi8(qh, dword_shuffle(k / 2, k / 2, k / 2, k / 2));
    __mmask64 set = _mm512_test_epi8_mask(rep, _mm512_set1_epi32((int)(0x08040201u << (4 * (k % 2)))));
    W[k] = _mm512_mask_add_epi8(W[k], set, W[k], _mm512_set1_epi8(16));
  }
}

AI void unpack_q4_0(const rows16 *R, int64_t b, __m512i W[8], __m512 *D, __m512 *M) {
  size_t off = (size_t)b * sizeof(block_q4_0);
  __m512i T[4];
  t16x4(R, off + 2, T);
  nib_split(T, W);
  *D = half_ps(gather32(R, off), 0);
  *M = _mm512_setzero_ps();
}

// Two blocks at a time, without gathers: blocks b and b + 1 of the 16 rows
// are 2 x block bytes from `off`; a 32-byte transpose there (A: dwords 0-7)
// holds block b's scale, high bits and quants, and (but for Q8_0) block
// b + 1's scale; further transposes (B, and Q8_0's C) hold the rest. Where
// a field is two bytes off the dword grid (the types with one fp16 before
// their quants), it is realigned by shifts. The 16-row gathers of the
// scales were a third of the Q4_0 gemv's time on AMD Zen 5 (in-cache 31 ->
// 42 GB/s without them); the values are those of unpack_*, so results keep
// their bits.
typedef struct {
  __m512i A[8], B[8], C[4];
} pair32;

typedef void (*pair32_load_fn)(const rows16 *R, size_t off, pair32 *P);
typedef void (*pair32_fn)(const pair32 *P, int first, __m512i W[8], __m512 *D, __m512 *M);

// Bytes 2..5 of the dword pair (lo, hi) in each lane.
AI __m512i shr16(__m512i lo, __m512i hi) {
  return _mm512_or_si512(_mm512_srli_epi32(lo, 16), _mm512_slli_epi32(hi, 16));
}

// A, and in B the 16 bytes at boff where block b + 1's quants start.
AI void load_pair16(const rows16 *R, size_t off, size_t boff, pair32 *P) {
  t16x8(R, off, P->A);
  t16x4(R, off + boff, P->B);
}

// Q8_0 (68 bytes): C holds dwords 8-11 (the end of block b's quants, block
// b + 1's scale), B dwords 9-16 (block b + 1's quants).
AI void load_q8_0(const rows16 *R, size_t off, pair32 *P) {
  t16x8(R, off, P->A);
  t16x4(R, off + 32, P->C);
  t16x8(R, off + 36, P->B);
}

// Q4_0, Q4_1, Q5_0, Q5_1: load_* and pair_* (first: block b, else b + 1).
PAIR_LAYOUT_DEFINE(, __m512i, __m512, pair32, rows16, load_pair16, shr16, nib_split, q5_high, half_ps,
                   _mm512_setzero_ps())

AI void pair_q8_0(const pair32 *P, int first, __m512i W[8], __m512 *D, __m512 *M) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);  // signed -> unsigned (q + 128), as unpack_q8_0
  UNROLL
  for (int k = 0; k < 8; k++)
    W[k] = _mm512_xor_si512(first ? shr16(P->A[k], k < 7 ? P->A[k + 1] : P->C[0]) : P->B[k], flip);
  *D = first ? half_ps(P->A[0], 0) : half_ps(P->C[0], 1);
  *M = _mm512_setzero_ps();
}

// Four blocks at a time for gemv (every 32-element type): each row's 72
// (Q4_0), 80 (Q4_1), 88 (Q5_0), 96 (Q5_1) or 136 (Q8_0) bytes in 32-byte
// transposes and, where 16 bytes remain, one 16-byte one at the end. Against two pairs
// (load_pair16, load_q8_0) that is fewer shuffles (84 against 104; 148
// against 168), and each row is read in one run of bytes rather than two:
// out of cache Q4_0 ran 1.17-1.2x faster, though not in L2. The values are
// unpack_*'s, so results keep their bits.
typedef struct {
  __m512i V[4][8], Z[4];  // dwords 8i..8i+7; Z the last four
} quad32;

typedef void (*quad32_load_fn)(const rows16 *R, size_t off, quad32 *Q);
typedef void (*quad32_fn)(const quad32 *Q, int i, __m512i W[8], __m512 *D, __m512 *M);

// Dword k of the quad, k < 8 * loaded vectors.
#define QDW(Q, k) ((Q)->V[(k) / 8][(k) % 8])

AI void load_quad_q4_0(const rows16 *R, size_t off, quad32 *Q) {  // dwords 0-15, Z 14-17
  t16x8(R, off, Q->V[0]);
  t16x8(R, off + 32, Q->V[1]);
  t16x4(R, off + 56, Q->Z);
}

// Block i of a loaded Q4_0 quad: d at 18i, quants at 18i + 2.
AI void quad_q4_0(const quad32 *Q, int i, __m512i W[8], __m512 *D, __m512 *M) {
  __m512i q[4];
  UNROLL
  for (int k = 0; k < 4; k++) {
    if (i == 0) q[k] = shr16(QDW(Q, k), QDW(Q, k + 1));           // bytes 2..17
    else if (i == 1) q[k] = QDW(Q, 5 + k);                         // 20..35
    else if (i == 2) q[k] = shr16(QDW(Q, 9 + k), QDW(Q, 10 + k));  // 38..53
    else q[k] = Q->Z[k];                                           // 56..71
  }
  nib_split(q, W);
  *D = half_ps(QDW(Q, i == 0 ? 0 : i == 1 ? 4 : i == 2 ? 9 : 13), i % 2);
  *M = _mm512_setzero_ps();
}

AI void load_quad_q8_0(const rows16 *R, size_t off, quad32 *Q) {  // dwords 0-31, Z 30-33
  UNROLL
  for (int v = 0; v < 4; v++) t16x8(R, off + 32 * (size_t)v, Q->V[v]);
  t16x4(R, off + 120, Q->Z);
}

// Dword k (< 34) of a loaded Q8_0 quad.
AI __m512i q8_dw(const quad32 *Q, int k) { return k < 32 ? QDW(Q, k) : Q->Z[k - 30]; }

// Block i of a loaded Q8_0 quad: d at 34i, quants at 34i + 2 (even i: two
// bytes off the dword grid), made unsigned as unpack_q8_0 does.
AI void quad_q8_0(const quad32 *Q, int i, __m512i W[8], __m512 *D, __m512 *M) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const int d = 17 * i / 2;  // the dword holding d
  UNROLL
  for (int k = 0; k < 8; k++)
    W[k] = _mm512_xor_si512(i % 2 ? q8_dw(Q, d + 1 + k) : shr16(q8_dw(Q, d + k), q8_dw(Q, d + k + 1)), flip);
  *D = half_ps(q8_dw(Q, d), i % 2);
  *M = _mm512_setzero_ps();
}

// Q4_1 (20 bytes a block): dwords 0-19, each block on the dword grid.
AI void load_quad_q4_1(const rows16 *R, size_t off, quad32 *Q) {
  t16x8(R, off, Q->V[0]);
  t16x8(R, off + 32, Q->V[1]);
  t16x4(R, off + 64, Q->Z);
}

AI __m512i q41_dw(const quad32 *Q, int k) { return k < 16 ? QDW(Q, k) : Q->Z[k - 16]; }

// Block i: d, m in dword 5i, quants in the next four.
AI void quad_q4_1(const quad32 *Q, int i, __m512i W[8], __m512 *D, __m512 *M) {
  __m512i q[4];
  UNROLL
  for (int k = 0; k < 4; k++) q[k] = q41_dw(Q, 5 * i + 1 + k);
  nib_split(q, W);
  *D = half_ps(q41_dw(Q, 5 * i), 0);
  *M = half_ps(q41_dw(Q, 5 * i), 1);
}

// Q5_0 (22 bytes a block): dwords 0-21, the third transpose at dword 14.
AI void load_quad_q5_0(const rows16 *R, size_t off, quad32 *Q) {
  t16x8(R, off, Q->V[0]);
  t16x8(R, off + 32, Q->V[1]);
  t16x8(R, off + 56, Q->V[2]);
}

AI __m512i q50_dw(const quad32 *Q, int k) { return k < 16 ? QDW(Q, k) : Q->V[2][k - 14]; }

// Block i at byte 22i: d in dword b = 22i / 4 (its high half for odd i),
// then qh and the quants, two bytes off the grid for even i.
AI void quad_q5_0(const quad32 *Q, int i, __m512i W[8], __m512 *D, __m512 *M) {
  const int b = 22 * i / 4;
  __m512i q[4], qh;
  if (i % 2) {
    qh = q50_dw(Q, b + 1);
    UNROLL
    for (int k = 0; k < 4; k++) q[k] = q50_dw(Q, b + 2 + k);
  } else {
    qh = shr16(q50_dw(Q, b), q50_dw(Q, b + 1));
    UNROLL
    for (int k = 0; k < 4; k++) q[k] = shr16(q50_dw(Q, b + 1 + k), q50_dw(Q, b + 2 + k));
  }
  nib_split(q, W);
  q5_high(qh, W);
  *D = half_ps(q50_dw(Q, b), i % 2);
  *M = _mm512_setzero_ps();
}

// Q5_1 (24 bytes a block): dwords 0-23; block i: d, m in dword 6i, qh, then the quants.
AI void load_quad_q5_1(const rows16 *R, size_t off, quad32 *Q) {
  UNROLL
  for (int v = 0; v < 3; v++) t16x8(R, off + 32 * (size_t)v, Q->V[v]);
}

AI void quad_q5_1(const quad32 *Q, int i, __m512i W[8], __m512 *D, __m512 *M) {
  __m512i q[4];
  UNROLL
  for (int k = 0; k < 4; k++) q[k] = QDW(Q, 6 * i + 2 + k);
  nib_split(q, W);
  q5_high(QDW(Q, 6 * i + 1), W);
  *D = half_ps(QDW(Q, 6 * i), 0);
  *M = half_ps(QDW(Q, 6 * i), 1);
}

AI void unpack_q4_1(const rows16 *R, int64_t b, __m512i W[8], __m512 *D, __m512 *M) {
  size_t off = (size_t)b * sizeof(block_q4_1);
  __m512i T[4];
  t16x4(R, off + 4, T);
  nib_split(T, W);
  __m512i dm = gather32(R, off);
  *D = half_ps(dm, 0);
  *M = half_ps(dm, 1);
}

AI void unpack_q5_0(const rows16 *R, int64_t b, __m512i W[8], __m512 *D, __m512 *M) {
  size_t off = (size_t)b * sizeof(block_q5_0);
  __m512i T[4];
  t16x4(R, off + 6, T);
  nib_split(T, W);
  q5_high(gather32(R, off + 2), W);
  *D = half_ps(gather32(R, off), 0);
  *M = _mm512_setzero_ps();
}

AI void unpack_q5_1(const rows16 *R, int64_t b, __m512i W[8], __m512 *D, __m512 *M) {
  size_t off = (size_t)b * sizeof(block_q5_1);
  __m512i T[4];
  t16x4(R, off + 8, T);
  nib_split(T, W);
  q5_high(gather32(R, off + 4), W);
  __m512i dm = gather32(R, off);
  *D = half_ps(dm, 0);
  *M = half_ps(dm, 1);
}

AI void unpack_q8_0(const rows16 *R, int64_t b, __m512i W[8], __m512 *D, __m512 *M) {
  size_t off = (size_t)b * sizeof(block_q8_0);
  const __m512i flip = _mm512_set1_epi8((char)0x80);  // signed -> unsigned (q + 128)
  t16x8(R, off + 2, W);
  UNROLL
  for (int k = 0; k < 8; k++) W[k] = _mm512_xor_si512(W[k], flip);
  *D = half_ps(gather32(R, off), 0);
  *M = _mm512_setzero_ps();
}

typedef void (*unpack32_fn)(const rows16 *R, int64_t b, __m512i W[8], __m512 *D, __m512 *M);

// A block of a tile of nt rows stored transposed (quant.h, tiled weights):
// column after column of the rows' fields, each loaded as one vector whose
// lane r is row r's. Loads, no shuffles; lanes past nt read as zero.
AI __m512 tcol_half(const uint8_t *p, int nt) {  // an fp16 column
  return _mm512_cvtph_ps(nt == 16 ? load256(p) : _mm256_maskz_loadu_epi16(lanes16(nt), p));
}
// A 4-byte column. A full one is read as two 256-bit halves: on Zen 5 a
// stream of 512-bit loads kept the hardware prefetchers further behind
// (a plain read of 1 GiB on one core: 24-32 GB/s against 33-38 with
// 256-bit loads), and the tiled gemv on one core reached 80-83% of the
// roofline this way against 74-77% (Qwen2.5-0.5B Q8_0 and Q4_0, interleaved).
AI __m512i tcol(const uint8_t *p, int nt) {
  if (nt < 16) return _mm512_maskz_loadu_epi32(lanes16(nt), p);
  __m256i lo = _mm256_loadu_si256((const __m256i *)p), hi = _mm256_loadu_si256((const __m256i *)(p + 32));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

typedef void (*tunpack32_fn)(const uint8_t *blk, int nt, __m512i W[8], __m512 *D, __m512 *M);

// A block's scales: D, and M where it has mins (Q4_1, Q5_1: `mins`), else 0.
AI void tscales(const uint8_t *blk, int nt, int mins, __m512 *D, __m512 *M) {
  *D = tcol_half(blk, nt);
  *M = mins ? tcol_half(blk + 2 * (size_t)nt, nt) : _mm512_setzero_ps();
}

// A quarter of a block: values 4k..4k+3 (lo) and 16 + 4k..16 + 4k + 3 (hi)
// of each row, k < 4, as a whole block's W[k] and W[k + 4]. The run kernels
// that read the tiled layout in place (run32t_n) take a quarter at a time:
// four vectors live where a whole block took eight.
typedef void (*tquarter_fn)(const uint8_t *blk, int nt, int k, __m512i *lo, __m512i *hi);

// Q4's (and Q5's low) nibbles from column byte q.
AI void tquarter_nib(const uint8_t *blk, int nt, int q, int k, __m512i *lo, __m512i *hi) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512i T = tcol(blk + (size_t)(q + 4 * k) * (size_t)nt, nt);
  *lo = _mm512_and_si512(T, m4);
  *hi = _mm512_and_si512(_mm512_srli_epi16(T, 4), m4);
}
AI void tquarter_q4_0(const uint8_t *b, int nt, int k, __m512i *lo, __m512i *hi) { tquarter_nib(b, nt, 2, k, lo, hi); }
AI void tquarter_q4_1(const uint8_t *b, int nt, int k, __m512i *lo, __m512i *hi) { tquarter_nib(b, nt, 4, k, lo, hi); }
AI void tquarter_q8_0(const uint8_t *blk, int nt, int k, __m512i *lo, __m512i *hi) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);  // signed -> unsigned (q + 128), as unpack_q8_0
  *lo = _mm512_xor_si512(tcol(blk + (size_t)(2 + 4 * k) * (size_t)nt, nt), flip);
  *hi = _mm512_xor_si512(tcol(blk + (size_t)(2 + 4 * (k + 4)) * (size_t)nt, nt), flip);
}

// A whole block (for gemv and the packs): its four quarters and its scales.
AI void tunpack_quarters(const uint8_t *blk, int nt, tquarter_fn quarter, int mins, __m512i W[8], __m512 *D,
                         __m512 *M) {
  UNROLL
  for (int k = 0; k < 4; k++) quarter(blk, nt, k, &W[k], &W[k + 4]);
  tscales(blk, nt, mins, D, M);
}
AI void tunpack_q4_0(const uint8_t *b, int nt, __m512i W[8], __m512 *D, __m512 *M) {
  tunpack_quarters(b, nt, tquarter_q4_0, 0, W, D, M);
}
AI void tunpack_q4_1(const uint8_t *b, int nt, __m512i W[8], __m512 *D, __m512 *M) {
  tunpack_quarters(b, nt, tquarter_q4_1, 1, W, D, M);
}
AI void tunpack_q8_0(const uint8_t *b, int nt, __m512i W[8], __m512 *D, __m512 *M) {
  tunpack_quarters(b, nt, tquarter_q8_0, 0, W, D, M);
}
// Q5: the nibbles from column byte q, then the fifth bits from column byte qh.
AI void tunpack_q5(const uint8_t *blk, int nt, int mins, int qh, int q, __m512i W[8], __m512 *D, __m512 *M) {
  UNROLL
  for (int k = 0; k < 4; k++) tquarter_nib(blk, nt, q, k, &W[k], &W[k + 4]);
  q5_high(tcol(blk + (size_t)qh * (size_t)nt, nt), W);
  tscales(blk, nt, mins, D, M);
}
AI void tunpack_q5_0(const uint8_t *b, int nt, __m512i W[8], __m512 *D, __m512 *M) { tunpack_q5(b, nt, 0, 2, 6, W, D, M); }
AI void tunpack_q5_1(const uint8_t *b, int nt, __m512i W[8], __m512 *D, __m512 *M) { tunpack_q5(b, nt, 1, 4, 8, W, D, M); }

// Panel of 32-element blocks for 32 rows: per block the two halves' W[8],
// then their D and M (20 vectors; a tile of 16 rows or fewer repeats its
// rows in the second half, which is never stored). The bytes are unsigned
// as unpacked, or with `bias` subtracted: signed values (the AMX kernels).
#define P32_VECS 20

AI void panel_block32(__m512i *p, int h, const __m512i W[8], __m512 D, __m512 M, int bias) {
  UNROLL
  for (int k = 0; k < 8; k++)
    _mm512_store_si512(p + 8 * h + k, bias ? _mm512_sub_epi8(W[k], _mm512_set1_epi8((char)bias)) : W[k]);
  _mm512_store_ps(p + 16 + h, D);
  _mm512_store_ps(p + 18 + h, M);
}

// Two blocks per step without gathers (pair32).
AI void pack32(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel, unpack32_fn unpack,
               pair32_load_fn load, pair32_fn pair, size_t bytes, int bias) {
  rows16 R[2];
  rows16_init(&R[0], w, stride, nr);
  if (nr > 16) rows16_init(&R[1], (const uint8_t *)w + 16 * stride, stride, nr - 16);
  else R[1] = R[0];
  __m512i *p = panel;
  int64_t b = k0 / QK, end = (k0 + kn) / QK;
  for (; b + 1 < end; b += 2, p += 2 * P32_VECS) {
    UNROLL
    for (int h = 0; h < 2; h++) {
      pair32 P;
      load(&R[h], (size_t)b * bytes, &P);
      __m512i W[8];
      __m512 D, M;
      pair(&P, 1, W, &D, &M);
      panel_block32(p, h, W, D, M, bias);
      pair(&P, 0, W, &D, &M);
      panel_block32(p + P32_VECS, h, W, D, M, bias);
    }
  }
  for (; b < end; b++, p += P32_VECS) {
    UNROLL
    for (int h = 0; h < 2; h++) {
      __m512i W[8];
      __m512 D, M;
      unpack(&R[h], b, W, &D, &M);
      panel_block32(p, h, W, D, M, bias);
    }
  }
}

// pack32 for blocks stored transposed (the types whose run kernels do not
// read them in place): block b of a tile of nt rows at b * nt * bytes.
AI void pack32t(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel, tunpack32_fn tunpack,
                size_t bytes) {
  // Rows 0-15 and 16-31; a tile of 16 rows or fewer repeats the first half.
  int nt[2] = {nr < 16 ? nr : 16, nr - 16};
  const uint8_t *tile[2] = {w, (const uint8_t *)w + 16 * stride};
  if (nr <= 16) nt[1] = nt[0], tile[1] = tile[0];
  __m512i *p = panel;
  for (int64_t b = k0 / QK; b < (k0 + kn) / QK; b++, p += P32_VECS) {
    UNROLL
    for (int h = 0; h < 2; h++) {
      __m512i W[8];
      __m512 D, M;
      tunpack(tile[h] + (size_t)(b * nt[h]) * bytes, nt[h], W, &D, &M);
      panel_block32(p, h, W, D, M, 0);
    }
  }
}

// A K-quant super-block's bytes come from 16 rows in GGUF's layout (R) or
// from a tile of nt rows stored transposed (quant.h). In the tiled layout
// of the K-quants every field is in 4-byte columns but a block's last two
// bytes where its size is 2 mod 4 (Q3_K's and Q6_K's d, one 2-byte
// column), so byte `off` of the rows, block b's byte c (off = b * bytes +
// c), is at tile + off * nt. `tiled` is a constant where the source is
// made: the kernels inline each layout's loads.
typedef struct {
  const rows16 *R;
  const uint8_t *tile;
  int nt, tiled;
} ksrc;

// n = 4 or 8 dwords (16 or 32 bytes) at `off` of each row: T[k] lane r =
// bytes 4k..4k+3 of row r.
AI void kcols(const ksrc *S, size_t off, __m512i *T, const int n) {
  if (S->tiled) {
    UNROLL
    for (int k = 0; k < n; k++) T[k] = tcol(S->tile + (off + 4 * (size_t)k) * (size_t)S->nt, S->nt);
  } else if (n == 4) {
    t16x4(S->R, off, T);
  } else {
    t16x8(S->R, off, T);
  }
}
AI void kcols4(const ksrc *S, size_t off, __m512i T[4]) { kcols(S, off, T, 4); }
AI void kcols8(const ksrc *S, size_t off, __m512i T[8]) { kcols(S, off, T, 8); }
// The dword at `off` of each row.
AI __m512i kdword(const ksrc *S, size_t off) {
  return S->tiled ? tcol(S->tile + off * (size_t)S->nt, S->nt) : gather32(S->R, off);
}
// The fp16 at `off`, the last two bytes of a block whose size is 2 mod 4.
AI __m512 khalf_end(const ksrc *S, size_t off) {
  return S->tiled ? tcol_half(S->tile + off * (size_t)S->nt, S->nt) : half_ps(gather32(S->R, off - 2), 1);
}

// ---- K-quants, 16 rows -------------------------------------------------------------------------
// A super-block unpacks to a head and four groups of 64 values. Head: SC[j]
// the int32 scale of sub-block j (16 values), CM[i] the int16 pair (cm[2i],
// cm[2i+1]) that sub-block activation sums (bsums) are multiplied by, D and DM
// the float factors: dot = D * sum_j SC[j] * (q . a)_j - DM * sum_j cm[j] * bsum[j],
// with q unsigned (offsets such as Q6_K's -32 are in cm). A group is 4
// sub-blocks of 16: W[4q .. 4q+3] holds sub-block J[q].
typedef struct {
  __m512i SC[16], CM[8];
  __m512 D, DM;
  __m512i X[8];  // type-specific data shared by the groups
} khead;

// Moves bit `from` of every byte to bit `to` (other bits cleared); from - to <= 5.
AI __m512i bit_move(__m512i v, int from, int to) {
  if (from > to) v = _mm512_srli_epi16(v, from - to);
  else if (to > from) v = _mm512_slli_epi16(v, to - from);
  return _mm512_and_si512(v, _mm512_set1_epi8((char)(1 << to)));
}

AI __m512i bits2(__m512i v, int shift) {
  return _mm512_and_si512(_mm512_srli_epi16(v, shift), _mm512_set1_epi8(3));
}

AI __m512i low_nib(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0F)); }
AI __m512i high_nib(__m512i v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0F)); }

// Q2_K: scales[16] (scale | min << 4), qs[64], d, dmin.
AI void head_q2_K(const ksrc *S, size_t off, khead *H) {
  __m512i X[4];
  kcols4(S, off, X);
  UNROLL
  for (int j = 0; j < 16; j++) H->SC[j] = _mm512_and_si512(byte_u32(X[j / 4], j % 4), _mm512_set1_epi32(0xF));
  UNROLL
  for (int i = 0; i < 8; i++) H->CM[i] = _mm512_srli_epi16(bytes_u16(X[i / 2], 2 * i % 4, 2 * i % 4 + 1), 4);
  __m512i dd = kdword(S, off + 80);
  H->D = half_ps(dd, 0);
  H->DM = half_ps(dd, 1);
}

// Q2_K group g: qs[32h + l0 + 0..15], 2-bit fields s = 0..3 -> sub-block 8h + 2s + l0/16.
AI void group_q2_K(const ksrc *S, size_t off, const khead *H, int g, __m512i W[16], int J[4]) {
  (void)H;
  int h = g / 2, l0 = 16 * (g % 2);
  __m512i T[4];
  kcols4(S, off + 16 + 32 * h + l0, T);
  UNROLL
  for (int s = 0; s < 4; s++) {
    J[s] = 8 * h + 2 * s + l0 / 16;
    UNROLL
    for (int k = 0; k < 4; k++) W[4 * s + k] = bits2(T[k], 2 * s);
  }
}

// Q3_K: hmask[32], qs[64], scales[12] (6-bit, offset 32), d. In GGUF's
// layout the head reads bytes 94..109, which hold the scales and d (and
// stay inside the block).
AI void head_q3_K(const ksrc *S, size_t off, khead *H) {
  __m512i w0, w1, w2;
  if (S->tiled) {  // on the column grid
    w0 = kdword(S, off + 96), w1 = kdword(S, off + 100), w2 = kdword(S, off + 104);
    H->D = H->DM = khalf_end(S, off + 108);
  } else {
    __m512i T[4];
    t16x4(S->R, off + 94, T);
    w0 = _mm512_or_si512(_mm512_srli_epi32(T[0], 16), _mm512_slli_epi32(T[1], 16));
    w1 = _mm512_or_si512(_mm512_srli_epi32(T[1], 16), _mm512_slli_epi32(T[2], 16));
    w2 = _mm512_or_si512(_mm512_srli_epi32(T[2], 16), _mm512_slli_epi32(T[3], 16));
    H->D = H->DM = half_ps(T[3], 1);
  }
  const __m512i m4 = _mm512_set1_epi32(0x0f0f0f0f), m2 = _mm512_set1_epi32(0x03030303);
  __m512i s[4];
  s[0] = _mm512_or_si512(_mm512_and_si512(w0, m4), _mm512_slli_epi32(_mm512_and_si512(w2, m2), 4));
  s[1] = _mm512_or_si512(_mm512_and_si512(w1, m4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w2, 2), m2), 4));
  s[2] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w0, 4), m4),
                         _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w2, 4), m2), 4));
  s[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w1, 4), m4),
                         _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w2, 6), m2), 4));
  UNROLL
  for (int j = 0; j < 16; j++) H->SC[j] = _mm512_sub_epi32(byte_u32(s[j / 4], j % 4), _mm512_set1_epi32(32));
  // values are u - 4 (u = 3 bits): cm = 4 * scale
  UNROLL
  for (int i = 0; i < 8; i++)
    H->CM[i] = _mm512_slli_epi16(_mm512_sub_epi16(bytes_u16(s[i / 2], 2 * i % 4, 2 * i % 4 + 1), _mm512_set1_epi16(32)), 2);
}

AI void group_q3_K(const ksrc *S, size_t off, const khead *H, int g, __m512i W[16], int J[4]) {
  (void)H;
  int h = g / 2, l0 = 16 * (g % 2);
  __m512i T[4], M[4];
  kcols4(S, off + 32 + 32 * h + l0, T);
  kcols4(S, off + l0, M);
  UNROLL
  for (int s = 0; s < 4; s++) {
    J[s] = 8 * h + 2 * s + l0 / 16;
    UNROLL
    for (int k = 0; k < 4; k++) W[4 * s + k] = _mm512_or_si512(bits2(T[k], 2 * s), bit_move(M[k], 4 * h + s, 2));
  }
}

// Q4_K / Q5_K: d, dmin, scales[12] (8 x 6-bit scale and min).
AI void head_q45_K(const ksrc *S, size_t off, khead *H) {
  __m512i T[4];
  kcols4(S, off, T);
  H->D = half_ps(T[0], 0);
  H->DM = half_ps(T[0], 1);
  const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f), m2 = _mm512_set1_epi32(0x03030303);
  __m512i sc_lo = _mm512_and_si512(T[1], m6), mn_lo = _mm512_and_si512(T[2], m6);
  __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(T[3], m4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(T[1], 6), m2), 4));
  __m512i mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(T[3], 4), m4),
                                  _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(T[2], 6), m2), 4));
  UNROLL
  for (int j = 0; j < 16; j++) H->SC[j] = byte_u32(j < 8 ? sc_lo : sc_hi, (j / 2) % 4);
  UNROLL
  for (int i = 0; i < 8; i++) H->CM[i] = bytes_u16(i < 4 ? mn_lo : mn_hi, i % 4, i % 4);
}

AI void head_q4_K(const ksrc *S, size_t off, khead *H) { head_q45_K(S, off, H); }

// Q4_K group g: qs[32g .. 32g+32): low nibbles are values 64g + 0..31, high 64g + 32..63.
AI void group_q4_K(const ksrc *S, size_t off, const khead *H, int g, __m512i W[16], int J[4]) {
  (void)H;
  __m512i T[8], *A = T, *B = T + 4;
  kcols8(S, off + 16 + 32 * g, T);
  UNROLL
  for (int k = 0; k < 4; k++) {
    W[k] = low_nib(A[k]);
    W[4 + k] = low_nib(B[k]);
    W[8 + k] = high_nib(A[k]);
    W[12 + k] = high_nib(B[k]);
  }
  J[0] = 4 * g, J[1] = 4 * g + 1, J[2] = 4 * g + 2, J[3] = 4 * g + 3;
}

AI void head_q5_K(const ksrc *S, size_t off, khead *H) {
  head_q45_K(S, off, H);
  kcols8(S, off + 16, H->X);  // qh[0..16) in X[0..4), qh[16..32) in X[4..8)
}

// As Q4_K; the 5th bit of value 64g + l is bit 2g of qh[l], of 64g + 32 + l bit 2g + 1.
AI void group_q5_K(const ksrc *S, size_t off, const khead *H, int g, __m512i W[16], int J[4]) {
  __m512i T[8], *A = T, *B = T + 4;
  kcols8(S, off + 48 + 32 * g, T);
  UNROLL
  for (int k = 0; k < 4; k++) {
    W[k] = _mm512_or_si512(low_nib(A[k]), bit_move(H->X[k], 2 * g, 4));
    W[4 + k] = _mm512_or_si512(low_nib(B[k]), bit_move(H->X[4 + k], 2 * g, 4));
    W[8 + k] = _mm512_or_si512(high_nib(A[k]), bit_move(H->X[k], 2 * g + 1, 4));
    W[12 + k] = _mm512_or_si512(high_nib(B[k]), bit_move(H->X[4 + k], 2 * g + 1, 4));
  }
  J[0] = 4 * g, J[1] = 4 * g + 1, J[2] = 4 * g + 2, J[3] = 4 * g + 3;
}

// Q6_K: ql[128], qh[64], scales[16] (int8), d; values u - 32 with u 6-bit.
AI void head_q6_K(const ksrc *S, size_t off, khead *H) {
  __m512i X[4];
  kcols4(S, off + 192, X);
  UNROLL
  for (int j = 0; j < 16; j++)
    H->SC[j] = _mm512_srai_epi32(_mm512_shuffle_epi8(X[j / 4], dword_shuffle(-1, -1, -1, j % 4)), 24);
  UNROLL
  for (int i = 0; i < 8; i++)  // cm = 32 * scale: the byte in an int16's high half, shifted down by 3
    H->CM[i] = _mm512_srai_epi16(_mm512_shuffle_epi8(X[i / 2], dword_shuffle(-1, 2 * i % 4, -1, 2 * i % 4 + 1)), 3);
  H->D = H->DM = khalf_end(S, off + 208);
}

// Q6_K group g = (h, l0): values 128h + 32s + l0 + 0..15 -> sub-block 8h + 2s + l0/16.
AI void group_q6_K(const ksrc *S, size_t off, const khead *H, int g, __m512i W[16], int J[4]) {
  (void)H;
  int h = g / 2, l0 = 16 * (g % 2);
  __m512i L0[4], L1[4], Q[4];
  kcols4(S, off + 64 * h + l0, L0);
  kcols4(S, off + 64 * h + 32 + l0, L1);
  kcols4(S, off + 128 + 32 * h + l0, Q);
  // u = low 4 bits from ql | 2 bits from qh << 4: a bit-select under 0x0F
  // (vpternlogd), then the two top bits cleared.
  const __m512i m0f = _mm512_set1_epi8(0x0F), m3f = _mm512_set1_epi8(0x3F);
#define SEL(lo, hi) _mm512_and_si512(_mm512_ternarylogic_epi32(m0f, lo, hi, 0xCA), m3f)  // m ? lo : hi
  UNROLL
  for (int k = 0; k < 4; k++) {
    W[k] = SEL(L0[k], _mm512_slli_epi16(Q[k], 4));
    W[4 + k] = SEL(L1[k], _mm512_slli_epi16(Q[k], 2));
    W[8 + k] = SEL(_mm512_srli_epi16(L0[k], 4), Q[k]);
    W[12 + k] = SEL(_mm512_srli_epi16(L1[k], 4), _mm512_srli_epi16(Q[k], 2));
  }
#undef SEL
  for (int s = 0; s < 4; s++) J[s] = 8 * h + 2 * s + l0 / 16;
}

// The offset of a type's values where its cm is that offset times the
// scale (Q3_K: 4, Q6_K: 32): the exact kernels take it off in integers (the
// gemv) or fold it into the weights (the AMX panels), 0 where the type has
// real mins.
#define KOFF_q2_K 0
#define KOFF_q3_K 4
#define KOFF_q4_K 0
#define KOFF_q5_K 0
#define KOFF_q6_K 32

typedef void (*khead_fn)(const ksrc *S, size_t off, khead *H);
typedef void (*kgroup_fn)(const ksrc *S, size_t off, const khead *H, int g, __m512i W[16], int J[4]);
#define FOR_GROUPS(X) X(0) X(1) X(2) X(3)

// Unpacks super-block `off` of 16 rows: its head into H, then each of its 64
// vectors (sub-block j's four at 4j .. 4j + 3) through store(p, v, W, SC[j],
// arg), the packers' common walk.
typedef void (*kstore_fn)(__m512i *p, int v, __m512i w, __m512i sc, int arg);
AI void kunpack(const ksrc *S, size_t off, khead_fn head, kgroup_fn group, khead *H, __m512i *p, kstore_fn store,
                int arg) {
  head(S, off, H);
#define GROUP(g)                                                                  \
  {                                                                               \
    __m512i W[16];                                                                \
    int J[4];                                                                     \
    group(S, off, H, g, W, J);                                                    \
    UNROLL                                                                        \
    for (int q = 0; q < 4; q++)                                                   \
      UNROLL                                                                      \
      for (int k = 0; k < 4; k++) store(p, 4 * J[q] + k, W[4 * q + k], H->SC[J[q]], arg); \
  }
  FOR_GROUPS(GROUP)
#undef GROUP
}

// The activation sums of a super-block times its rows' cm: the int32 mins term.
AI __m512i kmins_bsums(const __m512i CM[8], const int16_t *bsums) {
  __m512i m = _mm512_setzero_si512();
  UNROLL
  for (int i = 0; i < 8; i++) m = _mm512_dpwssd_epi32(m, CM[i], bcast32(bsums + 2 * i));
  return m;
}
AI __m512i kmins(const __m512i CM[8], const block_q8_K *y) { return kmins_bsums(CM, y->bsums); }

// A super-block's end from exact integer sums: is = sum_j SC[j] * (q . a)_j
// and the mins msum; D x is less DM x msum, times the activations' d, into
// acc. fold: the type's mins are its values' offset (DM = D), which comes
// off in integers first. The kernels whose rows must agree bit for bit
// (gemv and the AMX panels) end every super-block here.
AI __m512 kfinish_int(__m512 acc, __m512 D, __m512 DM, __m512i is, __m512i msum, float yd, int fold) {
  __m512 f;
  if (fold) f = _mm512_mul_ps(D, _mm512_cvtepi32_ps(_mm512_sub_epi32(is, msum)));
  else f = _mm512_fnmadd_ps(DM, _mm512_cvtepi32_ps(msum), _mm512_mul_ps(D, _mm512_cvtepi32_ps(is)));
  return _mm512_fmadd_ps(f, _mm512_set1_ps(yd), acc);
}

#endif
