// test_embed: sequence embeddings (engine/embed.c and the decoder's
// embedding output). On stories260K: unit length, the same vector for the
// same text and for any chunking, mean / first / last pooling equal to the
// hidden states of a token-by-token decode, other texts and sequences left
// alone, and every error a caller can see. Against tests/reference/forward.py
// (a float64 numpy pass that shares no code with the engine, as in
// test_archs): the hidden states and the pooled vector of tiny random models,
// within the tolerances of tests/reference/README.md. Needs python3 with
// numpy: without it the test fails, it never skips.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/context.h"
#include "gguf/gguf.h"
#include "llmux.h"
#include "ops/quant.h"
#include "ops/types.h"
#include "testutil.h"

#define MAX_TOK 256

static const char *const TEXT_A =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
  "friends. One day, she saw a big red ball under a tree.";
static const char *const TEXT_B = "The cat sat on the mat and looked at the moon.";

// ---- helpers
static llmux_context *new_ctx(llmux_model *m, int n_ctx, int n_batch, int n_seq, llmux_kv_type kv) {
  llmux_context_params cp = llmux_context_default_params();
  cp.n_ctx = n_ctx;
  cp.n_batch = n_batch;
  cp.n_threads = 2;
  cp.kv_type = kv;
  llmux_context *c = context_new(m, &cp, n_seq);
  CHECK_MSG(c != NULL, "context: %s", llmux_last_error());
  if (!c) exit(1);
  return c;
}

static int tokenize(llmux_model *m, const char *text, llmux_token *out) {
  int n = llmux_tokenize(m, text, strlen(text), out, MAX_TOK, true, false);
  CHECK_MSG(n > 8 && n <= MAX_TOK, "'%s' gives %d tokens", text, n);
  return n;
}

static double max_diff(const float *a, const float *b, int n) {
  double d = 0;
  for (int i = 0; i < n; i++)
    if (fabs((double)a[i] - b[i]) > d || a[i] != a[i]) d = fabs((double)a[i] - b[i]);
  return d;
}

static double max_abs(const float *a, int n) {
  double d = 0;
  for (int i = 0; i < n; i++)
    if (fabs(a[i]) > d) d = fabs(a[i]);
  return d;
}

static double norm2(const float *a, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * a[i];
  return sqrt(s);
}

static void normalize(float *a, int n) {
  double s = norm2(a, n);
  for (int i = 0; i < n; i++) a[i] = (float)(a[i] / s);
}

static bool error_has(const char *what) { return strstr(llmux_last_error(), what) != NULL; }

// ---- stories260K
static void test_basics(llmux_model *m) {
  int E = llmux_model_n_embd(m);
  CHECK(llmux_model_pooling(m) == LLMUX_POOLING_MEAN);  // no pooling_type key
  llmux_token a[MAX_TOK], b[MAX_TOK];
  int na = tokenize(m, TEXT_A, a), nb = tokenize(m, TEXT_B, b);
  float *va = calloc((size_t)E, sizeof *va), *va2 = calloc((size_t)E, sizeof *va2), *vb = calloc((size_t)E, sizeof *vb);
  llmux_context *c = new_ctx(m, 256, 0, 1, LLMUX_KV_F16);
  CHECK(llmux_embed(c, a, na, va, true) == 0);
  CHECK_MSG(fabs(norm2(va, E) - 1) < 1e-5, "norm %.8f", norm2(va, E));
  CHECK(llmux_embed(c, b, nb, vb, true) == 0);
  CHECK(llmux_embed(c, a, na, va2, true) == 0);  // after another text on the same cache
  CHECK_MSG(memcmp(va, va2, (size_t)E * sizeof *va) == 0, "same text, max diff %.3e", max_diff(va, va2, E));
  double dot = 0;
  for (int i = 0; i < E; i++) dot += (double)va[i] * vb[i];
  printf("stories260K: cos(A, B) %.4f, max|A - B| %.3e\n", dot, max_diff(va, vb, E));
  CHECK_MSG(dot < 0.99 && max_diff(va, vb, E) > 1e-2, "different texts: cos %.5f", dot);
  CHECK(llmux_logits(c, -1) == NULL);  // embeddings leave no logits
  llmux_context_free(c);
  free(va);
  free(va2);
  free(vb);
}

// n_batch 4 (the text in chunks of 4) against one chunk, for every pooling.
// Only float32 summation order differs (batched and one-row matmuls): 1e-5
// with an f32 cache. An f16 cache rounds k and v, and such differences now
// and then flip a rounding, which moves later tokens by up to ~3e-5 (the
// last token of TEXT_A; the mean 1e-5): a looser bound for it.
static void test_chunking(llmux_model *m, llmux_kv_type kv, double tol) {
  int E = llmux_model_n_embd(m);
  llmux_token a[MAX_TOK];
  int na = tokenize(m, TEXT_A, a);
  float *v4 = calloc((size_t)E, sizeof *v4), *v512 = calloc((size_t)E, sizeof *v512);
  llmux_context *c4 = new_ctx(m, 512, 4, 1, kv), *c512 = new_ctx(m, 512, 512, 1, kv);
  CHECK(c4->n_batch == 4 && c512->n_batch == 512 && na > 4 * 8);
  for (int p = LLMUX_POOLING_MEAN; p <= LLMUX_POOLING_LAST; p++) {
    c4->pooling = c512->pooling = p;
    for (int norm = 0; norm < 2; norm++) {
      CHECK(llmux_embed(c4, a, na, v4, norm) == 0);
      CHECK(llmux_embed(c512, a, na, v512, norm) == 0);
      double d = max_diff(v4, v512, E) / max_abs(v512, E);
      printf("stories260K: kv %s pooling %d%s, n_batch 4 vs 512: rel %.2e (tol %g)\n", kv ? "f32" : "f16", p,
             norm ? " normalized" : "", d, tol);
      CHECK_MSG(d <= tol, "pooling %d: chunked differs by %.3e", p, d);
    }
  }
  llmux_context_free(c4);
  llmux_context_free(c512);
  free(v4);
  free(v512);
}

// Decodes one token per forward pass, keeping each token's embedding row:
// rows (n, E). The output layer also runs for the last token, to check that
// asking for both changes neither.
static void decode_rows(llmux_context *c, const llmux_token *toks, int n, float *rows) {
  int E = c->model->hp.n_embd;
  for (int32_t i = 0; i < n; i++) {
    bool yes = true, last = i == n - 1;
    fwd_batch b = {.n = 1, .tokens = toks + i, .pos = &i, .want_logits = &last, .want_embd = &yes};
    CHECK(decoder_forward(c, &b) == 0);
    memcpy(rows + (size_t)i * E, c->embd, (size_t)E * sizeof *rows);
    CHECK((llmux_logits(c, 0) != NULL) == last);
  }
}

static void check_pooled(llmux_context *c, const llmux_token *a, int n, int pooling, const float *want,
                         bool norm) {
  int E = c->model->hp.n_embd;
  float *got = calloc((size_t)E, sizeof *got);
  c->pooling = pooling;
  CHECK(llmux_embed(c, a, n, got, norm) == 0);
  double d = max_diff(got, want, E) / max_abs(want, E);
  printf("stories260K: pooling %d%s vs token-by-token decode: rel %.2e\n", pooling, norm ? " normalized" : "", d);
  CHECK_MSG(d <= 1e-5, "pooling %d: differs from the per-token states by %.3e", pooling, d);
  free(got);
}

static void test_against_decode(llmux_model *m) {
  int E = llmux_model_n_embd(m);
  llmux_token a[MAX_TOK];
  int n = tokenize(m, TEXT_A, a);
  float *rows = malloc((size_t)n * E * sizeof *rows), *want = calloc((size_t)E, sizeof *want);
  llmux_context *c = new_ctx(m, 256, 0, 1, LLMUX_KV_F32), *plain = new_ctx(m, 256, 0, 1, LLMUX_KV_F32);
  decode_rows(c, a, n, rows);
  // The logits that came with the last row are those of a plain decode.
  for (int i = 0; i < n; i++) CHECK(llmux_decode(plain, a + i, 1, i, false) == 0);
  size_t V = (size_t)llmux_model_n_vocab(m);
  CHECK(memcmp(llmux_logits(c, 0), llmux_logits(plain, -1), V * sizeof(float)) == 0);
  llmux_context_free(plain);
  for (int i = 0; i < E; i++) {
    double s = 0;
    for (int t = 0; t < n; t++) s += rows[(size_t)t * E + i];
    want[i] = (float)(s / n);
  }
  check_pooled(c, a, n, LLMUX_POOLING_MEAN, want, false);
  normalize(want, E);
  check_pooled(c, a, n, LLMUX_POOLING_MEAN, want, true);
  check_pooled(c, a, n, LLMUX_POOLING_CLS, rows, false);
  check_pooled(c, a, n, LLMUX_POOLING_LAST, rows + (size_t)(n - 1) * E, false);
  llmux_context_free(c);
  free(rows);
  free(want);
}

// Embedding on sequence 1 neither sees nor disturbs sequence 0, and a decode
// after an embedding (which overwrote the cache) gives the usual logits.
static void test_sequences(llmux_model *m) {
  int E = llmux_model_n_embd(m), V = llmux_model_n_vocab(m);
  llmux_token a[MAX_TOK], b[MAX_TOK];
  int na = tokenize(m, TEXT_A, a), nb = tokenize(m, TEXT_B, b);
  float *solo = calloc((size_t)E, sizeof *solo), *v = calloc((size_t)E, sizeof *v);
  float *want = malloc((size_t)V * sizeof *want);
  llmux_context *c1 = new_ctx(m, 128, 0, 1, LLMUX_KV_F16), *c2 = new_ctx(m, 128, 0, 2, LLMUX_KV_F16);
  // B as nb - 1 tokens then 1, the same batches as on sequence 0 below.
  CHECK(llmux_decode(c1, b, nb - 1, 0, false) == 0 && llmux_decode(c1, b + nb - 1, 1, nb - 1, false) == 0);
  memcpy(want, llmux_logits(c1, -1), (size_t)V * sizeof *want);
  CHECK(llmux_embed(c1, a, na, solo, true) == 0);
  CHECK(na > nb);  // so the embedding overwrote every cell B uses, and more
  CHECK(llmux_decode(c1, b, nb - 1, 0, false) == 0 && llmux_decode(c1, b + nb - 1, 1, nb - 1, false) == 0);
  CHECK(memcmp(want, llmux_logits(c1, -1), (size_t)V * sizeof *want) == 0);

  CHECK(llmux_decode(c2, b, nb - 1, 0, false) == 0);  // sequence 0 holds B but its last token
  CHECK(embed_sequence(c2, 1, a, na, v, true) == 0);
  CHECK_MSG(memcmp(v, solo, (size_t)E * sizeof *v) == 0, "sequence 1 differs by %.3e", max_diff(v, solo, E));
  CHECK(llmux_decode(c2, b + nb - 1, 1, nb - 1, false) == 0);  // sequence 0 goes on, undisturbed
  CHECK_MSG(memcmp(want, llmux_logits(c2, -1), (size_t)V * sizeof *want) == 0, "sequence 0 disturbed by %.3e",
            max_diff(want, llmux_logits(c2, -1), V));
  llmux_context_free(c1);
  llmux_context_free(c2);
  free(solo);
  free(v);
  free(want);
}

static void test_errors(llmux_model *m) {
  int E = llmux_model_n_embd(m);
  float *v = calloc((size_t)E, sizeof *v);
  llmux_token toks[65];
  for (int i = 0; i < 65; i++) toks[i] = 1 + i % 300;
  llmux_context *c = new_ctx(m, 64, 16, 1, LLMUX_KV_F16);
  CHECK(llmux_embed(c, toks, 0, v, true) == -1 && error_has("empty"));
  CHECK(llmux_embed(c, toks, 65, v, true) == -1 && error_has("65 tokens: the context holds 64"));
  CHECK(llmux_embed(c, toks, 64, v, true) == 0);  // exactly full
  CHECK(embed_sequence(c, 1, toks, 4, v, true) == -1 && error_has("sequence 1 is outside 0..0"));
  CHECK(embed_sequence(c, -1, toks, 4, v, true) == -1 && error_has("sequence -1"));
  toks[20] = 512;
  CHECK(llmux_embed(c, toks, 30, v, true) == -1 && error_has("token 20 of the input, id 512"));
  toks[20] = -3;
  CHECK(llmux_embed(c, toks, 30, v, true) == -1 && error_has("id -3"));
  toks[20] = 5;
  c->pooling = LLMUX_POOLING_NONE;
  CHECK(llmux_embed(c, toks, 30, v, true) == -1 && error_has("pooling_type 0 (none)"));
  c->pooling = 4;
  CHECK(llmux_embed(c, toks, 30, v, true) == -1 && error_has("pooling type 4 is not supported"));
  c->pooling = -1;
  CHECK(llmux_embed(c, toks, 30, v, true) == -1 && error_has("pooling type -1"));
  llmux_context_free(c);
  free(v);
}

// ---- tiny random models and the reference
typedef struct {
  const char *name, *arch;
  uint32_t wtype;
  int pooling;  // <arch>.pooling_type written to the file; -1: no key (mean)
  bool tied, qkv_bias;
  double tol;   // max|engine - reference| / max|reference|, as tests/reference/README.md
} embd_case;

// n_embd 128 (256 for K-quants), 2 layers, 4 heads / 2 KV heads.
static const embd_case CASES[] = {
  {"llama-mean", "llama", T_F32, -1, false, false, 5e-6},
  {"llama-cls", "llama", T_F32, LLMUX_POOLING_CLS, false, false, 5e-6},
  {"qwen2-last", "qwen2", T_F32, LLMUX_POOLING_LAST, true, true, 5e-6},
  {"llama-q8_0-mean", "llama", T_Q8_0, LLMUX_POOLING_MEAN, false, false, 5e-2},
  {"qwen2-q4_K-last", "qwen2", T_Q4_K, LLMUX_POOLING_LAST, true, true, 6e-2},
};
#define N_REF 16

static uint64_t rng_state;  // splitmix64 + Box-Muller: the same model every run

static double rng_uniform(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;  // (0, 1)
}

static void add_tensor(gguf_writer *w, const char *name, uint32_t type, int64_t n_in, int64_t n_out, float mean,
                       float std) {
  int64_t ne[2] = {n_in, n_out}, n = n_in * n_out;
  float *f = malloc((size_t)n * sizeof *f);
  for (int64_t i = 0; i < n; i++)
    f[i] = mean + std * (float)(sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform()));
  if (type == T_F32) {
    gguf_writer_add_tensor(w, name, type, n_out > 1 ? 2 : 1, ne, f);
  } else {
    void *d = calloc(1, type_row_bytes(type, n_in) * (size_t)n_out);
    quant_quantize(type)(f, d, n);
    gguf_writer_add_tensor(w, name, type, 2, ne, d);
    free(d);
  }
  free(f);
}

// The tokenizer.* metadata of stories260K (its 512-token vocabulary), so the model loads.
static int copy_vocab(gguf_writer *w) {
  gguf_file *src = gguf_open(tu_shared("models/stories260K.gguf"));
  CHECK_MSG(src != NULL, "cannot open stories260K: %s", llmux_last_error());
  if (!src) return -1;
  for (uint64_t i = 0; i < src->n_kv; i++) {
    const gguf_kv *kv = &src->kv[i];
    if (strncmp(kv->key, "tokenizer.", 10)) continue;
    if (kv->type == GGUF_U32) {
      gguf_writer_set_u32(w, kv->key, (uint32_t)kv->v.u);
    } else if (kv->type == GGUF_STRING) {
      char *s = strndup(kv->v.str.s, kv->v.str.n);
      gguf_writer_set_str(w, kv->key, s);
      free(s);
    } else if (kv->type == GGUF_ARRAY && kv->v.arr.type == GGUF_STRING) {
      uint64_t n = kv->v.arr.n;
      char **strs = calloc(n, sizeof *strs);
      for (uint64_t j = 0; j < n; j++) strs[j] = strndup(kv->v.arr.strs[j].s, kv->v.arr.strs[j].n);
      gguf_writer_set_arr_str(w, kv->key, (const char *const *)strs, n);
      for (uint64_t j = 0; j < n; j++) free(strs[j]);
      free(strs);
    } else if (kv->type == GGUF_ARRAY) {
      gguf_writer_set_arr(w, kv->key, kv->v.arr.type, kv->v.arr.data, kv->v.arr.n);
    } else {
      CHECK_MSG(0, "tokenizer key %s has unexpected type %u", kv->key, kv->type);
    }
  }
  gguf_close(src);
  return 0;
}

static void set_u32(gguf_writer *w, const embd_case *c, const char *key, uint32_t v) {
  char k[128];
  snprintf(k, sizeof k, "%s.%s", c->arch, key);
  gguf_writer_set_u32(w, k, v);
}

static void write_layer(gguf_writer *w, const embd_case *c, int il, int E, int F) {
  char n[96];
  float s_in = 1.0f / sqrtf((float)E);
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%d.%s", il, suffix), n)
  add_tensor(w, NAME("attn_norm.weight"), T_F32, E, 1, 1, 0.2f);
  add_tensor(w, NAME("ffn_norm.weight"), T_F32, E, 1, 1, 0.2f);
  add_tensor(w, NAME("attn_q.weight"), c->wtype, E, E, 0, s_in);
  add_tensor(w, NAME("attn_k.weight"), c->wtype, E, E / 2, 0, s_in);
  add_tensor(w, NAME("attn_v.weight"), c->wtype, E, E / 2, 0, s_in);
  if (c->qkv_bias) {
    add_tensor(w, NAME("attn_q.bias"), T_F32, E, 1, 0, 0.3f);
    add_tensor(w, NAME("attn_k.bias"), T_F32, E / 2, 1, 0, 0.3f);
    add_tensor(w, NAME("attn_v.bias"), T_F32, E / 2, 1, 0, 0.3f);
  }
  add_tensor(w, NAME("attn_output.weight"), c->wtype, E, E, 0, s_in);
  add_tensor(w, NAME("ffn_gate.weight"), c->wtype, E, F, 0, s_in);
  add_tensor(w, NAME("ffn_up.weight"), c->wtype, E, F, 0, s_in);
  add_tensor(w, NAME("ffn_down.weight"), c->wtype, F, E, 0, 1.0f / sqrtf((float)F));
#undef NAME
}

static int write_model(const embd_case *c, const char *path) {
  int E = c->wtype == T_Q4_K ? 256 : 128, F = E == 256 ? 512 : 320;  // K-quant rows: multiples of 256
  gguf_writer *w = gguf_writer_new();
  rng_state = 0xe3bd0000u + strlen(c->name) * 977 + c->wtype;
  gguf_writer_set_str(w, "general.architecture", c->arch);
  gguf_writer_set_str(w, "general.name", c->name);
  set_u32(w, c, "context_length", 4096);
  set_u32(w, c, "embedding_length", (uint32_t)E);
  set_u32(w, c, "block_count", 2);
  set_u32(w, c, "feed_forward_length", (uint32_t)F);
  set_u32(w, c, "attention.head_count", 4);
  set_u32(w, c, "attention.head_count_kv", 2);
  if (c->pooling >= 0) set_u32(w, c, "pooling_type", (uint32_t)c->pooling);
  if (copy_vocab(w) < 0) {
    gguf_writer_free(w);
    return -1;
  }
  add_tensor(w, "token_embd.weight", c->wtype, E, 512, 0, c->tied ? 0.4f : 1.0f);
  add_tensor(w, "output_norm.weight", T_F32, E, 1, 1, 0.2f);
  if (!c->tied) add_tensor(w, "output.weight", c->wtype, E, 512, 0, 3.0f / sqrtf((float)E));
  for (int il = 0; il < 2; il++) write_layer(w, c, il, E, F);
  int rc = gguf_writer_write(w, path);
  CHECK_MSG(rc == 0, "%s: writing %s: %s", c->name, path, llmux_last_error());
  gguf_writer_free(w);
  return rc;
}


// forward.py's hidden states (N_REF, E) and pooled unit vector (E), pooled as the file says.
static int run_reference(const char *model, const int32_t *toks, int E, float **hidden, float **embd) {
  char tokens[N_REF * 8] = "", cmd[4096], out_h[512], out_e[512];
  for (int i = 0; i < N_REF; i++)
    snprintf(tokens + strlen(tokens), sizeof tokens - strlen(tokens), "%s%d", i ? "," : "", toks[i]);
  snprintf(out_h, sizeof out_h, "%s", tu_tmp_path(".hidden.f32"));
  snprintf(out_e, sizeof out_e, "%s", tu_tmp_path(".embd.f32"));
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' --tokens %s --out-hidden '%s' --out-embd '%s'", tu_python, tu_forward_py,
           model, tokens, out_h, out_e);
  int rc = system(cmd);
  CHECK_MSG(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "reference failed: %s", cmd);
  *hidden = tu_read_f32(out_h, (size_t)N_REF * E);
  *embd = tu_read_f32(out_e, (size_t)E);
  remove(out_h);
  remove(out_e);
  CHECK_MSG(*hidden && *embd, "reference wrote no output: %s", cmd);
  return *hidden && *embd ? 0 : -1;
}

// The engine's hidden states in one batch, and its pooled vector with the
// whole input in one chunk and in chunks of 5 (5 + 5 + 5 + 1).
static void check_engine(const embd_case *c, llmux_model *m, const int32_t *toks, const float *hidden,
                         const float *embd) {
  int E = llmux_model_n_embd(m);
  int32_t pos[N_REF];
  for (int i = 0; i < N_REF; i++) pos[i] = i;
  llmux_context *ctx = new_ctx(m, 64, N_REF, 1, LLMUX_KV_F32);
  fwd_batch b = {.n = N_REF, .tokens = toks, .pos = pos, .all_embd = true};
  CHECK(decoder_forward(ctx, &b) == 0);
  double e = max_diff(ctx->embd, hidden, N_REF * E) / max_abs(hidden, N_REF * E);
  printf("%-16s hidden states        rel %.2e (tol %g)\n", c->name, e, c->tol);
  CHECK_MSG(e <= c->tol, "%s: hidden states differ by %.3e", c->name, e);
  llmux_context_free(ctx);
  float *v = calloc((size_t)E, sizeof *v);
  for (int n_batch = N_REF; n_batch >= 5; n_batch -= N_REF - 5) {
    ctx = new_ctx(m, 64, n_batch, 1, LLMUX_KV_F32);
    CHECK(llmux_embed(ctx, toks, N_REF, v, true) == 0);
    e = max_diff(v, embd, E) / max_abs(embd, E);
    printf("%-16s pooled, n_batch %-3d rel %.2e (tol %g)\n", c->name, n_batch, e, c->tol);
    CHECK_MSG(e <= c->tol, "%s n_batch %d: embedding differs by %.3e", c->name, n_batch, e);
    llmux_context_free(ctx);
  }
  free(v);
}

static void test_reference(const embd_case *c) {
  char path[512];
  snprintf(path, sizeof path, "%s", tu_tmp_path(".gguf"));
  if (write_model(c, path) < 0) return;
  llmux_model *m = llmux_model_load(path, NULL);
  CHECK_MSG(m != NULL, "%s: load: %s", c->name, llmux_last_error());
  if (!m) return;
  CHECK(llmux_model_pooling(m) == (c->pooling < 0 ? LLMUX_POOLING_MEAN : c->pooling));
  int32_t toks[N_REF] = {1};  // BOS, then fixed pseudo-random ids
  for (int i = 1; i < N_REF; i++) toks[i] = 3 + (int32_t)(rng_uniform() * 509);
  float *hidden = NULL, *embd = NULL;
  if (run_reference(path, toks, llmux_model_n_embd(m), &hidden, &embd) == 0) check_engine(c, m, toks, hidden, embd);
  free(hidden);
  free(embd);
  llmux_model_free(m);
  remove(path);
}

int main(void) {
  log_set_level(LOG_WARN);
  llmux_model *m = llmux_model_load(tu_shared("models/stories260K.gguf"), NULL);
  CHECK_MSG(m != NULL, "%s", llmux_last_error());
  if (!m) return tu_finish();
  test_basics(m);
  test_chunking(m, LLMUX_KV_F32, 1e-5);
  test_chunking(m, LLMUX_KV_F16, 1e-4);
  test_against_decode(m);
  test_sequences(m);
  test_errors(m);
  llmux_model_free(m);
  if (!tu_find_reference()) return tu_finish();
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) test_reference(&CASES[i]);
  return tu_finish();
}
