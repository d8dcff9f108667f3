// embed: one vector per sequence, for /v1/embeddings. The decoder leaves the
// final-normed hidden state of every token that asks in c->embd (see
// fwd_batch); this file runs a sequence through it chunk by chunk, pools the
// rows as the model says (mean, first or last token) and normalizes.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "engine/context.h"

int llmux_model_pooling(const llmux_model *m) {
  char key[64];
  snprintf(key, sizeof key, "%s.pooling_type", m->arch);
  // Generative models carry no pooling; mean is what their users ask for
  // (llama-server --pooling mean), see llmux.h.
  if (!gguf_find(m->file, key)) return LLMUX_POOLING_MEAN;
  int64_t v;
  if (!gguf_get_int(m->file, key, &v) || v < 0 || v > INT32_MAX) return -1;
  return (int)v;
}

static int check_pooling(const llmux_context *c) {
  switch (c->pooling) {
    case LLMUX_POOLING_MEAN:
    case LLMUX_POOLING_CLS:
    case LLMUX_POOLING_LAST: return 0;
    case LLMUX_POOLING_NONE:
      err_set("%s: pooling_type 0 (none) gives one vector per token, an embedding needs one: "
              "pick mean, cls or last pooling", c->model->name);
      return -1;
    default:
      err_set("%s: pooling type %d is not supported (mean 1, cls 2, last 3)", c->model->name, c->pooling);
      return -1;
  }
}

// Everything a chunk could refuse, checked before the first one runs, so a
// bad request leaves no half-done work behind.
static int check_input(const llmux_context *c, int seq, const int32_t *tokens, int n) {
  if (n < 1) {
    err_set("cannot embed an empty input: no tokens");
    return -1;
  }
  if (n > c->n_ctx) {
    err_set("cannot embed %d tokens: the context holds %d (the input is never cut)", n, c->n_ctx);
    return -1;
  }
  if (seq < 0 || seq >= c->n_seq) {
    err_set("sequence %d is outside 0..%d", seq, c->n_seq - 1);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (tokens[i] < 0 || tokens[i] >= c->model->hp.n_vocab) {
      err_set("token %d of the input, id %d, is outside the vocabulary (0..%d)", i, tokens[i],
              c->model->hp.n_vocab - 1);
      return -1;
    }
  }
  return check_pooling(c);
}

static void add_row(double *sum, const float *row, int n) {
  for (int i = 0; i < n; i++) sum[i] += row[i];
}

// Adds the rows this chunk (tokens [done, done + chunk) of n) contributes.
static void pool_chunk(llmux_context *c, int done, int chunk, int n) {
  int E = c->model->hp.n_embd;
  if (c->pooling == LLMUX_POOLING_MEAN) {
    for (int t = 0; t < chunk; t++) add_row(c->embd_sum, c->embd + (size_t)t * E, E);
  } else if (c->pooling == LLMUX_POOLING_CLS && done == 0) {
    add_row(c->embd_sum, c->embd, E);
  } else if (c->pooling == LLMUX_POOLING_LAST && done + chunk == n) {
    add_row(c->embd_sum, c->embd + (size_t)(chunk - 1) * E, E);
  }
}

static void finish(llmux_context *c, int n, float *out, bool normalize) {
  int E = c->model->hp.n_embd;
  double *v = c->embd_sum, div = c->pooling == LLMUX_POOLING_MEAN ? n : 1, norm = 0;
  for (int i = 0; i < E; i++) {
    v[i] /= div;
    norm += v[i] * v[i];
  }
  // A zero vector stays zero rather than becoming NaN.
  double scale = normalize && norm > 0 ? 1.0 / sqrt(norm) : 1.0;
  for (int i = 0; i < E; i++) out[i] = (float)(v[i] * scale);
}

int embed_sequence(llmux_context *c, int seq, const int32_t *tokens, int n, float *out, bool normalize) {
  if (check_input(c, seq, tokens, n) < 0) return -1;
  memset(c->embd_sum, 0, (size_t)c->model->hp.n_embd * sizeof *c->embd_sum);
  for (int done = 0; done < n;) {
    int chunk = n - done < c->n_batch ? n - done : c->n_batch;
    for (int i = 0; i < chunk; i++) {
      c->pos_buf[i] = done + i;
      c->seq_buf[i] = seq;
    }
    // Only embeddings: no logits, so the output layer never runs.
    fwd_batch b = {.n = chunk, .tokens = tokens + done, .pos = c->pos_buf, .seq = c->seq_buf, .all_embd = true};
    if (decoder_forward(c, &b) < 0) return -1;
    pool_chunk(c, done, chunk, n);
    done += chunk;
  }
  finish(c, n, out, normalize);
  return 0;
}

int llmux_embed(llmux_context *c, const llmux_token *tokens, int n, float *out, bool normalize) {
  return embed_sequence(c, 0, tokens, n, out, normalize);
}
