// gateway/pool: see pool.h. The backend list is guarded by a read-write
// lock (registrations are rare, picks constant); backends are reference
// counted, so one that expires while a request uses it is freed afterwards.
#include "gateway/pool.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

struct gw_pool {
  pthread_rwlock_t lock;
  gw_backend **list;
  int n, cap;
  int eject_failures;
  double eject_cooldown_s, health_interval_s, health_timeout_s;
  double registry_ttl_s;  // a lapsed registration is forgotten one more TTL later
  char *health_path;
  pthread_t health;
  bool health_running;
  pthread_mutex_t stop_mu;
  pthread_cond_t stop_cv;
  bool stopping;
  _Atomic unsigned long picks;
};

long long gw_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void backend_put(gw_backend *b) {
  if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
    gw_backend_cfg_free(&b->cfg);
    free(b);
  }
}

static bool copy_cfg(gw_backend_cfg *dst, const gw_backend_cfg *src) {
  *dst = (gw_backend_cfg){.weight = src->weight, .max_concurrency = src->max_concurrency};
  dst->name = strdup(src->name);
  dst->url = strdup(src->url);
  dst->api_key = src->api_key ? strdup(src->api_key) : NULL;
  dst->models = calloc((size_t)src->n_models + 1, sizeof *dst->models);
  dst->upstream_models = calloc((size_t)src->n_models + 1, sizeof *dst->upstream_models);
  if (!dst->name || !dst->url || !dst->models || !dst->upstream_models) return false;
  for (int i = 0; i < src->n_models; i++, dst->n_models++) {
    dst->models[i] = strdup(src->models[i]);
    dst->upstream_models[i] = strdup(src->upstream_models[i]);
  }
  return true;
}

static gw_backend *backend_new(const gw_backend_cfg *cfg, bool dynamic) {
  gw_backend *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  if (!copy_cfg(&b->cfg, cfg)) {
    gw_backend_cfg_free(&b->cfg);
    free(b);
    return NULL;
  }
  b->dynamic = dynamic;
  atomic_init(&b->healthy, true);  // optimistic until the first check says otherwise
  atomic_init(&b->refs, 1);
  return b;
}

static bool list_add(gw_pool *p, gw_backend *b) {
  if (p->n == p->cap) {
    int cap = p->cap ? p->cap * 2 : 8;
    gw_backend **l = realloc(p->list, (size_t)cap * sizeof *l);
    if (!l) return false;
    p->list = l;
    p->cap = cap;
  }
  p->list[p->n++] = b;
  return true;
}

gw_pool *gw_pool_new(const gw_config *cfg) {
  gw_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  pthread_rwlock_init(&p->lock, NULL);
  pthread_mutex_init(&p->stop_mu, NULL);
  pthread_cond_init(&p->stop_cv, NULL);
  p->eject_failures = cfg->eject_failures;
  p->eject_cooldown_s = cfg->eject_cooldown_s;
  p->health_interval_s = cfg->health_interval_s;
  p->registry_ttl_s = cfg->registry_ttl_s;
  p->health_timeout_s = cfg->health_timeout_s;
  p->health_path = strdup(cfg->health_path ? cfg->health_path : "/health");
  for (int i = 0; i < cfg->n_backends; i++) {
    gw_backend *b = backend_new(&cfg->backends[i], false);
    if (!b || !list_add(p, b)) {
      backend_put(b);
      gw_pool_free(p);
      return NULL;
    }
  }
  return p;
}

void gw_pool_free(gw_pool *p) {
  if (!p) return;
  if (p->health_running) {
    pthread_mutex_lock(&p->stop_mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->stop_cv);
    pthread_mutex_unlock(&p->stop_mu);
    pthread_join(p->health, NULL);
  }
  for (int i = 0; i < p->n; i++) backend_put(p->list[i]);
  free(p->list);
  free(p->health_path);
  pthread_rwlock_destroy(&p->lock);
  pthread_mutex_destroy(&p->stop_mu);
  pthread_cond_destroy(&p->stop_cv);
  free(p);
}

// ---- picking --------------------------------------------------------------------------------------------

static int model_index(const gw_backend *b, const char *model) {
  for (int i = 0; i < b->cfg.n_models; i++)
    if (!strcmp(b->cfg.models[i], model)) return i;
  return -1;
}

// Whether b may take a request now. An ejected backend whose cool-down has
// passed takes exactly one (the half-open trial) until that one succeeds.
static bool available(gw_backend *b, long long now) {
  if (b->dynamic && atomic_load(&b->expires_ms) < now) return false;
  if (!atomic_load(&b->healthy)) return false;
  if (b->cfg.max_concurrency > 0 && atomic_load(&b->outstanding) >= b->cfg.max_concurrency) return false;
  long long until = atomic_load(&b->ejected_until_ms);
  if (until == 0) return true;
  return until <= now && !atomic_load(&b->probing);
}

static bool excluded(const gw_backend *b, gw_backend *const *ex, int n) {
  for (int i = 0; i < n; i++)
    if (ex[i] == b) return true;
  return false;
}

static int weighted_random(gw_backend **c, int n, int skip) {
  long total = 0;
  for (int i = 0; i < n; i++) total += i == skip ? 0 : c[i]->cfg.weight;
  long r = (long)(randombytes_uniform((uint32_t)total));
  for (int i = 0; i < n; i++) {
    if (i == skip) continue;
    r -= c[i]->cfg.weight;
    if (r < 0) return i;
  }
  return n - 1 == skip ? 0 : n - 1;
}

// Power of two choices: two distinct candidates by weight; fewer outstanding
// per weight wins; a tie goes to the one picked longer ago.
static gw_backend *choose(gw_backend **c, int n) {
  if (n == 1) return c[0];
  int a = weighted_random(c, n, -1), b = weighted_random(c, n, a);
  double la = (atomic_load(&c[a]->outstanding) + 1.0) / c[a]->cfg.weight;
  double lb = (atomic_load(&c[b]->outstanding) + 1.0) / c[b]->cfg.weight;
  if (la != lb) return la < lb ? c[a] : c[b];
  return atomic_load(&c[a]->last_pick) <= atomic_load(&c[b]->last_pick) ? c[a] : c[b];
}

gw_backend *gw_pool_pick(gw_pool *p, const char *model, gw_backend *const *exclude, int n_exclude,
                         const char **upstream_model) {
  long long now = gw_now_ms();
  pthread_rwlock_rdlock(&p->lock);
  gw_backend *cands[64];
  int n = 0;
  for (int i = 0; i < p->n && n < 64; i++) {
    gw_backend *b = p->list[i];
    if (model_index(b, model) >= 0 && !excluded(b, exclude, n_exclude) && available(b, now)) cands[n++] = b;
  }
  gw_backend *b = n ? choose(cands, n) : NULL;
  if (b) {
    atomic_fetch_add(&b->refs, 1);
    atomic_fetch_add(&b->outstanding, 1);
    atomic_fetch_add(&b->requests, 1);
    atomic_store(&b->last_pick, atomic_fetch_add(&p->picks, 1) + 1);
    if (atomic_load(&b->ejected_until_ms)) atomic_store(&b->probing, true);
    *upstream_model = b->cfg.upstream_models[model_index(b, model)];
  }
  pthread_rwlock_unlock(&p->lock);
  return b;
}

void gw_pool_done(gw_pool *p, gw_backend *b, bool ok) {
  if (!b) return;
  atomic_fetch_sub(&b->outstanding, 1);
  if (ok) {
    atomic_store(&b->consecutive_failures, 0);
    if (atomic_exchange(&b->ejected_until_ms, 0)) log_info("gateway: backend %s is back", b->cfg.name);
  } else {
    atomic_fetch_add(&b->failures, 1);
    int f = atomic_fetch_add(&b->consecutive_failures, 1) + 1;
    if (f >= p->eject_failures || atomic_load(&b->probing)) {
      atomic_store(&b->ejected_until_ms, gw_now_ms() + (long long)(p->eject_cooldown_s * 1000));
      log_warn("gateway: backend %s ejected for %.1f s after %d failures", b->cfg.name, p->eject_cooldown_s, f);
    }
  }
  atomic_store(&b->probing, false);
  backend_put(b);
}

// ---- listing ---------------------------------------------------------------------------------------------

bool gw_pool_serves(gw_pool *p, const char *model) {
  pthread_rwlock_rdlock(&p->lock);
  bool found = false;
  for (int i = 0; i < p->n && !found; i++) found = model_index(p->list[i], model) >= 0;
  pthread_rwlock_unlock(&p->lock);
  return found;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

json_t *gw_pool_models(gw_pool *p) {
  json_t *names = json_object();
  long long now = gw_now_ms();
  pthread_rwlock_rdlock(&p->lock);
  for (int i = 0; i < p->n; i++) {
    if (p->list[i]->dynamic && atomic_load(&p->list[i]->expires_ms) < now) continue;
    for (int k = 0; k < p->list[i]->cfg.n_models; k++) json_object_set_new(names, p->list[i]->cfg.models[k], json_true());
  }
  pthread_rwlock_unlock(&p->lock);
  size_t n = json_object_size(names), i = 0;
  const char **sorted = calloc(n + 1, sizeof *sorted);
  const char *k;
  json_t *v;
  json_object_foreach(names, k, v) sorted[i++] = k;
  if (sorted) qsort(sorted, n, sizeof *sorted, cmp_str);
  json_t *out = json_array();
  for (i = 0; sorted && i < n; i++) json_array_append_new(out, json_string(sorted[i]));
  free(sorted);
  json_decref(names);
  return out;
}

json_t *gw_pool_json(gw_pool *p) {
  json_t *out = json_array();
  long long now = gw_now_ms();
  pthread_rwlock_rdlock(&p->lock);
  for (int i = 0; i < p->n; i++) {
    gw_backend *b = p->list[i];
    json_t *models = json_array();
    for (int k = 0; k < b->cfg.n_models; k++) json_array_append_new(models, json_string(b->cfg.models[k]));
    long long ej = atomic_load(&b->ejected_until_ms);
    json_array_append_new(out, json_pack("{s:s,s:s,s:o,s:i,s:b,s:b,s:b,s:i,s:I,s:I,s:b}", "name", b->cfg.name, "url",
                                         b->cfg.url, "models", models, "weight", b->cfg.weight, "healthy",
                                         atomic_load(&b->healthy), "ejected", ej > now, "dynamic", b->dynamic,
                                         "outstanding", atomic_load(&b->outstanding), "requests",
                                         (json_int_t)atomic_load(&b->requests), "failures",
                                         (json_int_t)atomic_load(&b->failures), "expired",
                                         b->dynamic && atomic_load(&b->expires_ms) < now));
  }
  pthread_rwlock_unlock(&p->lock);
  return out;
}

// ---- registration ------------------------------------------------------------------------------------------

static int find_url(const gw_pool *p, const char *url) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->list[i]->cfg.url, url)) return i;
  return -1;
}

int gw_pool_register(gw_pool *p, const char *name, const char *url, const json_t *models, double ttl_s, char *err,
                     size_t err_size) {
  if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
    return snprintf(err, err_size, "'url' must be an http:// URL"), -1;
  if (!json_is_array(models) || json_array_size(models) == 0 || json_array_size(models) > 256)
    return snprintf(err, err_size, "'models' must be a non-empty list of model names"), -1;
  gw_backend_cfg cfg = {.name = (char *)(name ? name : url), .url = (char *)url, .weight = 1};
  char *names[256];
  for (size_t i = 0; i < json_array_size(models); i++) {
    const char *m = json_string_value(json_array_get(models, i));
    if (!m || !*m) return snprintf(err, err_size, "models[%zu] must be a model name", i), -1;
    names[i] = (char *)m;
  }
  cfg.models = cfg.upstream_models = names;
  cfg.n_models = (int)json_array_size(models);
  long long expires = gw_now_ms() + (long long)(ttl_s * 1000);
  pthread_rwlock_wrlock(&p->lock);
  int i = find_url(p, url), rc = 0;
  if (i >= 0 && p->list[i]->dynamic) {
    atomic_store(&p->list[i]->expires_ms, expires);
  } else if (i < 0) {
    gw_backend *b = backend_new(&cfg, true);
    if (b) atomic_store(&b->expires_ms, expires);
    if (!b || !list_add(p, b)) {
      backend_put(b);
      rc = -1;
      snprintf(err, err_size, "out of memory");
    } else {
      log_info("gateway: %s registered (%d models)", url, cfg.n_models);
    }
  }
  pthread_rwlock_unlock(&p->lock);
  return rc;
}

// ---- active health checks ---------------------------------------------------------------------------------

static size_t discard(char *p, size_t s, size_t n, void *u) {
  (void)p;
  (void)u;
  return s * n;
}

static bool check_one(const gw_backend *b, const char *path, double timeout_s) {
  CURL *h = curl_easy_init();
  if (!h) return false;
  char url[2048];
  snprintf(url, sizeof url, "%s%s", b->cfg.url, path);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  struct curl_slist *hdr = NULL;
  char auth[600];
  if (b->cfg.api_key) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", b->cfg.api_key);
    hdr = curl_slist_append(NULL, auth);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  }
  long code = 0;
  bool ok = curl_easy_perform(h) == CURLE_OK && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
            code == 200;
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  return ok;
}

static void check_all(gw_pool *p) {
  pthread_rwlock_rdlock(&p->lock);
  int n = p->n;
  gw_backend **snap = malloc((size_t)(n ? n : 1) * sizeof *snap);
  for (int i = 0; snap && i < n; i++) {
    snap[i] = p->list[i];
    atomic_fetch_add(&snap[i]->refs, 1);
  }
  pthread_rwlock_unlock(&p->lock);
  for (int i = 0; snap && i < n; i++) {
    gw_backend *b = snap[i];
    bool ok = check_one(b, p->health_path, p->health_timeout_s), was = atomic_exchange(&b->healthy, ok);
    if (ok && atomic_load(&b->ejected_until_ms)) {  // it answers again: end the ejection
      atomic_store(&b->ejected_until_ms, 0);
      atomic_store(&b->consecutive_failures, 0);
    }
    if (ok != was) log_info("gateway: backend %s is %s", b->cfg.name, ok ? "healthy" : "unhealthy");
    backend_put(b);
  }
  free(snap);
}

// Drops registrations that lapsed more than a TTL ago, so workers that come
// and go on new addresses do not pile up (requests still using one keep
// their reference).
static void forget_lapsed(gw_pool *p) {
  long long cutoff = gw_now_ms() - (long long)(p->registry_ttl_s * 1000);
  pthread_rwlock_wrlock(&p->lock);
  int k = 0;
  for (int i = 0; i < p->n; i++) {
    gw_backend *b = p->list[i];
    if (b->dynamic && atomic_load(&b->expires_ms) < cutoff) {
      log_info("gateway: %s forgotten (its registration lapsed)", b->cfg.url);
      backend_put(b);
    } else {
      p->list[k++] = b;
    }
  }
  p->n = k;
  pthread_rwlock_unlock(&p->lock);
}

static void *health_main(void *arg) {
  gw_pool *p = arg;
  pthread_mutex_lock(&p->stop_mu);
  while (!p->stopping) {
    pthread_mutex_unlock(&p->stop_mu);
    check_all(p);
    forget_lapsed(p);
    pthread_mutex_lock(&p->stop_mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + p->health_interval_s;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    if (!p->stopping) pthread_cond_timedwait(&p->stop_cv, &p->stop_mu, &ts);
  }
  pthread_mutex_unlock(&p->stop_mu);
  return NULL;
}

void gw_pool_start_health(gw_pool *p) {
  p->health_running = pthread_create(&p->health, NULL, health_main, p) == 0;
}
