// sched: continuous batching on stories260K. Every reference case runs 16
// times at once (staggered, so requests join a running batch) and each gives
// the reference's greedy tokens; prefix reuse, cancellation, limits, stop
// strings and logprobs.
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/json_schema.h"
#include "engine/sched.h"
#include "testutil.h"

typedef struct {
  llmux_token prompt[16];
  int n_prompt;
  llmux_token expect[256];
  int n_expect;
} ref_case;

static int load_cases(ref_case *out, int max) {
  json_error_t jerr;
  json_t *root = json_load_file(tu_shared("reference/stories260K.expected.json"), 0, &jerr);
  CHECK_MSG(root != NULL, "%s", jerr.text);
  if (!root) return 0;
  json_t *cases = json_object_get(root, "cases");
  int n = 0;
  for (size_t i = 0; i < json_array_size(cases) && n < max; i++, n++) {
    json_t *cs = json_array_get(cases, i), *p = json_object_get(cs, "prompt_ids"),
           *e = json_object_get(cs, "expected_generated_ids");
    out[n].n_prompt = (int)json_array_size(p);
    out[n].n_expect = (int)json_array_size(e);
    for (int k = 0; k < out[n].n_prompt; k++) out[n].prompt[k] = (llmux_token)json_integer_value(json_array_get(p, (size_t)k));
    for (int k = 0; k < out[n].n_expect; k++) out[n].expect[k] = (llmux_token)json_integer_value(json_array_get(e, (size_t)k));
  }
  json_decref(root);
  return n;
}

static sched_params greedy(const llmux_token *prompt, int n, int max_tokens) {
  sched_params p = {.prompt = (llmux_token *)prompt, .n_prompt = n, .max_tokens = max_tokens, .top_logprobs = -1};
  p.sampling = llmux_sampler_default_params();
  p.sampling.temperature = 0;
  p.ignore_eos = true;
  return p;
}

static sched_req *submit(sched *s, const sched_params *p) {
  sched_status st;
  char err[256];
  sched_req *r = sched_submit(s, p, &st, err, sizeof err);
  CHECK_MSG(r != NULL, "submit: %s", err);
  return r;
}

static void wait_done(sched_req *r) {
  pthread_mutex_lock(&r->mu);
  while (r->finish == SCHED_RUNNING) sched_req_wait(r, r->text_len, r->n_toks, 1.0);
  pthread_mutex_unlock(&r->mu);
}

static void test_concurrent_greedy(llmux_model *m) {
  ref_case cases[3];
  int nc = load_cases(cases, 3);
  sched_config cfg = sched_default_config();
  cfg.n_slot = 8;  // fewer slots than requests: the rest queue and join later
  cfg.n_ctx = 256;
  cfg.n_threads = 2;
  cfg.prefill_chunk = 3;  // prompts are prefilled in several chunks beside decoding slots
  sched *s = sched_new(m, &cfg);
  CHECK(s != NULL);
  if (!s || nc == 0) return;
  sched_req *reqs[16];
  for (int i = 0; i < 16; i++) {
    const ref_case *c = &cases[i % nc];
    sched_params p = greedy(c->prompt, c->n_prompt, c->n_expect);
    reqs[i] = submit(s, &p);
    if (i % 4 == 3) usleep(2000);
  }
  for (int i = 0; i < 16; i++) {
    if (!reqs[i]) continue;
    wait_done(reqs[i]);
    const ref_case *c = &cases[i % nc];
    CHECK_MSG(reqs[i]->finish == SCHED_LENGTH, "request %d finished with %d", i, reqs[i]->finish);
    CHECK_MSG(reqs[i]->n_toks == c->n_expect, "request %d: %d tokens, expected %d", i, reqs[i]->n_toks, c->n_expect);
    int bad = -1;
    for (int k = 0; k < reqs[i]->n_toks && k < c->n_expect; k++)
      if (reqs[i]->toks[k].token != c->expect[k] && bad < 0) bad = k;
    CHECK_MSG(bad < 0, "request %d (case %d): first wrong token at %d", i, i % nc, bad);
    sched_req_release(reqs[i]);
  }
  const sched_stats *st = sched_get_stats(s);
  CHECK(atomic_load(&st->busy_slots) == 0);
  CHECK(atomic_load(&st->requests_done) == 16);
  sched_free(s, 1.0);
}

// The same prompt again reuses all but its last token; a longer prompt with
// the same start reuses the common part.
static void test_prefix_cache(llmux_model *m) {
  sched_config cfg = sched_default_config();
  cfg.n_slot = 2;
  cfg.n_ctx = 128;
  sched *s = sched_new(m, &cfg);
  llmux_token prompt[40];
  int n = llmux_tokenize(m, "Once upon a time there was a little dog who liked to run", 57, prompt, 40, true, false);
  CHECK(n > 5);
  sched_params p = greedy(prompt, n, 8);
  sched_req *a = submit(s, &p);
  wait_done(a);
  CHECK(a->n_cached == 0);
  sched_req *b = submit(s, &p);
  wait_done(b);
  CHECK_MSG(b->n_cached == n - 1, "cached %d of %d", b->n_cached, n);
  CHECK(b->n_toks == a->n_toks);
  for (int k = 0; k < a->n_toks && k < b->n_toks; k++) CHECK(a->toks[k].token == b->toks[k].token);
  CHECK(strcmp(a->text, b->text) == 0);
  const sched_stats *st = sched_get_stats(s);
  CHECK(atomic_load(&st->cached_prompt_tokens) == n - 1);
  sched_req_release(a);
  sched_req_release(b);
  sched_free(s, 1.0);
}

// Requests with the same prompt start at once (the n choices of one API
// call): the later ones wait for the first one's prefill and copy its cache
// instead of computing it again, and all give the same greedy text.
static void test_shared_prefill(llmux_model *m) {
  sched_config cfg = sched_default_config();
  cfg.n_slot = 4;
  cfg.n_ctx = 200;
  cfg.prefill_chunk = 8;
  cfg.n_batch = 8;
  sched *s = sched_new(m, &cfg);
  llmux_token prompt[128];
  const char *text = "Once upon a time there was a little dog who liked to run in the park with his friends. "
                     "One day the dog saw a big red ball and wanted to play with it all day long.";
  int n = llmux_tokenize(m, text, strlen(text), prompt, 128, true, false);
  CHECK_MSG(n > 40, "%d tokens", n);
  sched_params p = greedy(prompt, n, 12);
  sched_req *r[3];
  for (int i = 0; i < 3; i++) r[i] = submit(s, &p);
  for (int i = 0; i < 3; i++) wait_done(r[i]);
  CHECK(r[0]->n_cached == 0);
  for (int i = 1; i < 3; i++) {
    CHECK_MSG(r[i]->n_cached >= n - 1 - 8, "request %d reused %d of %d prompt tokens", i, r[i]->n_cached, n);
    CHECK(r[i]->n_toks == 12 && strcmp(r[i]->text, r[0]->text) == 0);
  }
  for (int i = 0; i < 3; i++) sched_req_release(r[i]);
  sched_free(s, 1.0);
}

static void test_cancel_and_limits(llmux_model *m) {
  sched_config cfg = sched_default_config();
  cfg.n_slot = 1;
  cfg.n_ctx = 64;
  cfg.max_queue = 1;
  sched *s = sched_new(m, &cfg);
  llmux_token bos = llmux_token_bos(m);
  sched_params p = greedy(&bos, 1, 0);  // until the context is full
  sched_req *a = submit(s, &p);
  pthread_mutex_lock(&a->mu);
  while (a->n_toks < 3 && a->finish == SCHED_RUNNING) sched_req_wait(a, a->text_len, a->n_toks, 1.0);
  pthread_mutex_unlock(&a->mu);
  sched_req *b = submit(s, &p);  // waits: the only slot is busy
  sched_status st;
  char err[256];
  CHECK(sched_submit(s, &p, &st, err, sizeof err) == NULL && st == SCHED_E_FULL);
  sched_cancel(a);
  wait_done(a);
  CHECK(a->finish == SCHED_CANCELLED);
  wait_done(b);  // b gets the slot and runs to the end of the context
  CHECK_MSG(b->finish == SCHED_LENGTH && b->n_toks == 64, "finish %d, %d tokens", b->finish, b->n_toks);
  llmux_token big[64];
  for (int i = 0; i < 64; i++) big[i] = bos;
  sched_params q = greedy(big, 64, 4);
  CHECK(sched_submit(s, &q, &st, err, sizeof err) == NULL && st == SCHED_E_INVALID && strstr(err, "does not fit"));
  q.n_prompt = 0;
  CHECK(sched_submit(s, &q, &st, err, sizeof err) == NULL && st == SCHED_E_INVALID);
  q.n_prompt = 40;
  q.max_tokens = 30;
  CHECK(sched_submit(s, &q, &st, err, sizeof err) == NULL && st == SCHED_E_INVALID && strstr(err, "max_tokens"));
  sched_req_release(a);
  sched_req_release(b);
  sched_free(s, 1.0);
}

static void test_stop_and_logprobs(llmux_model *m) {
  sched *s = sched_new(m, NULL);
  llmux_token prompt[16];
  int n = llmux_tokenize(m, "Once upon a time", 16, prompt, 16, true, false);
  sched_params p = greedy(prompt, n, 40);
  p.top_logprobs = 3;
  sched_req *a = submit(s, &p);
  wait_done(a);
  CHECK(a->n_toks == 40 && strlen(a->text) > 20);
  for (int k = 0; k < a->n_toks; k++) {
    const sched_tokinfo *t = &a->toks[k];
    CHECK(t->n_top == 3 && t->top_token[0] == t->token && fabsf(t->top_logprob[0] - t->logprob) < 1e-6f);
    CHECK(t->logprob <= 0 && t->top_logprob[1] <= t->top_logprob[0] && t->top_logprob[2] <= t->top_logprob[1]);
    CHECK(expf(t->top_logprob[0]) + expf(t->top_logprob[1]) + expf(t->top_logprob[2]) <= 1.0001f);
  }
  // Stop at a word from the middle of that text: the output is the text before it.
  const char *cut = strstr(a->text + 10, " ");
  char stop[8] = {0};
  memcpy(stop, cut, 4);
  cut = strstr(a->text, stop);  // its first occurrence
  const char *stops[] = {stop};
  p.stop = stops;
  p.n_stop = 1;
  p.top_logprobs = -1;
  sched_req *b = submit(s, &p);
  wait_done(b);
  CHECK(b->finish == SCHED_STOP);
  CHECK_MSG(strncmp(b->text, a->text, (size_t)(cut - a->text)) == 0 && b->text_len == (size_t)(cut - a->text),
            "stop '%s': got '%s'", stop, b->text);
  sched_req_release(a);
  sched_req_release(b);
  sched_free(s, 1.0);
}

// Embedding requests share the slots with generation and give what
// llmux_embed gives on a context of its own.
static void test_embed_requests(llmux_model *m) {
  sched_config cfg = sched_default_config();
  cfg.n_slot = 2;
  cfg.n_ctx = 128;
  sched *s = sched_new(m, &cfg);
  llmux_token toks[32];
  int n = llmux_tokenize(m, "Lily saw a big red ball", 23, toks, 32, true, false);
  sched_params g = greedy(toks, n, 30);
  sched_req *gen = submit(s, &g);
  sched_params p = {.prompt = toks, .n_prompt = n, .top_logprobs = -1, .embed = true};
  sched_req *a = submit(s, &p);
  wait_done(a);
  wait_done(gen);
  CHECK(a->finish == SCHED_STOP && a->embd != NULL);
  llmux_context_params cp = llmux_context_default_params();
  cp.n_ctx = 128;
  llmux_context *c = llmux_context_new(m, &cp);
  int d = llmux_model_n_embd(m);
  float *ref = malloc((size_t)d * sizeof *ref);
  CHECK(llmux_embed(c, toks, n, ref, true) == 0);
  float worst = 0;
  for (int i = 0; a->embd && i < d; i++) worst = fmaxf(worst, fabsf(a->embd[i] - ref[i]));
  CHECK_MSG(worst < 1e-4f, "embedding differs from llmux_embed by %g", worst);
  CHECK(gen->finish == SCHED_LENGTH && gen->n_toks == 30);
  free(ref);
  llmux_context_free(c);
  sched_req_release(a);
  sched_req_release(gen);
  sched_free(s, 1.0);
}

// Output constrained to a JSON schema is a document of that schema, and the
// request ends as soon as the document is complete.
static void test_schema_requests(llmux_model *m) {
  sched *s = sched_new(m, NULL);
  json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"},"
                              "\"n\":{\"enum\":[1,2,3]}},\"required\":[\"ok\",\"n\"]}", 0, NULL);
  char err[256];
  jsm_schema *js = jsm_compile(schema, err, sizeof err);
  CHECK_MSG(js != NULL, "%s", err);
  llmux_token toks[16];
  int n = llmux_tokenize(m, "Once upon a time", 16, toks, 16, true, false);
  for (uint64_t seed = 1; js && seed <= 4; seed++) {
    sched_params p = greedy(toks, n, 150);
    p.sampling.temperature = 1;
    p.sampling.seed = seed;
    p.ignore_eos = false;
    p.schema = js;
    sched_req *r = submit(s, &p);
    wait_done(r);
    json_t *v = json_loads(r->text, 0, NULL);
    CHECK_MSG(r->finish == SCHED_STOP && json_is_object(v) && json_is_boolean(json_object_get(v, "ok")) &&
                  json_integer_value(json_object_get(v, "n")) >= 1 && json_integer_value(json_object_get(v, "n")) <= 3,
              "seed %d: finish %d, '%s'", (int)seed, r->finish, r->text);
    json_decref(v);
    sched_req_release(r);
  }
  jsm_schema_free(js);
  json_decref(schema);
  sched_free(s, 1.0);
}

int main(void) {
  llmux_model *m = llmux_model_load(tu_shared("models/stories260K.gguf"), NULL);
  CHECK_MSG(m != NULL, "%s", llmux_last_error());
  if (!m) return tu_finish();
  test_concurrent_greedy(m);
  test_prefix_cache(m);
  test_shared_prefill(m);
  test_cancel_and_limits(m);
  test_stop_and_logprobs(m);
  test_embed_requests(m);
  test_schema_requests(m);
  llmux_model_free(m);
  return tu_finish();
}
