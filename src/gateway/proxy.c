// gateway/proxy: the proxied OpenAI routes (see gateway.h for the flow).
// Bodies are parsed once, to read `model` and `stream` and to rewrite the
// model name (and ask for usage in streams); responses are not parsed but
// scanned for their `usage` as they pass.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api_util.h"
#include "core/log.h"
#include "gateway/gateway.h"
#include "gateway/rewrite.h"
#include "gateway/upstream.h"

#define MAX_TRIES 8
#define MAX_WHOLE_BODY (64u << 20)

typedef struct {
  gateway *g;
  gw_caller caller;
  char model[256];
  char backend[256];
  gw_backend *b;
  upstream *up;
  double t0;
  int status;
  int client_fd;
  bool stream, recorded;
  gw_usage_scan usage;
} proxy_call;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Usage is recorded before the response's last bytes go out, so a record is
// never lost for a request the client saw finish.
static void finish_call(proxy_call *c, int status) {
  if (c->recorded) return;
  c->recorded = true;
  gateway *g = c->g;
  double ms = (now_s() - c->t0) * 1e3;
  gw_access_usage(g->access, &c->caller, c->model, c->backend, status, c->usage.prompt_tokens, c->usage.completion_tokens, ms,
                  c->stream);
  gw_access_release(g->access, &c->caller, c->usage.prompt_tokens + c->usage.completion_tokens);
  char code[8];
  snprintf(code, sizeof code, "%d", status);
  const char *l[] = {c->model, c->backend, code}, *lm[] = {c->model};
  metrics_add(g->m_requests, l, 1);
  metrics_observe(g->m_latency, lm, ms / 1e3);
  metrics_add(g->m_tokens, lm, (double)(c->usage.prompt_tokens + c->usage.completion_tokens));
}

static void call_free(proxy_call *c) {
  upstream_close(c->up);
  if (c->b) gw_pool_done(c->g->pool, c->b, c->status > 0 && c->status < 500);
  gw_caller_free(&c->caller);
  free(c);
}

// ---- streaming pass-through ----------------------------------------------------------------------------

static ssize_t stream_read(void *state, char *buf, size_t max) {
  proxy_call *c = state;
  if (!c->up) return 0;  // the error event after a failure was the last chunk
  upstream_fail why;
  ssize_t n = upstream_read(c->up, buf, max, &why);
  if (n > 0) {
    gw_usage_feed(&c->usage, buf, (size_t)n);
    return n;
  }
  if (n < 0 && why != UP_CLIENT_GONE) {
    // The backend failed mid-stream: too late to fail over; end the stream with an error event.
    static const char ev[] = "data: {\"error\":{\"message\":\"the backend failed in the middle of the response\","
                             "\"type\":\"server_error\",\"param\":null,\"code\":\"upstream_error\"}}\n\n";
    finish_call(c, 502);
    c->status = 502;
    size_t len = sizeof ev - 1 < max ? sizeof ev - 1 : max;
    memcpy(buf, ev, len);
    upstream_close(c->up);
    c->up = NULL;
    return (ssize_t)len;
  }
  finish_call(c, n == 0 ? c->status : 499);
  return n;
}

static void stream_done(void *state, bool completed) {
  proxy_call *c = state;
  finish_call(c, completed ? c->status : 499);  // nothing when already recorded
  call_free(c);
}

// ---- choosing and trying backends ---------------------------------------------------------------------

// Nothing has reached the client yet: a refused or reset connection, or a
// 502 / 503, goes to another backend (generation requests are safe to repeat).
static bool retryable(upstream_fail why, int status) {
  return why == UP_CONNECT || why == UP_ERROR || status == 502 || status == 503;
}

// Tries the backends of `model` until one answers; the failures before are
// reported to the pool. Returns the opened upstream (c->b, c->up set), or
// NULL with *why and *status of the last attempt.
static bool try_model(proxy_call *c, const json_t *body, const char *path, const char *model, int *tries,
                      gw_backend **tried, upstream_fail *why, char *err, size_t err_size) {
  gateway *g = c->g;
  while (*tries < g->cfg->retries + 1 && *tries < MAX_TRIES) {
    const char *up_model;
    gw_backend *b = gw_pool_pick(g->pool, model, tried, *tries, &up_model);
    if (!b) return false;
    tried[(*tries)++] = b;
    size_t len;
    char *payload = gw_body_for_backend(body, up_model, c->stream, &len), url[2300];
    snprintf(url, sizeof url, "%s%s", b->cfg.url, path);
    upstream_req rq = {.url = url, .method = "POST", .api_key = b->cfg.api_key, .body = payload, .len = len,
                       .connect_timeout_s = g->cfg->connect_timeout_s, .first_byte_timeout_s = g->cfg->first_byte_timeout_s,
                       .idle_timeout_s = g->cfg->idle_timeout_s, .client_fd = c->client_fd};
    upstream *up = upstream_open(&rq, why, err, err_size);
    free(payload);
    int status = up ? upstream_status(up) : 0;
    if (up && !retryable(UP_OK, status)) {
      c->b = b;
      c->up = up;
      c->status = status;
      snprintf(c->backend, sizeof c->backend, "%s", b->cfg.name);
      return true;
    }
    const char *kind = *why == UP_TIMEOUT ? "timeout" : *why == UP_CONNECT ? "connect" : up ? "status" : "error";
    const char *l[] = {b->cfg.name, kind};
    metrics_add(g->m_upstream_errors, l, 1);
    if (up) snprintf(err, err_size, "backend %s answered %d", b->cfg.name, status);
    log_info("gateway: %s on %s failed (%s)%s", model, b->cfg.name, err, *tries <= g->cfg->retries ? "; trying another" : "");
    upstream_close(up);
    gw_pool_done(g->pool, b, false);
    // A slow backend is not retried (that would double the wait), nor a client that left.
    if (*why == UP_TIMEOUT || *why == UP_CLIENT_GONE) return false;
  }
  return false;
}

// The model, then its fall-backs in order.
static bool open_upstream(proxy_call *c, const json_t *body, const char *path, upstream_fail *why, char *err,
                          size_t err_size) {
  gw_backend *tried[MAX_TRIES];
  int tries = 0;
  *why = UP_CONNECT;
  snprintf(err, err_size, "no healthy backend serves '%.120s' now; retry later (operators: see /admin/backends)", c->model);
  if (try_model(c, body, path, c->model, &tries, tried, why, err, err_size)) return true;
  json_t *fb = c->g->cfg->fallbacks ? json_object_get(c->g->cfg->fallbacks, c->model) : NULL;
  for (size_t i = 0; i < json_array_size(fb) && *why != UP_CLIENT_GONE; i++) {
    const char *alt = json_string_value(json_array_get(fb, i));
    if (!gw_access_model_allowed(&c->caller, alt)) continue;
    tries = 0;
    if (try_model(c, body, path, alt, &tries, tried, why, err, err_size)) return true;
  }
  return false;
}

// ---- the handler ------------------------------------------------------------------------------------------

static http_response *auth_error(acc_status st) {
  switch (st) {
    case ACC_NO_KEY: return api_error(401, NULL, "missing_api_key", "missing API key: send it as 'Authorization: Bearer KEY'");
    case ACC_REVOKED: return api_error(401, NULL, "revoked_api_key", "this API key has been revoked");
    case ACC_EXPIRED: return api_error(401, NULL, "expired_api_key", "this API key has expired");
    case ACC_ERROR: return api_error(503, NULL, NULL, "the key store is unavailable");
    default: return api_error(401, NULL, "invalid_api_key", "incorrect API key provided");
  }
}

// x-ratelimit-limit-<what>, -remaining-<what>, -reset-<what>, when that limit is set.
static void limit_header(http_response *r, const char *what, long long limit, long long remaining, double reset_s) {
  if (limit <= 0) return;
  char name[48], v[32];
  snprintf(name, sizeof name, "x-ratelimit-limit-%s", what);
  snprintf(v, sizeof v, "%lld", limit);
  http_response_header(r, name, v);
  snprintf(name, sizeof name, "x-ratelimit-remaining-%s", what);
  snprintf(v, sizeof v, "%lld", remaining);
  http_response_header(r, name, v);
  snprintf(name, sizeof name, "x-ratelimit-reset-%s", what);
  snprintf(v, sizeof v, "%.3fs", reset_s);
  http_response_header(r, name, v);
}

static void limit_headers(http_response *r, const gw_limit_info *li) {
  limit_header(r, "requests", li->limit_requests, li->remaining_requests, li->reset_requests_s);
  limit_header(r, "tokens", li->limit_tokens, li->remaining_tokens, li->reset_tokens_s);
}

static http_response *rate_limited(const gw_limit_info *li) {
  bool budget = !strcmp(li->which, "budget");
  http_response *r = budget && li->retry_after_s < 0
                         ? api_error(429, NULL, "insufficient_quota", "the token budget of this key is used up")
                     : budget ? api_error(429, NULL, "insufficient_quota",
                                          "the token budget of this key is used up for this period; it renews in %.0f s",
                                          li->retry_after_s)
                              : api_error(429, NULL, "rate_limit_exceeded", "rate limit reached for %s; retry after %.1f s",
                                          li->which, li->retry_after_s);
  char v[32];
  snprintf(v, sizeof v, "%.0f", li->retry_after_s < 1 ? 1 : li->retry_after_s + 0.5);
  http_response_header(r, "Retry-After", v);
  limit_headers(r, li);
  return r;
}

// The model a body asks for, after aliases; NULL with the error response.
static http_response *resolve_model(gateway *g, const json_t *body, proxy_call *c) {
  const char *m = json_string_value(json_object_get(body, "model"));
  if (!m || !*m) return api_error(400, "model", NULL, "'model' (a string) is required");
  json_t *alias = g->cfg->aliases ? json_object_get(g->cfg->aliases, m) : NULL;
  snprintf(c->model, sizeof c->model, "%s", alias ? json_string_value(alias) : m);
  if (!gw_access_model_allowed(&c->caller, m) && !gw_access_model_allowed(&c->caller, c->model))
    return api_error(403, "model", "model_not_allowed", "this API key may not use the model '%s'", m);
  if (!gw_pool_serves(g->pool, c->model)) return api_error(404, "model", "model_not_found", "the model '%s' does not exist", m);
  return NULL;
}

static void count_error(proxy_call *c, const char *kind) {
  const char *l[] = {c->backend, kind};
  metrics_add(c->g->m_upstream_errors, l, 1);
}

static http_response *whole_response(proxy_call *c) {
  size_t cap = 65536, len = 0;
  char *body = malloc(cap);
  upstream_fail why = UP_OK;
  ssize_t n = 0;
  while (body && (n = upstream_read(c->up, body + len, cap - len - 1, &why)) > 0) {
    len += (size_t)n;
    if (len + 1 == cap && cap < MAX_WHOLE_BODY) {
      char *b = realloc(body, cap *= 2);
      if (!b) free(body);
      body = b;
    }
  }
  if (!body || n < 0) {
    free(body);
    int st = why == UP_TIMEOUT ? 504 : 502;
    count_error(c, why == UP_TIMEOUT ? "timeout" : "error");
    finish_call(c, st);
    c->status = st;
    return api_error(st, NULL, "upstream_error", "the backend %s failed while answering", c->backend);
  }
  body[len] = 0;
  if (c->status >= 500) {  // the backend's own failure becomes a clean 502 naming it
    free(body);
    count_error(c, "status");
    int got = c->status;
    finish_call(c, 502);
    return api_error(502, NULL, "upstream_error", "the backend %s failed (HTTP %d)", c->backend, got);
  }
  json_t *j = json_loadb(body, len, 0, NULL);
  if (!j && c->status < 400) {  // garbage from the backend is not passed on
    free(body);
    count_error(c, "garbage");
    finish_call(c, 502);
    c->status = 502;
    return api_error(502, NULL, "upstream_error", "the backend %s sent a body that is not JSON", c->backend);
  }
  gw_usage_from_json(&c->usage, j);
  json_decref(j);
  finish_call(c, c->status);
  const char *ct = upstream_content_type(c->up);
  return http_response_new(c->status, *ct ? ct : "application/json", body, len);
}

static http_response *forward(gateway *g, proxy_call *c, const json_t *body, const char *path, int fd) {
  upstream_fail why;
  char err[300];
  c->client_fd = fd;
  if (!open_upstream(c, body, path, &why, err, sizeof err)) {
    c->status = why == UP_TIMEOUT ? 504 : why == UP_CLIENT_GONE ? 499 : 502;
    if (why == UP_CONNECT && !strncmp(err, "no healthy", 10)) c->status = 503;
    finish_call(c, c->status);
    http_response *r = api_error(c->status, NULL, "upstream_error", "%s", err);
    if (c->status == 503) http_response_header(r, "Retry-After", "1");
    call_free(c);
    return r;
  }
  (void)g;
  if (c->stream && c->status == 200) {
    const char *ct = upstream_content_type(c->up);
    http_response *r = http_response_stream(200, *ct ? ct : "text/event-stream", stream_read, stream_done, c);
    http_response_header(r, "Cache-Control", "no-cache");
    return r;
  }
  http_response *r = whole_response(c);
  call_free(c);
  return r;
}

http_response *gateway_proxy(gateway *g, http_request *rq, const char *path) {
  proxy_call *c = calloc(1, sizeof *c);
  if (!c) return api_error(500, NULL, NULL, "out of memory");
  c->g = g;
  c->t0 = now_s();
  acc_status st = gw_access_identify(g->access, http_bearer(rq), &c->caller);
  if (st != ACC_OK) {
    free(c);
    return auth_error(st);
  }
  api_err e = {0};
  json_t *body = api_parse_body(rq, &e);
  http_response *r = body ? resolve_model(g, body, c) : api_error_from(&e);
  gw_limit_info li = {0};
  if (!r && !gw_access_acquire(g->access, &c->caller, &li)) r = rate_limited(&li);
  if (r) {
    json_decref(body);
    gw_caller_free(&c->caller);
    free(c);
    return r;
  }
  c->stream = json_is_true(json_object_get(body, "stream"));
  r = forward(g, c, body, path, http_fd(rq));
  limit_headers(r, &li);
  json_decref(body);
  return r;
}
