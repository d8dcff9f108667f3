// gateway/gateway: the state of one `llmux gateway` process and its request
// flow: API key -> limits -> route by model (aliases, fall-backs, allowed
// models) -> a backend from the pool -> the upstream request, retried on
// another backend when it fails before any byte reached the client ->
// the response passed through (SSE chunk by chunk) -> usage recorded and
// limits charged. Admin routes (keys, usage, backends, registration) and
// metrics live beside it in gateway/admin.c.
#ifndef LLMUX_GATEWAY_GATEWAY_H
#define LLMUX_GATEWAY_GATEWAY_H
#include <stdbool.h>

#include "api/metrics.h"
#include "gateway/access.h"
#include "gateway/config.h"
#include "gateway/pool.h"
#include "http/server.h"

typedef struct gateway {
  gw_config *cfg;
  gw_pool *pool;
  gw_access *access;  // keys, limits, usage
  http_server *http;
  metrics_registry *reg;
  metric *m_requests, *m_latency, *m_upstream_errors, *m_tokens, *m_sqlite_mem;
} gateway;

// Takes ownership of cfg. NULL with err on failure (store, redis, listen).
gateway *gateway_start(gw_config *cfg, char *err, size_t err_size);
int gateway_port(const gateway *g);
void gateway_stop(gateway *g, double grace_s);

http_response *gateway_route(http_request *rq, void *user);
// The proxied OpenAI routes.
http_response *gateway_proxy(gateway *g, http_request *rq, const char *path);
http_response *gateway_models(gateway *g, http_request *rq);
// Admin routes; NULL when path is not one of them.
http_response *gateway_admin(gateway *g, http_request *rq, const char *path);

#endif
