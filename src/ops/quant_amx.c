// quant_amx: prompt kernels on the AMX tile unit for the quantized types,
// for CPUs at SIMD_AMX. Everything else at that level is the AVX-512
// table's, except the K-quants' gemv, which takes the integer-scaled variant
// so that a row's result is the same bits in any batch.
//
// A tile product C[16 x 16] += A[16 x K] . B[K x 16] (tdpbssd: signed bytes)
// multiplies 16 activation rows by 16 weight rows over K = 64 (or 32) values.
// The activations come tiled by matmul (quant_act_tile: a block's quants of
// 16 rows side by side; a tile load with the rows' stride cost 3x a
// contiguous one). How far the sums stay in the tile unit depends on the
// type's scales:
//   - K-quants: their sub-block scales are small integers, so packing folds
//     them into the weights, w = scale x q (less the type's offset for Q3_K
//     and Q6_K), up to 14 bits, in two signed byte planes w = 128 h + l. Two
//     tile sums per plane cover a whole super-block of 256 values, and one
//     AVX-512 step per super-block and token finishes it (128 C_h + C_l, the
//     mins through the activation sums, the float scales: kfinish_int, as
//     the gemv does).
//   - 32-element types (Q4_0 ... Q8_0): a float scale per 32 values on both
//     sides cannot be folded, so every 16 x 16 x 32 product is stored and
//     scaled in AVX-512 exactly as the VNNI kernel does.
// On this hardware the tile unit's work and the vector work do not overlap
// (docs/PERFORMANCE.md), so each kernel costs the sum of both.
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ops/avx512_rows.h"
#include "ops/quant.h"

#define KC 1024   // elements per K-chunk of a panel
// Panel per super-block (16 rows): the h plane's 64 vectors (4 B tiles of 64
// values), the l plane's 64, CM[8], D, DM.
#define PA_VECS 138
#define PA_CM 128
#define PA_D 136
#define PA_DM 137

// The tile layouts, in the form ldtilecfg reads. K-quants: tile 0 the
// activations (nc rows of 64 bytes), tiles 1 and 2 the two weight planes (16
// rows of 16 x 4 bytes), tiles 4-7 the int32 sums of two super-blocks (nc
// rows of 16). 32-element blocks: tile 0 the activations (nc rows of 32
// bytes), tile 1 one half of a block's panel (8 rows of 16 x 4 bytes), tiles
// 4-7 the int32 sums of four blocks.
typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

enum { LAYOUT_K = 1, LAYOUT_32 = 2 };

// The configuration stays loaded between calls of one thread; it is
// reloaded only when the layout or the activation-row count changes (a last,
// short group). initial-exec: a plain %fs-relative read, also in the shared
// library (the default there calls __tls_get_addr: 1.3% of a prefill).
static _Thread_local __attribute__((tls_model("initial-exec"))) int g_config;

AI void configure(int layout, int nc) {
  if (g_config == layout * 64 + nc) return;
  tile_config c = {.palette = 1};
  int k32 = layout == LAYOUT_32;
  c.rows[0] = (uint8_t)nc;
  c.colsb[0] = k32 ? 32 : 64;
  c.rows[1] = k32 ? 8 : 16;
  c.colsb[1] = 64;
  if (!k32) {
    c.rows[2] = 16;
    c.colsb[2] = 64;
  }
  for (int t = 4; t < 8; t++) {
    c.rows[t] = (uint8_t)nc;
    c.colsb[t] = 64;
  }
  // Not _tile_loadconfig: GCC 12 declares its operand as 8 bytes, and the
  // stores to the rest of the configuration are then dropped.
  __asm__ volatile("ldtilecfg %0" ::"m"(c));
  g_config = layout * 64 + nc;
}

// How a type's mins are applied: not at all (Q3_K and Q6_K: offsets folded
// into the weights), per 16 values (Q2_K: 8 vpdpwssd with the activation
// sums of 16 per token and super-block), or per 32 (Q4_K, Q5_K: 4, with the
// sums of 32 that the tiled activations then carry, TILE_BSUMS32).
enum { MINS_NONE, MINS16, MINS32 };

// The activation-sum layout a type's kernels read (the types without mins
// take sums of 32 too, so that Q4_K and Q6_K weights share one input).
static int tiles_for(int mins) { return mins == MINS16 ? TILE_PLAIN : TILE_BSUMS32; }

// ---- packing ----------------------------------------------------------------------------

// w = sc x (q - off) per byte of W (16 rows x 4 values; sc per row, in the
// low 16 bits of its lane), split into the planes h (w >> 7, signed) and l
// (w & 127). In 16-bit halves: the even bytes, then the odd ones.
AI void fold_split(__m512i W, __m512i sc, int off, __m512i *H, __m512i *L) {
  const __m512i m8 = _mm512_set1_epi16(0xFF), m7 = _mm512_set1_epi16(0x7F), o = _mm512_set1_epi16((short)off);
  __m512i sc16 = _mm512_or_si512(_mm512_and_si512(sc, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(sc, 16));
  __m512i we = _mm512_mullo_epi16(_mm512_sub_epi16(_mm512_and_si512(W, m8), o), sc16);
  __m512i wo = _mm512_mullo_epi16(_mm512_sub_epi16(_mm512_srli_epi16(W, 8), o), sc16);
  *H = _mm512_or_si512(_mm512_and_si512(_mm512_srai_epi16(we, 7), m8), _mm512_slli_epi16(_mm512_srai_epi16(wo, 7), 8));
  *L = _mm512_or_si512(_mm512_and_si512(we, m7), _mm512_slli_epi16(_mm512_and_si512(wo, m7), 8));
}

// Vector v of the super-block (sub-block scale sc) into both planes.
AI void store_planes(__m512i *p, int v, __m512i w, __m512i sc, int off) {
  __m512i hv, lv;
  fold_split(w, sc, off, &hv, &lv);
  _mm512_store_si512(p + v, hv);
  _mm512_store_si512(p + 64 + v, lv);
}

// mins: how the type's mins meet the activation sums (enum below).
AI void packA(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel, size_t bytes,
              khead_fn head, kgroup_fn group, int off, int mins) {
  rows16 R;
  rows16_init(&R, w, stride, nr);
  const ksrc S = {.R = &R, .tiled = 0};
  __m512i *p = panel;
  for (int64_t b = k0 / QK_K; b < (k0 + kn) / QK_K; b++, p += PA_VECS) {
    khead H;
    kunpack(&S, (size_t)b * bytes, head, group, &H, p, store_planes, off);
    // Mins of 32 values go in pairs of adjacent sub-blocks (CM[i] holds
    // sub-block i's min twice, once per 16 values).
    UNROLL
    for (int i = 0; i < 8; i++) {
      __m512i cm = H.CM[i];
      if (mins == MINS32 && i < 4)
        cm = _mm512_or_si512(_mm512_and_si512(H.CM[2 * i], _mm512_set1_epi32(0xFFFF)),
                             _mm512_slli_epi32(H.CM[2 * i + 1], 16));
      _mm512_store_si512(p + PA_CM + i, cm);
    }
    _mm512_store_ps(p + PA_D, H.D);
    _mm512_store_ps(p + PA_DM, H.DM);
  }
}

// ---- products ---------------------------------------------------------------------------

// The tiled activations of super-block i of the group (quant_q8_K_tile).
#define TILE_SB (QUANT_TILE_ROWS * sizeof(block_q8_K))

// Super-block i of the chunk (if there is one) into C tiles ch (h plane) and
// cl (l plane), stored at c[0] and c[1].
#define TILE_SUPER(ch, cl, i, c)                                              \
  if ((i) < nb) {                                                             \
    const uint8_t *qs = x0 + (size_t)(i) * TILE_SB;                           \
    const __m512i *blk = panel + (size_t)(i) * PA_VECS;                       \
    _tile_zero(ch);                                                           \
    _tile_zero(cl);                                                           \
    UNROLL                                                                    \
    for (int s = 0; s < 4; s++) {                                             \
      _tile_loadd(0, qs + 1024 * s, 64);                                      \
      _tile_loadd(1, blk + 16 * s, 64);                                       \
      _tile_loadd(2, blk + 64 + 16 * s, 64);                                  \
      _tile_dpbssd(ch, 0, 1);                                                 \
      _tile_dpbssd(cl, 0, 2);                                                 \
    }                                                                         \
    _tile_stored(ch, c[0], 64);                                               \
    _tile_stored(cl, c[1], 64);                                               \
  }

// The mins term with sums of 32 values: CM holds pairs of sub-blocks' mins.
AI __m512i kmins32(const __m512i CM[4], const int16_t *bsums32) {
  __m512i m = _mm512_setzero_si512();
  UNROLL
  for (int i = 0; i < 4; i++) m = _mm512_dpwssd_epi32(m, CM[i], bcast32(bsums32 + 2 * i));
  return m;
}

// acc[t] += super-block i's stored sums for token t < nc; sb: its tiled activations.
AI void finish_super(__m512 acc[QUANT_TILE_ROWS], int32_t c[2][QUANT_TILE_ROWS * 16], const __m512i *blk,
                     const uint8_t *sb, int nc, int mins) {
  __m512 D = _mm512_load_ps(blk + PA_D), DM = _mm512_load_ps(blk + PA_DM);
  const float *d = (const float *)(sb + QUANT_TILE_D);
  const int16_t *bsums = (const int16_t *)(sb + QUANT_TILE_BSUMS);
  UNROLL
  for (int t = 0; t < QUANT_TILE_ROWS; t++) {
    if (t >= nc) break;
    __m512i is = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(c[0] + 16 * t), 7),
                                  _mm512_load_si512(c[1] + 16 * t));
    // Folded types' offsets are in the planes already (is is the gemv's is - msum).
    const __m512i *cm = (const __m512i *)(blk + PA_CM);
    __m512i msum = mins == MINS32 ? kmins32(cm, bsums + 16 * t)
                   : mins == MINS16 ? kmins_bsums(cm, bsums + 16 * t)
                                    : _mm512_setzero_si512();
    acc[t] = kfinish_int(acc[t], D, DM, is, msum, d[t], mins == MINS_NONE);
  }
}

#define FINISH_SUPER(i, c) \
  if ((i) < nb) finish_super(acc, c, panel + (size_t)(i) * PA_VECS, x0 + (size_t)(i) * TILE_SB, nc, mins);

// a: the group's tiled activations (the rows' stride is not needed).
AI void runA(const void *pv, int nr, int64_t k0, int64_t kn, const void *a, int nc, float *y, int64_t ldy, int accum,
             int mins) {
  const __m512i *panel = pv;
  int64_t nb = kn / QK_K;
  const uint8_t *x0 = (const uint8_t *)a + (size_t)(k0 / QK_K) * TILE_SB;
  configure(LAYOUT_K, nc);
  _Alignas(64) int32_t c[2][2][QUANT_TILE_ROWS * 16];
  __m512 acc[QUANT_TILE_ROWS];
  UNROLL
  for (int t = 0; t < QUANT_TILE_ROWS; t++) acc[t] = t < nc ? load16(y + t * ldy, nr, accum) : _mm512_setzero_ps();
  // The tile unit works on super-block i + 1 while the vector units finish i.
  TILE_SUPER(4, 5, 0, c[0])
  for (int64_t i = 0; i < nb; i += 2) {
    TILE_SUPER(6, 7, i + 1, c[1])
    FINISH_SUPER(i, c[0])
    TILE_SUPER(4, 5, i + 2, c[0])
    FINISH_SUPER(i + 1, c[1])
  }
  UNROLL
  for (int t = 0; t < QUANT_TILE_ROWS; t++)
    if (t < nc) store16(y + t * ldy, acc[t], nr, 0);
}

// The type's offset (KOFF_) is folded into its weights.
#define AMXK(name, mins)                                                                                      \
  static void pack_amx_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {    \
    packA(w, stride, nr, k0, kn, panel, sizeof(block_##name), head_##name, group_##name, KOFF_##name, mins);  \
  }                                                                                                           \
  static void run_amx_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,   \
                             size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y,        \
                             int64_t ldy, int acc) {                                                          \
    (void)w_stride, (void)a_stride, (void)aux, (void)aux_stride;                                              \
    runA(w, nr, k0, kn, a, nc, y, ldy, acc, mins);                                                            \
  }
AMXK(q2_K, MINS16)
AMXK(q3_K, MINS_NONE)
AMXK(q4_K, MINS32)
AMXK(q5_K, MINS32)
AMXK(q6_K, MINS_NONE)

// ---- 32-element blocks -------------------------------------------------------------------
// The panel is the AVX-512 kernels' (avx512_rows.h), packed with the
// weights' offsets subtracted (signed bytes: tdpbssd) or, for Q4_1 / Q5_1,
// unsigned (tdpbsud), whose mins come back through the Q8_1 sums. Every
// block has its own float scales, so every 16 x 16 x 32 product leaves the
// tile unit, and each token's 16 sums are scaled and added as the VNNI
// kernel does (convert, D x d, fused multiply-add): a row's result is the
// same bits at AMX and AVX-512 in any batch. Four C tiles pipeline the
// blocks: the tile unit works on the next two while the vector units scale
// the last two.

// acc[t] += block i's stored sums c for token t < nc, scaled; x: the block's
// tiled side data (16 rows).
AI void scale32(__m512 acc[QUANT_TILE_ROWS], const int32_t *c, const __m512i *blk, int h, const act_aux *x, int nc,
                int q81) {
  __m512 D = _mm512_load_ps(blk + 16 + h), M = _mm512_load_ps(blk + 18 + h);
  UNROLL
  for (int t = 0; t < QUANT_TILE_ROWS; t++) {
    if (t >= nc) break;
    __m512 s = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * t));
    acc[t] = _mm512_fmadd_ps(s, _mm512_mul_ps(D, _mm512_set1_ps(x[t].d)), acc[t]);
    if (q81) acc[t] = _mm512_fmadd_ps(M, _mm512_set1_ps(x[t].s), acc[t]);
  }
}

// Block i (if there is one) of the chunk into C tile ct, stored at c.
#define TILE_BLOCK(ct, i, c)                                                  \
  if ((i) < nb) {                                                             \
    _tile_loadd(0, qs0 + (size_t)(i) * QUANT_TILE_ROWS * bb, QK);             \
    _tile_loadd(1, panel + (size_t)(i) * P32_VECS + 8 * h, 64);               \
    _tile_zero(ct);                                                           \
    if (q81) _tile_dpbsud(ct, 0, 1);                                          \
    else _tile_dpbssd(ct, 0, 1);                                              \
    _tile_stored(ct, c, 64);                                                  \
  }
#define SCALE_BLOCK(i, c) \
  if ((i) < nb) scale32(acc, c, panel + (size_t)(i) * P32_VECS, h, x0 + (i) * QUANT_TILE_ROWS, nc, q81);

// a, aux: the group's tiled activations and side data.
AI void run32(const void *pv, int nr, int64_t k0, int64_t kn, const void *a, const act_aux *aux, int nc, float *y,
              int64_t ldy, int accum, int q81) {
  const __m512i *panel = pv;
  int64_t b0 = k0 / QK, nb = kn / QK;
  size_t bb = q81 ? sizeof(block_q8_1) : sizeof(block_q8_0);
  const uint8_t *qs0 = (const uint8_t *)a + (size_t)b0 * QUANT_TILE_ROWS * bb;
  const act_aux *x0 = aux + b0 * QUANT_TILE_ROWS;
  configure(LAYOUT_32, nc);
  _Alignas(64) int32_t c[4][QUANT_TILE_ROWS * 16];
  for (int h = 0; h < (nr > 16 ? 2 : 1); h++) {
    __m512 acc[QUANT_TILE_ROWS];
    UNROLL
    for (int t = 0; t < QUANT_TILE_ROWS; t++)
      acc[t] = t < nc ? load16(y + t * ldy + 16 * h, nr - 16 * h, accum) : _mm512_setzero_ps();
    TILE_BLOCK(4, 0, c[0])
    TILE_BLOCK(5, 1, c[1])
    for (int64_t i = 0; i < nb; i += 4) {
      TILE_BLOCK(6, i + 2, c[2])
      TILE_BLOCK(7, i + 3, c[3])
      SCALE_BLOCK(i, c[0])
      SCALE_BLOCK(i + 1, c[1])
      TILE_BLOCK(4, i + 4, c[0])
      TILE_BLOCK(5, i + 5, c[1])
      SCALE_BLOCK(i + 2, c[2])
      SCALE_BLOCK(i + 3, c[3])
    }
    UNROLL
    for (int t = 0; t < QUANT_TILE_ROWS; t++)
      if (t < nc) store16(y + t * ldy + 16 * h, acc[t], nr - 16 * h, 0);
  }
}

#define AMX32(name, q81, bias)                                                                                \
  static void pack_amx_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {    \
    pack32(w, stride, nr, k0, kn, panel, unpack_##name,                                                       \
        load_##name, pair_##name, sizeof(block_##name), bias);                                                \
  }                                                                                                           \
  static void run_amx_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,   \
                             size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y,        \
                             int64_t ldy, int acc) {                                                          \
    (void)w_stride, (void)a_stride, (void)aux_stride;                                                         \
    run32(w, nr, k0, kn, a, aux, nc, y, ldy, acc, q81);                                                       \
  }
AMX32(q4_0, 0, 8)
AMX32(q4_1, 1, 0)
AMX32(q5_0, 0, 16)
AMX32(q5_1, 1, 0)
AMX32(q8_0, 0, 128)

// ---- tables ---------------------------------------------------------------------------------

static quant_gemm g_gemm[T_COUNT];

// A type's AVX-512 entry with the AMX prompt kernels; the K-quants also take
// the integer-scaled gemv, the others keep theirs (and the side data it
// needs, which holds the scales the AMX kernels read).
static void set_amx(quant_kernels *t, uint32_t type, gemm_pack_fn pack, gemm_run_fn run, int tiles) {
  int k = type_block_size(type) == QK_K;
  if (!t[type].gemm || (k && !quant_avx512_gemv_int(type))) return;
  quant_gemm *g = &g_gemm[type];
  *g = *t[type].gemm;
  g->rows = k ? 16 : 32;
  g->cols = QUANT_TILE_ROWS;
  g->kc = KC;
  g->panel_bytes = (size_t)(KC / (k ? QK_K : QK)) * (k ? PA_VECS : P32_VECS) * 64;
  g->pack = pack;
  g->run = run;
  g->act_tiles = tiles;
  // The AMX panels read GGUF's layout only (no machine here to test a tiled one on).
  g->gemv_tiled = NULL;
  g->pack_tiled = NULL;
  g->run_tiled = NULL;
  if (k) g->gemv = quant_avx512_gemv_int(type);
  // The tile kernels overtake two gemv passes from 17-24 rows (one weight
  // copy in cache; weights streamed from memory favour them more).
  else g->gemv_max = 2 * g->gemv_cols;
  t[type].gemm = g;
}

void quant_amx_table(quant_kernels *t) {
  set_amx(t, T_Q4_0, pack_amx_q4_0, run_amx_q4_0, TILE_PLAIN);
  set_amx(t, T_Q4_1, pack_amx_q4_1, run_amx_q4_1, TILE_PLAIN);
  set_amx(t, T_Q5_0, pack_amx_q5_0, run_amx_q5_0, TILE_PLAIN);
  set_amx(t, T_Q5_1, pack_amx_q5_1, run_amx_q5_1, TILE_PLAIN);
  set_amx(t, T_Q8_0, pack_amx_q8_0, run_amx_q8_0, TILE_PLAIN);
  set_amx(t, T_Q2_K, pack_amx_q2_K, run_amx_q2_K, tiles_for(MINS16));
  set_amx(t, T_Q3_K, pack_amx_q3_K, run_amx_q3_K, tiles_for(MINS_NONE));
  set_amx(t, T_Q4_K, pack_amx_q4_K, run_amx_q4_K, tiles_for(MINS32));
  set_amx(t, T_Q5_K, pack_amx_q5_K, run_amx_q5_K, tiles_for(MINS32));
  set_amx(t, T_Q6_K, pack_amx_q6_K, run_amx_q6_K, tiles_for(MINS_NONE));
}
