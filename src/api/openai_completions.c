// api/openai_completions: POST /v1/completions. Prompts as a string, an
// array of strings, an array of token ids or an array of those; every prompt
// gets n choices (index = prompt * n + choice), as OpenAI numbers them.
#include <stdlib.h>
#include <string.h>

#include "api/openai.h"
#include "api/openai_gen.h"

static const char *const KEYS[] = {"model", "prompt", "max_tokens", "temperature", "top_p", "n", "stream",
                                   "stream_options", "stop", "presence_penalty", "frequency_penalty",
                                   "logit_bias", "logprobs", "echo", "seed", "user", "top_k", "min_p",
                                   "repeat_penalty", "ignore_eos", NULL};

typedef struct {
  bool echo;
  char **prompt_text;  // per prompt, for echo
  int n;
} completion_state;

static void free_texts(char **texts, int n) {
  for (int i = 0; texts && i < n; i++) free(texts[i]);
  free(texts);
}

// ---- choices --------------------------------------------------------------------------------------

// The logprobs object for tokens [t0, t1) of r; offset is the text offset of t0.
static json_t *logprobs_json(gen_job *j, const sched_req *r, int t0, int t1, size_t offset) {
  const llmux_model *m = j->sm->model;
  json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
  for (int k = t0; k < t1; k++) {
    const sched_tokinfo *ti = &r->toks[k];
    json_array_append_new(tokens, gen_token_text(m, ti->token));
    json_array_append_new(lps, json_real(ti->logprob));
    json_t *top = json_object();
    for (int a = 0; a < ti->n_top; a++) {
      json_t *s = gen_token_text(m, ti->top_token[a]);
      json_object_set_new(top, json_string_value(s), json_real(ti->top_logprob[a]));
      json_decref(s);
    }
    json_array_append_new(tops, top);
    json_array_append_new(offs, json_integer((json_int_t)offset));
    char piece[256];
    int n = llmux_token_to_piece(m, ti->token, piece, sizeof piece, false);
    offset += n > 0 ? (size_t)n : 0;
  }
  return json_pack("{s:o,s:o,s:o,s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                   "text_offset", offs);
}

static size_t echo_len(gen_job *j, int i) {
  completion_state *st = j->user;
  return st->echo ? strlen(st->prompt_text[i / j->o.n]) : 0;
}

static json_t *choice(gen_job *j, int i, const sched_req *r) {
  completion_state *st = j->user;
  const char *echo = st->echo ? st->prompt_text[i / j->o.n] : "";
  size_t elen = strlen(echo);
  char *text = malloc(elen + r->text_len + 1);
  if (!text) return json_null();
  memcpy(text, echo, elen);
  memcpy(text + elen, r->text, r->text_len + 1);
  json_t *c = json_pack("{s:i,s:s%,s:o,s:s}", "index", i, "text", text, elen + r->text_len, "logprobs",
                        j->o.logprobs >= 0 ? logprobs_json(j, r, 0, r->n_toks, elen) : json_null(),
                        "finish_reason", gen_finish_name(r->finish));
  free(text);
  return c;
}

static json_t *delta(gen_job *j, int i, const sched_req *r, const char *text, size_t len, int t0, int t1,
                     const char *finish) {
  completion_state *st = j->user;
  json_t *lp = j->o.logprobs >= 0 ? logprobs_json(j, r, t0, t1, echo_len(j, i)) : json_null();
  json_t *c = json_pack("{s:i,s:s%,s:o,s:o}", "index", i, "text", text, len, "logprobs", lp, "finish_reason",
                        finish ? json_string(finish) : json_null());
  if (st->echo && !j->sent_final[i] && j->sent_text[i] == 0 && j->sent_toks[i] == 0) {
    // The first chunk of a choice starts with the prompt.
    const char *p = st->prompt_text[i / j->o.n];
    size_t plen = strlen(p);
    char *both = malloc(plen + len + 1);
    if (both) {
      memcpy(both, p, plen);
      memcpy(both + plen, text, len);
      json_object_set_new(c, "text", json_stringn(both, plen + len));
      free(both);
    }
  }
  return c;
}

static const char *finish_reason(gen_job *j, int i, const sched_req *r) {
  (void)j;
  (void)i;
  return gen_finish_name(r->finish);
}

static void free_state(void *state) {
  completion_state *st = state;
  free_texts(st->prompt_text, st->n);
  free(st);
}

static const gen_format FORMAT = {"text_completion", "text_completion", choice, delta, NULL, finish_reason};

http_response *openai_completions(serve *srv, http_request *rq) {
  api_err e = {0};
  json_t *body;
  serve_model *sm;
  http_response *resp = openai_begin(srv, rq, &body, &sm);
  if (resp) return resp;
  if (!api_check_keys(body, KEYS, NULL, &e)) {
    resp = api_error_from(&e);
    serve_put_model(srv, sm);
    json_decref(body);
    return resp;
  }
  gen_opts o;
  llmux_token **toks = NULL;
  int *lens = NULL, n = -1;
  char **texts = NULL;
  completion_state st = {0};
  bool ok = gen_parse_opts(body, sm, false, &o, &e) && api_get_bool(body, "echo", &st.echo, &e);
  if (ok && st.echo && o.logprobs >= 0) {
    api_err_set(&e, 400, "echo", "'echo' together with 'logprobs' is not supported (no log-probabilities of prompt tokens)");
    ok = false;
  }
  if (ok) n = gen_parse_prompts(sm->model, json_object_get(body, "prompt"), "prompt", &toks, &lens, &texts, &e);
  if (!ok || n < 0) {
    gen_opts_free(&o);
    serve_put_model(srv, sm);
    json_decref(body);
    return api_error_from(&e);
  }
  st.prompt_text = texts;
  st.n = n;
  completion_state *keep = malloc(sizeof *keep);  // the stream outlives this call
  gen_job *j = keep ? gen_job_new(srv, sm, &o, &FORMAT, toks, lens, n, http_fd(rq)) : NULL;
  if (!j) {
    for (int i = 0; !keep && i < n; i++) free(toks[i]);
    if (!keep) free(toks), free(lens);
    free(keep);
    free_texts(texts, n);
    gen_opts_free(&o);
    serve_put_model(srv, sm);
    json_decref(body);
    return api_error(500, NULL, NULL, "out of memory");
  }
  *keep = st;
  j->user = keep;
  j->user_free = free_state;
  resp = gen_respond(j);
  json_decref(body);
  return resp;
}
