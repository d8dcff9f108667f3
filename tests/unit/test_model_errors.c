// Model files that parse as GGUF but cannot be run: each gives a clear error
// naming the architecture, key or tensor at fault, and loading never crashes.
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "llmux.h"
#include "ops/types.h"
#include "testutil.h"

typedef struct {
  const char *arch;
  const char *drop_tensor;     // leave this tensor out
  const char *odd_tensor;      // give this tensor the wrong shape
  uint32_t q_type;             // type of blk.0.attn_q.weight
  int64_t block_count;         // -1: leave the key out
} variant;

// The stories260K vocabulary, so that the tokenizer loads.
static void copy_vocab(gguf_writer *w, const gguf_file *src) {
  const gguf_arr *toks = gguf_get_arr(src, "tokenizer.ggml.tokens");
  const gguf_arr *scores = gguf_get_arr(src, "tokenizer.ggml.scores");
  const gguf_arr *types = gguf_get_arr(src, "tokenizer.ggml.token_type");
  char **strs = malloc(sizeof(char *) * toks->n);
  for (uint64_t i = 0; i < toks->n; i++) strs[i] = strndup(toks->strs[i].s, toks->strs[i].n);
  gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
  gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs, toks->n);
  gguf_writer_set_arr(w, "tokenizer.ggml.scores", scores->type, scores->data, scores->n);
  gguf_writer_set_arr(w, "tokenizer.ggml.token_type", types->type, types->data, types->n);
  gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
  gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
  for (uint64_t i = 0; i < toks->n; i++) free(strs[i]);
  free(strs);
}

static void add(gguf_writer *w, const variant *v, const char *name, uint32_t type, int64_t n0, int64_t n1) {
  if (v->drop_tensor && !strcmp(name, v->drop_tensor)) return;
  if (v->odd_tensor && !strcmp(name, v->odd_tensor)) n1 += 1;
  int64_t ne[2] = {n0, n1};
  size_t bytes = type_row_bytes(type, n0) * (size_t)n1;
  void *data = calloc(1, bytes);
  gguf_writer_add_tensor(w, name, type, n1 > 1 ? 2 : 1, ne, data);
  free(data);
}

static const char *write_model(const gguf_file *vocab, const variant *v) {
  const int E = 64, F = 128, V = 512;
  gguf_writer *w = gguf_writer_new();
  char k[64];
  gguf_writer_set_str(w, "general.architecture", v->arch);
#define KEY(x) (snprintf(k, sizeof k, "%s." x, v->arch), k)
  gguf_writer_set_u32(w, KEY("context_length"), 128);
  gguf_writer_set_u32(w, KEY("embedding_length"), E);
  if (v->block_count >= 0) gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)v->block_count);
  gguf_writer_set_u32(w, KEY("feed_forward_length"), F);
  gguf_writer_set_u32(w, KEY("attention.head_count"), 4);
#undef KEY
  copy_vocab(w, vocab);
  add(w, v, "token_embd.weight", T_F32, E, V);
  add(w, v, "output_norm.weight", T_F32, E, 1);
  add(w, v, "blk.0.attn_norm.weight", T_F32, E, 1);
  add(w, v, "blk.0.attn_q.weight", v->q_type, E, E);
  add(w, v, "blk.0.attn_k.weight", T_F32, E, E);
  add(w, v, "blk.0.attn_v.weight", T_F32, E, E);
  add(w, v, "blk.0.attn_output.weight", T_F32, E, E);
  add(w, v, "blk.0.ffn_norm.weight", T_F32, E, 1);
  add(w, v, "blk.0.ffn_gate.weight", T_F32, E, F);
  add(w, v, "blk.0.ffn_up.weight", T_F32, E, F);
  add(w, v, "blk.0.ffn_down.weight", T_F32, F, E);
  const char *path = tu_tmp_path(".gguf");
  CHECK(gguf_writer_write(w, path) == 0);
  gguf_writer_free(w);
  return path;
}

static void expect(const gguf_file *vocab, variant v, const char *needle) {
  const char *path = write_model(vocab, &v);
  llmux_model *m = llmux_model_load(path, NULL);
  if (!needle) {
    CHECK_MSG(m != NULL, "valid model rejected: %s", llmux_last_error());
    if (m) {
      llmux_context *c = llmux_context_new(m, NULL);
      llmux_token t[2] = {1, 100};
      CHECK(c && llmux_decode(c, t, 2, 0, false) == 0);
      CHECK(llmux_decode(c, t, 2, 127, false) < 0);  // past the context
      CHECK(strstr(llmux_last_error(), "context") != NULL);
      llmux_context_params small = llmux_context_default_params();
      small.n_batch = 1;
      llmux_context *c1 = llmux_context_new(m, &small);
      CHECK(c1 && llmux_decode(c1, t, 2, 0, true) < 0);  // all logits of more than one batch
      CHECK(strstr(llmux_last_error(), "n_batch") != NULL);
      CHECK(c1 && llmux_decode(c1, t, 2, 0, false) == 0);  // split into batches without them
      llmux_context_free(c1);
      t[1] = 9999;
      CHECK(llmux_decode(c, t, 2, 0, false) < 0);  // outside the vocabulary
      CHECK(strstr(llmux_last_error(), "vocabulary") != NULL);
      llmux_context_free(c);
    }
  } else {
    CHECK_MSG(m == NULL, "model accepted, expected an error with '%s'", needle);
    CHECK_MSG(strstr(llmux_last_error(), needle) != NULL, "error '%s' lacks '%s'", llmux_last_error(), needle);
  }
  llmux_model_free(m);
  remove(path);
}

int main(void) {
  gguf_file *vocab = gguf_open(tu_shared("models/stories260K.gguf"));
  CHECK(vocab != NULL);
  if (!vocab) return tu_finish();
  variant ok = {.arch = "llama", .q_type = T_F32, .block_count = 1};
  expect(vocab, ok, NULL);
  variant v = ok;
  v.arch = "frobnet";
  expect(vocab, v, "architecture 'frobnet' is not supported");
  v = ok, v.block_count = -1;
  expect(vocab, v, "llama.block_count is missing");
  v = ok, v.block_count = 100000;
  expect(vocab, v, "llama.block_count = 100000 is out of range");
  v = ok, v.drop_tensor = "blk.0.ffn_down.weight";
  expect(vocab, v, "tensor blk.0.ffn_down.weight is missing");
  v = ok, v.odd_tensor = "blk.0.attn_k.weight";
  expect(vocab, v, "tensor blk.0.attn_k.weight has shape [64, 65");
  v = ok, v.q_type = T_IQ4_NL;
  expect(vocab, v, "tensor blk.0.attn_q.weight has type iq4_nl, which llmux does not support");
  gguf_close(vocab);
  return tu_finish();
}
