// gateway/limits_local: the limiter of a single gateway process (no Redis).
// Keys hash into 64 shards, each a chained hash table behind its own mutex,
// so threads serving different keys rarely meet on a lock and there is no
// global lock on the hot path. A key's state is two rings of timestamped
// events (admissions, token charges), its slots in flight and its budget.
//
// Memory stays flat: events older than the window are dropped whenever a
// key is touched, rings shrink as they empty, and every acquire sweeps one
// other shard (round robin, at most once per 10 s each, only if its lock is
// free), dropping keys with nothing left to remember. Owns all of that
// state; never blocks on anything but the shard mutexes.
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/limits.h"

#define WINDOW_MS 60000LL
#define SHARDS 64
#define SWEEP_EVERY_MS 10000LL
#define RING_MIN 8

// ---- event rings
// Events in time order in a circular buffer (capacity a power of two), with
// the sum of their counts. Events of the same millisecond merge into one, so
// a ring never holds more than 60000 events whatever the rate; an event
// older than the newest (threads that read the clock, then raced for the
// lock) merges into the newest, which delays its expiry by that race.
typedef struct {
  long long ts, n;
} limit_event;

typedef struct {
  limit_event *ev;  // (cap,)
  int cap, head, len;
  long long sum;
} event_ring;

static limit_event *ring_at(const event_ring *r, int i) { return &r->ev[(r->head + i) & (r->cap - 1)]; }

static long long ring_last(const event_ring *r) { return r->len ? ring_at(r, r->len - 1)->ts : -1; }

static bool ring_resize(event_ring *r, int cap) {
  limit_event *ev = NULL;
  if (cap) {
    ev = malloc((size_t)cap * sizeof *ev);
    if (!ev) return false;
    for (int i = 0; i < r->len; i++) ev[i] = *ring_at(r, i);
  }
  free(r->ev);
  r->ev = ev;
  r->cap = cap;
  r->head = 0;
  return true;
}

// Drops the events at or before cut (a charge made at t counts while
// now < t + 60 s), then gives memory back when the ring is mostly empty.
static void ring_trim(event_ring *r, long long cut) {
  while (r->len && ring_at(r, 0)->ts <= cut) {
    r->sum -= ring_at(r, 0)->n;
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
  }
  if (!r->len) ring_resize(r, 0);
  else if (r->cap > RING_MIN && r->len <= r->cap / 4) ring_resize(r, r->cap / 2);  // cannot fail harmfully
}

static bool ring_push(event_ring *r, long long ts, long long n) {
  if (r->len && ts <= ring_last(r)) {
    ring_at(r, r->len - 1)->n += n;
  } else {
    if (r->len == r->cap && (r->cap >= INT_MAX / 2 || !ring_resize(r, r->cap ? r->cap * 2 : RING_MIN))) return false;
    *ring_at(r, r->len++) = (limit_event){ts, n};
  }
  r->sum += n;
  return true;
}

// When the sum drops below limit as the oldest events age out.
static long long ring_free_at(const event_ring *r, long long limit) {
  long long left = r->sum;
  for (int i = 0; i < r->len; i++) {
    left -= ring_at(r, i)->n;
    if (left < limit) return ring_at(r, i)->ts + WINDOW_MS;
  }
  return ring_last(r) + WINDOW_MS;  // not reached: the sum is the events'
}

// ---- key states and shards
typedef struct kstate {
  struct kstate *next;  // bucket chain
  uint64_t hash;
  event_ring req, tok;  // admissions (n = 1 each) and token charges
  long long parallel;   // slots held
  int bperiod;          // the budget: its period kind and id, and the tokens used in it
  long long bid, bused;
  char key[];
} kstate;

typedef struct {
  _Alignas(64) pthread_mutex_t mu;
  kstate **buckets;  // (nbuckets,), a power of two or 0
  size_t nbuckets, n;
  atomic_llong swept_ms;  // read without the lock to skip sweeps cheaply
} shard;

typedef struct {
  limiter base;
  atomic_uint sweep_next;
  atomic_llong errors;
  shard shards[SHARDS];
} local_limiter;

static uint64_t hash_key(const char *key) {  // FNV-1a
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 1099511628211ULL;
  return h;
}

static shard *shard_of(local_limiter *L, uint64_t h) { return &L->shards[h >> 58]; }  // top 6 bits; buckets use the low ones

static bool shard_resize(shard *sh, size_t nb) {
  kstate **b = calloc(nb, sizeof *b);
  if (!b) return false;
  for (size_t i = 0; i < sh->nbuckets; i++) {
    for (kstate *ks = sh->buckets[i], *next; ks; ks = next) {
      next = ks->next;
      ks->next = b[ks->hash & (nb - 1)];
      b[ks->hash & (nb - 1)] = ks;
    }
  }
  free(sh->buckets);
  sh->buckets = b;
  sh->nbuckets = nb;
  return true;
}

// The key's state; created when absent if `create` (NULL on out of memory).
static kstate *state_find(shard *sh, const char *key, uint64_t h, bool create) {
  if (sh->nbuckets) {
    for (kstate *ks = sh->buckets[h & (sh->nbuckets - 1)]; ks; ks = ks->next)
      if (ks->hash == h && !strcmp(ks->key, key)) return ks;
  }
  if (!create) return NULL;
  bool grown = sh->n < sh->nbuckets || shard_resize(sh, sh->nbuckets ? sh->nbuckets * 2 : 16);
  if (!grown && !sh->nbuckets) return NULL;  // a full table only gets longer chains
  size_t len = strlen(key);
  kstate *ks = calloc(1, sizeof *ks + len + 1);
  if (!ks) return NULL;
  memcpy(ks->key, key, len + 1);
  ks->hash = h;
  ks->next = sh->buckets[h & (sh->nbuckets - 1)];
  sh->buckets[h & (sh->nbuckets - 1)] = ks;
  sh->n++;
  return ks;
}

static void state_free(kstate *ks) {
  free(ks->req.ev);
  free(ks->tok.ev);
  free(ks);
}

// ---- budgets
static long long budget_used(const kstate *ks, int period, long long now) {
  long long id, end;
  limit_period(period, now, &id, &end);
  return ks->bperiod == period && ks->bid == id ? ks->bused : 0;
}

static void budget_charge(kstate *ks, int period, long long tokens, long long now) {
  long long id, end;
  limit_period(period, now, &id, &end);
  if (ks->bperiod != period || ks->bid != id) {
    ks->bperiod = period;
    ks->bid = id;
    ks->bused = 0;
  }
  ks->bused += tokens;
}

// ---- sweeping idle keys
static bool state_idle(kstate *ks, long long now) {
  ring_trim(&ks->req, now - WINDOW_MS);
  ring_trim(&ks->tok, now - WINDOW_MS);
  return !ks->req.len && !ks->tok.len && !ks->parallel && !budget_used(ks, ks->bperiod, now);
}

static void shard_sweep(shard *sh, long long now) {
  for (size_t i = 0; i < sh->nbuckets; i++) {
    for (kstate **p = &sh->buckets[i]; *p;) {
      kstate *ks = *p;
      if (!state_idle(ks, now)) {
        p = &ks->next;
        continue;
      }
      *p = ks->next;
      state_free(ks);
      sh->n--;
    }
  }
  if (sh->nbuckets > 16 && sh->n < sh->nbuckets / 8) shard_resize(sh, sh->nbuckets / 4);  // on failure keep the old
}

static void sweep_some(local_limiter *L, long long now) {
  shard *sh = &L->shards[atomic_fetch_add_explicit(&L->sweep_next, 1, memory_order_relaxed) % SHARDS];
  if (atomic_load_explicit(&sh->swept_ms, memory_order_relaxed) + SWEEP_EVERY_MS > now) return;
  if (pthread_mutex_trylock(&sh->mu)) return;
  shard_sweep(sh, now);
  atomic_store_explicit(&sh->swept_ms, now, memory_order_relaxed);
  pthread_mutex_unlock(&sh->mu);
}

// ---- acquire and release
static limit_state state_read(kstate *ks, const limit_spec *s, long long now) {
  ring_trim(&ks->req, now - WINDOW_MS);
  ring_trim(&ks->tok, now - WINDOW_MS);
  limit_state st = {.requests = ks->req.sum,
                    .requests_last_ms = ring_last(&ks->req),
                    .tokens = ks->tok.sum,
                    .tokens_last_ms = ring_last(&ks->tok),
                    .parallel = ks->parallel,
                    .budget_used = budget_used(ks, s->budget_period, now)};
  if (s->rpm > 0 && st.requests >= s->rpm) st.requests_free_ms = ring_free_at(&ks->req, s->rpm);
  if (s->tpm > 0 && st.tokens >= s->tpm) st.tokens_free_ms = ring_free_at(&ks->tok, s->tpm);
  return st;
}

static limit_result local_acquire(limiter *l, const char *key, const limit_spec *s, long long now) {
  local_limiter *L = (local_limiter *)l;
  if (!s->rpm && !s->tpm && !s->max_parallel && !s->budget) return limit_result_make(s, &(limit_state){0}, true, now);
  uint64_t h = hash_key(key);
  shard *sh = shard_of(L, h);
  pthread_mutex_lock(&sh->mu);
  kstate *ks = state_find(sh, key, h, true);
  if (!ks) {  // out of memory: let it through, as when Redis is away
    pthread_mutex_unlock(&sh->mu);
    atomic_fetch_add(&L->errors, 1);
    return limit_result_unchecked(s);
  }
  limit_state st = state_read(ks, s, now);
  bool ok = !limit_refuses(s, &st);
  if (ok && s->rpm > 0 && !ring_push(&ks->req, now, 1)) atomic_fetch_add(&L->errors, 1);
  if (ok && s->max_parallel > 0) ks->parallel++;
  pthread_mutex_unlock(&sh->mu);
  limit_result r = limit_result_make(s, &st, ok, now);
  r.slot = ok && s->max_parallel > 0;
  sweep_some(L, now);
  return r;
}

static void local_release(limiter *l, const char *key, const limit_spec *s, unsigned long long slot, long long tokens,
                          long long now) {
  local_limiter *L = (local_limiter *)l;
  bool charge_tpm = tokens > 0 && s->tpm > 0, charge_budget = tokens > 0 && s->budget > 0;
  if (!slot && !charge_tpm && !charge_budget) return;
  uint64_t h = hash_key(key);
  shard *sh = shard_of(L, h);
  pthread_mutex_lock(&sh->mu);
  kstate *ks = state_find(sh, key, h, charge_tpm || charge_budget);
  if (ks && slot && ks->parallel > 0) ks->parallel--;
  if (ks && charge_tpm) {
    ring_trim(&ks->tok, now - WINDOW_MS);
    if (!ring_push(&ks->tok, now, tokens)) ks = NULL;
  }
  if (ks && charge_budget) budget_charge(ks, s->budget_period, tokens, now);
  pthread_mutex_unlock(&sh->mu);
  if (!ks && (charge_tpm || charge_budget)) atomic_fetch_add(&L->errors, 1);
}

static limiter_stats local_stats(limiter *l) {
  local_limiter *L = (local_limiter *)l;
  limiter_stats st = {.errors = atomic_load(&L->errors)};
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_lock(&L->shards[i].mu);
    st.keys += (long long)L->shards[i].n;
    pthread_mutex_unlock(&L->shards[i].mu);
  }
  return st;
}

static void local_free(limiter *l) {
  local_limiter *L = (local_limiter *)l;
  for (int i = 0; i < SHARDS; i++) {
    shard *sh = &L->shards[i];
    for (size_t b = 0; b < sh->nbuckets; b++) {
      for (kstate *ks = sh->buckets[b], *next; ks; ks = next) {
        next = ks->next;
        state_free(ks);
      }
    }
    free(sh->buckets);
    pthread_mutex_destroy(&sh->mu);
  }
  free(L);
}

limiter *limiter_new_local(void) {
  size_t size = (sizeof(local_limiter) + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  local_limiter *L = aligned_alloc(64, size);
  if (!L) return NULL;
  memset(L, 0, size);
  L->base = (limiter){local_acquire, local_release, local_stats, local_free};
  atomic_init(&L->sweep_next, 0);
  atomic_init(&L->errors, 0);
  for (int i = 0; i < SHARDS; i++) {
    pthread_mutex_init(&L->shards[i].mu, NULL);
    atomic_init(&L->shards[i].swept_ms, LLONG_MIN / 2);
  }
  return &L->base;
}
