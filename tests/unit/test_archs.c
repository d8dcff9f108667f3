// test_archs: every architecture and every weight type, against an independent
// reference. Each case writes a tiny random-weight model with our GGUF writer
// (the stories260K vocabulary, so the tokenizer loads), runs 16 tokens through
// the engine (KV cache f32, all logits, at the scalar and at the highest SIMD
// level, in one batch and split in two), and compares the logits with
// tests/reference/forward.py: a float64 numpy forward pass that shares no code
// with the engine (its own GGUF reader and dequantizers). See
// tests/reference/README.md for the method and the measured errors.
//
// Two checks, each with a tolerance per weight type (TOLS below):
//   model   the engine's logits against the exact float64 pass; the error is
//           max|engine - reference| / max|reference| over every position and
//           token. The argmax must agree at every position, unless the
//           reference's top two are closer than the tolerance band.
//   kernel  for the type cases, single matrix products (one row and a batch,
//           so both the streaming and the batched paths): engine matmul()
//           against forward.py --matmul, which emulates the engine's rounding
//           of the input (Q8_0 / Q8_1 / Q8_K blocks, f16, bf16) in float32
//           exactly, so only float32 summation order is left.
// Needs python3 with numpy: without it the test fails, it never skips.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "gguf/gguf.h"
#include "llmux.h"
#include "models/model.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/types.h"
#include "testutil.h"

#define N_TOK 16
#define N_SPLIT 9  // the split run decodes tokens [0, 9) then [9, 16)
#define K_ROWS 7   // activation rows of the kernel check

// ---- tolerances, per weight type (errors relative to max|reference|)
// model: f32 weights leave only float32 summation (worst measured 1.1e-6, on
//   gemma2; 5e-6 still sees an rms-norm epsilon of 1e-6 read as 1e-5). The
//   other types: the engine rounds every matmul input to the weight's
//   dot-product type on purpose, as the reference engine does, and the exact
//   pass does not; carried through 2 layers that gives (worst measured, also
//   over small perturbations of the input) f16 4.6e-4, bf16 4.6e-3, Q8_0 /
//   Q8_1 blocks of 32 (q8_0, q4_0, q4_1, q5_0, q5_1) 1.6e-2, Q8_K blocks of
//   256 (K-quants) 2.4e-2. Each bound is about 3x that, and far below what a
//   wrong layout, scale or block order gives (order 1). The rounding is
//   chaotic: one flipped f16 block scale changes everything downstream, so
//   SIMD levels agree with each other only to these same bounds.
// kernel: the same input rounding on both sides; worst measured 4e-7.
typedef struct {
  uint32_t type;
  double model, kernel;
} type_tol;

static const type_tol TOLS[] = {
  {T_F32, 5e-6, 1e-5},  {T_F16, 1.5e-3, 1e-5}, {T_BF16, 1.5e-2, 1e-5}, {T_Q8_0, 5e-2, 1e-5},
  {T_Q4_0, 5e-2, 1e-5}, {T_Q4_1, 5e-2, 1e-5},  {T_Q5_0, 5e-2, 1e-5},  {T_Q5_1, 5e-2, 1e-5},
  {T_Q2_K, 6e-2, 1e-5}, {T_Q3_K, 6e-2, 1e-5},  {T_Q4_K, 6e-2, 1e-5},  {T_Q5_K, 6e-2, 1e-5},
  {T_Q6_K, 6e-2, 1e-5},
};

static const type_tol *tol_of(uint32_t type) {
  for (size_t i = 0; i < sizeof TOLS / sizeof *TOLS; i++)
    if (TOLS[i].type == type) return &TOLS[i];
  return NULL;
}

// ---- the cases
typedef struct {
  const char *name, *arch;
  uint32_t wtype;                  // type of every weight matrix; norms, biases and rope factors stay f32
  int n_embd, n_layer, n_ff, n_head, n_head_kv;
  int head_dim;                    // 0: n_embd / n_head (no key_length key)
  int n_rot;                       // 0: head_dim (no rope.dimension_count key)
  bool qkv_bias, tied, qk_norm, post_norms, fused;
  const char *rope_scaling;        // NULL, "linear", "yarn" or "longrope"
  float rope_factor;               // rope.scaling.factor (0: no key)
  int rope_orig_ctx;               // rope.scaling.original_context_length (0: no key)
  float rope_attn_factor;          // rope.scaling.attn_factor (0: no key)
  bool rope_freqs;                 // llama3-style rope_freqs.weight
  bool rope_short_long;            // phi3 LongRoPE rope_factors_short/long.weight
  int window;                      // attention.sliding_window (0: none)
  float attn_softcap, final_softcap;
  float qk_std;                    // scale of q/k weights (larger: peakier attention); 0: 1
} arch_case;

// Architectures: n_embd 128 (256 for K-quants), 2-3 layers, 4 heads / 2 KV heads (GQA).
static const arch_case ARCH_CASES[] = {
  {.name = "llama", .arch = "llama", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320, .n_head = 4,
   .n_head_kv = 2},
  {.name = "llama-rope-freqs", .arch = "llama", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320,
   .n_head = 4, .n_head_kv = 2, .rope_freqs = true},
  {.name = "llama-rope-linear", .arch = "llama", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320,
   .n_head = 4, .n_head_kv = 2, .rope_scaling = "linear", .rope_factor = 4},
  {.name = "llama-rope-yarn", .arch = "llama", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320,
   .n_head = 4, .n_head_kv = 2, .rope_scaling = "yarn", .rope_factor = 4, .rope_orig_ctx = 64},
  {.name = "qwen2", .arch = "qwen2", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320, .n_head = 4,
   .n_head_kv = 2, .qkv_bias = true, .tied = true},
  {.name = "qwen3", .arch = "qwen3", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320, .n_head = 4,
   .n_head_kv = 2, .head_dim = 48, .qk_norm = true},
  {.name = "gemma2", .arch = "gemma2", .wtype = T_F32, .n_embd = 128, .n_layer = 3, .n_ff = 320, .n_head = 4,
   .n_head_kv = 2, .head_dim = 48, .tied = true, .post_norms = true, .window = 5, .attn_softcap = 4,
   .final_softcap = 3, .qk_std = 3},
  {.name = "phi3", .arch = "phi3", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320, .n_head = 4,
   .n_head_kv = 2, .n_rot = 24, .fused = true, .window = 6},  // window ignored, as llama.cpp does
  {.name = "phi3-longrope", .arch = "phi3", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320,
   .n_head = 4, .n_head_kv = 2, .fused = true, .rope_scaling = "longrope", .rope_orig_ctx = 64,
   .rope_attn_factor = 1.19f, .rope_short_long = true},
  // A context (64) longer than the original one (8): the long factors apply.
  {.name = "phi3-longrope-long", .arch = "phi3", .wtype = T_F32, .n_embd = 128, .n_layer = 2, .n_ff = 320,
   .n_head = 4, .n_head_kv = 2, .fused = true, .rope_scaling = "longrope", .rope_orig_ctx = 8,
   .rope_attn_factor = 1.19f, .rope_short_long = true},
  // Quantized weights through the parts the llama type matrix does not reach:
  // biases and a tied quantized output, fused quantized matrices, soft-capping.
  {.name = "qwen2-q4_K", .arch = "qwen2", .wtype = T_Q4_K, .n_embd = 256, .n_layer = 2, .n_ff = 512,
   .n_head = 4, .n_head_kv = 2, .qkv_bias = true, .tied = true},
  {.name = "phi3-q8_0", .arch = "phi3", .wtype = T_Q8_0, .n_embd = 128, .n_layer = 2, .n_ff = 320, .n_head = 4,
   .n_head_kv = 2, .n_rot = 24, .fused = true, .window = 6},
  {.name = "gemma2-q4_0", .arch = "gemma2", .wtype = T_Q4_0, .n_embd = 128, .n_layer = 3, .n_ff = 320,
   .n_head = 4, .n_head_kv = 2, .head_dim = 48, .tied = true, .post_norms = true, .window = 5,
   .attn_softcap = 4, .final_softcap = 10},  // milder than "gemma2": a cap of 3 triples the relative error
};

// Every weight type on llama: rows of 256 so every K-quant applies to every matrix.
static const uint32_t MATRIX_TYPES[] = {T_F32,  T_F16,  T_BF16, T_Q8_0, T_Q4_0, T_Q4_1, T_Q5_0,
                                        T_Q5_1, T_Q2_K, T_Q3_K, T_Q4_K, T_Q5_K, T_Q6_K};

static arch_case type_case(uint32_t type) {
  arch_case c = {.name = type_name(type), .arch = "llama", .wtype = type, .n_embd = 256, .n_layer = 2,
                 .n_ff = 512, .n_head = 4, .n_head_kv = 2};
  return c;
}

// ---- random weights (splitmix64, Box-Muller): the same model every run
static uint64_t rng_state;

static double rng_uniform(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;  // (0, 1)
}

static float rng_gauss(void) {
  return (float)(sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform()));
}

static float *rand_floats(int64_t n, float mean, float std) {
  float *a = malloc((size_t)n * sizeof *a);
  if (!a) abort();
  for (int64_t i = 0; i < n; i++) a[i] = mean + std * rng_gauss();
  return a;
}

// ---- writing the model
static void add_matrix(gguf_writer *w, const char *name, uint32_t type, int64_t n_in, int64_t n_out, float std) {
  float *f = rand_floats(n_in * n_out, 0, std);
  int64_t ne[2] = {n_in, n_out};
  if (type == T_F32) {
    gguf_writer_add_tensor(w, name, type, 2, ne, f);
  } else {
    quantize_fn q = quant_quantize(type);
    size_t bytes = type_row_bytes(type, n_in) * (size_t)n_out;
    void *d = calloc(1, bytes ? bytes : 1);
    CHECK_MSG(q != NULL && bytes > 0, "no quantizer for %s rows of %lld", type_name(type), (long long)n_in);
    if (q && bytes) q(f, d, n_in * n_out);
    gguf_writer_add_tensor(w, name, type, 2, ne, d);
    free(d);
  }
  free(f);
}

static void add_vector(gguf_writer *w, const char *name, int64_t n, float mean, float std) {
  float *f = rand_floats(n, mean, std);
  gguf_writer_add_tensor(w, name, T_F32, 1, &n, f);
  free(f);
}

// Copies the tokenizer.* metadata of stories260K (a 512-token SentencePiece vocabulary).
static int copy_vocab(gguf_writer *w) {
  gguf_file *src = gguf_open(tu_shared("models/stories260K.gguf"));
  CHECK_MSG(src != NULL, "cannot open stories260K: %s", llmux_last_error());
  if (!src) return -1;
  for (uint64_t i = 0; i < src->n_kv; i++) {
    const gguf_kv *kv = &src->kv[i];
    if (strncmp(kv->key, "tokenizer.", 10)) continue;
    switch (kv->type) {
      case GGUF_U32: gguf_writer_set_u32(w, kv->key, (uint32_t)kv->v.u); break;
      case GGUF_I32: gguf_writer_set_i32(w, kv->key, (int32_t)kv->v.i); break;
      case GGUF_F32: gguf_writer_set_f32(w, kv->key, (float)kv->v.f); break;
      case GGUF_BOOL: gguf_writer_set_bool(w, kv->key, kv->v.b); break;
      case GGUF_STRING: {
        char *s = strndup(kv->v.str.s, kv->v.str.n);
        gguf_writer_set_str(w, kv->key, s);
        free(s);
        break;
      }
      case GGUF_ARRAY:
        if (kv->v.arr.type == GGUF_STRING) {
          uint64_t n = kv->v.arr.n;
          char **strs = calloc(n ? n : 1, sizeof *strs);
          for (uint64_t j = 0; j < n; j++) strs[j] = strndup(kv->v.arr.strs[j].s, kv->v.arr.strs[j].n);
          gguf_writer_set_arr_str(w, kv->key, (const char *const *)strs, n);
          for (uint64_t j = 0; j < n; j++) free(strs[j]);
          free(strs);
        } else {
          gguf_writer_set_arr(w, kv->key, kv->v.arr.type, kv->v.arr.data, kv->v.arr.n);
        }
        break;
      default: CHECK_MSG(0, "tokenizer key %s has unexpected type %u", kv->key, kv->type);
    }
  }
  gguf_close(src);
  return 0;
}

static void set_key_u32(gguf_writer *w, const arch_case *c, const char *key, uint32_t v) {
  char k[128];
  snprintf(k, sizeof k, "%s.%s", c->arch, key);
  gguf_writer_set_u32(w, k, v);
}

static void set_key_f32(gguf_writer *w, const arch_case *c, const char *key, float v) {
  char k[128];
  snprintf(k, sizeof k, "%s.%s", c->arch, key);
  gguf_writer_set_f32(w, k, v);
}

static void write_hparams(gguf_writer *w, const arch_case *c) {
  gguf_writer_set_str(w, "general.architecture", c->arch);
  gguf_writer_set_str(w, "general.name", c->name);
  set_key_u32(w, c, "context_length", 4096);
  set_key_u32(w, c, "embedding_length", (uint32_t)c->n_embd);
  set_key_u32(w, c, "block_count", (uint32_t)c->n_layer);
  set_key_u32(w, c, "feed_forward_length", (uint32_t)c->n_ff);
  set_key_u32(w, c, "attention.head_count", (uint32_t)c->n_head);
  set_key_u32(w, c, "attention.head_count_kv", (uint32_t)c->n_head_kv);
  if (c->head_dim) {
    set_key_u32(w, c, "attention.key_length", (uint32_t)c->head_dim);
    set_key_u32(w, c, "attention.value_length", (uint32_t)c->head_dim);
  }
  set_key_f32(w, c, "attention.layer_norm_rms_epsilon", strcmp(c->arch, "gemma2") ? 1e-5f : 1e-6f);
  set_key_f32(w, c, "rope.freq_base", 10000.0f);
  if (c->n_rot) set_key_u32(w, c, "rope.dimension_count", (uint32_t)c->n_rot);
  if (c->rope_scaling) {
    char k[128];
    snprintf(k, sizeof k, "%s.rope.scaling.type", c->arch);
    gguf_writer_set_str(w, k, c->rope_scaling);
  }
  if (c->rope_factor > 0) set_key_f32(w, c, "rope.scaling.factor", c->rope_factor);
  if (c->rope_attn_factor > 0) set_key_f32(w, c, "rope.scaling.attn_factor", c->rope_attn_factor);
  if (c->rope_orig_ctx) set_key_u32(w, c, "rope.scaling.original_context_length", (uint32_t)c->rope_orig_ctx);
  if (c->window) set_key_u32(w, c, "attention.sliding_window", (uint32_t)c->window);
  if (c->attn_softcap > 0) set_key_f32(w, c, "attn_logit_softcapping", c->attn_softcap);
  if (c->final_softcap > 0) set_key_f32(w, c, "final_logit_softcapping", c->final_softcap);
}

static void write_layer(gguf_writer *w, const arch_case *c, int il) {
  char n[96];
  int hd = c->head_dim ? c->head_dim : c->n_embd / c->n_head;
  int64_t E = c->n_embd, qd = (int64_t)c->n_head * hd, kd = (int64_t)c->n_head_kv * hd;
  float s_in = 1.0f / sqrtf((float)E), qk = (c->qk_std ? c->qk_std : 1.0f) * s_in;
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%d.%s", il, suffix), n)
  add_vector(w, NAME("attn_norm.weight"), E, 1, 0.2f);
  add_vector(w, NAME("ffn_norm.weight"), E, 1, 0.2f);
  if (c->post_norms) {
    add_vector(w, NAME("post_attention_norm.weight"), E, 1, 0.2f);
    add_vector(w, NAME("post_ffw_norm.weight"), E, 1, 0.2f);
  }
  if (c->qk_norm) {
    add_vector(w, NAME("attn_q_norm.weight"), hd, 1, 0.2f);
    add_vector(w, NAME("attn_k_norm.weight"), hd, 1, 0.2f);
  }
  if (c->fused) {
    add_matrix(w, NAME("attn_qkv.weight"), c->wtype, E, qd + 2 * kd, qk);
  } else {
    add_matrix(w, NAME("attn_q.weight"), c->wtype, E, qd, qk);
    add_matrix(w, NAME("attn_k.weight"), c->wtype, E, kd, qk);
    add_matrix(w, NAME("attn_v.weight"), c->wtype, E, kd, s_in);
  }
  if (c->qkv_bias) {
    add_vector(w, NAME("attn_q.bias"), qd, 0, 0.3f);
    add_vector(w, NAME("attn_k.bias"), kd, 0, 0.3f);
    add_vector(w, NAME("attn_v.bias"), kd, 0, 0.3f);
  }
  add_matrix(w, NAME("attn_output.weight"), c->wtype, qd, E, 1.0f / sqrtf((float)qd));
  if (c->fused) {
    add_matrix(w, NAME("ffn_up.weight"), c->wtype, E, 2 * (int64_t)c->n_ff, s_in);
  } else {
    add_matrix(w, NAME("ffn_gate.weight"), c->wtype, E, c->n_ff, s_in);
    add_matrix(w, NAME("ffn_up.weight"), c->wtype, E, c->n_ff, s_in);
  }
  add_matrix(w, NAME("ffn_down.weight"), c->wtype, c->n_ff, E, 1.0f / sqrtf((float)c->n_ff));
#undef NAME
}

static int write_model(const arch_case *c, const char *path, int *n_vocab) {
  gguf_writer *w = gguf_writer_new();
  rng_state = 0x5eed0000u + (uint64_t)c->wtype * 131 + strlen(c->name);
  write_hparams(w, c);
  if (copy_vocab(w) < 0) {
    gguf_writer_free(w);
    return -1;
  }
  *n_vocab = 512;
  int hd = c->head_dim ? c->head_dim : c->n_embd / c->n_head, n_rot = c->n_rot ? c->n_rot : hd;
  // Tied models read the output through the embeddings: keep both in a range
  // where the logits spread over a few units.
  add_matrix(w, "token_embd.weight", c->wtype, c->n_embd, *n_vocab, c->tied ? 0.4f : 1.0f);
  add_vector(w, "output_norm.weight", c->n_embd, 1, 0.2f);
  if (!c->tied) add_matrix(w, "output.weight", c->wtype, c->n_embd, *n_vocab, 3.0f / sqrtf((float)c->n_embd));
  // Frequency divisors in [1, 8): llama3 keeps one set, phi3 LongRoPE a short and a long one.
  const char *factor_names[] = {"rope_freqs.weight", "rope_factors_short.weight", "rope_factors_long.weight"};
  for (int i = 0; i < 3; i++) {
    if (i == 0 ? !c->rope_freqs : !c->rope_short_long) continue;
    int64_t ne = n_rot / 2;
    float *f = rand_floats(ne, 0, 1);
    for (int j = 0; j < ne; j++) f[j] = 1.0f + 7.0f * (float)rng_uniform();
    gguf_writer_add_tensor(w, factor_names[i], T_F32, 1, &ne, f);
    free(f);
  }
  for (int il = 0; il < c->n_layer; il++) write_layer(w, c, il);
  int rc = gguf_writer_write(w, path);
  CHECK_MSG(rc == 0, "%s: writing %s: %s", c->name, path, llmux_last_error());
  gguf_writer_free(w);
  return rc;
}

// ---- the reference (python3 + numpy)

// Runs forward.py; fills ref (exact) and act (the engine's input rounding emulated,
// printed to show how much of the error that rounding alone explains).
static int run_reference(const char *model, const int32_t *toks, int n_vocab, float **ref, float **act) {
  char tokens[N_TOK * 8] = "", cmd[4096];
  for (int i = 0; i < N_TOK; i++)
    snprintf(tokens + strlen(tokens), sizeof tokens - strlen(tokens), "%s%d", i ? "," : "", toks[i]);
  char out_ref[512], out_act[512];
  snprintf(out_ref, sizeof out_ref, "%s", tu_tmp_path(".ref.f32"));
  snprintf(out_act, sizeof out_act, "%s", tu_tmp_path(".act.f32"));
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' --tokens %s --out '%s' --out-act '%s'", tu_python, tu_forward_py, model,
           tokens, out_ref, out_act);
  int rc = system(cmd);
  CHECK_MSG(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "reference failed: %s", cmd);
  *ref = tu_read_f32(out_ref, (size_t)N_TOK * n_vocab);
  *act = tu_read_f32(out_act, (size_t)N_TOK * n_vocab);
  remove(out_ref);
  remove(out_act);
  CHECK_MSG(*ref && *act, "reference wrote no logits: %s", cmd);
  return *ref && *act ? 0 : -1;
}

// ---- the engine
// Logits of all N_TOK positions, in one batch or split at N_SPLIT (the second
// part then reads the first part's keys and values from the cache).
static float *run_engine(llmux_model *m, const int32_t *toks, int n_vocab, bool split) {
  llmux_context_params cp = llmux_context_default_params();
  cp.n_ctx = 64;
  cp.n_batch = N_TOK;
  cp.n_threads = 2;
  cp.kv_type = LLMUX_KV_F32;
  llmux_context *ctx = llmux_context_new(m, &cp);
  CHECK_MSG(ctx != NULL, "context: %s", llmux_last_error());
  if (!ctx) return NULL;
  float *out = malloc((size_t)N_TOK * n_vocab * sizeof *out);
  int parts[2][2] = {{0, split ? N_SPLIT : N_TOK}, {split ? N_SPLIT : N_TOK, N_TOK}};
  for (int p = 0; p < 2 && out; p++) {
    int lo = parts[p][0], n = parts[p][1] - lo;
    if (n == 0) continue;
    if (llmux_decode(ctx, toks + lo, n, lo, true) != 0) {
      CHECK_MSG(0, "decode: %s", llmux_last_error());
      free(out);
      out = NULL;
      break;
    }
    for (int i = 0; i < n; i++) memcpy(out + (size_t)(lo + i) * n_vocab, llmux_logits(ctx, i), n_vocab * sizeof *out);
  }
  llmux_context_free(ctx);
  return out;
}

// ---- comparing
typedef struct {
  double err;       // max|a - b| / max|b|
  double max_abs;   // max|a - b|
  double scale;     // max|b|
  int agree, ties;  // positions whose argmax agrees; disagreements within the tolerance band
  bool finite;
} cmp_result;

static int argmax(const float *x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

// band: reference top-two gaps at or below it count as ties (absolute logit units).
static cmp_result compare(const float *got, const float *want, int n_vocab, double band) {
  cmp_result r = {.finite = true};
  for (size_t i = 0; i < (size_t)N_TOK * n_vocab; i++) {
    if (!isfinite(got[i])) r.finite = false;
    double d = fabs((double)got[i] - want[i]);
    if (d > r.max_abs || d != d) r.max_abs = d;
    if (fabs(want[i]) > r.scale) r.scale = fabs(want[i]);
  }
  r.err = r.scale > 0 ? r.max_abs / r.scale : r.max_abs;
  for (int t = 0; t < N_TOK; t++) {
    const float *g = got + (size_t)t * n_vocab, *w = want + (size_t)t * n_vocab;
    int a = argmax(g, n_vocab), b = argmax(w, n_vocab);
    if (a == b) r.agree++;
    else if (w[b] - w[a] <= band) r.ties++;  // a near tie in the reference itself
  }
  return r;
}

// ---- kernel check: single products, engine matmul() against forward.py --matmul
static const char *const KERNEL_TENSORS[] = {"blk.0.ffn_down.weight", "output.weight"};
#define N_KT (sizeof KERNEL_TENSORS / sizeof *KERNEL_TENSORS)

static bool write_f32(const char *path, const float *a, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  bool ok = fwrite(a, sizeof *a, n, f) == n;
  return fclose(f) == 0 && ok;
}

// Max |got - want| / max|want| over rows x n_out.
static double rel_err(const float *got, const float *want, size_t n) {
  double d = 0, scale = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - want[i]);
    if (e > d || e != e) d = e;
    if (fabs(want[i]) > scale) scale = fabs(want[i]);
  }
  return scale > 0 ? d / scale : d;
}

static void check_kernels(const arch_case *c, const char *model_path, const type_tol *tol) {
  gguf_file *f = gguf_open(model_path);
  CHECK_MSG(f != NULL, "%s: %s", model_path, llmux_last_error());
  if (!f) return;
  mm_weight w[N_KT];
  float *x[N_KT] = {0}, *want[N_KT] = {0};
  char xp[N_KT][512], yp[N_KT][512], cmd[4096];
  int len = snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", tu_python, tu_forward_py, model_path);
  for (size_t k = 0; k < N_KT; k++) {
    const gguf_tensor *t = gguf_find_tensor(f, KERNEL_TENSORS[k]);
    w[k] = (mm_weight){.type = t->type, .n_in = t->ne[0], .n_out = t->ne[1], .data = t->data,
                       .row_bytes = type_row_bytes(t->type, t->ne[0])};
    x[k] = rand_floats(K_ROWS * w[k].n_in, 0, 1);
    snprintf(xp[k], sizeof xp[k], "%s", tu_tmp_path(".x.f32"));
    snprintf(yp[k], sizeof yp[k], "%s", tu_tmp_path(".y.f32"));
    CHECK(write_f32(xp[k], x[k], (size_t)(K_ROWS * w[k].n_in)));
    len += snprintf(cmd + len, sizeof cmd - (size_t)len, " --matmul '%s:%s:%s'", KERNEL_TENSORS[k], xp[k], yp[k]);
  }
  int rc = system(cmd);
  CHECK_MSG(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "reference failed: %s", cmd);
  pool *p = pool_new(2);
  enum simd_level top = cpu_max_simd_level();
  for (size_t k = 0; k < N_KT; k++) {
    size_t n_y = (size_t)(K_ROWS * w[k].n_out);
    want[k] = tu_read_f32(yp[k], n_y);
    CHECK_MSG(want[k] != NULL, "reference wrote no product: %s", cmd);
    float *y = malloc(n_y * sizeof *y);
    void *scratch = malloc(matmul_scratch_bytes(w[k].type, w[k].n_in, K_ROWS) + 64);
    for (int lv = SIMD_SCALAR; want[k] && lv <= (int)top; lv++) {
      cpu_set_simd_level((enum simd_level)lv);
      for (int rows = 1; rows <= K_ROWS; rows += K_ROWS - 1) {
        memset(y, 0, n_y * sizeof *y);
        matmul(p, &w[k], x[k], w[k].n_in, rows, y, w[k].n_out, scratch);
        double e = rel_err(y, want[k], (size_t)(rows * w[k].n_out));
        printf("%-18s kernel %-22s %-6s %d row%s  rel %.2e (tol %g)\n", c->name, KERNEL_TENSORS[k],
               cpu_simd_name((enum simd_level)lv), rows, rows > 1 ? "s" : " ", e, tol->kernel);
        CHECK_MSG(e <= tol->kernel, "%s: %s x %d rows at %s: error %.3e exceeds %g", c->name, KERNEL_TENSORS[k],
                  rows, cpu_simd_name((enum simd_level)lv), e, tol->kernel);
      }
    }
    cpu_set_simd_level(top);
    free(y);
    free(scratch);
  }
  pool_free(p);
  for (size_t k = 0; k < N_KT; k++) {
    remove(xp[k]);
    remove(yp[k]);
    free(x[k]);
    free(want[k]);
  }
  gguf_close(f);
}

// ---- one case
// Each level loads the model anew: the level at load decides the layout the
// weights are kept in (tiled where the AVX-512 kernels read them so).
static void check_model(const arch_case *c, const char *path, int n_vocab, const int32_t *toks, const float *ref,
                        const float *act, const type_tol *tol) {
  enum simd_level top = cpu_max_simd_level();
  // The argmax may only differ where the reference's top two are closer than
  // twice what the input rounding alone moves a logit (or 1e-5 of the scale).
  cmp_result rounding = compare(act, ref, n_vocab, 0);
  double band = 2 * fmax(rounding.max_abs, 1e-5 * rounding.scale);
  float *scalar = NULL;
  for (int lv = SIMD_SCALAR; lv <= (int)top; lv += top > SIMD_SCALAR ? (int)top : 1) {
    cpu_set_simd_level((enum simd_level)lv);
    const char *simd = cpu_simd_name((enum simd_level)lv);
    llmux_model *m = llmux_model_load(path, NULL);
    CHECK_MSG(m != NULL, "%s: load: %s", c->name, llmux_last_error());
    if (!m) continue;
    CHECK(llmux_model_n_vocab(m) == n_vocab);
    bool tiled = quant_tiles(c->wtype) && lv == SIMD_AVX512;
    CHECK_MSG(tiled == (m->repacked != NULL), "%s at %s: weights %s tiled", c->name, simd, tiled ? "not" : "wrongly");
    for (int split = 0; split < 2; split++) {
      float *got = run_engine(m, toks, n_vocab, split);
      if (!got) continue;
      const char *how = split ? "split" : "batch";
      cmp_result r = compare(got, ref, n_vocab, band);
      printf("%-18s model  %-5s %-6s %s  max|d| %.2e  rel %.2e (tol %g; rounding alone %.1e)  argmax %d/%d",
             c->name, type_name(c->wtype), simd, how, r.max_abs, r.err, tol->model, rounding.err, r.agree, N_TOK);
      if (r.ties) printf(" + %d near tie%s", r.ties, r.ties > 1 ? "s" : "");
      double vs_scalar = scalar ? compare(got, scalar, n_vocab, 0).err : 0;
      if (scalar) printf("  vs scalar %.1e", vs_scalar);
      printf("\n");
      CHECK_MSG(r.finite, "%s %s %s: non-finite logits", c->name, simd, how);
      CHECK_MSG(r.err <= tol->model, "%s %s %s: error %.3e exceeds %g", c->name, simd, how, r.err, tol->model);
      CHECK_MSG(r.agree + r.ties == N_TOK, "%s %s %s: argmax differs at %d of %d positions", c->name, simd, how,
                N_TOK - r.agree - r.ties, N_TOK);
      CHECK_MSG(vs_scalar <= tol->model, "%s %s %s: differs from scalar by %.3e", c->name, simd, how, vs_scalar);
      if (lv == SIMD_SCALAR && !split) scalar = got;
      else free(got);
    }
    llmux_model_free(m);
  }
  cpu_set_simd_level(top);
  free(scalar);
}

static void test_case(const arch_case *c, bool kernels) {
  const type_tol *tol = tol_of(c->wtype);
  CHECK_MSG(tol != NULL, "no tolerance for type %s", type_name(c->wtype));
  if (!tol) return;
  // LLMUX_ARCHS_KEEP=DIR keeps each case's model as DIR/NAME.gguf (to rerun forward.py by hand).
  const char *keep = getenv("LLMUX_ARCHS_KEEP");
  char model_path[512];
  if (keep) snprintf(model_path, sizeof model_path, "%s/%s.gguf", keep, c->name);
  else snprintf(model_path, sizeof model_path, "%s", tu_tmp_path(".gguf"));
  int n_vocab = 0;
  if (write_model(c, model_path, &n_vocab) < 0) return;
  int32_t toks[N_TOK];
  toks[0] = 1;  // BOS
  for (int i = 1; i < N_TOK; i++) toks[i] = 3 + (int32_t)(rng_uniform() * (n_vocab - 3));
  if (keep) {
    printf("%s tokens:", c->name);
    for (int i = 0; i < N_TOK; i++) printf("%s%d", i ? "," : " ", toks[i]);
    printf("\n");
  }
  float *ref = NULL, *act = NULL;
  if (run_reference(model_path, toks, n_vocab, &ref, &act) == 0) check_model(c, model_path, n_vocab, toks, ref, act, tol);
  if (kernels) check_kernels(c, model_path, tol);
  free(ref);
  free(act);
  if (!keep) remove(model_path);
}

int main(void) {
  log_set_level(LOG_WARN);
  if (!tu_find_reference()) return tu_finish();
  printf("reference: %s %s\n", tu_python, tu_forward_py);
  for (size_t i = 0; i < sizeof ARCH_CASES / sizeof *ARCH_CASES; i++) test_case(&ARCH_CASES[i], false);
  for (size_t i = 0; i < sizeof MATRIX_TYPES / sizeof *MATRIX_TYPES; i++) {
    arch_case c = type_case(MATRIX_TYPES[i]);
    test_case(&c, true);
  }
  return tu_finish();
}
