// llmux.h: the whole public C API of libllmux.
//
// Load a GGUF model, tokenize, run it and sample, all on the CPU. The example
// between the EXAMPLE markers is compiled and run as a test (header_example),
// with the model path as its first argument:
//
// EXAMPLE BEGIN
// #include <stdio.h>
// #include "llmux.h"
//
// static bool print_piece(const char *text, size_t len, void *user) {
//   (void)user;
//   fwrite(text, 1, len, stdout);
//   return true;  // false would stop generation early
// }
//
// int main(int argc, char **argv) {
//   if (argc < 2) return 2;
//   llmux_model *model = llmux_model_load(argv[1], NULL);
//   if (!model) {
//     fprintf(stderr, "%s\n", llmux_last_error());
//     return 1;
//   }
//   llmux_context *ctx = llmux_context_new(model, NULL);
//   llmux_generate_params gen = llmux_generate_default_params();
//   gen.max_tokens = 32;
//   gen.sampling.temperature = 0;  // greedy: the same text every run
//   int n = llmux_generate(ctx, "Once upon a time", &gen, print_piece, NULL);
//   printf("\n");
//   llmux_context_free(ctx);
//   llmux_model_free(model);
//   return n > 0 ? 0 : 1;
// }
// EXAMPLE END
//
// Errors: functions that fail return NULL or a negative number, and
// llmux_last_error() then says what went wrong (per thread, like errno).
// Threads: a model may be shared by many contexts; a context is used by one
// thread at a time.
#ifndef LLMUX_H
#define LLMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMUX_VERSION "0.1.0"

typedef int32_t llmux_token;
typedef struct llmux_model llmux_model;
typedef struct llmux_context llmux_context;
typedef struct llmux_sampler llmux_sampler;

const char *llmux_version(void);
const char *llmux_last_error(void);

// ---- model ------------------------------------------------------------------
// progress(fraction in [0,1], user) is called while loading.
typedef void (*llmux_progress_fn)(float fraction, void *user);

typedef struct {
  llmux_progress_fn progress;
  void *progress_user;
  // Keep every weight in the file mapping. By default the matrices that this
  // CPU's kernels read faster in a layout of their own are copied into it at
  // load (resident memory stays about the file's size, as the file's pages
  // are let go); processes that map one file then no longer share those
  // pages. The environment variable LLMUX_NO_REPACK=1 does the same.
  bool no_repack;
} llmux_model_params;

llmux_model_params llmux_model_default_params(void);
// Maps the file and validates it; params may be NULL for the defaults.
llmux_model *llmux_model_load(const char *path, const llmux_model_params *params);
void llmux_model_free(llmux_model *model);

const char *llmux_model_arch(const llmux_model *model);    // general.architecture
const char *llmux_model_name(const llmux_model *model);    // general.name, or the file name
int llmux_model_n_vocab(const llmux_model *model);
int llmux_model_n_ctx_train(const llmux_model *model);
int llmux_model_n_embd(const llmux_model *model);
int llmux_model_n_layer(const llmux_model *model);
size_t llmux_model_weight_bytes(const llmux_model *model);  // bytes of tensor data read per token
// The model's chat template (tokenizer.chat_template), or NULL.
const char *llmux_model_chat_template(const llmux_model *model);

// ---- tokens -------------------------------------------------------------------
// Tokenizes len bytes of text. add_special adds BOS/EOS as the model asks;
// parse_special turns the text of special tokens ("<|im_start|>") into their ids.
// Returns the number of tokens; if that exceeds max_tokens, returns its
// negative and writes nothing. Returns INT32_MIN on error.
int llmux_tokenize(const llmux_model *model, const char *text, size_t len, llmux_token *out, int max_tokens,
                   bool add_special, bool parse_special);
// Writes the bytes of one token (special tokens only if special). Returns the
// byte count, or its negative if size is too small.
int llmux_token_to_piece(const llmux_model *model, llmux_token token, char *buf, int size, bool special);
// Decodes a token sequence to text, as the tokenizer's decoder does (SentencePiece
// drops the leading space after BOS). Returns bytes written (NUL-terminated when
// room), or the negative of the size needed.
int llmux_detokenize(const llmux_model *model, const llmux_token *tokens, int n, char *buf, int size, bool special);
llmux_token llmux_token_bos(const llmux_model *model);  // -1 if none
llmux_token llmux_token_eos(const llmux_model *model);
bool llmux_token_is_eog(const llmux_model *model, llmux_token token);  // end of generation (EOS, EOT, ...)

// ---- context: KV cache and forward pass -----------------------------------------
typedef enum { LLMUX_KV_F16 = 0, LLMUX_KV_F32 = 1 } llmux_kv_type;

typedef struct {
  int n_ctx;      // tokens of context; 0: the model's training context, capped at 4096
  int n_batch;    // most tokens per forward pass (prompt chunks); 0: 512
  int n_threads;  // 0: one per core; at most 1024
  llmux_kv_type kv_type;
} llmux_context_params;

llmux_context_params llmux_context_default_params(void);
llmux_context *llmux_context_new(llmux_model *model, const llmux_context_params *params);
void llmux_context_free(llmux_context *ctx);
int llmux_context_n_ctx(const llmux_context *ctx);
size_t llmux_context_kv_bytes(const llmux_context *ctx);
// Runs tokens at positions [pos, pos + n) of the context's sequence (the KV
// cache keeps positions [0, pos)). With all_logits, keeps the logits of every
// token, else of the last one. Returns 0, or -1 with the error set (for
// example when pos + n exceeds the context).
int llmux_decode(llmux_context *ctx, const llmux_token *tokens, int n, int pos, bool all_logits);
// Logits (n_vocab floats) of token i of the last decode; i = -1 is the last token.
const float *llmux_logits(const llmux_context *ctx, int i);

// ---- embeddings ---------------------------------------------------------------------
// How the hidden states of a sequence become one vector: the GGUF convention
// of <arch>.pooling_type (llama.cpp's numbering).
typedef enum {
  LLMUX_POOLING_NONE = 0,  // one vector per token: llmux_embed refuses it
  LLMUX_POOLING_MEAN = 1,  // the mean over all tokens
  LLMUX_POOLING_CLS = 2,   // the first token
  LLMUX_POOLING_LAST = 3,  // the last token (Qwen3-Embedding and other causal embedders)
} llmux_pooling;

// The model's <arch>.pooling_type. Files without the key (every generative
// model) get LLMUX_POOLING_MEAN, what llama-server users pass as --pooling
// mean: an OpenAI-style embedding is one vector, and without a trained
// pooling the mean of the hidden states is the usual choice. Another number
// in the file (4 is llama.cpp's reranker "rank") is returned as it is, and
// -1 when the key is not an integer; llmux_embed refuses both.
int llmux_model_pooling(const llmux_model *model);
// The embedding of n tokens (n_embd floats into out; see llmux_model_n_embd):
// the hidden states after the model's final norm, before the output layer,
// pooled as llmux_model_pooling says and, with normalize, scaled to unit
// length (as OpenAI's embeddings are). Runs the tokens from position 0 in
// chunks of n_batch, overwriting the context's KV cache (a later decode must
// start again at 0), and leaves no logits. The text is never cut: more tokens
// than the context holds is an error. Returns 0, or -1 with the error set.
int llmux_embed(llmux_context *ctx, const llmux_token *tokens, int n, float *out, bool normalize);

// ---- sampling ---------------------------------------------------------------------
typedef struct {
  llmux_token token;
  float bias;  // added to the logit; -INFINITY bans the token
} llmux_logit_bias;

typedef struct {
  float temperature;        // 0: greedy
  int top_k;                // 0: off
  float top_p;              // 1: off
  float min_p;              // 0: off
  float repeat_penalty;     // 1: off
  int repeat_last_n;        // tokens looked back for the penalties
  float presence_penalty;   // 0: off
  float frequency_penalty;  // 0: off
  uint64_t seed;            // same seed, same output
  const llmux_logit_bias *logit_bias;
  int n_logit_bias;
} llmux_sampler_params;

llmux_sampler_params llmux_sampler_default_params(void);
llmux_sampler *llmux_sampler_new(const llmux_sampler_params *params, int n_vocab);
void llmux_sampler_free(llmux_sampler *s);
// Picks a token from logits (n_vocab floats, left unchanged).
llmux_token llmux_sampler_sample(llmux_sampler *s, const float *logits);
// Records a token of the sequence (prompt or generated) for the penalties.
void llmux_sampler_accept(llmux_sampler *s, llmux_token token);
void llmux_sampler_reset(llmux_sampler *s);

// ---- generation ---------------------------------------------------------------------
// Receives each piece of generated text; return false to stop.
typedef bool (*llmux_text_fn)(const char *text, size_t len, void *user);

typedef struct {
  int max_tokens;            // most tokens to generate; 0: until the context is full
  const char *const *stop;   // stop strings (not included in the output)
  int n_stop;
  bool add_special;          // add BOS/EOS as the model asks (default true)
  bool parse_special;        // parse special-token text in the prompt (default false)
  llmux_sampler_params sampling;
} llmux_generate_params;

llmux_generate_params llmux_generate_default_params(void);
// Generates from a prompt, from position 0 of the context. Returns the number
// of tokens generated, or -1 with the error set (a prompt that does not fit the
// context is an error, never silently cut).
int llmux_generate(llmux_context *ctx, const char *prompt, const llmux_generate_params *params, llmux_text_fn on_text,
                   void *user);

#ifdef __cplusplus
}
#endif
#endif
