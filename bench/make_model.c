// make_model: writes a random-weight GGUF model with the shape of a real one,
// for benchmarks: the speed of a forward pass depends on shapes and types,
// not on what the weights say. Usage:
//   llmux-make-model SHAPE TYPE OUT.gguf     SHAPE: qwen2.5-0.5b | llama3.2-1b | tiny | small
//                                            TYPE:  f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K q5_K q6_K
// Norms are F32 (as in real files); the token embedding uses the same type as
// the other matrices. The vocabulary is synthetic (SentencePiece style).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "ops/quant.h"
#include "ops/types.h"

typedef struct {
  const char *name, *arch;
  int vocab, embd, layers, heads, kv_heads, ff, ctx;
  float rope_base;
  int qkv_bias;
} shape;

static const shape SHAPES[] = {
  {"qwen2.5-0.5b", "qwen2", 151936, 896, 24, 14, 2, 4864, 32768, 1000000.0f, 1},
  {"llama3.2-1b", "llama", 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0f, 0},
  {"tiny", "llama", 4096, 256, 2, 4, 2, 512, 2048, 10000.0f, 0},
  {"small", "llama", 32000, 1024, 8, 16, 4, 2816, 4096, 10000.0f, 0},  // tests' memory checks: 131 MB at Q8_0
};

static uint64_t g_rng = 0x1234567887654321ull;

static float randn(void) {
  // Irwin-Hall approximation of a normal: plenty for random weights.
  float s = 0;
  for (int i = 0; i < 4; i++) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    s += (float)(g_rng >> 40) * (1.0f / 16777216.0f);
  }
  return (s - 2.0f) * 1.7320508f;
}

static uint32_t parse_type(const char *s) {
  for (uint32_t t = 0; t < T_COUNT; t++)
    if (type_name(t) && !strcmp(type_name(t), s) && type_supported(t)) return t;
  return UINT32_MAX;
}

// K-quants need rows of a multiple of 256; for other rows the reference
// quantizer falls back to a 32-block type of similar size, and so do we
// (Qwen2.5-0.5B's 896-wide rows, for one).
static uint32_t row_type(uint32_t type, int64_t n_in) {
  if (type_row_bytes(type, n_in)) return type;
  switch (type) {
  case T_Q4_K: return T_Q5_0;
  case T_Q5_K: return T_Q5_1;
  case T_Q6_K: return T_Q8_0;
  default: return T_Q4_0;
  }
}

static void add_matrix(gguf_writer *w, const char *name, uint32_t type, int64_t n_in, int64_t n_out, float std) {
  type = row_type(type, n_in);
  size_t row = type_row_bytes(type, n_in);
  uint8_t *data = malloc(row * (size_t)n_out);
  float *tmp = malloc(sizeof(float) * (size_t)n_in);
  quantize_fn q = quant_quantize(type);
  for (int64_t r = 0; r < n_out; r++) {
    for (int64_t i = 0; i < n_in; i++) tmp[i] = randn() * std;
    q(tmp, data + (size_t)r * row, n_in);
  }
  int64_t ne[2] = {n_in, n_out};
  gguf_writer_add_tensor(w, name, type, 2, ne, data);
  free(data);
  free(tmp);
}

static void add_vector(gguf_writer *w, const char *name, int64_t n, float mean, float std) {
  float *v = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) v[i] = mean + randn() * std;
  gguf_writer_add_tensor(w, name, T_F32, 1, &n, v);
  free(v);
}

static void add_vocab(gguf_writer *w, int n) {
  char **toks = malloc(sizeof(char *) * (size_t)n);
  float *scores = malloc(sizeof(float) * (size_t)n);
  int32_t *types = malloc(sizeof(int32_t) * (size_t)n);
  for (int i = 0; i < n; i++) {
    toks[i] = malloc(32);
    types[i] = 1;
    scores[i] = -(float)i;
    if (i < 3) snprintf(toks[i], 32, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>"), types[i] = i ? 3 : 2;
    else if (i < 259) snprintf(toks[i], 32, "<0x%02X>", i - 3), types[i] = 6;
    else snprintf(toks[i], 32, "\xe2\x96\x81w%d", i);
  }
  gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
  gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)n);
  gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, (uint64_t)n);
  gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, (uint64_t)n);
  gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
  gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
  for (int i = 0; i < n; i++) free(toks[i]);
  free(toks), free(scores), free(types);
}

static void key(char *buf, const shape *s, const char *k) { snprintf(buf, 128, "%s.%s", s->arch, k); }

static void add_hparams(gguf_writer *w, const shape *s, const char *type) {
  char k[128];
  gguf_writer_set_str(w, "general.architecture", s->arch);
  snprintf(k, sizeof k, "%s-%s", s->name, type);
  gguf_writer_set_str(w, "general.name", k);
  key(k, s, "context_length"), gguf_writer_set_u32(w, k, (uint32_t)s->ctx);
  key(k, s, "embedding_length"), gguf_writer_set_u32(w, k, (uint32_t)s->embd);
  key(k, s, "block_count"), gguf_writer_set_u32(w, k, (uint32_t)s->layers);
  key(k, s, "feed_forward_length"), gguf_writer_set_u32(w, k, (uint32_t)s->ff);
  key(k, s, "attention.head_count"), gguf_writer_set_u32(w, k, (uint32_t)s->heads);
  key(k, s, "attention.head_count_kv"), gguf_writer_set_u32(w, k, (uint32_t)s->kv_heads);
  key(k, s, "rope.freq_base"), gguf_writer_set_f32(w, k, s->rope_base);
  key(k, s, "attention.layer_norm_rms_epsilon"), gguf_writer_set_f32(w, k, 1e-6f);
}

static void add_layer(gguf_writer *w, const shape *s, int il, uint32_t type) {
  char n[96];
  int hd = s->embd / s->heads, q = s->heads * hd, kv = s->kv_heads * hd;
  float std = 0.02f;
#define NAME(x) (snprintf(n, sizeof n, "blk.%d." x, il), n)
  add_vector(w, NAME("attn_norm.weight"), s->embd, 1.0f, 0.05f);
  add_matrix(w, NAME("attn_q.weight"), type, s->embd, q, std);
  add_matrix(w, NAME("attn_k.weight"), type, s->embd, kv, std);
  add_matrix(w, NAME("attn_v.weight"), type, s->embd, kv, std);
  if (s->qkv_bias) {
    add_vector(w, NAME("attn_q.bias"), q, 0, 0.02f);
    add_vector(w, NAME("attn_k.bias"), kv, 0, 0.02f);
    add_vector(w, NAME("attn_v.bias"), kv, 0, 0.02f);
  }
  add_matrix(w, NAME("attn_output.weight"), type, q, s->embd, std);
  add_vector(w, NAME("ffn_norm.weight"), s->embd, 1.0f, 0.05f);
  add_matrix(w, NAME("ffn_gate.weight"), type, s->embd, s->ff, std);
  add_matrix(w, NAME("ffn_up.weight"), type, s->embd, s->ff, std);
  add_matrix(w, NAME("ffn_down.weight"), type, s->ff, s->embd, std);
#undef NAME
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s SHAPE TYPE OUT.gguf  (shapes: qwen2.5-0.5b llama3.2-1b tiny small)\n", argv[0]);
    return 2;
  }
  const shape *s = NULL;
  for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++)
    if (!strcmp(SHAPES[i].name, argv[1])) s = &SHAPES[i];
  uint32_t type = parse_type(argv[2]);
  if (!s || type == UINT32_MAX) {
    fprintf(stderr, "%s: unknown shape '%s' or type '%s'\n", argv[0], argv[1], argv[2]);
    return 2;
  }
  gguf_writer *w = gguf_writer_new();
  add_hparams(w, s, argv[2]);
  add_vocab(w, s->vocab);
  add_matrix(w, "token_embd.weight", type, s->embd, s->vocab, 0.02f);  // tied: also the output
  add_vector(w, "output_norm.weight", s->embd, 1.0f, 0.05f);
  for (int il = 0; il < s->layers; il++) {
    add_layer(w, s, il, type);
    fprintf(stderr, "\rwriting %s %s: layer %d/%d", s->name, argv[2], il + 1, s->layers);
  }
  fprintf(stderr, "\n");
  int rc = gguf_writer_write(w, argv[3]);
  gguf_writer_free(w);
  return rc == 0 ? 0 : 1;
}
