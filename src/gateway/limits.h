// gateway/limits: per-key rate limits and budgets for the gateway. A key has
// requests per minute (rpm), tokens per minute (tpm: prompt + completion),
// a number of requests in flight (max_parallel) and a token budget per UTC
// day, UTC month or in total. limiter_acquire admits a request or says which
// limit refuses it and when to retry; limiter_release ends it, freeing its
// parallel slot and charging its tokens. Both also give the numbers of the
// x-ratelimit-* headers.
//
// The minute windows slide and are exact: a request admitted at t counts
// until t + 60 s, a token charge made at t likewise; timestamps are kept,
// nothing is approximated by buckets. Two back ends share the semantics:
// one in this process (limits_local.c), one in Redis shared by gateway
// replicas (limits_redis.c, Lua scripts, fail-open when Redis is away).
// docs/DESIGN.md "Rate limits" has the algorithm and the Redis layout.
//
// Owns the counters only. Never knows about HTTP, keys' secrets or the
// usage database; `key` is whatever the caller names a key by (its id:
// it becomes part of Redis key names, so never pass the secret itself).
#ifndef LLMUX_GATEWAY_LIMITS_H
#define LLMUX_GATEWAY_LIMITS_H
#include <stdbool.h>
#include <stddef.h>

enum limit_period { LIMIT_TOTAL = 0, LIMIT_DAY = 1, LIMIT_MONTH = 2 };  // days and months in UTC

// A key's limits; 0 (or less) means unlimited.
typedef struct {
  long long rpm, tpm, max_parallel, budget;
  int budget_period;  // enum limit_period
} limit_spec;

typedef struct {
  bool ok;
  // Set when ok although nothing was checked: Redis could not be reached
  // and the request was let through (fail-open; limiter_stats counts these).
  bool unchecked;
  // On refusal: "requests", "tokens", "parallel" or "budget", the limit that
  // frees last when several refuse; NULL when ok.
  const char *which;
  // On refusal, seconds until `which` admits again: exact for the windows and
  // budgets, a 1 s hint for parallel (nobody knows when a request ends),
  // -1 when waiting will not help (a total budget used up). 0 when ok.
  double retry_after_s;
  // Pass to limiter_release: nonzero when a parallel slot was taken.
  unsigned long long slot;
  // x-ratelimit-*: limit_* is the spec's (0: unlimited, send no header);
  // remaining_* counts this request when it was admitted; reset_* is the
  // time until the window is empty again (OpenAI: "resets to its initial
  // state"), 0 when it is empty.
  long long limit_requests, remaining_requests, limit_tokens, remaining_tokens;
  double reset_requests_s, reset_tokens_s;
  // The budget: tokens left in the period and seconds until the period
  // ends (-1 for a total budget).
  long long limit_budget, remaining_budget;
  double reset_budget_s;
} limit_result;

typedef struct {
  long long keys;    // keys with state in this process (local back end; 0 for Redis)
  long long errors;  // Redis failures; each let a request through or dropped a release's charge
} limiter_stats;

typedef struct limiter limiter;

// A Redis parallel slot lives this long unless released: a replica that dies
// holding slots stops counting against the key after at most this time. A
// request that runs longer stops counting too (the limit gets laxer, never
// stricter).
#define LIMITER_SLOT_LEASE_MS (10LL * 60 * 1000)

limiter *limiter_new_local(void);
// Connects, authenticates (password may be NULL) and loads the scripts; keys
// are named "<prefix>{<key>}:<r|t|s|p|b>" (prefix NULL: "llmux:rl:"). NULL
// with a message in err when Redis cannot be reached or refuses: a gateway
// configured for Redis does not start without it. Later failures fail open.
limiter *limiter_new_redis(const char *host, int port, const char *password, const char *prefix, char *err,
                           size_t err_size);
void limiter_free(limiter *l);

// Admits one request of `key` at now_ms (Unix ms, UTC): counts it against
// rpm and takes a parallel slot. Refuses when any limit is reached (rpm,
// max_parallel: at the limit; tpm, budget: used up); on refusal nothing is
// counted. Thread-safe.
limit_result limiter_acquire(limiter *l, const char *key, const limit_spec *s, long long now_ms);
// The request ended (call once per admitted request, with the same spec):
// frees its parallel slot (r.slot from acquire) and charges tokens to the tpm
// window and the budget of the period containing now_ms. Thread-safe.
void limiter_release(limiter *l, const char *key, const limit_spec *s, unsigned long long slot, long long tokens,
                     long long now_ms);
limiter_stats limiter_get_stats(limiter *l);

// ---- shared by the two back ends (limits.c); not for callers

// What a back end knows about a key at now, before admitting a request.
typedef struct {
  long long requests;          // admitted in the last 60 s
  long long requests_free_ms;  // when requests drops below rpm (needed only when requests >= rpm)
  long long requests_last_ms;  // newest admission in the window, -1 if none
  long long tokens;            // charged in the last 60 s
  long long tokens_free_ms;    // when tokens drops below tpm (needed only when tokens >= tpm)
  long long tokens_last_ms;    // newest charge in the window, -1 if none
  long long parallel;          // slots held
  long long budget_used;       // in the current period
} limit_state;

struct limiter {
  limit_result (*acquire)(limiter *l, const char *key, const limit_spec *s, long long now_ms);
  void (*release)(limiter *l, const char *key, const limit_spec *s, unsigned long long slot, long long tokens,
                  long long now_ms);
  limiter_stats (*stats)(limiter *l);
  void (*free)(limiter *l);
};

// The spec with negative values read as 0 and an unknown period as total.
limit_spec limit_spec_clean(const limit_spec *s);
// Whether st refuses one more request (the rule the Redis script repeats).
bool limit_refuses(const limit_spec *s, const limit_state *st);
// The result for st at now: admitted (ok) or refused, with retry and headers.
limit_result limit_result_make(const limit_spec *s, const limit_state *st, bool ok, long long now_ms);
// The result of a request let through unchecked.
limit_result limit_result_unchecked(const limit_spec *s);
// The budget period containing now_ms: an id that differs between periods
// and the ms at which it ends (LLONG_MAX for LIMIT_TOTAL).
void limit_period(int period, long long now_ms, long long *id, long long *end_ms);

#endif
