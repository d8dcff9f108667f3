// sched: continuous batching for one model. One scheduler thread owns a
// context of n_slot sequences (the KV cache) and runs it step by step; HTTP
// threads submit requests and read their output as it grows.
//
// Each step admits queued requests into free slots (a slot whose cached tokens
// share the longest prefix with the prompt is picked, and that prefix is not
// computed again), then runs one batch holding the next token of every
// decoding slot plus a bounded chunk of prompt tokens, so a long prompt is
// prefilled over several steps while the other streams keep going. Tokens are
// sampled per slot and appended to their request.
//
// A request is reference counted: the submitter holds one reference, the
// scheduler another while the request is queued or running. Its output fields
// are guarded by its lock; the submitter waits on it with sched_req_wait.
// Never touches the context from any thread but the scheduler's.
#ifndef LLMUX_SCHED_H
#define LLMUX_SCHED_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llmux.h"

#define SCHED_MAX_TOP 20  // most alternatives per token in logprobs (OpenAI's limit)

typedef struct sched sched;
struct jsm_schema;

// Wakes one consumer that follows several requests (the n choices of one
// API call): each request given the waiter bumps seq on every change.
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t seq;
} sched_waiter;

void sched_waiter_init(sched_waiter *w);
void sched_waiter_destroy(sched_waiter *w);
// Waits until seq differs from seen, at most timeout_s; returns the current seq.
uint64_t sched_waiter_wait(sched_waiter *w, uint64_t seen, double timeout_s);

typedef struct {
  llmux_token *prompt;  // copied at submit
  int n_prompt;
  int max_tokens;  // 0: until the slot's context is full
  llmux_sampler_params sampling;  // logit_bias is copied at submit
  const char *const *stop;        // copied at submit
  int n_stop;
  int top_logprobs;  // -1: no logprobs; else alternatives per token (0..SCHED_MAX_TOP)
  bool ignore_eos;
  const struct jsm_schema *schema;  // constrain the output to this JSON schema; kept alive by the caller
  sched_waiter *waiter;             // optional; must outlive the request's run
  bool special_text;  // control tokens appear in the text (tool-call markers)
  bool embed;  // an embedding request: the pooled, normalized vector instead of text
} sched_params;

typedef enum {
  SCHED_RUNNING = 0,
  SCHED_STOP,       // end of generation token, stop string or a complete JSON document
  SCHED_LENGTH,     // max_tokens or the slot's context reached
  SCHED_CANCELLED,  // the submitter cancelled (client gone)
  SCHED_ERROR,
} sched_finish;

typedef struct {
  llmux_token token;
  double t;  // when it was sampled (sched_now)
  float logprob;
  int n_top;
  llmux_token top_token[SCHED_MAX_TOP];
  float top_logprob[SCHED_MAX_TOP];
} sched_tokinfo;

typedef struct sched_req {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  _Atomic int refs;
  _Atomic bool cancelled;
  sched_params p;  // owned copies
  struct sched_req *next;  // queue link (scheduler's)
  int slot;                // slot index while running, else -1
  // Output, guarded by mu, only ever appended to:
  char *text;  // generated text (after stop strings), NUL-terminated
  size_t text_len, text_cap;
  sched_tokinfo *toks;  // one per generated token (with logprobs when asked)
  int n_toks, toks_cap;
  int n_cached;  // prompt tokens found in the prefix cache
  float *embd;   // (n_embd) the embedding, when p.embed and finished with SCHED_STOP
  sched_finish finish;
  char error[256];
  double t_submit, t_first;  // seconds (monotonic): submitted, first token
} sched_req;

typedef struct {
  int n_slot;        // parallel sequences
  int n_ctx;         // tokens of context per slot
  int n_batch;       // most tokens per step
  int n_threads;     // 0: one per core
  int max_queue;     // most requests waiting for a slot; more are refused
  int prefill_chunk; // most prompt tokens per step while other slots decode
} sched_config;

// Counters the metrics endpoint reads (relaxed atomics).
typedef struct {
  _Atomic long queued, busy_slots, kv_cells_used;
  _Atomic long prompt_tokens, cached_prompt_tokens, generated_tokens, steps, requests_done;
} sched_stats;

sched_config sched_default_config(void);
// Creates the context and starts the scheduler thread. NULL with the error set.
sched *sched_new(llmux_model *m, const sched_config *cfg);
// Stops after the running and queued requests finish, or after deadline_s
// seconds, when the rest are cancelled. Frees everything.
void sched_free(sched *s, double deadline_s);
// Refuses new requests from now on and cancels the rest after deadline_s; returns at once.
void sched_shutdown(sched *s, double deadline_s);
const sched_config *sched_get_config(const sched *s);
const sched_stats *sched_get_stats(const sched *s);
llmux_model *sched_model(const sched *s);

typedef enum { SCHED_OK = 0, SCHED_E_INVALID, SCHED_E_FULL, SCHED_E_STOPPING, SCHED_E_NOMEM } sched_status;
// Queues a request. On failure returns NULL with *status and err set
// (SCHED_E_INVALID: the prompt does not fit a slot (an embedding's input may
// fill it); SCHED_E_FULL: the queue
// is full, try later). The caller owns one reference.
sched_req *sched_submit(sched *s, const sched_params *p, sched_status *status, char *err, size_t err_size);
// Asks the scheduler to drop the request at its next step.
void sched_cancel(sched_req *r);
void sched_req_release(sched_req *r);
// Waits (at most timeout_s) until the request has more than text_len bytes or
// n_toks tokens of output, or has finished. Call with r->mu held.
void sched_req_wait(sched_req *r, size_t text_len, int n_toks, double timeout_s);

double sched_now(void);

#endif
