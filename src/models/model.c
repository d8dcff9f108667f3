// model: loading a GGUF file into a llmux_model (see model.h).
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "core/filemap.h"
#include "core/log.h"
#include "llmux.h"
#include "models/load.h"
#include "models/repack.h"
#include "ops/quant.h"
#include "ops/types.h"

llmux_model_params llmux_model_default_params(void) {
  llmux_model_params p = {0};
  return p;
}

static int read_common_hparams(llmux_model *m) {
  hparams *hp = &m->hp;
  int64_t v;
  if (!load_req_int(m, "context_length", &v, 1, 1 << 24)) return -1;
  hp->n_ctx_train = (int)v;
  if (!load_req_int(m, "embedding_length", &v, 1, 1 << 17)) return -1;
  hp->n_embd = (int)v;
  if (!load_req_int(m, "block_count", &v, 1, 4096)) return -1;
  hp->n_layer = (int)v;
  if (!load_req_int(m, "feed_forward_length", &v, 1, 1 << 20)) return -1;
  hp->n_ff = (int)v;
  if (!load_req_int(m, "attention.head_count", &v, 1, 4096)) return -1;
  hp->n_head = (int)v;
  hp->n_head_kv = (int)load_opt_int(m, "attention.head_count_kv", hp->n_head, 1, hp->n_head);
  if (hp->n_head % hp->n_head_kv) return load_fail(m, "%d attention heads are not a multiple of %d KV heads", hp->n_head, hp->n_head_kv);
  if (hp->n_head / hp->n_head_kv > ATTN_MAX_GROUP)
    return load_fail(m, "%d query heads per KV head is more than llmux supports (%d)", hp->n_head / hp->n_head_kv, ATTN_MAX_GROUP);
  hp->head_dim_k = (int)load_opt_int(m, "attention.key_length", hp->n_embd / hp->n_head, 1, 4096);
  hp->head_dim_v = (int)load_opt_int(m, "attention.value_length", hp->head_dim_k, 1, 4096);
  hp->norm_eps = (float)load_opt_float(m, "attention.layer_norm_rms_epsilon", 1e-5);
  hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim_k);
  hp->embd_scale = 1.0f;
  hp->swa_pattern = 1;
  hp->sliding_window = (int)load_opt_int(m, "attention.sliding_window", 0, 0, 1 << 24);
  hp->attn_softcap = (float)load_opt_float(m, "attn_logit_softcapping", 0);
  hp->final_softcap = (float)load_opt_float(m, "final_logit_softcapping", 0);
  return 0;
}

static int read_rope(llmux_model *m) {
  hparams *hp = &m->hp;
  rope_params *rp = &hp->rope;
  rp->kind = m->desc->rope_kind;
  rp->n_rot = (int)load_opt_int(m, "rope.dimension_count", hp->head_dim_k, 2, hp->head_dim_k);
  if (rp->n_rot % 2) return load_fail(m, "rope.dimension_count %d is odd", rp->n_rot);
  rp->freq_base = (float)load_opt_float(m, "rope.freq_base", 10000.0);
  rp->freq_scale = 1.0f;
  rp->attn_factor = (float)load_opt_float(m, "rope.scaling.attn_factor", 1.0);
  rp->n_ctx_orig = (int)load_opt_int(m, "rope.scaling.original_context_length", hp->n_ctx_train, 1, 1 << 24);
  char type[32] = "none";
  load_opt_str(m, "rope.scaling.type", type, sizeof type);
  double factor = load_opt_float(m, "rope.scaling.factor", 0);
  if (factor == 0) factor = load_opt_float(m, "rope.scale_linear", 0);
  if (!strcmp(type, "linear") || (!strcmp(type, "none") && factor > 0)) {
    if (factor > 0) rp->freq_scale = (float)(1.0 / factor);
  } else if (!strcmp(type, "yarn")) {
    if (factor <= 0) return load_fail(m, "rope.scaling.type is yarn but rope.scaling.factor is missing");
    rp->freq_scale = (float)(1.0 / factor);
    rp->ext_factor = 1.0f;
    rp->beta_fast = (float)load_opt_float(m, "rope.scaling.yarn_beta_fast", 32.0);
    rp->beta_slow = (float)load_opt_float(m, "rope.scaling.yarn_beta_slow", 1.0);
  } else if (strcmp(type, "none") && strcmp(type, "longrope")) {
    return load_fail(m, "rope.scaling.type '%s' is not supported (none, linear, yarn, longrope)", type);
  }
  return 0;
}

// Per-dimension frequency divisors: llama3 files store them precomputed in
// rope_freqs.weight; phi3 long-context files in rope_factors_{short,long}
// (the short ones here; a context longer than the original one switches to
// the long ones, see context_new).
static int bind_rope_factors(llmux_model *m) {
  const char *name = gguf_find_tensor(m->file, "rope_freqs.weight") ? "rope_freqs.weight"
                     : gguf_find_tensor(m->file, "rope_factors_short.weight") ? "rope_factors_short.weight"
                                                                               : NULL;
  if (!name) return 0;
  const float *f = load_vector(m, name, m->hp.rope.n_rot / 2, true);
  if (!f) return -1;
  m->hp.rope.freq_factors = f;
  if (gguf_find_tensor(m->file, "rope_factors_long.weight")) {
    m->rope_long_factors = load_vector(m, "rope_factors_long.weight", m->hp.rope.n_rot / 2, true);
    if (!m->rope_long_factors) return -1;
  }
  return 0;
}

static int bind_layer(llmux_model *m, int il) {
  const hparams *hp = &m->hp;
  layer_weights *L = &m->layers[il];
  int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k, k_dim = (int64_t)hp->n_head_kv * hp->head_dim_k;
  int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v, E = hp->n_embd;
  load_set_layer(m, il);
  if (!(L->attn_norm = load_vector(m, "attn_norm", E, true))) return -1;
  if (!(L->ffn_norm = load_vector(m, "ffn_norm", E, true))) return -1;
  L->attn_post_norm = load_vector(m, "post_attention_norm", E, false);
  L->ffn_post_norm = load_vector(m, "post_ffw_norm", E, false);
  L->q_norm = load_vector(m, "attn_q_norm", hp->head_dim_k, false);
  L->k_norm = load_vector(m, "attn_k_norm", hp->head_dim_k, false);
  if (load_has(m, "attn_qkv")) {
    if (load_matrix(m, &L->wqkv, "attn_qkv", E, q_dim + k_dim + v_dim) < 0) return -1;
  } else {
    if (load_matrix(m, &L->wq, "attn_q", E, q_dim) < 0 || load_matrix(m, &L->wk, "attn_k", E, k_dim) < 0 ||
        load_matrix(m, &L->wv, "attn_v", E, v_dim) < 0)
      return -1;
    L->bq = load_bias(m, "attn_q", q_dim);
    L->bk = load_bias(m, "attn_k", k_dim);
    L->bv = load_bias(m, "attn_v", v_dim);
  }
  if (load_matrix(m, &L->wo, "attn_output", q_dim, E) < 0) return -1;
  L->bo = load_bias(m, "attn_output", E);
  L->ffn_fused = !load_has(m, "ffn_gate");
  if (!L->ffn_fused && load_matrix(m, &L->ffn_gate, "ffn_gate", E, hp->n_ff) < 0) return -1;
  if (load_matrix(m, &L->ffn_up, "ffn_up", E, L->ffn_fused ? 2 * (int64_t)hp->n_ff : hp->n_ff) < 0) return -1;
  if (load_matrix(m, &L->ffn_down, "ffn_down", hp->n_ff, E) < 0) return -1;
  L->swa = hp->sliding_window > 0 && (hp->swa_pattern == 1 || il % hp->swa_pattern < hp->swa_pattern - 1);
  return m->load_failed ? -1 : 0;
}

static int bind_weights(llmux_model *m) {
  const hparams *hp = &m->hp;
  load_set_layer(m, -1);
  if (load_matrix(m, &m->tok_embd, "token_embd", hp->n_embd, hp->n_vocab) < 0) return -1;
  if (!(m->output_norm = load_vector(m, "output_norm", hp->n_embd, true))) return -1;
  if (load_has(m, "output")) {
    if (load_matrix(m, &m->output, "output", hp->n_embd, hp->n_vocab) < 0) return -1;
  } else {
    m->output = m->tok_embd;  // tied embeddings
  }
  if (bind_rope_factors(m) < 0) return -1;
  m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
  if (!m->layers) return load_fail(m, "out of memory");
  for (int il = 0; il < hp->n_layer; il++)
    if (bind_layer(m, il) < 0) return -1;
  m->weight_bytes = load_weight_bytes(m);
  return 0;
}

static void read_chat_template(llmux_model *m) {
  gguf_str s;
  if (!gguf_get_str(m->file, "tokenizer.chat_template", &s)) return;
  m->chat_template = malloc(s.n + 1);
  if (!m->chat_template) return;
  memcpy(m->chat_template, s.s, s.n);
  m->chat_template[s.n] = 0;
}

// One progress bar over the load's phases, each a part of it in proportion
// to its bytes: reading the file (and reading it again into 2 MiB pages
// where that happens), then tiling. A phase stops short of the end, which
// load_model reports once, last.
typedef struct {
  llmux_progress_fn fn;
  void *user;
  float base, span;
} load_phase;

static void phase_progress(float f, void *u) {
  const load_phase *ph = u;
  ph->fn(ph->base + ph->span * (f < 0.999f ? f : 0.999f), ph->user);
}

static void load_pages(llmux_model *m, const llmux_model_params *p) {
  llmux_progress_fn fn = p ? p->progress : NULL;
  double file = (double)m->file->size, tile = (double)repack_planned(m, p);
  float split = (float)(file / (file + tile));
  load_phase reading = {fn, fn ? p->progress_user : NULL, 0.0f, split};
  load_phase tiling = {fn, reading.user, split, 1.0f - split};
  // A second read of the file into 2 MiB pages pays only for what stays in
  // it; when most of it is copied into the tiled layout, it does not.
  load_prefault(m, tile < file / 2, fn ? phase_progress : NULL, &reading);
  repack_weights(m, p, fn ? phase_progress : NULL, &tiling);
  if (fn) fn(1.0f, reading.user);
}

static int load_model(llmux_model *m, const llmux_model_params *p) {
  if (!gguf_get_cstr(m->file, "general.architecture", m->arch, sizeof m->arch))
    return load_fail(m, "general.architecture is missing");
  m->desc = arch_find(m->arch);
  if (!m->desc) return load_fail(m, "architecture '%s' is not supported (supported: %s)", m->arch, arch_list());
  if (!gguf_get_cstr(m->file, "general.name", m->name, sizeof m->name)) {
    const char *base = strrchr(m->file->path, '/');
    snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : m->file->path);
  }
  if (read_common_hparams(m) < 0 || read_rope(m) < 0) return -1;
  m->hp.act = m->desc->act;
  if (m->desc->load_hparams && m->desc->load_hparams(m) < 0) return -1;
  m->tok = tokenizer_from_gguf(m->file);
  if (!m->tok) return load_fail(m, "tokenizer: %s", err_get());
  m->hp.n_vocab = tokenizer_n_vocab(m->tok);
  if (bind_weights(m) < 0) return -1;
  read_chat_template(m);
  load_pages(m, p);
  return 0;
}

llmux_model *llmux_model_load(const char *path, const llmux_model_params *params) {
  llmux_model *m = calloc(1, sizeof *m);
  if (!m) {
    err_set("out of memory");
    return NULL;
  }
  m->file = gguf_open(path);
  if (!m->file || load_model(m, params) < 0) {
    llmux_model_free(m);
    return NULL;
  }
  log_info("loaded %s: %s, %d layers, %d embd, %d heads (%d kv), vocab %d, %.1f MiB of weights, %.1f MiB of them "
           "tiled for the %s kernels; process resident %.1f MiB",
           path, m->arch, m->hp.n_layer, m->hp.n_embd, m->hp.n_head, m->hp.n_head_kv, m->hp.n_vocab,
           (double)m->weight_bytes / (1 << 20), (double)m->repacked_bytes / (1 << 20), cpu_simd_name(cpu_simd_level()),
           (double)filemap_resident_bytes() / (1 << 20));
  return m;
}

void llmux_model_free(llmux_model *m) {
  if (!m) return;
  for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
  free(m->owned);
  free(m->layers);
  free(m->chat_template);
  if (m->tok) tokenizer_free(m->tok);
  filemap_free_anon(m->repacked, m->repacked_bytes);
  gguf_close(m->file);
  free(m);
}

const char *llmux_model_arch(const llmux_model *m) { return m->arch; }
const char *llmux_model_name(const llmux_model *m) { return m->name; }
int llmux_model_n_vocab(const llmux_model *m) { return m->hp.n_vocab; }
int llmux_model_n_ctx_train(const llmux_model *m) { return m->hp.n_ctx_train; }
int llmux_model_n_embd(const llmux_model *m) { return m->hp.n_embd; }
int llmux_model_n_layer(const llmux_model *m) { return m->hp.n_layer; }
size_t llmux_model_weight_bytes(const llmux_model *m) { return m->weight_bytes; }
const char *llmux_model_chat_template(const llmux_model *m) { return m->chat_template; }
