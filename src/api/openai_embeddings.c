// api/openai_embeddings: POST /v1/embeddings. Each input runs as an
// embedding request in the model's scheduler (so embeddings share the slots
// with generation), at most one per slot at a time; vectors are pooled as the
// model's metadata says and normalized, as float arrays or base64.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/openai.h"
#include "api/openai_gen.h"
#include "api/serve_metrics.h"

static const char *const KEYS[] = {"model", "input", "encoding_format", "dimensions", "user", NULL};

static json_t *vector_json(const float *v, int n, bool base64) {
  if (!base64) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
  }
  // Little-endian float32 bytes, as OpenAI's base64 encoding is.
  size_t bytes = (size_t)n * sizeof(float), len = sodium_base64_ENCODED_LEN(bytes, sodium_base64_VARIANT_ORIGINAL);
  char *s = malloc(len);
  if (!s) return json_null();
  sodium_bin2base64(s, len, (const unsigned char *)v, bytes, sodium_base64_VARIANT_ORIGINAL);
  json_t *j = json_string(s);
  free(s);
  return j;
}

static http_response *wait_one(sched_req *r, int fd) {
  pthread_mutex_lock(&r->mu);
  while (r->finish == SCHED_RUNNING) {
    sched_req_wait(r, r->text_len, r->n_toks, 0.1);
    if (r->finish == SCHED_RUNNING && http_fd_gone(fd)) sched_cancel(r);
  }
  pthread_mutex_unlock(&r->mu);
  if (r->finish == SCHED_STOP) return NULL;
  if (r->finish == SCHED_CANCELLED) return api_error(499, NULL, NULL, "the client closed the connection");
  return api_error(400, "input", NULL, "cannot embed this input: %s", r->error);
}

// Runs every input, a window of n_slot at a time; fills data or returns an error.
static http_response *embed_all(serve *srv, serve_model *sm, llmux_token **toks, int *lens, int n, bool base64,
                                int fd, json_t *data) {
  int window = sched_get_config(sm->sched)->n_slot;
  sched_req **reqs = calloc((size_t)(n > 0 ? n : 1), sizeof *reqs);
  http_response *err = reqs ? NULL : api_error(500, NULL, NULL, "out of memory");
  for (int start = 0; !err && start < n; start += window) {
    int end = start + window < n ? start + window : n;
    for (int i = start; !err && i < end; i++) {
      sched_params p = {.prompt = toks[i], .n_prompt = lens[i], .top_logprobs = -1, .embed = true};
      sched_status st;
      char msg[300];
      reqs[i] = sched_submit(sm->sched, &p, &st, msg, sizeof msg);
      if (!reqs[i]) err = st == SCHED_E_FULL ? api_error(429, NULL, "queue_full", "%s", msg)
                          : api_error(st == SCHED_E_INVALID ? 400 : 503, "input", NULL, "input %d: %s", i, msg);
    }
    for (int i = start; i < end && reqs[i]; i++) {
      http_response *e = wait_one(reqs[i], fd);
      if (e && !err) err = e;
      else if (e) http_response_free(e);
      if (!e && !err)
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", i, "embedding",
                                              vector_json(reqs[i]->embd, llmux_model_n_embd(sm->model), base64)));
    }
  }
  for (int i = 0; reqs && i < n; i++) {
    if (!reqs[i]) continue;
    smetrics_request_done(srv, sm->id, reqs[i]);
    sched_req_release(reqs[i]);
  }
  free(reqs);
  return err;
}

http_response *openai_embeddings(serve *srv, http_request *rq) {
  api_err e = {0};
  json_t *body;
  serve_model *sm;
  http_response *resp = openai_begin(srv, rq, &body, &sm);
  if (resp) return resp;
  const char *format = "float";
  long long dims = llmux_model_n_embd(sm->model);
  llmux_token **toks = NULL;
  int *lens = NULL, n = -1;
  if (api_check_keys(body, KEYS, NULL, &e) && api_get_str(body, "encoding_format", &format, &e) &&
      api_get_int(body, "dimensions", dims, dims, &dims, &e)) {
    if (strcmp(format, "float") && strcmp(format, "base64")) api_err_set(&e, 400, "encoding_format", "'encoding_format' must be float or base64");
    else n = gen_parse_prompts(sm->model, json_object_get(body, "input"), "input", &toks, &lens, NULL, &e);
  }
  if (n < 0) resp = api_error_from(&e);
  json_t *data = json_array();
  if (!resp) resp = embed_all(srv, sm, toks, lens, n, !strcmp(format, "base64"), http_fd(rq), data);
  if (!resp) {
    long long total = 0;
    for (int i = 0; i < n; i++) total += lens[i];
    resp = api_json(200, json_pack("{s:s,s:O,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model", sm->id,
                                   "usage", "prompt_tokens", total, "total_tokens", total));
  }
  json_decref(data);
  for (int i = 0; i < n; i++) free(toks[i]);
  free(toks);
  free(lens);
  serve_put_model(srv, sm);
  json_decref(body);
  return resp;
}
