// ops: the small per-token kernels of a transformer block (norms, rotary
// embeddings, activations, softmax, attention over the KV cache). The big
// matrix products live in matmul.h. Kernels never allocate.
#ifndef LLMUX_OPS_H
#define LLMUX_OPS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ---- norms
// y = x / sqrt(mean(x^2) + eps) * w (w may be NULL); accumulates in double as the reference does.
void op_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps);
// The two halves of op_rms_norm, for callers that normalize a row in pieces
// (matmul_many_normed): the row's factor 1 / sqrt(mean(x^2) + eps), then
// y = x * scale * w over any range; together op_rms_norm's bits.
float op_rms_scale(const float *x, int64_t n, float eps);
void op_rms_apply(float *y, const float *x, const float *w, float scale, int64_t n);

// ---- rotary position embedding
enum rope_kind { ROPE_NORM = 0, ROPE_NEOX = 2 };

typedef struct {
  enum rope_kind kind;
  int n_rot;                 // rotated dims per head (<= head_dim)
  float freq_base, freq_scale;
  const float *freq_factors; // n_rot/2 divisors of the frequencies (llama3 scaling), or NULL
  // YaRN (ext_factor > 0 enables it)
  float ext_factor, attn_factor, beta_fast, beta_slow;
  int n_ctx_orig;
} rope_params;

// Fills cs[0..n_rot) with (cos, sin) pairs for one position.
void op_rope_cache(const rope_params *rp, int32_t pos, float *cs);
// Rotates every head of x (n_head heads of head_dim) with a cache from op_rope_cache.
void op_rope_apply(const rope_params *rp, const float *cs, float *x, int n_head, int head_dim);

// ---- activations
// dst = act(gate) * up, element-wise; dst may be gate.
void op_silu_mul(float *dst, const float *gate, const float *up, int64_t n);
void op_gelu_mul(float *dst, const float *gate, const float *up, int64_t n);  // GELU, tanh approximation
void op_softcap(float *x, int64_t n, float cap);                // x = cap * tanh(x / cap)
void op_add(float *restrict y, const float *restrict x, int64_t n);  // y += x (no overlap)
void op_mul(float *restrict y, const float *restrict x, int64_t n);  // y *= x (no overlap)
void op_scale(float *y, float s, int64_t n);                    // y *= s

// ---- attention over a KV cache
typedef struct {
  const void *k, *v;   // cache rows, one per position: n_kv_head * head_dim elements each
  bool f16;            // rows are fp16 (else f32)
  int64_t k_row, v_row;  // elements per cache row (n_kv_head * head dim)
  int k_dim, v_dim;      // head dims of keys and values
  float scale;         // applied to q.k
  float softcap;       // 0: off (gemma2 attention logit soft-capping)
} attn_kv;

// Most query heads that share one KV head (grouped-query attention).
#define ATTN_MAX_GROUP 64
// Most tokens in one block of op_attend.
#define ATTN_MAX_TOKENS 16

// The query rows of one KV head for a block of tokens of one sequence: row
// (token i, head h) is q + i * q_tok + h * q_head, and its output goes to
// out + i * out_tok + h * out_head (v_dim floats). Token i attends to the
// cache rows [lo[i], hi[i]).
typedef struct {
  const float *q;
  int64_t q_tok, q_head;
  float *out;
  int64_t out_tok, out_head;
  int n_tok, n_head;  // n_tok <= ATTN_MAX_TOKENS, n_head <= ATTN_MAX_GROUP
  const int64_t *lo, *hi;
} attn_rows;

// out = softmax(q . K[j] * scale) V[j] for every row of r against the
// cached keys and values of kv head kvh. The block's rows meet each key and
// value once (converted to f32 once per block, not per row), as small
// matrix products. A row's result does not depend on the other rows of the
// block, nor on the SIMD level: every q . k and every output element is one
// fused multiply-add chain in a fixed order at every level, so a token gets
// the same bits alone or batched with others.
void op_attend(const attn_kv *kv, int kvh, const attn_rows *r, float *work);
// Floats of work op_attend needs for n_rows rows (n_tok * n_head) over at most n_keys cache rows.
size_t op_attend_work(const attn_kv *kv, int n_rows, int64_t n_keys);

#endif
