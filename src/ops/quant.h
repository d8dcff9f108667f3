// quant: block layouts of the quantized tensor types, and per-type kernels:
// dequantize a row, quantize a row, and the dot product of a weight row with
// an activation row quantized to the weight type's "vec-dot type" (as the
// reference engine does: Q4_0/Q5_0/Q8_0 against Q8_0, Q4_1/Q5_1 against Q8_1,
// K-quants against Q8_K, F16 against F16, BF16 against BF16, F32 against F32),
// so that results match the reference to rounding.
//
// Every kernel has a scalar reference; AVX2 and AVX-512 variants are chosen
// at run time (core/cpu.h) and tested against it. Kernels never allocate.
#ifndef LLMUX_QUANT_H
#define LLMUX_QUANT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cpu.h"
#include "ops/types.h"

// dst[0..n) = dequantized src (n a multiple of the block size).
typedef void (*dequant_fn)(const void *src, float *dst, int64_t n);
// Encodes n floats as type (used for activations, and by tests/tools to write models).
typedef void (*quantize_fn)(const float *src, void *dst, int64_t n);
// *out = dot(weight row w of `type`, activation row a of vec_dot_type(type)), n elements.
typedef void (*vec_dot_fn)(int64_t n, float *out, const void *w, const void *a);

uint32_t quant_vec_dot_type(uint32_t type);
// NULL when the type (or that level's variant) is not available; the _at
// variants pick an explicit SIMD level, the plain ones the current level.
dequant_fn quant_dequant(uint32_t type);
quantize_fn quant_quantize(uint32_t type);
vec_dot_fn quant_vec_dot(uint32_t type);
dequant_fn quant_dequant_at(uint32_t type, enum simd_level level);
quantize_fn quant_quantize_at(uint32_t type, enum simd_level level);
vec_dot_fn quant_vec_dot_at(uint32_t type, enum simd_level level);

// The quantizer for activation rows of a vec-dot type (what matmul uses).
// For Q8_0 and Q8_1 it rounds as the reference engine does on x86 when it
// quantizes activations (round-half-even of x * 127 / amax), while
// quant_quantize rounds as the reference quantizer writes model files
// (roundf of x / d), so that both reproduce the reference bit for bit. For
// the other types the two are the same.
quantize_fn quant_quantize_act(uint32_t type);
quantize_fn quant_quantize_act_at(uint32_t type, enum simd_level level);

// ---- block layouts ----------------------------------------------------------
// As GGUF files store them (ggml's layouts), little-endian, fp16 fields as raw
// bits (core/fp16.h). Element i of a 32-element block: the low nibble of
// qs[i] for i < 16, the high nibble of qs[i - 16] otherwise; the 5th bit of
// Q5 types is bit i of qh. K-quants: super-blocks of 256 with 6/4-bit
// sub-block scales; the element order inside each is spelled out in the
// scalar dequantizers (quant.c), which are the definition we test against.
#define QK 32     // elements per block of the 32-element types
#define QK_K 256  // elements per super-block of the K-quants

typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;                 // d * (q - 8)
typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;              // d * q + m
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;  // d * (q - 16)
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;                  // d * q
typedef struct { uint16_t d, s; int8_t qs[32]; } block_q8_1;               // s = d * sum(qs)
// 16 sub-blocks of 16: scales[j] = scale (low 4 bits) | min (high 4 bits);
// x = d * scale * q - dmin * min, q 2-bit in qs.
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } block_q2_K;
// 16 sub-blocks of 16, 6-bit signed scales (packed in 12 bytes, offset 32);
// q = 2 low bits from qs, minus 4 when the hmask bit is clear.
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } block_q3_K;
// 8 sub-blocks of 32, 6-bit scale and min each (packed in 12 bytes).
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } block_q5_K;
// 16 sub-blocks of 16, int8 scales; q = 6-bit (4 in ql, 2 in qh) - 32.
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } block_q6_K;
// Activations for the K-quants: float scale, bsums[j] = sum of qs[16j..16j+16).
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } block_q8_K;

// Sub-block j (0..7) scale and min of a Q4_K/Q5_K super-block.
static inline void quant_k4_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Sub-block j (0..15) scale of a Q3_K super-block, in -32..31.
static inline int quant_k3_scale(int j, const uint8_t *s) {
  int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
  int hi = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
  return (lo | (hi << 4)) - 32;
}

// ---- batched kernels for matmul (internal to ops/) ---------------------------
// Per-block side data of a Q8_0 / Q8_1 activation row that the batched
// kernels want ready-made: the scales as floats, and for Q8_0 the integer
// correction -bias * sum(qs), where bias is the weight type's unsigned offset
// (Q4_0: 8, Q5_0: 16, Q8_0: 128), so kernels can use unsigned x signed byte
// products.
typedef struct {
  float d, s;    // d, and (Q8_1) s, as floats
  int32_t corr;  // Q8_0: -bias * sum(qs)
  int32_t pad;
} act_aux;

// Fills aux[0..n/32) for an activation row of act_type (Q8_0 or Q8_1).
void quant_act_aux(uint32_t act_type, int bias, const void *a, int64_t n, act_aux *aux);

// Tiled activations (for tile-unit kernels, quant_gemm.act_tiles): a group
// of QUANT_TILE_ROWS activation rows occupies the bytes of those rows, and
// holds per block b, at b * QUANT_TILE_ROWS * the block's bytes, the quants
// of the 16 rows as tiles of 16 rows x 64 values (values 64s..64s+63 of row
// r at 1024 s + 64 r; a 32-element block is one tile of 16 x 32, row r at
// 32 r). Q8_K then has the 16 rows' d (float) and, in 32 bytes per row, its
// bsums: the 16 sums of 16 values (TILE_PLAIN), or the 8 sums of 32
// (TILE_BSUMS32, for weights whose mins cover 32 values). Q8_0 / Q8_1 keep
// their side data in the group's act_aux rows, tiled the same way: block b of
// row r at b * 16 + r, with d and s only (the tile kernels need no
// correction term). quant_act_tile writes blocks b0 .. b0 + n - 1 of row r
// (< QUANT_TILE_ROWS), quantized as blks (n consecutive blocks), and their
// side data.
// Grouped activations (TILE_GROUP, for the run kernels that sweep
// QUANT_GROUP_ROWS activation rows per call): a group of that many rows
// holds per block b of Q8_0 / Q8_1 the quants of its rows side by side, row
// r's 32 at (b * QUANT_GROUP_ROWS + r) * 32, and their side data, Q8_0's
// correction included (bias as in quant_act_aux), at
// aux_group[b * QUANT_GROUP_ROWS + r]: a call reads its activations as two
// streams, where plain rows are two streams per row. The gemm's act_group
// writes them (quant_act_tile does not).
#define QUANT_TILE_ROWS 16
#define QUANT_TILE_D 4096
#define QUANT_TILE_BSUMS 4160
#define QUANT_GROUP_ROWS 6
enum { TILE_PLAIN = 1, TILE_BSUMS32 = 2, TILE_GROUP = 3 };  // values of act_tiles
static inline int quant_act_group_rows(int tiles) { return tiles == TILE_GROUP ? QUANT_GROUP_ROWS : QUANT_TILE_ROWS; }
void quant_act_tile(uint32_t act_type, int tiles, const void *blks, int64_t b0, int64_t n, int r, void *group,
                    act_aux *aux_group);

// A batched kernel computes a tile of y for up to `rows` weight rows and up
// to `cols` activation rows at once. When `pack` is set, the kernel first
// repacks the tile's weight rows, over the K-range [k0, k0 + kn), into a
// panel (panel_bytes, which matmul keeps on its stack; kn <= kc), which `run`
// then reuses for every group of activation rows; otherwise `run` reads the
// weights directly (w, w_stride) and kc is 0 (whole rows).
typedef void (*gemm_pack_fn)(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, void *panel);
// y[c * ldy + r] (+)= dot over [k0, k0 + kn) of weight row r and activation
// row c, for r < nr, c < nc; `acc` adds to y instead of storing.
typedef void (*gemm_run_fn)(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,
                            size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y,
                            int64_t ldy, int acc);
// Up to `cols` activation rows against nr weight rows (any count), without
// packing: y[c * ldy + r] = dot(weight row r, activation row c), r < nr, c < nc.
typedef void (*gemv_fn)(int64_t n, const void *w, size_t w_stride, int64_t nr, const void *a, size_t a_stride,
                        const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy);
// Tiled weights: a layout of a matrix's bytes that the AVX-512 kernels of
// the quantized types read as one stream, with loads alone, the same size
// as GGUF's. Rows go in tiles of QUANT_TILE_ROWS (the last tile may be
// shorter), and each block of a tile is stored transposed: block b of a tile
// of nt rows is at b * nt * block bytes, and holds its fields column by
// column (4 bytes at a time but for the 32-element types' leading fp16
// fields and the last two bytes of Q3_K's and Q6_K's blocks: 2 bytes), each
// with the nt rows side by side, which is what the kernels' 16-row
// transposes of GGUF's layout produce. There a step of the kernels reads 16
// short runs of bytes a row apart, which one core streams at about 60% of a
// linear read, and spends most of its work on the transposes
// (docs/PERFORMANCE.md, sessions 12 and 14).
// Whether the type has a tiled layout (the 32-element types and the K-quants).
bool quant_tiles(uint32_t type);
// dst = the n_out rows of n_in elements at src (GGUF layout), tiled.
void quant_tile_rows(uint32_t type, const void *src, void *dst, int64_t n_in, int64_t n_out);
// Row r of a tiled matrix, in GGUF's layout, into dst (row bytes).
void quant_tile_row(uint32_t type, const void *tiled, int64_t n_in, int64_t n_out, int64_t r, void *dst);

typedef struct {
  int rows, cols;
  int64_t kc;          // K-chunk per panel (elements), 0 without packing
  int aux_bias;        // >0: activation rows need act_aux with this bias (Q8_0), -1: Q8_1 aux
  int act_f32;         // run and gemv want F16/BF16 activations as floats (rounded through the type)
  int gemv_act_half;   // but gemv wants them in the type itself: half the bytes to keep in L1
  int act_tiles;       // run wants activations tiled (quant_act_tile: a TILE_ value); gemv reads plain rows
  size_t panel_bytes;  // for pack
  gemm_pack_fn pack;
  gemm_run_fn run;     // NULL: no batched kernel (gemv only)
  gemv_fn gemv;        // NULL: small batches go through vec_dot
  int gemv_cols;       // largest batch for one gemv pass
  int gemv_max;        // largest batch for gemv (0: matmul's default of a few passes); larger ones are packed
  gemv_fn gemv_tiled;  // gemv and pack for tiled weights (NULL: the level reads GGUF's layout only)
  gemm_pack_fn pack_tiled;
  gemm_run_fn run_tiled;  // or a run kernel that reads tiled weights in place (no pack)
  // One token, tiled weights with rows longer than gemv_group_row bytes:
  // gemv_tiled reads gemv_group tiles at a time (0: one at a time) and the
  // tiles left over one by one, which is slower there, so threads take
  // whole groups (matmul's plan_grain).
  int gemv_group;
  size_t gemv_group_row;
  // TILE_GROUP: quantizes blocks [b0, b0 + n / 32) of one activation row
  // from src straight into row r of its group with its side data, in one
  // pass: quantize_act's quants and quant_act_aux's side data (with bias).
  void (*act_group)(const float *src, int64_t n, int bias, int64_t b0, int r, void *group, act_aux *aux_group);
  // and block b of the group's first n rows (n <= QUANT_GROUP_ROWS) from n
  // blocks of floats, one row's after another's: the same bytes.
  void (*act_group_rows)(const float *src, int n, int bias, int64_t b, void *group, act_aux *aux_group);
} quant_gemm;

// The batched kernel of a weight type at a level, or NULL when there is none.
const quant_gemm *quant_gemm_at(uint32_t type, enum simd_level level);

// ---- per-level tables (filled by quant_avx2.c / quant_avx512.c) ---------------
typedef struct {
  dequant_fn dequant;
  quantize_fn quantize;
  vec_dot_fn vec_dot;
  const quant_gemm *gemm;
  quantize_fn quantize_act;  // NULL: same as quantize
} quant_kernels;

#if defined(__x86_64__)
void quant_avx2_table(quant_kernels *t);    // t[T_COUNT], fills the entries it has
void quant_avxvnni_table(quant_kernels *t); // the same, built with AVX-VNNI (used where cpu_avxvnni())
void quant_avx512_table(quant_kernels *t);  // t[T_COUNT]
void quant_amx_table(quant_kernels *t);     // t[T_COUNT], a copy of the AVX-512 table: replaces prompt kernels
// The K-quants' AVX-512 gemv with the sub-block scales applied in integers
// (the AMX prompt kernels' arithmetic), NULL for other types.
gemv_fn quant_avx512_gemv_int(uint32_t type);
#endif

#endif
