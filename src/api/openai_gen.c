// api/openai_gen: see openai_gen.h.
#include "api/openai_gen.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "api/serve_metrics.h"
#include "engine/json_schema.h"

#define WAIT_SLICE_S 0.1  // how often a waiting handler checks that its client is still there

// ---- request parameters ----------------------------------------------------------------------

static bool parse_stop(const json_t *body, gen_opts *o, api_err *e) {
  json_t *v = json_object_get(body, "stop");
  if (!v || json_is_null(v)) return true;
  if (json_is_string(v)) {
    if (json_string_length(v) > 0) o->stop[o->n_stop++] = json_string_value(v);
    return true;
  }
  if (!json_is_array(v) || json_array_size(v) > GEN_MAX_STOP) {
    api_err_set(e, 400, "stop", "'stop' must be a string or an array of at most %d strings", GEN_MAX_STOP);
    return false;
  }
  size_t i;
  json_t *s;
  json_array_foreach(v, i, s) {
    if (!json_is_string(s)) {
      api_err_set(e, 400, "stop", "'stop[%zu]' must be a string", i);
      return false;
    }
    if (json_string_length(s) > 0) o->stop[o->n_stop++] = json_string_value(s);
  }
  return true;
}

static bool parse_logit_bias(const json_t *body, const serve_model *sm, gen_opts *o, api_err *e) {
  json_t *v = json_object_get(body, "logit_bias");
  if (!v || json_is_null(v)) return true;
  if (!json_is_object(v) || json_object_size(v) > 1024) {
    api_err_set(e, 400, "logit_bias", "'logit_bias' must be an object of at most 1024 token ids to numbers");
    return false;
  }
  o->bias = calloc(json_object_size(v) + 1, sizeof *o->bias);
  if (!o->bias) return api_err_set(e, 500, NULL, "out of memory"), false;
  int n_vocab = llmux_model_n_vocab(sm->model), n = 0;
  const char *key;
  json_t *b;
  json_object_foreach(v, key, b) {
    char *end;
    long id = strtol(key, &end, 10);
    if (!*key || *end || id < 0 || id >= n_vocab) {
      api_err_set(e, 400, "logit_bias", "logit_bias key '%.40s' is not a token id of this model (0..%d)", key, n_vocab - 1);
      return false;
    }
    double x = json_number_value(b);
    if (!json_is_number(b) || x < -100 || x > 100) {
      api_err_set(e, 400, "logit_bias", "logit_bias for token %ld must be a number from -100 to 100", id);
      return false;
    }
    o->bias[n++] = (llmux_logit_bias){.token = (llmux_token)id, .bias = x <= -100 ? -INFINITY : (float)x};
  }
  o->sampling.logit_bias = o->bias;
  o->sampling.n_logit_bias = n;
  return true;
}

static bool parse_logprobs(const json_t *body, bool chat, gen_opts *o, api_err *e) {
  long long top = -1;
  if (!chat) {
    if (!api_get_int(body, "logprobs", 0, SCHED_MAX_TOP, &top, e)) return false;
    o->logprobs = (int)top;
    return true;
  }
  bool on = false;
  if (!api_get_bool(body, "logprobs", &on, e) || !api_get_int(body, "top_logprobs", 0, SCHED_MAX_TOP, &top, e))
    return false;
  if (top >= 0 && !on) {
    api_err_set(e, 400, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
    return false;
  }
  o->logprobs = on ? (int)(top > 0 ? top : 0) : -1;
  return true;
}

static bool parse_stream(const json_t *body, gen_opts *o, api_err *e) {
  if (!api_get_bool(body, "stream", &o->stream, e)) return false;
  json_t *so = json_object_get(body, "stream_options");
  if (!so || json_is_null(so)) return true;
  static const char *const keys[] = {"include_usage", "continuous_usage_stats", NULL};
  if (!json_is_object(so)) return api_err_set(e, 400, "stream_options", "'stream_options' must be an object"), false;
  if (!api_check_keys(so, keys, "stream_options", e) || !api_get_bool(so, "include_usage", &o->include_usage, e))
    return false;
  if (!o->stream) {
    api_err_set(e, 400, "stream_options", "'stream_options' is only allowed with 'stream': true");
    return false;
  }
  return true;
}

static bool parse_sampling(const json_t *body, gen_opts *o, api_err *e) {
  llmux_sampler_params *p = &o->sampling;
  double temp = 1, top_p = 1, min_p = 0, pres = 0, freq = 0, rep = 1;
  long long top_k = 0, seed = -1;
  if (!api_get_num(body, "temperature", 0, 2, &temp, e) || !api_get_num(body, "top_p", 0, 1, &top_p, e) ||
      !api_get_num(body, "min_p", 0, 1, &min_p, e) || !api_get_int(body, "top_k", -1, 1 << 20, &top_k, e) ||
      !api_get_num(body, "presence_penalty", -2, 2, &pres, e) ||
      !api_get_num(body, "frequency_penalty", -2, 2, &freq, e) ||
      !api_get_num(body, "repeat_penalty", 0, 10, &rep, e) ||
      !api_get_int(body, "seed", INT64_MIN, INT64_MAX, &seed, e))
    return false;
  p->temperature = (float)temp;
  p->top_p = (float)top_p;
  p->min_p = (float)min_p;
  p->top_k = top_k < 0 ? 0 : (int)top_k;
  p->presence_penalty = (float)pres;
  p->frequency_penalty = (float)freq;
  p->repeat_penalty = (float)rep;
  o->seed_set = json_object_get(body, "seed") && !json_is_null(json_object_get(body, "seed"));
  if (o->seed_set) p->seed = (uint64_t)seed;
  return true;
}

bool gen_parse_opts(const json_t *body, const serve_model *sm, bool chat, gen_opts *o, api_err *e) {
  memset(o, 0, sizeof *o);
  o->n = 1;
  o->max_tokens = chat ? 0 : 16;  // OpenAI's defaults: completions stop at 16 tokens, chat at the context
  o->sampling = llmux_sampler_default_params();
  o->sampling.repeat_last_n = 64;
  long long n = 1, max_tokens = o->max_tokens;
  const char *user = NULL;
  if (!api_get_int(body, "n", 1, GEN_MAX_N, &n, e) || !api_get_int(body, "max_tokens", 1, 1 << 24, &max_tokens, e) ||
      (chat && !api_get_int(body, "max_completion_tokens", 1, 1 << 24, &max_tokens, e)) ||
      !api_get_bool(body, "ignore_eos", &o->ignore_eos, e) || !api_get_str(body, "user", &user, e) ||
      !parse_stream(body, o, e) || !parse_stop(body, o, e) || !parse_sampling(body, o, e) ||
      !parse_logprobs(body, chat, o, e) || !parse_logit_bias(body, sm, o, e))
    return false;
  o->n = (int)n;
  o->max_tokens = (int)max_tokens;
  return true;
}

void gen_opts_free(gen_opts *o) {
  free(o->bias);
  o->bias = NULL;
  jsm_schema_free(o->schema);
  o->schema = NULL;
}

// ---- the job ------------------------------------------------------------------------------------------

gen_job *gen_job_new(serve *srv, serve_model *sm, gen_opts *o, const gen_format *fmt, llmux_token **prompts,
                     int *n_prompt, int n_prompts, int fd) {
  gen_job *j = calloc(1, sizeof *j);
  int nc = n_prompts * o->n;
  if (j) {
    j->reqs = calloc((size_t)nc, sizeof *j->reqs);
    j->sent_text = calloc((size_t)nc, sizeof *j->sent_text);
    j->sent_toks = calloc((size_t)nc, sizeof *j->sent_toks);
    j->sent_final = calloc((size_t)nc, sizeof *j->sent_final);
  }
  if (!j || !j->reqs || !j->sent_text || !j->sent_toks || !j->sent_final) {
    for (int i = 0; i < n_prompts; i++) free(prompts[i]);
    free(prompts);
    free(n_prompt);
    if (j) {
      j->prompts = NULL;
      gen_job_free(j);
    }
    return NULL;
  }
  j->srv = srv;
  j->sm = sm;
  j->o = *o;
  memset(o, 0, sizeof *o);  // the job owns the bias and the schema now
  j->fmt = fmt;
  j->prompts = prompts;
  j->n_prompt = n_prompt;
  j->n_prompts = n_prompts;
  j->n_choices = nc;
  j->fd = fd;
  j->created = api_unix_time();
  sched_waiter_init(&j->waiter);
  return j;
}

void gen_job_free(gen_job *j) {
  for (int i = 0; j->reqs && i < j->n_choices; i++) {
    sched_req *r = j->reqs[i];
    if (!r) continue;
    sched_cancel(r);
    pthread_mutex_lock(&r->mu);
    while (r->finish == SCHED_RUNNING) sched_req_wait(r, r->text_len, r->n_toks, 1.0);
    pthread_mutex_unlock(&r->mu);
    smetrics_request_done(j->srv, j->sm->id, r);
    sched_req_release(r);
  }
  if (j->reqs) sched_waiter_destroy(&j->waiter);
  for (int i = 0; j->prompts && i < j->n_prompts; i++) free(j->prompts[i]);
  free(j->prompts);
  free(j->n_prompt);
  free(j->reqs);
  free(j->sent_text);
  free(j->sent_toks);
  free(j->sent_final);
  free(j->out);
  gen_opts_free(&j->o);
  if (j->user_free) j->user_free(j->user);
  if (j->sm) serve_put_model(j->srv, j->sm);
  free(j);
}

static http_response *submit_error(sched_status st, const char *msg) {
  if (st == SCHED_E_FULL) {
    http_response *r = api_error(429, NULL, "queue_full", "%s", msg);
    http_response_header(r, "Retry-After", "1");
    return r;
  }
  if (st == SCHED_E_STOPPING) return api_error(503, NULL, NULL, "%s", msg);
  if (st == SCHED_E_INVALID) return api_error(400, "messages", "context_length_exceeded", "%s", msg);
  return api_error(500, NULL, NULL, "%s", msg);
}

static uint64_t random_seed(void) {
  uint64_t s;
  randombytes_buf(&s, sizeof s);
  return s == UINT64_MAX ? 0 : s;
}

// Submits every choice; NULL when all are queued, else the error response.
static http_response *submit_all(gen_job *j) {
  for (int i = 0; i < j->n_choices; i++) {
    int pi = i / j->o.n;
    sched_params p = {.prompt = j->prompts[pi], .n_prompt = j->n_prompt[pi], .max_tokens = j->o.max_tokens,
                      .sampling = j->o.sampling, .stop = j->o.stop, .n_stop = j->o.n_stop,
                      .top_logprobs = j->o.logprobs, .ignore_eos = j->o.ignore_eos, .schema = j->o.schema,
                      .special_text = j->o.special_text,
                      .waiter = &j->waiter};
    p.sampling.seed = j->o.seed_set ? j->o.sampling.seed + (uint64_t)(i % j->o.n) : random_seed();
    sched_status st;
    char err[300];
    j->reqs[i] = sched_submit(j->sm->sched, &p, &st, err, sizeof err);
    if (!j->reqs[i]) return submit_error(st, err);
  }
  return NULL;
}

static bool all_finished(gen_job *j) {
  for (int i = 0; i < j->n_choices; i++) {
    pthread_mutex_lock(&j->reqs[i]->mu);
    bool running = j->reqs[i]->finish == SCHED_RUNNING;
    pthread_mutex_unlock(&j->reqs[i]->mu);
    if (running) return false;
  }
  return true;
}

static void cancel_all(gen_job *j) {
  for (int i = 0; i < j->n_choices; i++)
    if (j->reqs[i]) sched_cancel(j->reqs[i]);
}

json_t *gen_usage(const gen_job *j) {
  long long prompt = 0, completion = 0, cached = 0;
  for (int i = 0; i < j->n_prompts; i++) prompt += j->n_prompt[i];
  for (int i = 0; i < j->n_choices; i++) {
    completion += j->reqs[i]->n_toks;
    cached += j->reqs[i]->n_cached;
  }
  return json_pack("{s:I,s:I,s:I,s:{s:I}}", "prompt_tokens", prompt, "completion_tokens", completion,
                   "total_tokens", prompt + completion, "prompt_tokens_details", "cached_tokens", cached);
}

const char *gen_finish_name(sched_finish f) { return f == SCHED_LENGTH ? "length" : "stop"; }

static json_t *envelope(gen_job *j, const char *object) {
  return json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", j->id, "object", object, "created", j->created, "model",
                   j->sm->id, "system_fingerprint", "llmux-" LLMUX_VERSION);
}

// ---- whole responses ---------------------------------------------------------------------------------

static http_response *respond_whole(gen_job *j) {
  uint64_t seq = 0;
  while (!all_finished(j)) {
    if (http_fd_gone(j->fd)) {
      cancel_all(j);
      return api_error(499, NULL, NULL, "the client closed the connection");
    }
    seq = sched_waiter_wait(&j->waiter, seq, WAIT_SLICE_S);
  }
  json_t *choices = json_array();
  for (int i = 0; i < j->n_choices; i++) {
    const sched_req *r = j->reqs[i];
    if (r->finish == SCHED_ERROR) {
      json_decref(choices);
      return api_error(500, NULL, NULL, "generation failed: %s", r->error);
    }
    json_array_append_new(choices, j->fmt->choice(j, i, r));
  }
  json_t *body = envelope(j, j->fmt->object);
  json_object_set_new(body, "choices", choices);
  json_object_set_new(body, "usage", gen_usage(j));
  return api_json(200, body);
}

// ---- streams -------------------------------------------------------------------------------------------

static void out_append(gen_job *j, const char *s, size_t n) {
  if (j->out_len + n > j->out_cap) {
    size_t cap = j->out_cap ? j->out_cap : 4096;
    while (cap < j->out_len + n) cap *= 2;
    char *b = realloc(j->out, cap);
    if (!b) return;  // the chunk is lost; the stream goes on
    j->out = b;
    j->out_cap = cap;
  }
  memcpy(j->out + j->out_len, s, n);
  j->out_len += n;
}

static void send_event(gen_job *j, json_t *data) {
  char *s = json_dumps(data, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(data);
  if (!s) return;
  out_append(j, "data: ", 6);
  out_append(j, s, strlen(s));
  out_append(j, "\n\n", 2);
  free(s);
}

static void send_chunk(gen_job *j, json_t *choice) {
  json_t *c = envelope(j, j->fmt->chunk_object);
  json_object_set_new(c, "choices", choice ? json_pack("[o]", choice) : json_array());
  send_event(j, c);
}

// New output of choice i, as at most one chunk. Called with r->mu held.
static void collect_choice(gen_job *j, int i, sched_req *r) {
  bool finished = r->finish != SCHED_RUNNING;
  if (r->finish == SCHED_ERROR) {
    send_event(j, json_pack("{s:{s:s,s:s,s:n,s:n}}", "error", "message", r->error, "type", "server_error", "param",
                            "code"));
    j->sent_final[i] = true;
    return;
  }
  size_t safe = finished || !j->fmt->streamable ? r->text_len : j->fmt->streamable(j, i, r->text, r->text_len);
  if (safe < j->sent_text[i]) safe = j->sent_text[i];
  bool new_text = safe > j->sent_text[i], new_toks = j->o.logprobs >= 0 && r->n_toks > j->sent_toks[i];
  if (!finished && !new_text && !new_toks) return;
  const char *finish = finished ? j->fmt->finish_reason(j, i, r) : NULL;
  json_t *d = j->fmt->delta(j, i, r, r->text + j->sent_text[i], safe - j->sent_text[i], j->sent_toks[i], r->n_toks,
                            finish);
  j->sent_text[i] = safe;
  j->sent_toks[i] = r->n_toks;
  j->sent_final[i] = finished;
  if (d) send_chunk(j, d);
}

// Turns whatever is new into SSE bytes; true when the stream is complete.
static bool collect(gen_job *j) {
  bool all = true;
  for (int i = 0; i < j->n_choices; i++) {
    if (j->sent_final[i]) continue;
    sched_req *r = j->reqs[i];
    pthread_mutex_lock(&r->mu);
    collect_choice(j, i, r);
    pthread_mutex_unlock(&r->mu);
    all = all && j->sent_final[i];
  }
  if (!all) return false;
  if (j->o.include_usage) {
    json_t *c = envelope(j, j->fmt->chunk_object);
    json_object_set_new(c, "choices", json_array());
    json_object_set_new(c, "usage", gen_usage(j));
    send_event(j, c);
  }
  out_append(j, "data: [DONE]\n\n", 14);
  return true;
}

static ssize_t stream_read(void *state, char *buf, size_t max) {
  gen_job *j = state;
  for (;;) {
    if (j->out_off < j->out_len) {
      size_t n = j->out_len - j->out_off < max ? j->out_len - j->out_off : max;
      memcpy(buf, j->out + j->out_off, n);
      j->out_off += n;
      return (ssize_t)n;
    }
    if (j->done) return 0;
    j->out_len = j->out_off = 0;
    uint64_t seq = sched_waiter_wait(&j->waiter, UINT64_MAX, 0);
    j->done = collect(j);
    if (j->out_len > 0 || j->done) continue;
    if (http_fd_gone(j->fd)) {
      cancel_all(j);
      return -1;
    }
    sched_waiter_wait(&j->waiter, seq, WAIT_SLICE_S);
  }
}

static void stream_done(void *state, bool completed) {
  (void)completed;
  gen_job_free(state);
}

http_response *gen_respond(gen_job *j) {
  api_random_id(j->fmt->chunk_object[0] == 'c' ? "chatcmpl-" : "cmpl-", j->id, sizeof j->id);
  http_response *err = submit_all(j);
  if (err) {
    gen_job_free(j);
    return err;
  }
  if (!j->o.stream) {
    http_response *r = respond_whole(j);
    gen_job_free(j);
    return r;
  }
  http_response *r = http_response_stream(200, "text/event-stream", stream_read, stream_done, j);
  http_response_header(r, "Cache-Control", "no-cache");
  http_response_header(r, "X-Accel-Buffering", "no");
  return r;
}

// ---- tokens as JSON ------------------------------------------------------------------------------------

json_t *gen_token_bytes(const llmux_model *m, llmux_token t) {
  char buf[256];
  int n = llmux_token_to_piece(m, t, buf, sizeof buf, true);
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)buf[i]));
  return a;
}

json_t *gen_token_text(const llmux_model *m, llmux_token t) {
  char buf[256], out[768];
  int n = llmux_token_to_piece(m, t, buf, sizeof buf, true);
  if (n < 0) n = 0;
  size_t o = 0;
  // Bytes that are not valid UTF-8 on their own (a piece of a character) become U+FFFD.
  for (int i = 0; i < n;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t len = utf8proc_iterate((const utf8proc_uint8_t *)buf + i, n - i, &cp);
    if (len > 0) {
      memcpy(out + o, buf + i, (size_t)len);
      o += (size_t)len;
      i += (int)len;
    } else {
      memcpy(out + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
    }
  }
  return json_stringn(out, o);
}

// ---- prompts and inputs ------------------------------------------------------------------------------

static llmux_token *tokenize_text(const llmux_model *m, const char *text, size_t len, bool parse_special, int *n,
                                  const char *field, api_err *e) {
  int need = llmux_tokenize(m, text, len, NULL, 0, true, parse_special);
  if (need == INT32_MIN) return api_err_set(e, 400, field, "cannot tokenize '%s': %s", field, llmux_last_error()), NULL;
  need = need < 0 ? -need : need;
  llmux_token *t = malloc((size_t)(need ? need : 1) * sizeof *t);
  if (!t) return api_err_set(e, 500, NULL, "out of memory"), NULL;
  *n = llmux_tokenize(m, text, len, t, need, true, parse_special);
  return t;
}

static llmux_token *ids_of(const llmux_model *m, const json_t *a, int *n, const char *field, api_err *e) {
  size_t len = json_array_size(a);
  llmux_token *t = malloc((len ? len : 1) * sizeof *t);
  if (!t) return api_err_set(e, 500, NULL, "out of memory"), NULL;
  for (size_t i = 0; i < len; i++) {
    json_t *v = json_array_get(a, i);
    long long id = json_integer_value(v);
    if (!json_is_integer(v) || id < 0 || id >= llmux_model_n_vocab(m)) {
      free(t);
      api_err_set(e, 400, field, "%s token %zu is not a token id of this model (0..%d)", field, i,
                  llmux_model_n_vocab(m) - 1);
      return NULL;
    }
    t[i] = (llmux_token)id;
  }
  *n = (int)len;
  return t;
}

static bool is_token_array(const json_t *a) {
  return json_is_array(a) && json_array_size(a) > 0 && json_is_integer(json_array_get(a, 0));
}

static char *text_of(const llmux_model *m, const llmux_token *t, int n) {
  int need = llmux_detokenize(m, t, n, NULL, 0, false);
  size_t size = (size_t)(need < 0 ? -need : need) + 1;
  char *text = malloc(size);
  if (text && llmux_detokenize(m, t, n, text, (int)size, false) < 0) text[0] = 0;
  return text;
}

// One prompt: a string or an array of token ids.
static llmux_token *one_prompt(const llmux_model *m, const json_t *p, int *n, char **text, const char *field,
                               api_err *e) {
  if (json_is_string(p)) {
    if (json_string_length(p) == 0) return api_err_set(e, 400, field, "'%s' must not be empty", field), NULL;
    if (text) *text = strdup(json_string_value(p));
    return tokenize_text(m, json_string_value(p), json_string_length(p), !text, n, field, e);
  }
  if (is_token_array(p)) {
    llmux_token *t = ids_of(m, p, n, field, e);
    if (t && text) *text = text_of(m, t, *n);
    return t;
  }
  api_err_set(e, 400, field, "'%s' must be a string, an array of strings, an array of token ids, or an array of those",
              field);
  return NULL;
}

int gen_parse_prompts(const llmux_model *m, const json_t *v, const char *field, llmux_token ***toks, int **lens,
                      char ***texts, api_err *e) {
  if (!v || json_is_null(v)) return api_err_set(e, 400, field, "'%s' is required", field), -1;
  bool many = json_is_array(v) && !is_token_array(v);
  int n = many ? (int)json_array_size(v) : 1;
  if (n < 1 || n > GEN_MAX_INPUTS) return api_err_set(e, 400, field, "'%s' must hold 1 to %d inputs", field, GEN_MAX_INPUTS), -1;
  *toks = calloc((size_t)n, sizeof **toks);
  *lens = calloc((size_t)n, sizeof **lens);
  if (texts) *texts = calloc((size_t)n, sizeof **texts);
  bool ok = *toks && *lens && (!texts || *texts);
  if (!ok) api_err_set(e, 500, NULL, "out of memory");
  for (int i = 0; ok && i < n; i++)
    ok = ((*toks)[i] = one_prompt(m, many ? json_array_get(v, (size_t)i) : v, &(*lens)[i], texts ? &(*texts)[i] : NULL,
                                  field, e)) != NULL;
  if (ok) return n;
  for (int i = 0; *toks && i < n; i++) free((*toks)[i]);
  for (int i = 0; texts && *texts && i < n; i++) free((*texts)[i]);
  free(*toks);
  free(*lens);
  if (texts) free(*texts);
  *toks = NULL;
  *lens = NULL;
  return -1;
}
