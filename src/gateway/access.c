// gateway/access: see access.h. Key lookups are cached for a few seconds
// under a keyed short hash of the secret (SipHash with a per-process key),
// so the store sees a request per key per TTL and no secret is kept in
// memory beyond the request that presented it. A key revoked through
// /admin/keys is dropped from the cache at once; one revoked with the CLI
// (another process) stops working within the TTL.
#include "gateway/access.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "gateway/limits.h"
#include "gateway/pool.h"
#include "store/keys.h"
#include "store/usage.h"

#define CACHE_SLOTS 4096
#define CACHE_TTL_MS 5000

struct gw_key_info {
  key_record rec;
  limit_spec spec;
  unsigned long long slot;  // the parallel slot this request holds
};

typedef struct {
  uint64_t tag;  // short hash of the secret; 0: empty
  long long fetched_ms;
  bool found;
  key_record rec;
} cache_entry;

struct gw_access {
  store_db *db;
  limiter *lim;
  bool require_keys, shared_budget;
  unsigned char hash_key[crypto_shorthash_KEYBYTES];
  pthread_mutex_t cache_mu;
  cache_entry *cache;
};

gw_access *gw_access_new(const gw_config *cfg, char *err, size_t err_size) {
  gw_access *a = calloc(1, sizeof *a);
  if (!a) return snprintf(err, err_size, "out of memory"), NULL;
  a->require_keys = cfg->require_keys;
  randombytes_buf(a->hash_key, sizeof a->hash_key);
  pthread_mutex_init(&a->cache_mu, NULL);
  a->cache = calloc(CACHE_SLOTS, sizeof *a->cache);
  if (!(a->db = db_open(cfg->store_path, true))) {
    snprintf(err, err_size, "%s", err_get());
  } else if (cfg->redis_host) {
    a->lim = limiter_new_redis(cfg->redis_host, cfg->redis_port, cfg->redis_password, cfg->redis_prefix, err, err_size);
    a->shared_budget = true;
  } else {
    a->lim = limiter_new_local();
    if (!a->lim) snprintf(err, err_size, "out of memory");
  }
  if (!a->db || !a->lim || !a->cache) {
    gw_access_free(a);
    return NULL;
  }
  return a;
}

void gw_access_free(gw_access *a) {
  if (!a) return;
  if (a->lim) limiter_free(a->lim);
  db_close(a->db);
  free(a->cache);
  pthread_mutex_destroy(&a->cache_mu);
  free(a);
}

struct store_db *gw_access_db(gw_access *a) { return a->db; }

// ---- keys --------------------------------------------------------------------------------------------------

static uint64_t tag_of(const gw_access *a, const char *secret) {
  uint64_t t;
  crypto_shorthash((unsigned char *)&t, (const unsigned char *)secret, strlen(secret), a->hash_key);
  return t ? t : 1;
}

// 1 found, 0 not, -1 error; through the cache.
static int lookup(gw_access *a, const char *secret, key_record *out) {
  uint64_t tag = tag_of(a, secret);
  cache_entry *e = &a->cache[tag % CACHE_SLOTS];
  long long now = gw_now_ms();
  pthread_mutex_lock(&a->cache_mu);
  bool hit = e->tag == tag && now - e->fetched_ms < CACHE_TTL_MS;
  bool found = hit && e->found;
  if (found) *out = e->rec;
  pthread_mutex_unlock(&a->cache_mu);
  if (hit) return found;
  int rc = keys_lookup_secret(a->db, secret, out);
  if (rc < 0) return -1;
  pthread_mutex_lock(&a->cache_mu);
  *e = (cache_entry){.tag = tag, .fetched_ms = now, .found = rc == 1};
  if (rc == 1) e->rec = *out;
  pthread_mutex_unlock(&a->cache_mu);
  return rc;
}

void gw_access_forget(gw_access *a, const char *key_id) {
  pthread_mutex_lock(&a->cache_mu);
  for (int i = 0; i < CACHE_SLOTS; i++)
    if (a->cache[i].tag && !strcmp(a->cache[i].rec.id, key_id)) a->cache[i].tag = 0;
  pthread_mutex_unlock(&a->cache_mu);
}

static limit_spec spec_of(const key_record *r, bool shared_budget) {
  limit_spec s = {.rpm = r->rpm, .tpm = r->tpm, .max_parallel = r->max_parallel};
  if (shared_budget) {  // Redis counts budgets for every replica; locally the store does (it survives restarts)
    s.budget = r->budget_tokens;
    s.budget_period = r->budget_period == KEY_PERIOD_DAY ? LIMIT_DAY : r->budget_period == KEY_PERIOD_MONTH ? LIMIT_MONTH : LIMIT_TOTAL;
  }
  return s;
}

acc_status gw_access_identify(gw_access *a, const char *bearer, gw_caller *out) {
  memset(out, 0, sizeof *out);
  if (!bearer || !*bearer) {
    if (a->require_keys) return ACC_NO_KEY;
    out->anonymous = true;
    return ACC_OK;
  }
  struct gw_key_info *info = calloc(1, sizeof *info);
  if (!info) return ACC_ERROR;
  int rc = lookup(a, bearer, &info->rec);
  if (rc != 1) {
    free(info);
    if (rc == 0 && !a->require_keys) return out->anonymous = true, ACC_OK;
    return rc < 0 ? ACC_ERROR : ACC_BAD_KEY;
  }
  key_state st = keys_status(&info->rec, gw_now_ms() / 1000);
  if (st != KEY_ACTIVE) {
    free(info);
    return st == KEY_REVOKED ? ACC_REVOKED : ACC_EXPIRED;
  }
  info->spec = spec_of(&info->rec, a->shared_budget);
  out->info = info;
  snprintf(out->key_id, sizeof out->key_id, "%s", info->rec.id);
  snprintf(out->key_name, sizeof out->key_name, "%s", info->rec.name);
  return ACC_OK;
}

void gw_caller_free(gw_caller *c) {
  free(c->info);
  c->info = NULL;
}

bool gw_access_model_allowed(const gw_caller *c, const char *model) {
  return c->anonymous || !c->info || keys_model_allowed(&c->info->rec, model);
}

// ---- limits and usage -----------------------------------------------------------------------------------------

// A budget counted by the store: tokens recorded since the period began.
static bool budget_left(gw_access *a, const key_record *r, gw_limit_info *info) {
  if (a->shared_budget || r->budget_tokens <= 0) return true;
  long long now = gw_now_ms(), start = keys_budget_start_ms(r, now);
  long long used = usage_tokens_since(a->db, r->id, start);
  if (used < r->budget_tokens) return true;
  info->which = "budget";
  info->retry_after_s = r->budget_period == KEY_PERIOD_TOTAL ? -1 : 60;  // a hint: the period's end is further
  return false;
}

bool gw_access_acquire(gw_access *a, const gw_caller *c, gw_limit_info *info) {
  memset(info, 0, sizeof *info);
  if (c->anonymous || !c->info) return true;
  if (!budget_left(a, &c->info->rec, info)) return false;
  limit_result r = limiter_acquire(a->lim, c->info->rec.id, &c->info->spec, gw_now_ms());
  *info = (gw_limit_info){.which = r.which ? r.which : "", .retry_after_s = r.retry_after_s,
                          .limit_requests = r.limit_requests, .remaining_requests = r.remaining_requests,
                          .limit_tokens = r.limit_tokens, .remaining_tokens = r.remaining_tokens,
                          .reset_requests_s = r.reset_requests_s, .reset_tokens_s = r.reset_tokens_s};
  if (r.ok) c->info->slot = r.slot;
  return r.ok;
}

void gw_access_release(gw_access *a, const gw_caller *c, long long tokens) {
  if (c->anonymous || !c->info) return;
  limiter_release(a->lim, c->info->rec.id, &c->info->spec, c->info->slot, tokens, gw_now_ms());
}

void gw_access_usage(gw_access *a, const gw_caller *c, const char *model, const char *backend, int status,
                     long long prompt_tokens, long long completion_tokens, double latency_ms, bool streamed) {
  usage_rec rec = {.key_id = c->anonymous ? "anonymous" : c->key_id, .model = model, .backend = backend ? backend : "",
                   .prompt_tokens = prompt_tokens, .completion_tokens = completion_tokens, .status = status,
                   .latency_ms = (int64_t)latency_ms, .streamed = streamed};
  if (usage_record(a->db, &rec) != 0) log_error("gateway: usage not recorded: %s", err_get());
}
