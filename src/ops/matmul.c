// matmul: see matmul.h. One pool run in two phases, with a barrier between:
//   1. the activation rows are quantized to the weight's vec-dot type into the
//      scratch (plus, for the batched kernels, per-block side data), split
//      across threads by rows, or by blocks when there are fewer rows than threads;
//      a normalized or gated input (matmul_many_normed, matmul_gated) is
//      formed on the way, a piece at a time. One token's short input is
//      quantized whole by every thread into its own copy instead, with no
//      barrier (own_worker);
//   2. the output rows are split across threads in whole tiles (claimed as
//      they go by packed jobs, the pool's balanced plan otherwise), and each
//      thread walks its tiles: with a batched kernel (quant_gemm) it packs the
//      tile's weights once per K-chunk (unless the kernel reads the tiled
//      layout in place) and sweeps every activation row through it;
//      otherwise it dots each row of the tile with each activation row while
//      the tile is in L1. A batch that fits in one group of the kernel (one
//      token in generation, a few in speculative or parallel decoding) streams
//      each weight row once through the level's gemv kernel, without packing.
// The packed panel lives on the worker's stack (MM_PANEL_MAX bytes), so the
// scratch does not depend on the thread count. matmul_many runs several
// weights that read one input (Q, K and V; gate and up) as one job: one
// quantization, one pool run and barrier, and one split of all their tiles.
// matmul_ffn runs a prompt's gate and up in pairs of rows whose gated values
// go straight into the down projection's input (run_pairs), then down on
// that given input.
#include "ops/matmul.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "core/timing.h"
#include "ops/ops.h"
#include "ops/quant.h"
#include "ops/types.h"

#define MM_ALIGN 64
#define MM_PANEL_MAX (160 * 1024)  // the largest kernel's panel (quant_avx512.c's K-chunks)
#define MM_TILE_ROWS 16   // rows per tile on the generic path and of gemv
// Threads split tiled weights between the layout's tiles.
_Static_assert(MM_TILE_ROWS % QUANT_TILE_ROWS == 0, "gemv tiles are whole tiles of the tiled layout");
#define MM_GEMM_MIN_TOKENS 8  // without a small-batch kernel, packing pays from about this many rows
#define MM_GEMV_PASSES 4      // a batch of up to this many gemv widths streams the weights once per width
#define MM_MAX_PARTS 4        // weights per job (Q, K, V is the most the decoder asks for)
// A feed-forward's gate and up rows go in pairs of one block of down's
// input (32 or 256 rows, run_pairs), MM_PAIR_TOKENS tokens a step, or as
// many as MM_PAIR_FLOATS values per product hold. For 32 rows, steps of 24
// and 96 tokens read 0.99 and 1.01 of 48's tokens/s (Qwen2.5-0.5B Q4_0 pp512).
#define MM_PAIR_TOKENS 48
#define MM_PAIR_FLOATS (24 * 256)
// Kernels that pack take long steps, so as to pack each tile about once per
// slice (a two-thread prompt of 512 tokens: one step per slice).
#define MM_PAIR_PACKED_TOKENS 288

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static bool needs_aux(uint32_t vdt) { return vdt == T_Q8_0 || vdt == T_Q8_1; }

// F16 / BF16 activations may be handed to the batched kernels as floats: room for both.
static size_t act_stride(uint32_t vdt, int64_t n_in) {
  if (vdt == T_F16 || vdt == T_BF16) vdt = T_F32;
  return round_up(type_row_bytes(vdt, n_in), MM_ALIGN);
}

static size_t aux_stride(int64_t n_in) { return (size_t)(n_in / 32) * sizeof(act_aux); }

// Rows of activations (and side data) the scratch holds: tiled activations
// (quant_gemm.act_tiles) take whole groups of rows, of either size.
#define MM_ACT_GROUP 48
_Static_assert(MM_ACT_GROUP % QUANT_TILE_ROWS == 0 && MM_ACT_GROUP % QUANT_GROUP_ROWS == 0, "whole groups");
static size_t act_rows(int64_t n_tokens) { return round_up((size_t)n_tokens, MM_ACT_GROUP); }
_Static_assert(MM_PAIR_TOKENS % QUANT_GROUP_ROWS == 0 && MM_PAIR_FLOATS / 256 % QUANT_GROUP_ROWS == 0 &&
                   MM_PAIR_PACKED_TOKENS % MM_ACT_GROUP == 0 &&
                   MM_PAIR_TOKENS * 32 <= MM_PAIR_FLOATS,
               "a pair's steps start on groups of the activations");

size_t matmul_scratch_bytes(uint32_t type, int64_t n_in, int64_t n_tokens) {
  uint32_t vdt = quant_vec_dot_type(type);
  if (vdt == T_F32) return 0;
  size_t bytes = act_stride(vdt, n_in) * act_rows(n_tokens);
  if (needs_aux(vdt)) bytes += round_up(aux_stride(n_in) * act_rows(n_tokens), MM_ALIGN);
  return bytes + MM_ALIGN;  // room to align the caller's pointer
}

// One weight of a job: its output and the kernels chosen for it.
typedef struct {
  const mm_weight *w;
  float *y;
  int64_t ldy;
  vec_dot_fn vec_dot;
  const quant_gemm *gemm;  // NULL: generic path
  gemv_fn gemv;            // small batches
  gemm_pack_fn pack;       // gemm's pack for the weight's layout (NULL: run reads it in place)
  gemm_run_fn run;         // gemm's run for that layout
  int64_t tile;            // rows per tile
  long tiles;
} mm_part;

// How the input rows are formed from x: as they are (matmul_many), RMS-
// normalized (matmul_many_normed), or gated, the up half n_in after each
// row's gate half (matmul_gated).
typedef struct {
  const float *x;
  int64_t ldx;
  mm_gate_fn gate;
  bool normed;
  const float *norm_w;
  float norm_eps;
} mm_src;

// A prompt's tokens in slices, one per thread (sliced_worker; pools of up
// to MM_MAX_SLICES threads, larger ones split by output rows only), each
// slice's state on a line of its own.
#define MM_MAX_SLICES 8
typedef struct {
  _Alignas(64) _Atomic long next;  // the slice's next unclaimed tile
  _Atomic int ready;               // its rows are quantized
} mm_slice;

// What the threads of a run change: the barrier after phase 1 and the next
// tile to claim, on a line of their own, away from the job they all read.
typedef struct {
  _Alignas(64) _Atomic int arrived;  // threads done with phase 1
  _Atomic long next;                 // the next unclaimed tile
  mm_slice slice[MM_MAX_SLICES];
} mm_sync;

// Weights that share one input and one activation format.
typedef struct mm_job {
  mm_src in;
  int64_t n_tokens, n_in;
  uint32_t vdt;
  quantize_fn quantize;
  const uint8_t *act;  // activation rows (x itself for F32)
  size_t act_stride;
  int act_f32;         // activations rounded through vdt, but stored as floats
  int act_tiles;       // 0, or activations (and side data) tiled by quant_act_tile in this layout
  act_aux *aux;        // per-block side data when the kernels want it
  size_t aux_stride;
  int aux_bias;        // 0: no side data, -1: Q8_1 sums, >0: Q8_0 correction with this bias
  mm_part parts[MM_MAX_PARTS];
  int n_parts;
  long tiles;           // of all parts
  bool own;             // each thread quantizes the input into its own copy (own_worker)
  bool claimed;         // tiles claimed as threads go (else the pool's balanced plan)
  int slices;           // >0: claimed per slice of the tokens, one slice per thread (sliced_worker)
  bool given;           // the input is already quantized (a feed-forward's down projection)
  // A feed-forward's gate and up (parts 0 and 1), whose rows go in pairs of
  // pair_rows: act(gate) * up goes quantized into sink's input (run_pairs).
  const struct mm_job *sink;
  mm_gate_fn sink_act;
  int64_t pair_rows;
  float *pair_buf;  // NULL: the pairs' buffers are on the stack; else 2 x pair_rows x MM_PAIR_PACKED_TOKENS per thread
  pool *pool;
  mm_sync *sync;
} mm_job;

// ---- phase 1: quantize activations ----------------------------------------------------

// Rounds src[0..n) through type (F16 / BF16) into floats.
static void round_through(uint32_t type, const float *src, float *dst, int64_t n) {
  quantize_fn q = quant_quantize_act(type);
  dequant_fn d = quant_dequant(type);
  uint16_t tmp[256];
  for (int64_t i = 0; i < n; i += 256) {
    int64_t m = n - i < 256 ? n - i : 256;
    q(src + i, tmp, m);
    d(tmp, dst + i, m);
  }
}

// Row t's blocks [b0, b1) into their places in its tile group: quantized a
// chunk at a time on the stack, then scattered block by block; into a
// TILE_GROUP group straight from the floats, by the kernel's act_group.
static void quantize_tiled(const mm_job *j, int64_t t, int64_t b0, int64_t b1, const float *src) {
  enum { CHUNK = 8192 };  // bytes of quantized blocks per step
  int64_t bs = type_block_size(j->vdt), rows = quant_act_group_rows(j->act_tiles), g = t / rows * rows;
  size_t bb = type_block_bytes(j->vdt);
  uint8_t *group = (uint8_t *)j->act + (size_t)g * j->act_stride;
  act_aux *aux_group = j->aux ? (act_aux *)((uint8_t *)j->aux + (size_t)g * j->aux_stride) : NULL;
  if (j->act_tiles == TILE_GROUP) {
    j->parts[0].gemm->act_group(src, (b1 - b0) * bs, j->aux_bias, b0, (int)(t - g), group, aux_group);
    return;
  }
  _Alignas(64) uint8_t q[CHUNK];
  int64_t per = (int64_t)(CHUNK / bb);
  for (int64_t c0 = b0; c0 < b1; c0 += per) {
    int64_t n = b1 - c0 < per ? b1 - c0 : per;
    j->quantize(src + (c0 - b0) * bs, q, n * bs);
    quant_act_tile(j->vdt, j->act_tiles, q, c0, n, (int)(t - g), group, aux_group);
  }
}

// Row t's blocks [b0, b1), read from src (their first element).
static void quantize_range(const mm_job *j, int64_t t, int64_t b0, int64_t b1, const float *src) {
  int64_t bs = type_block_size(j->vdt);
  size_t bb = type_block_bytes(j->vdt);
  if (j->act_f32) {
    round_through(j->vdt, src, (float *)(j->act + (size_t)t * j->act_stride) + b0 * bs, (b1 - b0) * bs);
    return;
  }
  if (j->act_tiles) {
    quantize_tiled(j, t, b0, b1, src);
    return;
  }
  uint8_t *dst = (uint8_t *)j->act + (size_t)t * j->act_stride + (size_t)b0 * bb;
  j->quantize(src, dst, (b1 - b0) * bs);
  if (j->aux) {
    act_aux *aux = (act_aux *)((uint8_t *)j->aux + (size_t)t * j->aux_stride) + b0 * bs / 32;
    quant_act_aux(j->vdt, j->aux_bias, dst, (b1 - b0) * bs, aux);
  }
}

// A gated or normalized row's values come a piece at a time from the stack
// (act(gate) * up, or x * scale * w with the row's RMS scale), then are
// quantized: no pass of their own writes the batch's values out and reads
// them back. A thread with part of a row works out the row's scale itself.
static void quantize_part(const mm_job *j, int64_t t, int64_t b0, int64_t b1) {
  int64_t bs = type_block_size(j->vdt);
  const mm_src *in = &j->in;
  const float *row = in->x + t * in->ldx;
  if (!in->gate && !in->normed) {
    quantize_range(j, t, b0, b1, row + b0 * bs);
    return;
  }
  float scale = in->normed ? op_rms_scale(row, j->n_in, in->norm_eps) : 0;
  enum { PIECE = 1024 };  // floats
  _Alignas(64) float tmp[PIECE];
  int64_t per = PIECE / bs > 0 ? PIECE / bs : 1;
  assert(per * bs <= PIECE);
  for (int64_t c0 = b0; c0 < b1; c0 += per) {
    int64_t n = b1 - c0 < per ? b1 - c0 : per, e0 = c0 * bs;
    if (in->gate) in->gate(tmp, row + e0, row + j->n_in + e0, n * bs);
    else op_rms_apply(tmp, row + e0, in->norm_w ? in->norm_w + e0 : NULL, scale, n * bs);
    quantize_range(j, t, c0, c0 + n, tmp);
  }
}

static void quantize_worker(const mm_job *j, int ith, int nth) {
  int64_t nb = j->n_in / type_block_size(j->vdt);
  if (j->n_tokens >= nth) {
    long lo, hi;
    pool_split((long)j->n_tokens, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) quantize_part(j, t, 0, nb);
    return;
  }
  // Fewer rows than threads: split each row on (groups of) blocks.
  int64_t unit = j->vdt == T_Q8_K ? 1 : 8;  // keep chunks a few cache lines long
  long units = (long)((nb + unit - 1) / unit), lo, hi;
  pool_split(units, ith, nth, &lo, &hi);
  int64_t b0 = lo * unit, b1 = hi * unit < nb ? hi * unit : nb;
  if (b0 >= b1) return;
  for (int64_t t = 0; t < j->n_tokens; t++) quantize_part(j, t, b0, b1);
}

// ---- phase 2: products ---------------------------------------------------------------------

static const uint8_t *wrow(const mm_part *p, int64_t r) { return (const uint8_t *)p->w->data + (size_t)r * p->w->row_bytes; }
static const uint8_t *arow(const mm_job *j, int64_t t) { return j->act + (size_t)t * j->act_stride; }
static const act_aux *aux_at(const mm_job *j, int64_t t) {
  return j->aux ? (const act_aux *)((const uint8_t *)j->aux + (size_t)t * j->aux_stride) : NULL;
}

// Rows [r0, r1) against every activation row, row by row (weights streamed once).
static void rows_plain(const mm_job *j, const mm_part *p, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r++)
    for (int64_t t = 0; t < j->n_tokens; t++) p->vec_dot(j->n_in, &p->y[t * p->ldy + r], wrow(p, r), arow(j, t));
}

// Generic tiles: each tile of rows meets every activation row while it is in cache.
static void rows_tiled(const mm_job *j, const mm_part *p, int64_t r0, int64_t r1) {
  for (int64_t rt = r0; rt < r1; rt += MM_TILE_ROWS) {
    int64_t re = rt + MM_TILE_ROWS < r1 ? rt + MM_TILE_ROWS : r1;
    for (int64_t t = 0; t < j->n_tokens; t++)
      for (int64_t r = rt; r < re; r++) p->vec_dot(j->n_in, &p->y[t * p->ldy + r], wrow(p, r), arow(j, t));
  }
}

// Batched kernel: per K-chunk and tile, pack once (if the layout needs it), then all activation rows.
// K-chunks outside tiles: a chunk's slice of the activations (up to a few
// MiB for 512 tokens) is then read once per tile from L2 and L3, where whole
// rows (up to 10 MiB of floats for a 4864-wide input) came from memory.
// y: the output of token t0, row r0 (ldy apart from token to token).
static void rows_gemm(const mm_job *j, const mm_part *p, int64_t r0, int64_t r1, int64_t t0, int64_t t1, float *y,
                      int64_t ldy) {
  const quant_gemm *g = p->gemm;
  _Alignas(64) uint8_t panel[MM_PANEL_MAX];
  assert(g->panel_bytes <= sizeof panel);
  int64_t n = j->n_in, kc = g->kc > 0 ? g->kc : n;
  for (int64_t k0 = 0; k0 < n; k0 += kc) {
    int64_t kn = n - k0 < kc ? n - k0 : kc;
    for (int64_t rt = r0; rt < r1; rt += g->rows) {
      int nr = (int)(r1 - rt < g->rows ? r1 - rt : g->rows);
      const void *w = wrow(p, rt);
      if (p->pack) {
        p->pack(w, p->w->row_bytes, nr, k0, kn, panel);
        w = panel;
      }
      for (int64_t t = t0; t < t1; t += g->cols) {
        int nc = (int)(t1 - t < g->cols ? t1 - t : g->cols);
        p->run(w, p->w->row_bytes, nr, k0, kn, arow(j, t), j->act_stride, aux_at(j, t), j->aux_stride, nc,
               &y[(t - t0) * ldy + (rt - r0)], ldy, k0 > 0);
      }
    }
  }
}

// Small batches: each weight row streams once per gemv width.
static void rows_gemv(const mm_job *j, const mm_part *p, int64_t r0, int64_t r1) {
  int cols = p->gemm->gemv_cols;
  for (int64_t t = 0; t < j->n_tokens; t += cols) {
    int nc = (int)(j->n_tokens - t < cols ? j->n_tokens - t : cols);
    p->gemv(j->n_in, wrow(p, r0), p->w->row_bytes, r1 - r0, arow(j, t), j->act_stride, aux_at(j, t), j->aux_stride,
            nc, &p->y[t * p->ldy + r0], p->ldy);
  }
}

// Rows [r0, r1) of one part; the batched kernel takes tokens [t0, t1) only
// (the other paths are never handed part of the tokens).
static void rows_part(const mm_job *j, const mm_part *p, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
  if (p->gemv) rows_gemv(j, p, r0, r1);
  else if (p->gemm) rows_gemm(j, p, r0, r1, t0, t1, &p->y[t0 * p->ldy + r0], p->ldy);
  else if (j->n_tokens == 1) rows_plain(j, p, r0, r1);
  else rows_tiled(j, p, r0, r1);
}

// Block b of rows [t0, t1) of s's input, from their values (a row's block
// after another's). Grouped activations take a group's rows per call: one
// block of one row per call took four times as long per block.
static void sink_block(const mm_job *s, int64_t b, int64_t t0, int64_t t1, const float *v) {
  int64_t bs = type_block_size(s->vdt), rows = QUANT_GROUP_ROWS;
  const quant_gemm *g = s->parts[0].gemm;
  if (s->act_tiles == TILE_GROUP && g->act_group_rows) {
    assert(t0 % rows == 0);
    for (int64_t t = t0; t < t1; t += rows)
      g->act_group_rows(v + (t - t0) * bs, t1 - t < rows ? (int)(t1 - t) : (int)rows, s->aux_bias, b,
                        (uint8_t *)s->act + (size_t)t * s->act_stride,
                        (act_aux *)((uint8_t *)s->aux + (size_t)t * s->aux_stride));
    return;
  }
  for (int64_t t = t0; t < t1; t++) quantize_range(s, t, b, b + 1, v + (t - t0) * bs);
}

// A feed-forward's gate and up rows in pairs [lo, hi) of one block of the
// down projection's input (matmul_ffn): a step of tokens at a time, a
// pair's products go to the stack, and act(gate) * up straight into down's
// input, quantized. The gate and up values never reach memory: written out
// and read back by down's quantization they cost Qwen2.5-0.5B's prompts
// about a twentieth of their time.
static void run_pairs(const mm_job *j, int ith, long lo, long hi, int64_t t0, int64_t t1) {
  const mm_part *gate = &j->parts[0], *up = &j->parts[1];
  int64_t rows = j->pair_rows, step = MM_PAIR_FLOATS / rows < MM_PAIR_TOKENS ? MM_PAIR_FLOATS / rows : MM_PAIR_TOKENS;
  _Alignas(64) float gs[MM_PAIR_FLOATS], us[MM_PAIR_FLOATS];
  float *g = gs, *u = us;
  if (j->pair_buf) {  // kernels that pack: long steps, in buffers of the thread's own
    step = MM_PAIR_PACKED_TOKENS;
    g = j->pair_buf + (size_t)ith * 2 * (size_t)(rows * step);
    u = g + rows * step;
  }
  for (long b = lo; b < hi; b++) {
    int64_t r0 = b * rows;
    for (int64_t tc = t0; tc < t1; tc += step) {
      int64_t te = t1 - tc < step ? t1 : tc + step;
      rows_gemm(j, gate, r0, r0 + rows, tc, te, g, rows);
      rows_gemm(j, up, r0, r0 + rows, tc, te, u, rows);
      j->sink_act(g, g, u, (te - tc) * rows);
      sink_block(j->sink, b, tc, te, g);
    }
  }
}

// Tiles [lo, hi) of all parts, numbered in order across them, for tokens [t0, t1).
static void run_tiles(const mm_job *j, int ith, long lo, long hi, int64_t t0, int64_t t1) {
  if (j->sink) {
    run_pairs(j, ith, lo, hi, t0, t1);
    return;
  }
  long base = 0;
  for (int i = 0; i < j->n_parts && base < hi; base += j->parts[i++].tiles) {
    const mm_part *p = &j->parts[i];
    long a = lo > base ? lo - base : 0, b = hi - base < p->tiles ? hi - base : p->tiles;
    if (a >= b) continue;
    int64_t r0 = a * p->tile, r1 = b * p->tile < p->w->n_out ? b * p->tile : p->w->n_out;
    rows_part(j, p, r0, r1, t0, t1);
  }
}

// The tiles of all parts split across threads: small outputs (K and V, 128
// rows) share threads with the large one beside them. A small batch (one
// decode step, whose tiles take a microsecond each) takes the pool's
// balanced plan: a range per thread in proportion to its recent speed, read
// front to back as one stream, whose rest the others take over when its
// thread falls behind (threadpool.h). A packed job (a prompt) claims its
// tiles as it goes, so that a slower core (or one a neighbour shares) takes
// fewer: each claim takes a share of what is left (1 / (2 nth)), large
// first, which keeps a K-chunk of the activations in cache across many
// tiles, and single tiles at the end.
static void claim_tiles(const mm_job *j, int ith, _Atomic long *next, int64_t t0, int64_t t1, int nth) {
  long lo = atomic_load_explicit(next, memory_order_relaxed);
  while (lo < j->tiles) {
    long n = (j->tiles - lo) / (2 * nth);
    if (n < 1) n = 1;
    if (atomic_compare_exchange_weak_explicit(next, &lo, lo + n, memory_order_relaxed, memory_order_relaxed)) {
      run_tiles(j, ith, lo, lo + n, t0, t1);
      lo = atomic_load_explicit(next, memory_order_relaxed);
    }
  }
}

static void product_worker(const mm_job *j, int ith, int nth) {
  if (!j->claimed) {
    long lo, hi, done = 0;
    int64_t t0 = time_ns();
    while (pool_take(j->pool, ith, &lo, &hi)) {
      run_tiles(j, ith, lo, hi, 0, j->n_tokens);
      done += hi - lo;
    }
    pool_note(j->pool, ith, (double)done * (double)j->n_in, time_ns() - t0);
    return;
  }
  claim_tiles(j, ith, &j->sync->next, 0, j->n_tokens, nth);
}

// Waits until *v reaches n, as the pool's own waits do (pool_spin): the
// others are normally microseconds away, and one the OS has descheduled
// (more threads than free cores) still gets to run.
static void wait_for(_Atomic int *v, int n) {
  for (unsigned i = 0; atomic_load_explicit(v, memory_order_acquire) < n; i++) pool_spin(i);
}

static void barrier_wait(_Atomic int *arrived, int nth) {
  atomic_fetch_add_explicit(arrived, 1, memory_order_acq_rel);
  wait_for(arrived, nth);
}

// One token's input, short enough: every thread quantizes all of it into
// its own copy on its stack, and none waits for another's half. The
// barrier and the halves read from the other core (a line takes about
// 230 ns one way here) cost more than the row's work: with two threads,
// us per call, shared against own copies, Q4_0 16 x 896 3.0 / 2.2,
// 896 x 896 12.3-12.5 / 11.7, 16 x 4864 5.5-5.6 / 4.2-4.3, 896 x 4864
// 45.8-47.6 / 44.0-45.4.
#define MM_OWN_MAX (16 * 1024)

static bool own_fits(const mm_job *j, int nth) {
  return nth > 1 && j->quantize && j->n_tokens == 1 && j->parts[0].gemv && !j->in.gate &&
         j->act_stride + (j->aux ? j->aux_stride : 0) <= MM_OWN_MAX;
}

static void own_worker(const mm_job *j, int ith, int nth) {
  _Alignas(MM_ALIGN) uint8_t buf[MM_OWN_MAX];
  mm_job own = *j;
  own.act = buf;
  if (own.aux) own.aux = (act_aux *)(buf + j->act_stride);
  quantize_part(&own, 0, 0, j->n_in / type_block_size(j->vdt));
  product_worker(&own, ith, nth);
}

// A prompt split by tokens as well: each thread quantizes a slice of the
// rows and claims the tiles for that slice, then helps with the others'
// slices once their rows are ready. So it reads the activations it wrote
// itself, from its own caches, with no barrier between the phases; split by
// output rows alone, every thread read all the rows, half of them written
// by the other core (a line takes about 230 ns from one core to the other
// here), and the slower core held the other at the barrier. Each thread
// packs the tiles it runs, so a tile is packed once per slice.
static void slice_rows(const mm_job *j, int s, int64_t *t0, int64_t *t1) {
  int64_t a = (int64_t)round_up((size_t)(j->n_tokens * s / j->slices), MM_ACT_GROUP);
  int64_t b = (int64_t)round_up((size_t)(j->n_tokens * (s + 1) / j->slices), MM_ACT_GROUP);
  *t0 = a < j->n_tokens ? a : j->n_tokens;
  *t1 = b < j->n_tokens ? b : j->n_tokens;
}

static void sliced_worker(const mm_job *j, int ith, int nth) {
  int64_t t0, t1;
  slice_rows(j, ith, &t0, &t1);
  if (j->quantize)
    for (int64_t t = t0; t < t1; t++) quantize_part(j, t, 0, j->n_in / type_block_size(j->vdt));
  atomic_store_explicit(&j->sync->slice[ith].ready, 1, memory_order_release);
  for (int k = 0; k < nth; k++) {
    int s = (ith + k) % nth;
    mm_slice *sl = &j->sync->slice[s];
    if (atomic_load_explicit(&sl->next, memory_order_relaxed) >= j->tiles) continue;
    wait_for(&sl->ready, 1);
    slice_rows(j, s, &t0, &t1);
    claim_tiles(j, ith, &sl->next, t0, t1, nth);
  }
}

// Both phases in one pool run (a decode step runs hundreds of matmuls, and a
// barrier costs less than a second dispatch): every thread of the run is live,
// so waiting for all of them to finish phase 1 is safe.
static void matmul_worker(void *arg, int ith, int nth) {
  const mm_job *j = arg;
  if (j->own) {
    own_worker(j, ith, nth);
    return;
  }
  if (j->slices) {
    sliced_worker(j, ith, nth);
    return;
  }
  if (j->quantize && !j->given) {
    quantize_worker(j, ith, nth);
    barrier_wait(&j->sync->arrived, nth);
  }
  product_worker(j, ith, nth);
}

// The batched kernels for w's type on this machine, if its rows are short
// enough for them (they address 16 rows with 32-bit offsets).
static const quant_gemm *gemm_for(const mm_weight *w) {
  const quant_gemm *g = quant_gemm_at(w->type, cpu_simd_level());
  return w->row_bytes > INT32_MAX / 16 ? NULL : g;
}

bool matmul_can_tile(const mm_weight *w) {
  const quant_gemm *g = gemm_for(w);
  return g && g->gemv_tiled && g->run && (g->pack_tiled || g->run_tiled);
}

// Chooses the kernels for one weight and a batch of n_tokens.
static void plan_part(mm_part *pt, const mm_out *o, int64_t n_tokens) {
  const mm_weight *w = o->w;
  *pt = (mm_part){.w = w, .y = o->y, .ldy = o->ldy, .vec_dot = quant_vec_dot(w->type)};
  assert(pt->vec_dot && w->n_in % type_block_size(w->type) == 0);
  assert(!w->tiled || matmul_can_tile(w));
  const quant_gemm *g = gemm_for(w);
  // Small batches (parallel decoding) stream the weight rows once per gemv
  // width: measured faster than packing up to a few widths. Tiled weights
  // always take one of the two (the generic path reads GGUF's rows).
  int64_t gemv_max = 0;
  if (g) gemv_max = g->gemv_max > 0 ? g->gemv_max : (int64_t)g->gemv_cols * MM_GEMV_PASSES;
  if (g && g->gemv && n_tokens <= gemv_max) {
    pt->gemv = w->tiled ? g->gemv_tiled : g->gemv;
    pt->gemm = g;
  } else if (g && g->run && (g->gemv || n_tokens >= MM_GEMM_MIN_TOKENS || w->tiled)) {
    bool in_place = w->tiled && g->run_tiled;
    pt->gemm = g;
    pt->run = in_place ? g->run_tiled : g->run;
    pt->pack = in_place ? NULL : w->tiled ? g->pack_tiled : g->pack;
  }
  pt->tile = pt->gemm && !pt->gemv ? pt->gemm->rows : MM_TILE_ROWS;
  assert(!w->tiled || (pt->gemm && pt->tile % QUANT_TILE_ROWS == 0));
  pt->tiles = (long)((w->n_out + pt->tile - 1) / pt->tile);
}

// The activation format a part's kernels read: vec-dot type, floats or
// not, tiled or not, and which side data (aux_bias as in mm_job).
typedef struct {
  uint32_t vdt;
  int as_f32, tiles, aux_bias;
} act_fmt;

static act_fmt act_format(const mm_part *pt) {
  act_fmt f = {.vdt = quant_vec_dot_type(pt->w->type)};
  const quant_gemm *g = pt->gemm;
  f.as_f32 = g && g->act_f32 && !(pt->gemv && g->gemv_act_half);
  f.tiles = g && !pt->gemv ? g->act_tiles : 0;
  f.aux_bias = g && g->aux_bias != 0 && needs_aux(f.vdt) ? g->aux_bias : 0;
  return f;
}

static bool same_format(const mm_part *a, const mm_part *b) {
  act_fmt fa = act_format(a), fb = act_format(b);
  return a->w->n_in == b->w->n_in && fa.vdt == fb.vdt && fa.as_f32 == fb.as_f32 && fa.tiles == fb.tiles &&
         fa.aux_bias == fb.aux_bias;
}

// Balanced splits take pieces of a stream long enough for the prefetchers
// to pay off: about 32 KiB of weights, whole tiles; and whole groups of
// tiles where the kernel reads groups (quant_gemm.gemv_group). Pieces of
// one tile on Q4_0 896 x 4864 (two threads, GB/s) read 40.9, 39.3, 38.9
// against 46.3, 43.7, 43.3 in groups of four, Q8_0 2048 x 8192 46.7-52.0
// against 52.6-55.1.
static long plan_grain(const mm_part *pt, int64_t n_tokens) {
  size_t tile_bytes = (size_t)pt->tile * pt->w->row_bytes;
  long grain = tile_bytes >= 32768 ? 1 : (long)(32768 / tile_bytes);
  const quant_gemm *g = pt->gemm;
  bool grouped = pt->gemv && pt->w->tiled && n_tokens == 1 && g->gemv_group > 1 &&
                 pt->w->row_bytes > g->gemv_group_row;
  return grouped ? (long)round_up((size_t)grain, (size_t)g->gemv_group) : grain;
}

// Where the job's input goes, quantized, in the scratch (or x itself for F32).
static void job_layout(mm_job *j, void *scratch) {
  act_fmt f = act_format(&j->parts[0]);
  j->vdt = f.vdt;
  if (j->vdt == T_F32) {
    j->act = (const uint8_t *)j->in.x;
    j->act_stride = (size_t)j->in.ldx * sizeof(float);
  } else {
    uint8_t *s = (uint8_t *)round_up((size_t)scratch, MM_ALIGN);
    j->act = s;
    j->act_stride = act_stride(j->vdt, j->n_in);
    j->quantize = quant_quantize_act(j->vdt);
    j->act_f32 = f.as_f32;
    j->act_tiles = f.tiles;
    if (f.aux_bias != 0) {
      j->aux = (act_aux *)(s + j->act_stride * act_rows(j->n_tokens));
      j->aux_stride = aux_stride(j->n_in);
      j->aux_bias = f.aux_bias > 0 ? f.aux_bias : 0;
    }
  }
}

// Quantizes the input once for the job's parts (unless it is given), then runs their products.
static void job_run(pool *p, mm_job *j) {
  j->tiles = 0;
  for (int i = 0; i < j->n_parts; i++) j->tiles += j->parts[i].tiles;
  if (j->sink) j->tiles = (long)(j->parts[0].w->n_out / j->pair_rows);  // pairs, not the parts' tiles
  mm_sync sync;
  atomic_init(&sync.arrived, 0);
  atomic_init(&sync.next, 0);
  j->sync = &sync;
  int nth = pool_size(p);
  j->own = !j->given && own_fits(j, nth);
  j->claimed = nth > 1 && j->parts[0].gemm && !j->parts[0].gemv;
  j->slices = j->claimed && !j->given && nth <= MM_MAX_SLICES && j->n_tokens >= (int64_t)nth * MM_ACT_GROUP ? nth : 0;
  for (int s = 0; s < j->slices; s++) {
    atomic_init(&sync.slice[s].next, 0);
    atomic_init(&sync.slice[s].ready, 0);
  }
  j->pool = p;
  if (!j->claimed) pool_plan(p, j->tiles, nth > 1 ? plan_grain(&j->parts[0], j->n_tokens) : j->tiles);
  pool_run(p, matmul_worker, j);
}

static void run_job(pool *p, mm_job *j, void *scratch) {
  job_layout(j, scratch);
  job_run(p, j);
}

static void many(pool *p, const mm_out *outs, int n_outs, const mm_src *src, int64_t n_tokens, void *scratch) {
  if (n_tokens <= 0) return;
  for (int i = 0; i < n_outs;) {
    mm_job j = {.in = *src, .n_tokens = n_tokens, .n_in = outs[i].w->n_in};
    for (; i < n_outs && j.n_parts < MM_MAX_PARTS; i++) {
      if (outs[i].w->n_out <= 0) continue;
      plan_part(&j.parts[j.n_parts], &outs[i], n_tokens);
      if (j.n_parts > 0 && !same_format(&j.parts[0], &j.parts[j.n_parts])) break;
      j.n_parts++;
    }
    if (j.n_parts > 0) run_job(p, &j, scratch);
  }
}

typedef struct {
  mm_gate_fn act;
  float *x;
  int64_t ldx, n_in, n_tokens;
} gate_job;

// Rows split across threads, or each row's values when there are fewer rows
// (in pieces of 256, which keeps the SIMD kernels off their scalar tails).
static void gate_worker(void *arg, int ith, int nth) {
  const gate_job *g = arg;
  long lo, hi;
  if (g->n_tokens >= nth) {
    pool_split((long)g->n_tokens, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) g->act(g->x + t * g->ldx, g->x + t * g->ldx, g->x + t * g->ldx + g->n_in, g->n_in);
    return;
  }
  pool_split((long)((g->n_in + 255) / 256), ith, nth, &lo, &hi);
  int64_t a = lo * 256, b = hi * 256 < g->n_in ? hi * 256 : g->n_in;
  for (int64_t t = 0; a < b && t < g->n_tokens; t++) {
    float *row = g->x + t * g->ldx;
    g->act(row + a, row + a, row + g->n_in + a, b - a);
  }
}

void matmul_gated(pool *p, const mm_weight *w, mm_gate_fn act, float *x, int64_t ldx, int64_t n_tokens, float *y,
                  int64_t ldy, void *scratch) {
  if (n_tokens <= 0 || w->n_out <= 0) return;
  mm_out o = {w, y, ldy};
  mm_src src = {.x = x, .ldx = ldx, .gate = act};
  if (!matmul_quantizes(w)) {  // the products read x itself: gate it in place first
    gate_job g = {act, x, ldx, w->n_in, n_tokens};
    pool_run(p, gate_worker, &g);
    src.gate = NULL;
  }
  many(p, &o, 1, &src, n_tokens, scratch);
}

bool matmul_quantizes(const mm_weight *w) { return quant_vec_dot_type(w->type) != T_F32; }

// Whether the gate / up job can hand its products to down's input in pairs
// of one block of it (run_pairs): both through the batched kernels that
// read the weights in place, in whole tiles per block, with the same rows,
// and down reading its input quantized, not as floats. Kernels that pack
// would pack each tile once per step of a pair instead of once per slice:
// Llama-3.2-1B Q4_K (16-row K-quant panels) read 0.94 of the tokens/s.
static bool pairs_fit(const mm_job *gu, const mm_job *down) {
  const mm_part *g = &gu->parts[0], *u = &gu->parts[1], *d = &down->parts[0];
  act_fmt f = act_format(d);
  int64_t rows = type_block_size(f.vdt);
  return gu->n_parts == 2 && g->gemm && !g->gemv && u->gemm && !u->gemv &&
         rows % g->tile == 0 && rows % u->tile == 0 && g->w->n_out == u->w->n_out && d->w->n_in == g->w->n_out &&
         f.vdt != T_F32 && !f.as_f32 && (rows == 32 || rows == 256);
}

void matmul_ffn(pool *p, const mm_ffn *f, const float *x, int64_t ldx, int64_t n_tokens, float *ff, int64_t ldff,
                float *y, int64_t ldy, void *scratch) {
  if (n_tokens <= 0 || f->down->n_out <= 0) return;
  const mm_out gate_up[] = {{f->gate, ff, ldff}, {f->up, ff + f->gate->n_out, ldff}};
  mm_src src = {.x = x, .ldx = ldx, .normed = true, .norm_w = f->norm_w, .norm_eps = f->norm_eps};
  mm_job gu = {.in = src, .n_tokens = n_tokens, .n_in = f->gate->n_in, .n_parts = 2};
  mm_job down = {.n_tokens = n_tokens, .n_in = f->down->n_in, .n_parts = 1, .given = true};
  const mm_out o = {f->down, y, ldy};
  plan_part(&gu.parts[0], &gate_up[0], n_tokens);
  plan_part(&gu.parts[1], &gate_up[1], n_tokens);
  plan_part(&down.parts[0], &o, n_tokens);
  // Down's input goes where the gate and up values went (ff), which holds
  // it, and after it the pairs' buffers where the kernels pack.
  size_t room = (size_t)n_tokens * (size_t)ldff * sizeof(float), in = 0, bufs = 0;
  bool fits = same_format(&gu.parts[0], &gu.parts[1]) && pairs_fit(&gu, &down);
  int64_t rows = fits ? type_block_size(act_format(&down.parts[0]).vdt) : 0;
  if (fits) {
    in = round_up(matmul_scratch_bytes(f->down->type, down.n_in, n_tokens), MM_ALIGN);
    if (gu.parts[0].pack || gu.parts[1].pack)
      bufs = (size_t)pool_size(p) * 2 * (size_t)(rows * MM_PAIR_PACKED_TOKENS) * sizeof(float);
  }
  if (!fits || in + bufs + MM_ALIGN > room) {
    matmul_many_normed(p, gate_up, 2, x, ldx, f->norm_w, f->norm_eps, n_tokens, scratch);
    matmul_gated(p, f->down, f->act, ff, ldff, n_tokens, y, ldy, scratch);
    return;
  }
  job_layout(&down, ff);
  gu.sink = &down;
  gu.sink_act = f->act;
  gu.pair_rows = rows;
  gu.pair_buf = bufs ? (float *)round_up((size_t)ff, MM_ALIGN) + in / sizeof(float) : NULL;
  run_job(p, &gu, scratch);
  job_run(p, &down);
}

void matmul_many(pool *p, const mm_out *outs, int n_outs, const float *x, int64_t ldx, int64_t n_tokens,
                 void *scratch) {
  mm_src src = {.x = x, .ldx = ldx};
  many(p, outs, n_outs, &src, n_tokens, scratch);
}

void matmul_many_normed(pool *p, const mm_out *outs, int n_outs, const float *x, int64_t ldx, const float *norm_w,
                        float eps, int64_t n_tokens, void *scratch) {
  for (int i = 0; i < n_outs; i++) assert(matmul_quantizes(outs[i].w));
  mm_src src = {.x = x, .ldx = ldx, .normed = true, .norm_w = norm_w, .norm_eps = eps};
  many(p, outs, n_outs, &src, n_tokens, scratch);
}

void matmul(pool *p, const mm_weight *w, const float *x, int64_t ldx, int64_t n_tokens, float *y, int64_t ldy,
            void *scratch) {
  mm_out o = {w, y, ldy};
  matmul_many(p, &o, 1, x, ldx, n_tokens, scratch);
}
