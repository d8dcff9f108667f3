// api/openai_misc: the small routes: /v1/models, /health, /tokenize,
// /detokenize, the admin model routes, and picking a request's model.
#include <stdlib.h>
#include <string.h>

#include "api/api_util.h"
#include "api/openai.h"
#include "api/openai_gen.h"

http_response *openai_pick_model(serve *s, const json_t *body, serve_model **sm) {
  *sm = NULL;
  json_t *m = json_object_get(body, "model");
  if (m && !json_is_null(m) && !json_is_string(m)) return api_error(400, "model", NULL, "'model' must be a string");
  const char *id = json_string_value(m);
  if (!serve_ready(s)) {
    http_response *r = api_error(503, NULL, "model_loading", "the server is still loading its models");
    http_response_header(r, "Retry-After", "2");
    return r;
  }
  *sm = serve_get_model(s, id);
  if (*sm) return NULL;
  if (!id) return api_error(400, "model", NULL, "'model' is required: this server has several models (see /v1/models)");
  return api_error(404, "model", "model_not_found", "the model '%s' does not exist (see /v1/models)", id);
}

http_response *openai_begin(serve *s, http_request *rq, json_t **body, serve_model **sm) {
  api_err e = {0};
  *sm = NULL;
  if (!(*body = api_parse_body(rq, &e))) return api_error_from(&e);
  http_response *r = openai_pick_model(s, *body, sm);
  if (r) {
    json_decref(*body);
    *body = NULL;
  }
  return r;
}

http_response *openai_models(serve *s, http_request *rq) {
  (void)rq;
  return api_json(200, json_pack("{s:s,s:o}", "object", "list", "data", serve_models_json(s)));
}

http_response *openai_model(serve *s, http_request *rq, const char *id) {
  (void)rq;
  serve_model *sm = serve_get_model(s, id);
  if (!sm) return api_error(404, "model", "model_not_found", "the model '%s' does not exist", id);
  json_t *j = serve_model_json(sm);
  serve_put_model(s, sm);
  return api_json(200, j);
}

http_response *openai_health(serve *s, http_request *rq) {
  (void)rq;
  if (!serve_ready(s)) {
    http_response *r = api_json(503, json_pack("{s:s}", "status", "loading"));
    http_response_header(r, "Retry-After", "2");
    return r;
  }
  return api_json(200, json_pack("{s:s,s:o}", "status", "ok", "models", serve_models_json(s)));
}

// ---- tokens ----------------------------------------------------------------------------------------------

static json_t *pieces(const llmux_model *m, const llmux_token *t, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_pack("{s:i,s:o}", "id", t[i], "piece", gen_token_text(m, t[i])));
  return a;
}

static llmux_token *tokenize_content(const serve_model *sm, const json_t *body, int *n, api_err *e) {
  const char *text = NULL;
  bool add_special = true, parse_special = true;
  if (!api_get_str(body, "content", &text, e) || !api_get_str(body, "prompt", &text, e) ||
      !api_get_bool(body, "add_special", &add_special, e) || !api_get_bool(body, "parse_special", &parse_special, e))
    return NULL;
  if (!text) return api_err_set(e, 400, "content", "'content' (a string) or 'messages' is required"), NULL;
  size_t len = strlen(text);
  int need = llmux_tokenize(sm->model, text, len, NULL, 0, add_special, parse_special);
  need = need < 0 ? -need : need;
  llmux_token *t = malloc((size_t)(need ? need : 1) * sizeof *t);
  if (!t) return api_err_set(e, 500, NULL, "out of memory"), NULL;
  *n = llmux_tokenize(sm->model, text, len, t, need, add_special, parse_special);
  return t;
}

http_response *openai_tokenize(serve *s, http_request *rq) {
  static const char *const keys[] = {"model", "content", "prompt", "messages", "add_special", "parse_special",
                                     "with_pieces", "tools", "chat_template_kwargs", NULL};
  api_err e = {0};
  json_t *body;
  serve_model *sm;
  http_response *resp = openai_begin(s, rq, &body, &sm);
  if (resp) return resp;
  bool with_pieces = false;
  int n = 0;
  llmux_token *t = NULL;
  if (api_check_keys(body, keys, NULL, &e) && api_get_bool(body, "with_pieces", &with_pieces, &e))
    t = json_object_get(body, "messages") ? openai_chat_prompt(sm, body, &n, &e) : tokenize_content(sm, body, &n, &e);
  if (!t) resp = api_error_from(&e);
  if (!resp) {
    json_t *ids = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(ids, json_integer(t[i]));
    json_t *out = json_pack("{s:o,s:i,s:i}", "tokens", ids, "count", n, "max_model_len", sched_get_config(sm->sched)->n_ctx);
    if (with_pieces) json_object_set_new(out, "pieces", pieces(sm->model, t, n));
    resp = api_json(200, out);
  }
  free(t);
  serve_put_model(s, sm);
  json_decref(body);
  return resp;
}

http_response *openai_detokenize(serve *s, http_request *rq) {
  static const char *const keys[] = {"model", "tokens", NULL};
  api_err e = {0};
  json_t *body;
  serve_model *sm;
  http_response *resp = openai_begin(s, rq, &body, &sm);
  if (resp) return resp;
  json_t *ids = json_object_get(body, "tokens");
  if (!api_check_keys(body, keys, NULL, &e)) resp = api_error_from(&e);
  if (!resp && !json_is_array(ids)) resp = api_error(400, "tokens", NULL, "'tokens' must be an array of token ids");
  size_t n = json_array_size(ids);
  llmux_token *t = resp ? NULL : malloc((n ? n : 1) * sizeof *t);
  for (size_t i = 0; t && !resp && i < n; i++) {
    json_t *v = json_array_get(ids, i);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= llmux_model_n_vocab(sm->model))
      resp = api_error(400, "tokens", NULL, "tokens[%zu] is not a token id of this model", i);
    else t[i] = (llmux_token)json_integer_value(v);
  }
  if (!resp) {
    int need = llmux_detokenize(sm->model, t, (int)n, NULL, 0, true);
    size_t size = (size_t)(need < 0 ? -need : need) + 1;
    char *text = malloc(size);
    int len = text ? llmux_detokenize(sm->model, t, (int)n, text, (int)size, true) : -1;
    resp = len >= 0 ? api_json(200, json_pack("{s:s%}", "content", text, (size_t)len))
                    : api_error(500, NULL, NULL, "out of memory");
    free(text);
  }
  free(t);
  serve_put_model(s, sm);
  json_decref(body);
  return resp;
}

// ---- admin: load and unload models while serving ------------------------------------------------------------

http_response *admin_models(serve *s, http_request *rq) {
  const char *method = http_method(rq), *path = http_path(rq);
  if (!strcmp(method, "GET")) return openai_models(s, rq);
  if (!strcmp(method, "DELETE") && !strncmp(path, "/admin/models/", 14)) {
    char err[300];
    if (serve_unload(s, path + 14, err, sizeof err) != 0) return api_error(404, "model", "model_not_found", "%s", err);
    return api_json(200, json_pack("{s:s,s:s,s:b}", "id", path + 14, "object", "model", "deleted", 1));
  }
  if (strcmp(method, "POST")) return api_error(405, NULL, NULL, "use GET, POST or DELETE on /admin/models");
  static const char *const keys[] = {"path", "id", "chat_template", NULL};
  api_err e = {0};
  json_t *body = api_parse_body(rq, &e);
  if (!body) return api_error_from(&e);
  serve_model_spec spec = {0};
  http_response *resp = NULL;
  if (!api_check_keys(body, keys, NULL, &e) || !api_get_str(body, "path", &spec.path, &e) ||
      !api_get_str(body, "id", &spec.alias, &e) || !api_get_str(body, "chat_template", &spec.chat_template, &e))
    resp = api_error_from(&e);
  else if (!spec.path) resp = api_error(400, "path", NULL, "'path' (a GGUF file on the server) is required");
  char err[512];
  if (!resp && serve_load(s, &spec, err, sizeof err) != 0) resp = api_error(400, "path", NULL, "%s", err);
  if (!resp) {
    char id[256];
    serve_model_id(&spec, id, sizeof id);
    serve_model *sm = serve_get_model(s, id);
    resp = sm ? api_json(201, serve_model_json(sm)) : api_json(201, json_pack("{s:s}", "status", "loaded"));
    serve_put_model(s, sm);
  }
  json_decref(body);
  return resp;
}
