// api/router: which handler answers a request, after the API-key check, and
// the per-route request metrics.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_util.h"
#include "api/openai.h"
#include "api/serve_metrics.h"

typedef struct {
  const char *method;
  const char *path;  // exact, or a prefix when it ends with '/'
  const char *route; // the metrics label
  http_response *(*fn)(serve *s, http_request *rq);
  bool open;  // reachable without a key when open_health is set
} route;

static http_response *model_by_path(serve *s, http_request *rq) {
  return openai_model(s, rq, http_path(rq) + strlen("/v1/models/"));
}

static http_response *metrics(serve *s, http_request *rq) {
  (void)rq;
  char *text = smetrics_render(s);
  if (!text) return api_error(500, NULL, NULL, "out of memory");
  return http_response_new(200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

static const route ROUTES[] = {
  {"POST", "/v1/chat/completions", "/v1/chat/completions", openai_chat, false},
  {"POST", "/chat/completions", "/v1/chat/completions", openai_chat, false},
  {"POST", "/v1/completions", "/v1/completions", openai_completions, false},
  {"POST", "/completions", "/v1/completions", openai_completions, false},
  {"POST", "/v1/embeddings", "/v1/embeddings", openai_embeddings, false},
  {"POST", "/embeddings", "/v1/embeddings", openai_embeddings, false},
  {"GET", "/v1/models", "/v1/models", openai_models, false},
  {"GET", "/v1/models/", "/v1/models/{id}", model_by_path, false},
  {"POST", "/tokenize", "/tokenize", openai_tokenize, false},
  {"POST", "/detokenize", "/detokenize", openai_detokenize, false},
  {"GET", "/health", "/health", openai_health, true},
  {"GET", "/metrics", "/metrics", metrics, true},
};

static bool path_matches(const char *pattern, const char *path) {
  size_t n = strlen(pattern);
  if (pattern[n - 1] == '/') return !strncmp(path, pattern, n) && path[n];
  return !strcmp(path, pattern);
}

static bool key_equal(const char *a, const char *b) {
  size_t n = strlen(a);
  return n == strlen(b) && sodium_memcmp(a, b, n) == 0;
}

static bool key_ok(const serve_config *cfg, http_request *rq) {
  const char *k = http_bearer(rq);
  if (!k) return false;
  for (int i = 0; i < cfg->n_api_keys; i++)
    if (key_equal(k, cfg->api_keys[i])) return true;
  return false;
}

static http_response *unauthorized(http_request *rq) {
  bool sent = http_bearer(rq) != NULL;
  http_response *r = api_error(401, NULL, "invalid_api_key", sent ? "incorrect API key provided"
                               : "missing API key: send it as 'Authorization: Bearer KEY'");
  http_response_header(r, "WWW-Authenticate", "Bearer");
  return r;
}

static http_response *admin(serve *s, http_request *rq) {
  const serve_config *cfg = serve_get_config(s);
  if (!cfg->admin_key) return api_error(404, NULL, NULL, "the admin routes are off (start the server with --admin-key)");
  const char *k = http_bearer(rq);
  if (!k || !key_equal(k, cfg->admin_key)) return api_error(401, NULL, "invalid_api_key", "the admin routes need the admin key");
  return admin_models(s, rq);
}

static http_response *dispatch(serve *s, http_request *rq, const char **label) {
  const serve_config *cfg = serve_get_config(s);
  const char *path = http_path(rq), *method = http_method(rq);
  if (!strcmp(path, "/admin/models") || !strncmp(path, "/admin/models/", 14)) {
    *label = "/admin/models";
    return admin(s, rq);
  }
  bool path_known = false;
  for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES; i++) {
    const route *r = &ROUTES[i];
    if (!path_matches(r->path, path)) continue;
    path_known = true;
    if (strcmp(r->method, method)) continue;
    *label = r->route;
    if (cfg->n_api_keys > 0 && !(r->open && cfg->open_health) && !key_ok(cfg, rq)) return unauthorized(rq);
    return r->fn(s, rq);
  }
  *label = "other";
  if (path_known) return api_error(405, NULL, NULL, "%s is not allowed on %s", method, path);
  return api_error(404, NULL, NULL, "no route for %s %s", method, path);
}

http_response *serve_route(http_request *rq, void *user) {
  serve *s = user;
  double t0 = sched_now();
  const char *label = "other";
  http_response *r = dispatch(s, rq, &label);
  if (!r) r = api_error(500, NULL, NULL, "out of memory");
  smetrics_request(s, label, http_response_status(r), sched_now() - t0);
  return r;
}
