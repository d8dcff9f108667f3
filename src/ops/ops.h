// ops: the small per-token kernels of a transformer block (norms, rotary
// embeddings, activations, softmax, attention over the KV cache). The big
// matrix products live in matmul.h. Kernels never allocate.
#ifndef LLMUX_OPS_H
#define LLMUX_OPS_H
#include <stdbool.h>
#include <stdint.h>

// ---- norms
// y = x / sqrt(mean(x^2) + eps) * w (w may be NULL); accumulates in double as the reference does.
void op_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps);

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
void op_silu_mul(float *gate, const float *up, int64_t n);      // gate = silu(gate) * up
void op_gelu_mul(float *gate, const float *up, int64_t n);      // gate = gelu_tanh(gate) * up
void op_softcap(float *x, int64_t n, float cap);                // x = cap * tanh(x / cap)
void op_add(float *y, const float *x, int64_t n);               // y += x
void op_mul(float *y, const float *x, int64_t n);               // y *= x
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

// For the n_q query heads sharing kv head kvh (q + h * q_stride), over cache
// rows [lo, hi): out + h * out_stride = softmax(q . K[j] * scale) V[j]. Each
// key and value row is read once for the whole group. scores must hold
// n_q * (hi - lo) floats; row_buf max(k_dim, v_dim) floats (f16 rows are
// converted there).
void op_attend(const attn_kv *kv, int kvh, const float *q, int n_q, int64_t q_stride, int64_t lo, int64_t hi,
               float *scores, float *row_buf, float *out, int64_t out_stride);

#endif
