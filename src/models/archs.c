// archs: the architectures llmux runs, and what sets each apart from the
// plain llama block. Optional tensors (biases, q/k norms, post norms, fused
// projections) are found by name when the model binds its weights, so an
// entry here only holds what the tensors cannot say.
#include <math.h>
#include <string.h>

#include "models/load.h"
#include "models/model.h"

// Gemma 2: embeddings scaled by sqrt(n_embd), soft-capped attention and output
// logits, a sliding window on every other layer (even layers), and a query
// scale of 1/sqrt(head_dim) (1/sqrt(n_embd/n_head) for the 27B shape, whose
// head_dim differs from n_embd/n_head).
static int gemma2_hparams(llmux_model *m) {
  hparams *hp = &m->hp;
  hp->embd_scale = sqrtf((float)hp->n_embd);
  if (hp->attn_softcap == 0) hp->attn_softcap = 50.0f;
  if (hp->final_softcap == 0) hp->final_softcap = 30.0f;
  hp->swa_pattern = 2;
  if (hp->sliding_window == 0) hp->sliding_window = 4096;
  if (hp->n_layer == 46) hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
  return 0;
}

// Phi-3: configs name a sliding window but not which layers use it, and the
// reference engine runs Phi models without one; so do we, to match it.
static int phi3_hparams(llmux_model *m) {
  m->hp.sliding_window = 0;
  return 0;
}

static const arch_desc ARCHS[] = {
  {"llama", ROPE_NORM, ACT_SILU, NULL},    // also Mistral, TinyLlama, SmolLM, Llama 3
  {"mistral", ROPE_NORM, ACT_SILU, NULL},
  {"qwen2", ROPE_NEOX, ACT_SILU, NULL},    // q/k/v biases
  {"qwen3", ROPE_NEOX, ACT_SILU, NULL},    // per-head q/k RMS norms
  {"gemma2", ROPE_NEOX, ACT_GELU, gemma2_hparams},
  {"phi3", ROPE_NEOX, ACT_SILU, phi3_hparams},  // fused qkv and gate|up
};

const arch_desc *arch_find(const char *name) {
  for (size_t i = 0; i < sizeof ARCHS / sizeof *ARCHS; i++)
    if (!strcmp(ARCHS[i].name, name)) return &ARCHS[i];
  return NULL;
}

const char *arch_list(void) { return "llama, mistral, qwen2, qwen3, gemma2, phi3"; }
