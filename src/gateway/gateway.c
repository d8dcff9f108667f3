// gateway/gateway: start, stop and the routing of one gateway process; the
// proxied routes are in proxy.c, the admin routes in admin.c.
#include "gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_util.h"
#include "gateway/upstream.h"
#include "store/db.h"

static const double LATENCY_BOUNDS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

static void register_metrics(gateway *g) {
  const char *mbs[] = {"model", "backend", "status"}, *m[] = {"model"}, *bk[] = {"backend", "kind"};
  g->m_requests = metrics_counter(g->reg, "llmux_gateway_requests_total", "Proxied requests by model, backend and status", mbs, 3);
  g->m_latency = metrics_histogram(g->reg, "llmux_gateway_request_duration_seconds",
                                   "From the request to its last byte (streams included)", m, 1, LATENCY_BOUNDS, 15);
  g->m_upstream_errors = metrics_counter(g->reg, "llmux_gateway_upstream_errors_total",
                                         "Failed upstream attempts by backend and kind", bk, 2);
  g->m_tokens = metrics_counter(g->reg, "llmux_gateway_tokens_total", "Prompt plus completion tokens", m, 1);
  g->m_sqlite_mem = metrics_gauge(g->reg, "llmux_gateway_store_memory_bytes",
                                  "Memory the store (SQLite: page caches, statements) holds", NULL, 0);
}

gateway *gateway_start(gw_config *cfg, char *err, size_t err_size) {
  upstream_global_init();
  gateway *g = calloc(1, sizeof *g);
  if (!g) {
    gw_config_free(cfg);
    return snprintf(err, err_size, "out of memory"), NULL;
  }
  g->cfg = cfg;
  g->reg = metrics_new();
  g->pool = gw_pool_new(cfg);
  g->access = g->pool && g->reg ? gw_access_new(cfg, err, err_size) : NULL;
  if (!g->access) {
    if (!g->pool || !g->reg) snprintf(err, err_size, "out of memory");
    gateway_stop(g, 0);
    return NULL;
  }
  register_metrics(g);
  http_config hc = {.host = cfg->host, .port = cfg->port, .max_body = cfg->max_body, .max_connections = 4096,
                    .timeout_s = 600};
  if (!(g->http = http_start(&hc, gateway_route, g, err, err_size))) {
    gateway_stop(g, 0);
    return NULL;
  }
  gw_pool_start_health(g->pool);
  return g;
}

int gateway_port(const gateway *g) { return http_port(g->http); }

void gateway_stop(gateway *g, double grace_s) {
  if (!g) return;
  if (g->http) {
    http_quiesce(g->http);
    for (double waited = 0; http_in_flight(g->http) > 0 && waited < grace_s; waited += 0.02) usleep(20000);
    http_stop(g->http);
  }
  gw_pool_free(g->pool);
  gw_access_free(g->access);
  metrics_free(g->reg);
  gw_config_free(g->cfg);
  free(g);
}

http_response *gateway_models(gateway *g, http_request *rq) {
  gw_caller c = {0};
  acc_status st = gw_access_identify(g->access, http_bearer(rq), &c);
  if (st != ACC_OK) return api_error(401, NULL, "invalid_api_key", "a valid API key is required");
  json_t *names = gw_pool_models(g->pool), *data = json_array(), *n;
  size_t i;
  json_array_foreach(names, i, n) {
    if (gw_access_model_allowed(&c, json_string_value(n)))
      json_array_append_new(data, json_pack("{s:O,s:s,s:i,s:s}", "id", n, "object", "model", "created", 0, "owned_by", "llmux-gateway"));
  }
  const char *alias;
  json_t *target;
  if (g->cfg->aliases)
    json_object_foreach(g->cfg->aliases, alias, target) if (gw_access_model_allowed(&c, alias) &&
                                                             gw_pool_serves(g->pool, json_string_value(target)))
      json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}", "id", alias, "object", "model", "created", 0, "owned_by", "llmux-gateway"));
  json_decref(names);
  gw_caller_free(&c);
  return api_json(200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

static bool is_proxied(const char *path) {
  static const char *const paths[] = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", NULL};
  for (int i = 0; paths[i]; i++)
    if (!strcmp(path, paths[i])) return true;
  return false;
}

http_response *gateway_route(http_request *rq, void *user) {
  gateway *g = user;
  const char *path = http_path(rq), *method = http_method(rq);
  http_response *r = gateway_admin(g, rq, path);
  if (r) return r;
  if (!strcmp(method, "POST") && is_proxied(path)) return gateway_proxy(g, rq, path);
  if (!strcmp(method, "GET") && !strcmp(path, "/v1/models")) return gateway_models(g, rq);
  if (!strcmp(method, "GET") && !strcmp(path, "/health"))
    return api_json(200, json_pack("{s:s,s:o}", "status", "ok", "models", gw_pool_models(g->pool)));
  if (!strcmp(method, "GET") && !strcmp(path, "/metrics")) {
    metrics_set(g->m_sqlite_mem, NULL, (double)db_memory_used());
    char *text = metrics_render(g->reg);
    return text ? http_response_new(200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text))
                : api_error(500, NULL, NULL, "out of memory");
  }
  return api_error(404, NULL, NULL, "no route for %s %s", method, path);
}
