// model: a loaded decoder-only transformer: hyper-parameters, weights bound
// to the mapped GGUF file (zero copy), and the tokenizer. One generic decoder
// (decoder.c) runs every supported architecture; the per-architecture files
// (arch_*.c) only say how their hyper-parameters and tensors are named and
// which optional parts of a block they use. The model is read-only after load
// and may be shared by any number of contexts.
#ifndef LLMUX_MODEL_H
#define LLMUX_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "llmux.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "tokenizer/tokenizer.h"

enum act_kind { ACT_SILU = 0, ACT_GELU = 1 };

typedef struct {
  int n_vocab, n_ctx_train, n_embd, n_layer, n_ff;
  int n_head, n_head_kv, head_dim_k, head_dim_v;
  float norm_eps;
  rope_params rope;
  enum act_kind act;
  float embd_scale;      // token embeddings are multiplied by this (gemma: sqrt(n_embd)); 1 otherwise
  float attn_scale;      // q.k scale
  float attn_softcap;    // 0: off
  float final_softcap;   // 0: off
  int sliding_window;    // 0: off
  int swa_pattern;       // layers with il % swa_pattern < swa_pattern - 1 use the window; 1: all layers
} hparams;

typedef struct {
  const float *attn_norm, *attn_post_norm, *ffn_norm, *ffn_post_norm;  // post norms: gemma2 only
  const float *q_norm, *k_norm;   // qwen3: per-head RMS norm of q and k
  const float *bq, *bk, *bv, *bo; // optional biases
  mm_weight wq, wk, wv, wo;
  mm_weight wqkv;                 // fused q|k|v (phi3); .data NULL when separate
  mm_weight ffn_gate, ffn_up, ffn_down;
  bool ffn_fused;                 // ffn_up holds gate|up (phi3), ffn_gate unused
  bool swa;                       // this layer uses the sliding window
} layer_weights;

// A layer's weight matrices, in one order, for the loops that visit them all
// (absent ones have data NULL): mm_weight *ws[LAYER_MATRIX_COUNT] = LAYER_MATRICES(L).
#define LAYER_MATRIX_COUNT 8
#define LAYER_MATRICES(L) \
  {&(L)->wq, &(L)->wk, &(L)->wv, &(L)->wo, &(L)->wqkv, &(L)->ffn_gate, &(L)->ffn_up, &(L)->ffn_down}

struct llmux_model {
  gguf_file *file;
  char arch[32];
  char name[128];
  const struct arch_desc *desc;
  hparams hp;
  tokenizer *tok;
  mm_weight tok_embd, output;
  const float *output_norm;
  layer_weights *layers;
  const float *rope_long_factors;  // phi3 LongRoPE factors for contexts past rope.n_ctx_orig, or NULL
  float **owned;             // f32 copies of norms/biases stored in other types
  int n_owned;
  size_t weight_bytes;       // tensor bytes streamed per token
  void *repacked;            // the tiled copies of matrices (models/repack.c), or NULL
  size_t repacked_bytes;
  char *chat_template;
  // Loading state (models/load.c).
  int load_layer;            // layer whose tensors are being bound; -1 for global ones
  bool load_failed;
};

// What differs between architectures.
typedef struct arch_desc {
  const char *name;
  enum rope_kind rope_kind;
  enum act_kind act;
  // Reads architecture-specific hyper-parameters after the common ones; may be NULL.
  int (*load_hparams)(struct llmux_model *m);
} arch_desc;

const arch_desc *arch_find(const char *name);
// Names of all supported architectures, comma-separated (for error messages).
const char *arch_list(void);

#endif
