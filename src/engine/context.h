// context: a model's run-time state: the KV cache, scratch buffers sized for
// one batch, the thread pool, and the logits of the last batch. The cache is
// split into n_seq equal sequences (slots) of n_ctx cells each; sequence s
// keeps position p in cell s * n_ctx + p, so sequences never disturb each
// other and each one's context is exactly n_ctx. Only the thread that owns
// the context touches it.
#ifndef LLMUX_CONTEXT_H
#define LLMUX_CONTEXT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "llmux.h"
#include "models/model.h"

// One forward pass: n tokens, each with its position and sequence; logits
// are kept for tokens whose want_logits is set (when want_logits is NULL: all
// with all_logits, else only the last, unless embeddings are asked for, then
// none and the output layer is skipped). Embeddings (the hidden state after
// the final norm) go to row t of c->embd for the tokens that want them.
typedef struct {
  int n;
  const int32_t *tokens;
  const int32_t *pos;
  const int32_t *seq;       // NULL: all in sequence 0
  const bool *want_logits;  // NULL: see all_logits
  bool all_logits;
  const bool *want_embd;    // NULL: see all_embd
  bool all_embd;
} fwd_batch;

struct llmux_context {
  llmux_model *model;
  pool *pool;
  int n_ctx, n_batch, n_seq;
  llmux_kv_type kv_type;
  rope_params rope;           // the model's, with the factors this context length needs
  size_t kv_row_k, kv_row_v;  // elements per cache row
  void **kv_k, **kv_v;        // per layer: (n_seq * n_ctx, kv_row) f16 or f32
  size_t kv_bytes;

  // scratch for one batch of up to n_batch tokens
  float *x;       // (n_batch, n_embd) residual stream
  float *xn;      // (n_batch, n_embd) normed input of a sub-block
  float *q;       // (n_batch, n_head * head_dim_k)
  float *k;       // (n_batch, n_head_kv * head_dim_k)
  float *v;       // (n_batch, n_head_kv * head_dim_v)
  float *qkv;     // (n_batch, q + k + v) fused projection output (phi3)
  float *att;     // (n_batch, n_head * head_dim_v) attention output
  float *proj;    // (n_batch, n_embd) sub-block output before the residual add
  float *ff;      // (n_batch, 2 * n_ff) gate|up
  float *ff2;     // (n_batch, n_ff)
  float *attn_work;         // (n_threads, attn_work_stride): op_attend's work
  size_t attn_work_stride;
  int attn_tokens;          // most tokens per attention block
  int *attn_blk;            // (n_batch + 1) first token of each attention block of the batch
  int n_attn_blk;
  float *rope_cs; // (n_batch, n_rot) cos/sin per token
  int32_t *cell;  // (n_batch) cache cell of each token
  void *mm_scratch;

  float *logits;        // (n_logits, n_vocab)
  int n_logits;
  int *logit_index;     // (n_batch) row in logits of batch token i, or -1
  int *logit_rows;      // (n_batch) batch token of logits row k
  int32_t *pos_buf;     // (n_batch) positions for llmux_decode
  int32_t *seq_buf;     // (n_batch) sequence ids for embed_sequence
  int last_n;           // tokens in the last batch

  float *embd;          // (n_batch, n_embd) final-normed hidden state of batch token t, if it asked
  double *embd_sum;     // (n_embd) pooling accumulator of embed_sequence
  int pooling;          // llmux_pooling used by embed_sequence; the model's unless the owner changes it
};

// Allocates a context with n_seq sequences of params->n_ctx tokens each.
llmux_context *context_new(llmux_model *m, const llmux_context_params *params, int n_seq);
// Copies the cached keys and values of positions [p0, p1) from sequence src
// to sequence dst: a prompt that shares a prefix with another sequence's
// tokens starts from that sequence's cache instead of computing it again.
void context_copy_cells(llmux_context *c, int src, int dst, int p0, int p1);
// Runs one batch (1 <= n <= n_batch). Returns 0 or -1 with the error set.
int decoder_forward(llmux_context *c, const fwd_batch *b);
// The pooled embedding of n tokens run from position 0 of sequence seq, in
// chunks of at most n_batch (that sequence's cache is overwritten; the
// others are untouched). out: n_embd floats, unit length when normalize.
// Pools with c->pooling. Returns 0, or -1 with the error set (no tokens, more
// than the context holds, a bad sequence, token or pooling type).
int embed_sequence(llmux_context *c, int seq, const int32_t *tokens, int n, float *out, bool normalize);

#endif
