// api/openai_gen: what /v1/completions and /v1/chat/completions share: the
// sampling parameters of a request, submitting its choices to the model's
// scheduler, waiting for them (noticing a client that leaves), and streaming
// them as server-sent events. The two endpoints differ only in the JSON of
// a choice and of a chunk, which they supply as hooks.
#ifndef LLMUX_API_OPENAI_GEN_H
#define LLMUX_API_OPENAI_GEN_H
#include <jansson.h>

#include "api/api_util.h"
#include "api/serve.h"
#include "engine/sched.h"

#define GEN_MAX_STOP 16
#define GEN_MAX_N 16
#define GEN_MAX_INPUTS 2048

typedef struct {
  int n;           // choices per prompt
  int max_tokens;  // 0: until the context is full
  bool stream, include_usage;
  llmux_sampler_params sampling;
  llmux_logit_bias *bias;
  const char *stop[GEN_MAX_STOP];  // point into the request body: used only while submitting
  int n_stop;
  int logprobs;  // -1: off; else alternatives per token
  bool seed_set;
  bool ignore_eos;
  bool special_text;          // control tokens show in the text (tool-call markers)
  struct jsm_schema *schema;  // owned; constrains every choice
} gen_opts;

// Reads the sampling fields common to both endpoints (chat selects the
// chat-style names where they differ). Returns false with e set.
bool gen_parse_opts(const json_t *body, const serve_model *sm, bool chat, gen_opts *o, api_err *e);
void gen_opts_free(gen_opts *o);

typedef struct gen_job gen_job;

typedef struct {
  const char *object;        // "text_completion" / "chat.completion"
  const char *chunk_object;  // "text_completion" / "chat.completion.chunk"
  // The choice of a finished request, for the whole response.
  json_t *(*choice)(gen_job *j, int i, const sched_req *r);
  // A stream chunk's choice for new text [text, text+len) and tokens
  // [tok0, tok1) of choice i; finish non-NULL on the last one.
  json_t *(*delta)(gen_job *j, int i, const sched_req *r, const char *text, size_t len, int tok0, int tok1,
                   const char *finish);
  // Bytes of the text so far that may be streamed now (tool calls are held
  // back); NULL: all of them.
  size_t (*streamable)(gen_job *j, int i, const char *text, size_t len);
  // The finish of choice i as the endpoint names it ("stop", "length", "tool_calls").
  const char *(*finish_reason)(gen_job *j, int i, const sched_req *r);
} gen_format;

struct gen_job {
  serve *srv;
  serve_model *sm;
  gen_opts o;
  const gen_format *fmt;
  void *user;  // the endpoint's own state, freed with user_free
  void (*user_free)(void *user);
  char id[64];
  long long created;
  int n_prompts;
  llmux_token **prompts;  // owned
  int *n_prompt;
  int n_choices;  // n_prompts * o.n
  sched_req **reqs;
  sched_waiter waiter;
  int fd;  // the client's socket
  // streaming
  size_t *sent_text;
  int *sent_toks;
  bool *sent_final;
  char *out;
  size_t out_len, out_off, out_cap;
  bool first_sent, done;
};

// A job over the given prompts (owned from here on) that also takes over the
// reference to sm; NULL on out of memory (the prompts are freed, sm is not).
gen_job *gen_job_new(serve *srv, serve_model *sm, gen_opts *o, const gen_format *fmt, llmux_token **prompts,
                     int *n_prompt, int n_prompts, int fd);
void gen_job_free(gen_job *j);
// Runs the job and returns the response: the whole body, or a stream.
http_response *gen_respond(gen_job *j);

// Prompts or inputs as OpenAI takes them: a string, an array of strings, an
// array of token ids, or an array of those. Strings get the model's BOS (and
// special-token text is parsed when texts is given, i.e. for prompts). With
// texts, also each prompt's text. Returns how many, or -1 with e set (and
// nothing to free).
int gen_parse_prompts(const llmux_model *m, const json_t *v, const char *field, llmux_token ***toks, int **lens,
                      char ***texts, api_err *e);

// A token's text as JSON (invalid UTF-8 replaced) and its raw bytes.
json_t *gen_token_text(const llmux_model *m, llmux_token t);
json_t *gen_token_bytes(const llmux_model *m, llmux_token t);
json_t *gen_usage(const gen_job *j);
const char *gen_finish_name(sched_finish f);

#endif
