// gateway/pool: the backends at run time: which serve which model, how busy
// and how healthy each is, and which one a request goes to. Owns backend
// health (active checks on a thread of its own; passive ejection after
// consecutive failures, a cool-down, then one half-open trial request) and
// the balancer: among the healthy backends of a model, two picked at random
// by weight, the one with fewer outstanding requests per weight wins, and
// of two equally loaded, the one picked less recently (so light, one-at-a-
// time traffic takes turns instead of following a coin).
// Backends come from the configuration or register themselves (llmux serve
// --register) and expire when their heartbeats stop.
#ifndef LLMUX_GATEWAY_POOL_H
#define LLMUX_GATEWAY_POOL_H
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "gateway/config.h"

typedef struct {
  gw_backend_cfg cfg;  // owned
  bool dynamic;
  _Atomic long long expires_ms;  // dynamic backends: when the registration lapses
  _Atomic int outstanding;
  _Atomic int consecutive_failures;
  _Atomic long long ejected_until_ms;  // 0: not ejected
  _Atomic bool probing;                // the half-open trial is in flight
  _Atomic bool healthy;                // the last active check passed
  _Atomic long requests, failures;
  _Atomic unsigned long last_pick;  // the pool's pick count when this one was last picked
  _Atomic int refs;
} gw_backend;

typedef struct gw_pool gw_pool;

gw_pool *gw_pool_new(const gw_config *cfg);
void gw_pool_free(gw_pool *p);
// Starts the active health checks (GET base + path every interval).
void gw_pool_start_health(gw_pool *p);

// A backend for the model, not one of exclude[0..n_exclude), with a
// reference and an outstanding request taken; NULL when none is available.
// *upstream_model: the backend's name for the model (valid while referenced).
gw_backend *gw_pool_pick(gw_pool *p, const char *model, gw_backend *const *exclude, int n_exclude,
                         const char **upstream_model);
// The request on b ended: ok false counts a failure (connect error, 5xx
// before the first byte, timeout) towards ejection. Drops the reference.
void gw_pool_done(gw_pool *p, gw_backend *b, bool ok);

bool gw_pool_serves(gw_pool *p, const char *model);
// Every model name served, as a JSON array of strings (sorted, unique).
json_t *gw_pool_models(gw_pool *p);
// The backends with health and load, for /admin/backends.
json_t *gw_pool_json(gw_pool *p);
// Adds or refreshes a self-registered backend; 0 or -1 with err.
int gw_pool_register(gw_pool *p, const char *name, const char *url, const json_t *models, double ttl_s, char *err,
                     size_t err_size);
long long gw_now_ms(void);

#endif
