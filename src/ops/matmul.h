// matmul: y = W x for a batch of activation rows, the engine's hot loop.
// W is a weight matrix in any supported type, n_out rows of n_in elements
// (GGUF ne[0] = n_in, ne[1] = n_out). Activations are first quantized to the
// weight's vec-dot type (into caller scratch), then rows are dotted, split
// across the pool's threads. Tiled so that a block of weight rows is reused
// across the batch while it is in cache (prompt processing), and streamed once
// for a single token (generation, memory-bound).
#ifndef LLMUX_MATMUL_H
#define LLMUX_MATMUL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"

typedef struct {
  uint32_t type;
  int64_t n_in, n_out;
  const void *data;
  size_t row_bytes;
  bool tiled;  // data is in the tiled layout (quant.h); only where matmul_can_tile said so
} mm_weight;

// Whether this machine's kernels read w tiled (quant.h's tiled weights),
// which streams faster in generation. A tiled copy is made with
// quant_tile_rows and the mm_weight's data and tiled set to it.
bool matmul_can_tile(const mm_weight *w);

// Scratch bytes matmul needs for n_tokens activation rows of n_in elements.
size_t matmul_scratch_bytes(uint32_t type, int64_t n_in, int64_t n_tokens);
// y[t * ldy + o] = sum_i W[o][i] * x[t * ldx + i] for t < n_tokens, o < n_out.
// y overlaps neither x nor the scratch; scratch needs no alignment.
void matmul(pool *p, const mm_weight *w, const float *x, int64_t ldx, int64_t n_tokens, float *y, int64_t ldy,
            void *scratch);

// One output of matmul_many: y[t * ldy + o] = (w x)[t][o].
typedef struct {
  const mm_weight *w;
  float *y;
  int64_t ldy;
} mm_out;
// The products of several weights with the same input x (same n_in), as
// matmul each but with the input quantized once and all the rows split across
// threads in one pool run, where their activation formats agree (otherwise
// in turn). The scratch is the largest any of the weights needs.
void matmul_many(pool *p, const mm_out *outs, int n_outs, const float *x, int64_t ldx, int64_t n_tokens,
                 void *scratch);

// Whether w's products read its input quantized (every type but F32): then
// matmul_many_normed can take it.
bool matmul_quantizes(const mm_weight *w);
// matmul_many of the RMS-normalized input: row t is op_rms_norm(x[t], norm_w,
// eps)'s bits, computed a piece at a time as the rows are quantized instead
// of in a pass of its own. Every weight must pass matmul_quantizes.
void matmul_many_normed(pool *p, const mm_out *outs, int n_outs, const float *x, int64_t ldx, const float *norm_w,
                        float eps, int64_t n_tokens, void *scratch);

// An element-wise gate over n values: dst = act(gate) * up (op_silu_mul, op_gelu_mul).
typedef void (*mm_gate_fn)(float *dst, const float *gate, const float *up, int64_t n);
// A feed-forward's down projection, matmul of the gated activation: row t of
// the input is act(x[t][0..n_in)) * x[t][n_in..2 n_in) (the gate half, then
// the up half, ldx >= 2 n_in). The gate is applied as the rows are quantized,
// a piece at a time, instead of in a pass of its own over the batch; x may
// be overwritten (it is, for weights whose products read floats).
void matmul_gated(pool *p, const mm_weight *w, mm_gate_fn act, float *x, int64_t ldx, int64_t n_tokens, float *y,
                  int64_t ldy, void *scratch);

// A feed-forward's weights: down (act(norm(x) gate) * norm(x) up), norm(x)
// as in matmul_many_normed.
typedef struct {
  const mm_weight *gate, *up, *down;
  mm_gate_fn act;
  const float *norm_w;
  float norm_eps;
} mm_ffn;
// y = the feed-forward of x: matmul_many_normed of gate and up into ff (each
// row's gate values, then its up values; ldff >= 2 n_ff), then matmul_gated
// of down, with the same bits. Where the kernels allow (a prompt whose down
// projection reads its input quantized in blocks of 32 or 256), act(gate) *
// up goes from each pair of gate and up rows, one block of down's input,
// straight into that input, which ff's memory then holds instead of the gate
// and up values (with buffers of each thread's own after it where gate and
// up pack their tiles, if ff has room for them): ff's contents afterwards
// are not the gate and up values. Every weight must pass matmul_quantizes.
void matmul_ffn(pool *p, const mm_ffn *f, const float *x, int64_t ldx, int64_t n_tokens, float *ff, int64_t ldff,
                float *y, int64_t ldy, void *scratch);

#endif
