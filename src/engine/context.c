// context: allocation of the KV cache and batch scratch (see context.h).
#include "engine/context.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"

#define DEFAULT_MAX_CTX 4096
#define DEFAULT_BATCH 512

llmux_context_params llmux_context_default_params(void) {
  llmux_context_params p = {0};
  p.kv_type = LLMUX_KV_F16;
  return p;
}

static size_t max_scratch(const llmux_model *m, int n_batch) {
  size_t best = matmul_scratch_bytes(m->output.type, m->output.n_in, n_batch);
  for (int il = 0; il < m->hp.n_layer; il++) {
    const layer_weights *L = &m->layers[il];
    const mm_weight *ws[LAYER_MATRIX_COUNT] = LAYER_MATRICES(L);
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) {
      if (!ws[i]->data) continue;
      size_t s = matmul_scratch_bytes(ws[i]->type, ws[i]->n_in, n_batch);
      if (s > best) best = s;
    }
  }
  return best;
}

static void *alloc_f32(size_t n, bool *ok) {
  void *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  if (!p) *ok = false;
  return p;
}

// Tokens per attention block: up to ATTN_MAX_TOKENS, fewer when the block's
// scores over the whole context (rows x n_ctx floats per thread) would pass 4 MiB.
static int attn_block_tokens(const llmux_context *c) {
  int group = c->model->hp.n_head / c->model->hp.n_head_kv;
  int64_t n = (int64_t)(1 << 20) / ((int64_t)group * c->n_ctx);
  return n < 1 ? 1 : n > ATTN_MAX_TOKENS ? ATTN_MAX_TOKENS : (int)n;
}

static bool alloc_scratch(llmux_context *c) {
  const hparams *hp = &c->model->hp;
  size_t B = (size_t)c->n_batch, E = (size_t)hp->n_embd;
  size_t qd = (size_t)hp->n_head * hp->head_dim_k, kd = (size_t)hp->n_head_kv * hp->head_dim_k;
  size_t vd = (size_t)hp->n_head_kv * hp->head_dim_v, ad = (size_t)hp->n_head * hp->head_dim_v;
  bool ok = true;
  c->x = alloc_f32(B * E, &ok);
  c->xn = alloc_f32(B * E, &ok);
  c->q = alloc_f32(B * qd, &ok);
  c->k = alloc_f32(B * kd, &ok);
  c->v = alloc_f32(B * vd, &ok);
  c->qkv = alloc_f32(B * (qd + kd + vd), &ok);
  c->att = alloc_f32(B * ad, &ok);
  c->proj = alloc_f32(B * E, &ok);
  c->ff = alloc_f32(B * 2 * (size_t)hp->n_ff, &ok);
  c->ff2 = alloc_f32(B * (size_t)hp->n_ff, &ok);
  c->attn_tokens = attn_block_tokens(c);
  attn_kv kv = {.k_dim = hp->head_dim_k, .v_dim = hp->head_dim_v};
  int rows = c->attn_tokens * (hp->n_head / hp->n_head_kv);
  c->attn_work_stride = (op_attend_work(&kv, rows, c->n_ctx) + 15) / 16 * 16;
  c->attn_work = alloc_f32((size_t)pool_size(c->pool) * c->attn_work_stride, &ok);
  c->attn_blk = malloc((B + 1) * sizeof *c->attn_blk);
  c->rope_cs = alloc_f32(B * (size_t)hp->rope.n_rot, &ok);
  c->cell = malloc(B * sizeof *c->cell);
  c->logit_index = malloc(B * sizeof *c->logit_index);
  c->logit_rows = malloc(B * sizeof *c->logit_rows);
  c->pos_buf = malloc(B * sizeof *c->pos_buf);
  c->seq_buf = malloc(B * sizeof *c->seq_buf);
  c->logits = alloc_f32(B * (size_t)hp->n_vocab, &ok);
  c->embd = alloc_f32(B * E, &ok);
  c->embd_sum = malloc(E * sizeof *c->embd_sum);
  c->mm_scratch = aligned_alloc(64, (max_scratch(c->model, c->n_batch) + 63) / 64 * 64 + 64);
  return ok && c->attn_blk && c->cell && c->logit_index && c->logit_rows && c->pos_buf && c->seq_buf && c->embd_sum &&
         c->mm_scratch;
}

static bool alloc_kv(llmux_context *c) {
  const hparams *hp = &c->model->hp;
  size_t esz = c->kv_type == LLMUX_KV_F16 ? 2 : 4;
  size_t cells = (size_t)c->n_seq * (size_t)c->n_ctx;
  c->kv_row_k = (size_t)hp->n_head_kv * hp->head_dim_k;
  c->kv_row_v = (size_t)hp->n_head_kv * hp->head_dim_v;
  c->kv_k = calloc((size_t)hp->n_layer, sizeof *c->kv_k);
  c->kv_v = calloc((size_t)hp->n_layer, sizeof *c->kv_v);
  if (!c->kv_k || !c->kv_v) return false;
  for (int il = 0; il < hp->n_layer; il++) {
    // calloc: untouched cache pages cost no memory until used.
    c->kv_k[il] = calloc(cells * c->kv_row_k, esz);
    c->kv_v[il] = calloc(cells * c->kv_row_v, esz);
    if (!c->kv_k[il] || !c->kv_v[il]) return false;
  }
  c->kv_bytes = (size_t)hp->n_layer * cells * (c->kv_row_k + c->kv_row_v) * esz;
  return true;
}

llmux_context *context_new(llmux_model *m, const llmux_context_params *params, int n_seq) {
  llmux_context_params p = params ? *params : llmux_context_default_params();
  llmux_context *c = calloc(1, sizeof *c);
  if (!c) {
    err_set("out of memory");
    return NULL;
  }
  c->model = m;
  c->n_seq = n_seq > 0 ? n_seq : 1;
  c->n_ctx = p.n_ctx > 0 ? p.n_ctx : (m->hp.n_ctx_train < DEFAULT_MAX_CTX ? m->hp.n_ctx_train : DEFAULT_MAX_CTX);
  c->n_batch = p.n_batch > 0 ? p.n_batch : DEFAULT_BATCH;
  if (c->n_batch > c->n_ctx * c->n_seq) c->n_batch = c->n_ctx * c->n_seq;
  c->kv_type = p.kv_type;
  c->pooling = llmux_model_pooling(m);
  c->rope = m->hp.rope;
  if (m->rope_long_factors && c->n_ctx > c->rope.n_ctx_orig) c->rope.freq_factors = m->rope_long_factors;
  c->pool = pool_new(p.n_threads);
  if (!c->pool) {  // pool_new said why
    llmux_context_free(c);
    return NULL;
  }
  if (!alloc_kv(c) || !alloc_scratch(c)) {
    err_set("cannot allocate a context of %d x %d tokens: out of memory", c->n_seq, c->n_ctx);
    llmux_context_free(c);
    return NULL;
  }
  log_info("context: %d x %d tokens, KV cache %s %.1f MiB, batch %d, %d threads", c->n_seq, c->n_ctx,
           c->kv_type == LLMUX_KV_F16 ? "f16" : "f32", (double)c->kv_bytes / (1 << 20), c->n_batch,
           pool_size(c->pool));
  return c;
}

llmux_context *llmux_context_new(llmux_model *m, const llmux_context_params *params) {
  return context_new(m, params, 1);
}

void llmux_context_free(llmux_context *c) {
  if (!c) return;
  for (int il = 0; c->kv_k && il < c->model->hp.n_layer; il++) {
    free(c->kv_k[il]);
    free(c->kv_v[il]);
  }
  free(c->kv_k);
  free(c->kv_v);
  void *bufs[] = {c->x,      c->xn,     c->q,    c->k,      c->v,    c->qkv,         c->att,        c->proj,
                  c->ff,     c->ff2,    c->attn_work, c->rope_cs, c->cell, c->logit_index, c->logits, c->mm_scratch,
                  c->logit_rows, c->attn_blk, c->pos_buf, c->seq_buf, c->embd, c->embd_sum};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
  if (c->pool) pool_free(c->pool);
  free(c);
}

int llmux_context_n_ctx(const llmux_context *c) { return c->n_ctx; }
size_t llmux_context_kv_bytes(const llmux_context *c) { return c->kv_bytes; }

const float *llmux_logits(const llmux_context *c, int i) {
  if (i < 0) i = c->last_n - 1;
  if (i < 0 || i >= c->last_n || c->logit_index[i] < 0) return NULL;
  return c->logits + (size_t)c->logit_index[i] * c->model->hp.n_vocab;
}

void context_copy_cells(llmux_context *c, int src, int dst, int p0, int p1) {
  if (src == dst || p1 <= p0) return;
  size_t esz = c->kv_type == LLMUX_KV_F16 ? 2 : 4, n = (size_t)(p1 - p0);
  size_t from = (size_t)src * (size_t)c->n_ctx + (size_t)p0, to = (size_t)dst * (size_t)c->n_ctx + (size_t)p0;
  for (int il = 0; il < c->model->hp.n_layer; il++) {
    uint8_t *k = c->kv_k[il], *v = c->kv_v[il];
    memcpy(k + to * c->kv_row_k * esz, k + from * c->kv_row_k * esz, n * c->kv_row_k * esz);
    memcpy(v + to * c->kv_row_v * esz, v + from * c->kv_row_v * esz, n * c->kv_row_v * esz);
  }
}
