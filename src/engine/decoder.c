// decoder: the forward pass of every supported architecture, over one batch
// of tokens. It reads like the paper: per layer, norm -> q/k/v -> rope ->
// attention over the cache -> output projection -> residual, then norm ->
// gated feed-forward -> residual; optional parts (biases, q/k norms, post
// norms, soft-capping, sliding window) switch on when the model has them.
// Nearly all time goes to matmul() (ops/matmul.c); the per-token steps here
// are spread over the thread pool by token or by (token, head).
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "engine/context.h"
#include "ops/quant.h"

// ---- running a per-token step on the pool
typedef void (*item_fn)(llmux_context *c, const fwd_batch *b, int il, int item, int ith);

typedef struct {
  llmux_context *c;
  const fwd_batch *b;
  int il, n;
  item_fn fn;
} par_items;

// Many items (a prompt's tokens) follow the pool's balanced plan
// (threadpool.h): a range per thread, front to back, whose rest the others
// take over from its back when it falls behind. A round-robin deal left
// the faster core waiting for the slower (the cores here differ by 10% or
// more): in a Qwen2.5-0.5B prompt on two threads the calling thread spent
// 9.5% of the samples on these steps, the other 6.0%. In ranges a thread
// also takes the same tokens in every step of a layer, the tokens whose
// products it ran (matmul.c gives thread 0 the first slice of the tokens),
// so their rows are in its caches: the residual adds' samples halved. A few
// items (a decode step's heads) are dealt round-robin, with no shared state
// to pass between the cores.
#define PLAN_MIN_ITEMS 32

static void par_task(void *arg, int ith, int nth) {
  par_items *p = arg;
  if (p->n < PLAN_MIN_ITEMS) {
    for (int i = ith; i < p->n; i += nth) p->fn(p->c, p->b, p->il, i, ith);
    return;
  }
  long lo, hi;
  while (pool_take(p->c->pool, ith, &lo, &hi))
    for (long i = lo; i < hi; i++) p->fn(p->c, p->b, p->il, (int)i, ith);
}

static void for_items(llmux_context *c, const fwd_batch *b, int il, int n, item_fn fn) {
  par_items p = {c, b, il, n, fn};
  if (n == 1) {
    fn(c, b, il, 0, 0);
    return;
  }
  if (n >= PLAN_MIN_ITEMS) pool_plan(c->pool, n, 1);
  pool_run(c->pool, par_task, &p);
}

static void mm(llmux_context *c, const mm_weight *w, const float *x, int64_t ldx, int n, float *y, int64_t ldy) {
  matmul(c->pool, w, x, ldx, n, y, ldy, c->mm_scratch);
}

// The products of the normalized hidden state (norm(x) * norm_w) with ws:
// normalized as the input is quantized where every weight's products read
// it quantized, otherwise into c->xn first.
static void mm_normed(llmux_context *c, const fwd_batch *b, int il, item_fn norm_item, const float *norm_w,
                      const mm_out *ws, int n_ws) {
  const hparams *hp = &c->model->hp;
  bool quantized = true;
  for (int i = 0; i < n_ws; i++) quantized &= matmul_quantizes(ws[i].w);
  if (quantized) {
    matmul_many_normed(c->pool, ws, n_ws, c->x, hp->n_embd, norm_w, hp->norm_eps, b->n, c->mm_scratch);
    return;
  }
  for_items(c, b, il, b->n, norm_item);
  matmul_many(c->pool, ws, n_ws, c->xn, hp->n_embd, b->n, c->mm_scratch);
}

static void add_bias(float *y, const float *bias, int64_t n) {
  if (bias) op_add(y, bias, n);
}

// ---- attention sub-block
static void attn_norm_item(llmux_context *c, const fwd_batch *b, int il, int t, int ith) {
  (void)b, (void)ith;
  const hparams *hp = &c->model->hp;
  op_rms_norm(c->xn + (size_t)t * hp->n_embd, c->x + (size_t)t * hp->n_embd, c->model->layers[il].attn_norm,
              hp->n_embd, hp->norm_eps);
}

static void store_kv(llmux_context *c, int il, int t, const float *k, const float *v) {
  size_t cell = (size_t)c->cell[t];
  if (c->kv_type == LLMUX_KV_F16) {
    // The level's conversion (F16C where present): the same bits as
    // fp16_from_fp32, which cost 2-3% of a prompt's time element by element.
    quantize_fn to_f16 = quant_quantize(T_F16);
    to_f16(k, (uint16_t *)c->kv_k[il] + cell * c->kv_row_k, (int64_t)c->kv_row_k);
    to_f16(v, (uint16_t *)c->kv_v[il] + cell * c->kv_row_v, (int64_t)c->kv_row_v);
  } else {
    memcpy((float *)c->kv_k[il] + cell * c->kv_row_k, k, c->kv_row_k * sizeof(float));
    memcpy((float *)c->kv_v[il] + cell * c->kv_row_v, v, c->kv_row_v * sizeof(float));
  }
}

// Bias, q/k norms and rope for token t, then its k and v go into the cache.
static void qkv_item(llmux_context *c, const fwd_batch *b, int il, int t, int ith) {
  (void)b, (void)ith;
  const hparams *hp = &c->model->hp;
  const layer_weights *L = &c->model->layers[il];
  int64_t qd = (int64_t)hp->n_head * hp->head_dim_k, kd = (int64_t)hp->n_head_kv * hp->head_dim_k;
  int64_t vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
  float *q = c->q + t * qd, *k = c->k + t * kd, *v = c->v + t * vd;
  if (L->wqkv.data) {
    const float *src = c->qkv + t * (qd + kd + vd);
    memcpy(q, src, (size_t)qd * sizeof *q);
    memcpy(k, src + qd, (size_t)kd * sizeof *k);
    memcpy(v, src + qd + kd, (size_t)vd * sizeof *v);
  }
  add_bias(q, L->bq, qd);
  add_bias(k, L->bk, kd);
  add_bias(v, L->bv, vd);
  for (int h = 0; L->q_norm && h < hp->n_head; h++)
    op_rms_norm(q + h * hp->head_dim_k, q + h * hp->head_dim_k, L->q_norm, hp->head_dim_k, hp->norm_eps);
  for (int h = 0; L->k_norm && h < hp->n_head_kv; h++)
    op_rms_norm(k + h * hp->head_dim_k, k + h * hp->head_dim_k, L->k_norm, hp->head_dim_k, hp->norm_eps);
  const float *cs = c->rope_cs + (size_t)t * c->rope.n_rot;
  op_rope_apply(&c->rope, cs, q, hp->n_head, hp->head_dim_k);
  op_rope_apply(&c->rope, cs, k, hp->n_head_kv, hp->head_dim_k);
  store_kv(c, il, t, k, v);
}

// Attention blocks: runs of consecutive batch tokens of one sequence (cells
// cell - pos equal), at most c->attn_tokens long, whose queries meet the
// cached keys and values together.
static void attn_blocks(llmux_context *c, const fwd_batch *b) {
  int n = 0;
  for (int t = 0; t < b->n; t++) {
    int t0 = n ? c->attn_blk[n - 1] : 0;
    bool same = n && c->cell[t] - b->pos[t] == c->cell[t0] - b->pos[t0] && t - t0 < c->attn_tokens;
    if (!same) c->attn_blk[n++] = t;
  }
  c->attn_blk[n] = b->n;
  c->n_attn_blk = n;
}

// One (block, KV head) pair: causal attention of the block's tokens over
// their sequence's cells, for every query head of the group that shares
// that KV head.
static void attend_item(llmux_context *c, const fwd_batch *b, int il, int item, int ith) {
  const hparams *hp = &c->model->hp;
  int blk = item / hp->n_head_kv, kvh = item % hp->n_head_kv, group = hp->n_head / hp->n_head_kv;
  int t0 = c->attn_blk[blk], nt = c->attn_blk[blk + 1] - t0;
  int64_t lo[ATTN_MAX_TOKENS], hi[ATTN_MAX_TOKENS];
  for (int i = 0; i < nt; i++) {
    int32_t pos = b->pos[t0 + i];
    int64_t seq_base = (int64_t)c->cell[t0 + i] - pos;
    lo[i] = seq_base;
    if (c->model->layers[il].swa && pos >= hp->sliding_window) lo[i] += pos - hp->sliding_window + 1;
    hi[i] = seq_base + pos + 1;
  }
  attn_kv kv = {
    .k = c->kv_k[il], .v = c->kv_v[il], .f16 = c->kv_type == LLMUX_KV_F16,
    .k_row = (int64_t)c->kv_row_k, .v_row = (int64_t)c->kv_row_v,
    .k_dim = hp->head_dim_k, .v_dim = hp->head_dim_v, .scale = hp->attn_scale, .softcap = hp->attn_softcap,
  };
  int64_t qd = (int64_t)hp->n_head * hp->head_dim_k, od = (int64_t)hp->n_head * hp->head_dim_v;
  attn_rows r = {
    .q = c->q + t0 * qd + (int64_t)kvh * group * hp->head_dim_k, .q_tok = qd, .q_head = hp->head_dim_k,
    .out = c->att + t0 * od + (int64_t)kvh * group * hp->head_dim_v, .out_tok = od, .out_head = hp->head_dim_v,
    .n_tok = nt, .n_head = group, .lo = lo, .hi = hi,
  };
  op_attend(&kv, kvh, &r, c->attn_work + (size_t)ith * c->attn_work_stride);
}

// x += post_norm(proj + bias), for the attention or the feed-forward output.
static void residual(llmux_context *c, int t, const float *bias, const float *post_norm) {
  const hparams *hp = &c->model->hp;
  float *p = c->proj + (size_t)t * hp->n_embd;
  add_bias(p, bias, hp->n_embd);
  if (post_norm) op_rms_norm(p, p, post_norm, hp->n_embd, hp->norm_eps);
  op_add(c->x + (size_t)t * hp->n_embd, p, hp->n_embd);
}

static void attn_residual_item(llmux_context *c, const fwd_batch *b, int il, int t, int ith) {
  (void)b, (void)ith;
  residual(c, t, c->model->layers[il].bo, c->model->layers[il].attn_post_norm);
}

static void ffn_residual_item(llmux_context *c, const fwd_batch *b, int il, int t, int ith) {
  (void)b, (void)ith;
  residual(c, t, NULL, c->model->layers[il].ffn_post_norm);
}

static void attention_block(llmux_context *c, const fwd_batch *b, int il) {
  const hparams *hp = &c->model->hp;
  const layer_weights *L = &c->model->layers[il];
  int n = b->n, E = hp->n_embd;
  int64_t qd = (int64_t)hp->n_head * hp->head_dim_k, kd = (int64_t)hp->n_head_kv * hp->head_dim_k;
  int64_t vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
  if (L->wqkv.data) {
    const mm_out qkv[] = {{&L->wqkv, c->qkv, qd + kd + vd}};
    mm_normed(c, b, il, attn_norm_item, L->attn_norm, qkv, 1);
  } else {
    const mm_out qkv[] = {{&L->wq, c->q, qd}, {&L->wk, c->k, kd}, {&L->wv, c->v, vd}};
    mm_normed(c, b, il, attn_norm_item, L->attn_norm, qkv, 3);
  }
  for_items(c, b, il, n, qkv_item);
  for_items(c, b, il, c->n_attn_blk * hp->n_head_kv, attend_item);
  mm(c, &L->wo, c->att, (int64_t)hp->n_head * hp->head_dim_v, n, c->proj, E);
  for_items(c, b, il, n, attn_residual_item);
}

// ---- feed-forward sub-block
static void ffn_norm_item(llmux_context *c, const fwd_batch *b, int il, int t, int ith) {
  (void)b, (void)ith;
  const hparams *hp = &c->model->hp;
  op_rms_norm(c->xn + (size_t)t * hp->n_embd, c->x + (size_t)t * hp->n_embd, c->model->layers[il].ffn_norm,
              hp->n_embd, hp->norm_eps);
}

static void ffn_block(llmux_context *c, const fwd_batch *b, int il) {
  const hparams *hp = &c->model->hp;
  const layer_weights *L = &c->model->layers[il];
  int n = b->n, E = hp->n_embd;
  int64_t ld = 2 * (int64_t)hp->n_ff;
  mm_gate_fn act = hp->act == ACT_GELU ? op_gelu_mul : op_silu_mul;
  if (!L->ffn_fused && matmul_quantizes(&L->ffn_gate) && matmul_quantizes(&L->ffn_up) &&
      matmul_quantizes(&L->ffn_down)) {
    const mm_ffn f = {&L->ffn_gate, &L->ffn_up, &L->ffn_down, act, L->ffn_norm, hp->norm_eps};
    matmul_ffn(c->pool, &f, c->x, E, n, c->ff, ld, c->proj, E, c->mm_scratch);
  } else {
    if (L->ffn_fused) {
      const mm_out up[] = {{&L->ffn_up, c->ff, ld}};
      mm_normed(c, b, il, ffn_norm_item, L->ffn_norm, up, 1);
    } else {
      const mm_out gate_up[] = {{&L->ffn_gate, c->ff, ld}, {&L->ffn_up, c->ff + hp->n_ff, ld}};
      mm_normed(c, b, il, ffn_norm_item, L->ffn_norm, gate_up, 2);
    }
    // act(gate) * up is computed as the down projection quantizes its input.
    matmul_gated(c->pool, &L->ffn_down, act, c->ff, ld, n, c->proj, E, c->mm_scratch);
  }
  for_items(c, b, il, n, ffn_residual_item);
}

// ---- whole pass
static int check_batch(const llmux_context *c, const fwd_batch *b) {
  if (b->n < 1 || b->n > c->n_batch) {
    err_set("batch of %d tokens is outside 1..%d", b->n, c->n_batch);
    return -1;
  }
  for (int t = 0; t < b->n; t++) {
    int s = b->seq ? b->seq[t] : 0;
    if (b->tokens[t] < 0 || b->tokens[t] >= c->model->hp.n_vocab) {
      err_set("token id %d is outside the vocabulary (0..%d)", b->tokens[t], c->model->hp.n_vocab - 1);
      return -1;
    }
    if (b->pos[t] < 0 || b->pos[t] >= c->n_ctx) {
      err_set("position %d is outside the context of %d tokens", b->pos[t], c->n_ctx);
      return -1;
    }
    if (s < 0 || s >= c->n_seq) {
      err_set("sequence %d is outside 0..%d", s, c->n_seq - 1);
      return -1;
    }
  }
  return 0;
}

static void embed_item(llmux_context *c, const fwd_batch *b, int il, int t, int ith) {
  (void)il, (void)ith;
  const llmux_model *m = c->model;
  const mm_weight *e = &m->tok_embd;
  float *x = c->x + (size_t)t * m->hp.n_embd;
  quant_dequant(e->type)((const uint8_t *)e->data + (size_t)b->tokens[t] * e->row_bytes, x, m->hp.n_embd);
  if (m->hp.embd_scale != 1.0f) op_scale(x, m->hp.embd_scale, m->hp.n_embd);
  int s = b->seq ? b->seq[t] : 0;
  c->cell[t] = s * c->n_ctx + b->pos[t];
  op_rope_cache(&c->rope, b->pos[t], c->rope_cs + (size_t)t * c->rope.n_rot);
}

static void out_norm_item(llmux_context *c, const fwd_batch *b, int il, int i, int ith) {
  (void)b, (void)il, (void)ith;
  const hparams *hp = &c->model->hp;
  int t = c->logit_rows[i];
  op_rms_norm(c->xn + (size_t)i * hp->n_embd, c->x + (size_t)t * hp->n_embd, c->model->output_norm, hp->n_embd,
              hp->norm_eps);
}

// The hidden state after the final norm, where the output layer would read
// it, into row t of c->embd.
static void embd_item(llmux_context *c, const fwd_batch *b, int il, int t, int ith) {
  (void)il, (void)ith;
  if (b->want_embd ? !b->want_embd[t] : !b->all_embd) return;
  const hparams *hp = &c->model->hp;
  op_rms_norm(c->embd + (size_t)t * hp->n_embd, c->x + (size_t)t * hp->n_embd, c->model->output_norm, hp->n_embd,
              hp->norm_eps);
}

static void logits(llmux_context *c, const fwd_batch *b) {
  const hparams *hp = &c->model->hp;
  // A batch that asks for embeddings and names no logits wants none: the
  // output layer (the largest matrix of small models) is skipped.
  bool last = !b->want_embd && !b->all_embd;
  int k = 0;
  for (int t = 0; t < b->n; t++) {
    bool want = b->want_logits ? b->want_logits[t] : (b->all_logits || (last && t == b->n - 1));
    c->logit_index[t] = want ? k : -1;
    if (want) c->logit_rows[k++] = t;
  }
  c->n_logits = k;
  if (k == 0) return;
  for_items(c, b, 0, k, out_norm_item);
  mm(c, &c->model->output, c->xn, hp->n_embd, k, c->logits, hp->n_vocab);
  if (hp->final_softcap > 0) op_softcap(c->logits, (int64_t)k * hp->n_vocab, hp->final_softcap);
}

int decoder_forward(llmux_context *c, const fwd_batch *b) {
  if (check_batch(c, b) < 0) return -1;
  for_items(c, b, 0, b->n, embed_item);
  attn_blocks(c, b);
  for (int il = 0; il < c->model->hp.n_layer; il++) {
    attention_block(c, b, il);
    ffn_block(c, b, il);
  }
  if (b->want_embd || b->all_embd) for_items(c, b, 0, b->n, embd_item);
  logits(c, b);
  c->last_n = b->n;
  return 0;
}

int llmux_decode(llmux_context *c, const llmux_token *tokens, int n, int pos, bool all_logits) {
  if (n < 1 || pos < 0 || pos + n > c->n_ctx) {
    err_set("cannot decode %d tokens at position %d: the context holds %d tokens", n, pos, c->n_ctx);
    return -1;
  }
  if (all_logits && n > c->n_batch) {
    err_set("all_logits needs at most n_batch (%d) tokens per call, got %d", c->n_batch, n);
    return -1;
  }
  for (int done = 0; done < n;) {
    int chunk = n - done < c->n_batch ? n - done : c->n_batch;
    for (int i = 0; i < chunk; i++) c->pos_buf[i] = pos + done + i;
    fwd_batch b = {.n = chunk, .tokens = tokens + done, .pos = c->pos_buf, .all_logits = all_logits};
    if (decoder_forward(c, &b) < 0) return -1;
    done += chunk;
  }
  return 0;
}
