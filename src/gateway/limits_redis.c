// gateway/limits_redis: the limiter shared by gateway replicas through
// Redis. Every acquire and release is one Lua script (EVALSHA), so checking
// and counting is one atomic step however many replicas and threads ask at
// once. A key's state is five Redis keys, "<prefix>{<key>}:" followed by
//   r  sorted set: admissions in the window, member "<replica>-<seq>", score ms
//   t  sorted set: token charges, member "<replica>-c<seq>:<tokens>", score ms
//   s  string: the sum of t's charges (kept with it, so acquire is not O(window))
//   p  sorted set: parallel slots, member as in r, score = deadline (now + lease)
//   b  hash: p = budget period id, u = tokens used in it
// (the braces make them one cluster hash slot). r, t and s expire 60 s after
// their last write, p after a lease, b a day after its period ends.
//
// Connections: a pool of four, each behind its own mutex; a thread takes a
// free one or waits on one. Failure policy is fail-open: when Redis cannot
// be reached or answers an error, the request passes unchecked, a warning is
// logged (at most every 10 s) and limiter_stats counts it; a broken
// connection is reopened on a later call, at most once a second. Owns the
// connections and scripts; never holds a pool mutex across two commands of
// different calls, and never blocks longer than the command timeout.
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timing.h"
#include "gateway/limits.h"

#define POOL 4
#define CONNECT_TIMEOUT_MS 250
#define COMMAND_TIMEOUT_MS 500
#define RECONNECT_NS 1000000000LL
#define WARN_EVERY_NS 10000000000LL
#define DAY_MS 86400000LL

// ---- the scripts
// Both start with ARGV[1] = now (ms). The window holds what happened after
// now - 60 s; the numbers stay below 2^53, which Lua's doubles hold exactly.
static const char PRELUDE[] =
    "local now = tonumber(ARGV[1])\n"
    "local cut = now - 60000\n"
    "local function amount(m) return tonumber(string.match(m, ':(%d+)$')) end\n"
    "local function last(z) return tonumber(redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')[2]) end\n"
    // Drops the charges at or before cut and returns the window's sum; adds
    // the window up again when the sum key was lost (evicted).
    "local function tokens_trim(z, s)\n"
    "  local old = redis.call('ZRANGEBYSCORE', z, '-inf', cut)\n"
    "  if #old > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', cut) end\n"
    "  if redis.call('EXISTS', z) == 0 then redis.call('DEL', s) return 0 end\n"
    "  local sum = redis.call('GET', s)\n"
    "  if not sum then\n"
    "    sum = 0\n"
    "    for _, m in ipairs(redis.call('ZRANGE', z, 0, -1)) do sum = sum + amount(m) end\n"
    "    redis.call('SET', s, sum, 'PX', 60000)\n"
    "    return sum\n"
    "  end\n"
    "  local gone = 0\n"
    "  for _, m in ipairs(old) do gone = gone + amount(m) end\n"
    "  if gone > 0 then redis.call('DECRBY', s, gone) end\n"
    "  return tonumber(sum) - gone\n"
    "end\n";

// KEYS: r, t, s, p, b. ARGV: now, rpm, tpm, max_parallel, budget, period id,
// member, slot deadline, lease. Returns {ok, requests, requests_free,
// requests_last, tokens, tokens_free, tokens_last, parallel, budget_used}:
// limit_state, computed as limits_local.c does and refused by the rule of
// limit_refuses (limits.c); test_limits runs both back ends through the
// same checks.
static const char ACQUIRE[] =
    "local rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local par, bud = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local nreq, rfree, rlast = 0, -1, -1\n"
    "if rpm > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cut)\n"
    "  nreq = redis.call('ZCARD', KEYS[1])\n"
    "  if nreq >= rpm then\n"
    "    rfree = tonumber(redis.call('ZRANGE', KEYS[1], nreq - rpm, nreq - rpm, 'WITHSCORES')[2]) + 60000\n"
    "  end\n"
    "  if nreq > 0 then rlast = last(KEYS[1]) end\n"
    "end\n"
    "local tsum, tfree, tlast = 0, -1, -1\n"
    "if tpm > 0 then\n"
    "  tsum = tokens_trim(KEYS[2], KEYS[3])\n"
    "  if tsum >= tpm then\n"
    "    local left, ev = tsum, redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')\n"
    "    tfree = now + 60000\n"
    "    for i = 1, #ev, 2 do\n"
    "      left = left - amount(ev[i])\n"
    "      if left < tpm then tfree = tonumber(ev[i + 1]) + 60000 break end\n"
    "    end\n"
    "  end\n"
    "  if tsum > 0 then tlast = last(KEYS[2]) end\n"
    "end\n"
    "local npar = 0\n"
    "if par > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)\n"
    "  npar = redis.call('ZCARD', KEYS[4])\n"
    "end\n"
    "local bused = 0\n"
    "if bud > 0 then\n"
    "  local b = redis.call('HMGET', KEYS[5], 'p', 'u')\n"
    "  if b[1] == ARGV[6] then bused = tonumber(b[2]) or 0 end\n"
    "end\n"
    "local ok = not ((par > 0 and npar >= par) or (rpm > 0 and nreq >= rpm) or\n"
    "                (tpm > 0 and tsum >= tpm) or (bud > 0 and bused >= bud))\n"
    "if ok and rpm > 0 then\n"
    "  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[7])\n"
    "  redis.call('PEXPIRE', KEYS[1], 60000)\n"
    "end\n"
    "if ok and par > 0 then\n"
    "  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[7])\n"
    "  redis.call('PEXPIRE', KEYS[4], ARGV[9])\n"
    "end\n"
    "return {ok and 1 or 0, nreq, rfree, rlast, tsum, tfree, tlast, npar, bused}\n";

// KEYS: t, s, p, b. ARGV: now, tokens, slot member ('' for none), charge
// member, tpm, budget, period id, budget ttl ms (0: keep forever).
static const char RELEASE[] =
    "local tok = tonumber(ARGV[2])\n"
    "if ARGV[3] ~= '' then redis.call('ZREM', KEYS[3], ARGV[3]) end\n"
    "if tok > 0 and tonumber(ARGV[5]) > 0 then\n"
    "  tokens_trim(KEYS[1], KEYS[2])\n"
    "  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4] .. ':' .. ARGV[2])\n"
    "  redis.call('INCRBY', KEYS[2], ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[1], 60000)\n"
    "  redis.call('PEXPIRE', KEYS[2], 60000)\n"
    "end\n"
    "if tok > 0 and tonumber(ARGV[6]) > 0 then\n"
    "  if redis.call('HGET', KEYS[4], 'p') == ARGV[7] then redis.call('HINCRBY', KEYS[4], 'u', ARGV[2])\n"
    "  else redis.call('HSET', KEYS[4], 'p', ARGV[7], 'u', ARGV[2]) end\n"
    "  if ARGV[8] ~= '0' then redis.call('PEXPIRE', KEYS[4], ARGV[8]) else redis.call('PERSIST', KEYS[4]) end\n"
    "end\n"
    "return 1\n";

enum { SCRIPT_ACQUIRE, SCRIPT_RELEASE, N_SCRIPTS };

// ---- the limiter and its connections
typedef struct {
  pthread_mutex_t mu;
  redisContext *c;     // NULL while closed
  int64_t retry_at_ns; // no reconnect before (monotonic clock)
} redis_conn;

typedef struct {
  limiter base;
  char *host, *password, *prefix;
  int port;
  char replica[17];        // random hex naming this process's members
  char *source[N_SCRIPTS]; // PRELUDE + script
  char sha[N_SCRIPTS][41];
  atomic_ullong seq;
  atomic_uint next_conn;
  atomic_llong errors, warned_ns;
  redis_conn conns[POOL];
} redis_limiter;

static void redis_warn(redis_limiter *R, const char *what) {
  long long now = time_ns(), last = atomic_load(&R->warned_ns);
  if (now - last < WARN_EVERY_NS || !atomic_compare_exchange_strong(&R->warned_ns, &last, now)) return;
  log_warn("rate limits: redis %s:%d: %s; requests pass unchecked while it lasts (%lld so far)", R->host, R->port,
           what, (long long)atomic_load(&R->errors));
}

// A command's reply; NULL with the reason in err (the connection is broken
// when c->err is set, else Redis answered an error).
static redisReply *redis_call(redisContext *c, int argc, const char **argv, const size_t *lens, char *err,
                              size_t err_size) {
  redisReply *r = redisCommandArgv(c, argc, argv, lens);
  if (!r) {
    snprintf(err, err_size, "%s", c->errstr[0] ? c->errstr : "connection lost");
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    snprintf(err, err_size, "%s: %s", argv[0], r->str);
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

// A new connection, authenticated; NULL with the reason in err.
static redisContext *redis_open(const redis_limiter *R, char *err, size_t err_size) {
  struct timeval connect_tv = {0, CONNECT_TIMEOUT_MS * 1000}, command_tv = {0, COMMAND_TIMEOUT_MS * 1000};
  redisContext *c = redisConnectWithTimeout(R->host, R->port, connect_tv);
  if (!c || c->err) {
    snprintf(err, err_size, "%s", c ? c->errstr : "out of memory");
    redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, command_tv);
  redisEnableKeepAlive(c);
  if (!R->password) return c;
  const char *argv[] = {"AUTH", R->password};
  redisReply *r = redis_call(c, 2, argv, NULL, err, err_size);
  if (!r) {
    redisFree(c);
    return NULL;
  }
  freeReplyObject(r);
  return c;
}

// A pooled connection, locked: a free one if any, else wait for one.
static redis_conn *conn_take(redis_limiter *R) {
  unsigned start = atomic_fetch_add_explicit(&R->next_conn, 1, memory_order_relaxed);
  for (int i = 0; i < POOL; i++) {
    redis_conn *c = &R->conns[(start + i) % POOL];
    if (!pthread_mutex_trylock(&c->mu)) return c;
  }
  redis_conn *c = &R->conns[start % POOL];
  pthread_mutex_lock(&c->mu);
  return c;
}

// Opens the connection if it is closed and a reconnect is due.
static bool conn_ready(redis_limiter *R, redis_conn *c, char *err, size_t err_size) {
  if (c->c) return true;
  int64_t now = time_ns();
  if (now < c->retry_at_ns) {
    snprintf(err, err_size, "unreachable, next try in %.1f s", (double)(c->retry_at_ns - now) * 1e-9);
    return false;
  }
  c->c = redis_open(R, err, err_size);
  if (!c->c) {
    c->retry_at_ns = now + RECONNECT_NS;
    return false;
  }
  if (c->retry_at_ns) log_info("rate limits: redis %s:%d: connected again", R->host, R->port);
  c->retry_at_ns = 0;
  return true;
}

// Runs a script: EVALSHA, and EVAL when Redis lost its script cache (a
// restart, SCRIPT FLUSH). argv[0..2] are filled here. The reply, or NULL
// after counting the failure and warning.
static redisReply *redis_script(redis_limiter *R, int script, int argc, const char **argv, size_t *lens) {
  char err[256] = "";
  redisReply *r = NULL;
  redis_conn *c = conn_take(R);
  if (conn_ready(R, c, err, sizeof err)) {
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[1] = R->sha[script], lens[1] = strlen(argv[1]);
    r = redis_call(c->c, argc, argv, lens, err, sizeof err);
    if (!r && !c->c->err && strstr(err, "NOSCRIPT")) {
      argv[0] = "EVAL", lens[0] = 4;
      argv[1] = R->source[script], lens[1] = strlen(argv[1]);
      r = redis_call(c->c, argc, argv, lens, err, sizeof err);
    }
    if (!r && c->c->err) {  // broken: reopen on a later call
      redisFree(c->c);
      c->c = NULL;
    }
  }
  pthread_mutex_unlock(&c->mu);
  if (r && r->type != REDIS_REPLY_ARRAY && r->type != REDIS_REPLY_INTEGER) {
    snprintf(err, sizeof err, "unexpected reply type %d", r->type);
    freeReplyObject(r);
    r = NULL;
  }
  if (!r) {
    atomic_fetch_add(&R->errors, 1);
    redis_warn(R, err);
  }
  return r;
}

// ---- acquire and release
// The five key names "<prefix>{<key>}:<c>", in one allocation.
typedef struct {
  char *buf;
  const char *r, *t, *s, *p, *b;
} key_names;

static bool key_names_make(key_names *k, const char *prefix, const char *key) {
  size_t n = strlen(prefix) + strlen(key) + 5;
  k->buf = malloc(5 * n);
  if (!k->buf) return false;
  const char **names[] = {&k->r, &k->t, &k->s, &k->p, &k->b};
  for (int i = 0; i < 5; i++) {
    char *at = k->buf + (size_t)i * n;
    snprintf(at, n, "%s{%s}:%c", prefix, key, "rtspb"[i]);
    *names[i] = at;
  }
  return true;
}

static void period_arg(char *buf, size_t size, int period, long long now, long long *end) {
  long long id;
  limit_period(period, now, &id, end);
  snprintf(buf, size, "%c%lld", "tdm"[period], id);
}

static void set_arg(const char **argv, size_t *lens, int i, const char *s) {
  argv[i] = s;
  lens[i] = strlen(s);
}

static bool reply_state(const redisReply *r, bool *ok, limit_state *st) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 9) return false;
  long long v[9];
  for (int i = 0; i < 9; i++) {
    if (r->element[i]->type != REDIS_REPLY_INTEGER) return false;
    v[i] = r->element[i]->integer;
  }
  *ok = v[0] == 1;
  *st = (limit_state){v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
  return true;
}

static limit_result redis_acquire(limiter *l, const char *key, const limit_spec *s, long long now) {
  redis_limiter *R = (redis_limiter *)l;
  if (!s->rpm && !s->tpm && !s->max_parallel && !s->budget) return limit_result_make(s, &(limit_state){0}, true, now);
  key_names k;
  if (!key_names_make(&k, R->prefix, key)) {
    atomic_fetch_add(&R->errors, 1);
    return limit_result_unchecked(s);
  }
  unsigned long long seq = atomic_fetch_add(&R->seq, 1) + 1;
  char a[9][48];
  long long end;
  snprintf(a[0], 48, "%lld", now);
  snprintf(a[1], 48, "%lld", s->rpm);
  snprintf(a[2], 48, "%lld", s->tpm);
  snprintf(a[3], 48, "%lld", s->max_parallel);
  snprintf(a[4], 48, "%lld", s->budget);
  period_arg(a[5], 48, s->budget_period, now, &end);
  snprintf(a[6], 48, "%s-%llu", R->replica, seq);
  snprintf(a[7], 48, "%lld", now + LIMITER_SLOT_LEASE_MS);
  snprintf(a[8], 48, "%lld", LIMITER_SLOT_LEASE_MS);
  const char *argv[17];
  size_t lens[17];
  set_arg(argv, lens, 2, "5");
  const char *keys[] = {k.r, k.t, k.s, k.p, k.b};
  for (int i = 0; i < 5; i++) set_arg(argv, lens, 3 + i, keys[i]);
  for (int i = 0; i < 9; i++) set_arg(argv, lens, 8 + i, a[i]);
  redisReply *r = redis_script(R, SCRIPT_ACQUIRE, 17, argv, lens);
  free(k.buf);
  bool ok;
  limit_state st;
  bool replied = r != NULL, parsed = replied && reply_state(r, &ok, &st);
  freeReplyObject(r);
  if (!parsed) {
    if (replied) {  // a script of another version answering? count it like any failure
      atomic_fetch_add(&R->errors, 1);
      redis_warn(R, "unexpected reply to the acquire script");
    }
    return limit_result_unchecked(s);
  }
  limit_result res = limit_result_make(s, &st, ok, now);
  res.slot = ok && s->max_parallel > 0 ? seq : 0;
  return res;
}

static void redis_release(limiter *l, const char *key, const limit_spec *s, unsigned long long slot, long long tokens,
                          long long now) {
  redis_limiter *R = (redis_limiter *)l;
  if (!slot && (!tokens || (!s->tpm && !s->budget))) return;
  key_names k;
  if (!key_names_make(&k, R->prefix, key)) {
    atomic_fetch_add(&R->errors, 1);
    return;
  }
  char a[8][48];
  long long end;
  snprintf(a[0], 48, "%lld", now);
  snprintf(a[1], 48, "%lld", tokens);
  if (slot) snprintf(a[2], 48, "%s-%llu", R->replica, slot);
  else a[2][0] = 0;
  snprintf(a[3], 48, "%s-c%llu", R->replica, atomic_fetch_add(&R->seq, 1) + 1);
  snprintf(a[4], 48, "%lld", s->tpm);
  snprintf(a[5], 48, "%lld", s->budget);
  period_arg(a[6], 48, s->budget_period, now, &end);
  snprintf(a[7], 48, "%lld", s->budget_period == LIMIT_TOTAL ? 0 : end - now + DAY_MS);
  const char *argv[15];
  size_t lens[15];
  set_arg(argv, lens, 2, "4");
  const char *keys[] = {k.t, k.s, k.p, k.b};
  for (int i = 0; i < 4; i++) set_arg(argv, lens, 3 + i, keys[i]);
  for (int i = 0; i < 8; i++) set_arg(argv, lens, 7 + i, a[i]);
  freeReplyObject(redis_script(R, SCRIPT_RELEASE, 15, argv, lens));
  free(k.buf);
}

static limiter_stats redis_stats(limiter *l) {
  return (limiter_stats){.errors = atomic_load(&((redis_limiter *)l)->errors)};
}

static void redis_free(limiter *l) {
  redis_limiter *R = (redis_limiter *)l;
  for (int i = 0; i < POOL; i++) {
    redisFree(R->conns[i].c);
    pthread_mutex_destroy(&R->conns[i].mu);
  }
  for (int i = 0; i < N_SCRIPTS; i++) free(R->source[i]);
  free(R->host);
  free(R->password);
  free(R->prefix);
  free(R);
}

// ---- construction
static char *concat(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  char *s = malloc(na + nb + 1);
  if (!s) return NULL;
  memcpy(s, a, na);
  memcpy(s + na, b, nb + 1);
  return s;
}

static void replica_id(char out[17]) {
  uint64_t v;
  if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) v = (uint64_t)time_ns() ^ ((uint64_t)getpid() << 32);
  snprintf(out, 17, "%016llx", (unsigned long long)v);
}

// Loads the scripts on c and keeps their SHA1s.
static bool scripts_load(redis_limiter *R, redisContext *c, char *err, size_t err_size) {
  for (int i = 0; i < N_SCRIPTS; i++) {
    const char *argv[] = {"SCRIPT", "LOAD", R->source[i]};
    redisReply *r = redis_call(c, 3, argv, NULL, err, err_size);
    if (!r) return false;
    bool good = r->type == REDIS_REPLY_STRING && r->len == 40;
    if (good) memcpy(R->sha[i], r->str, 41);
    freeReplyObject(r);
    if (!good) {
      snprintf(err, err_size, "SCRIPT LOAD: unexpected reply");
      return false;
    }
  }
  return true;
}

limiter *limiter_new_redis(const char *host, int port, const char *password, const char *prefix, char *err,
                           size_t err_size) {
  char why[256] = "out of memory";
  redis_limiter *R = calloc(1, sizeof *R);
  if (!R) goto fail;
  R->base = (limiter){redis_acquire, redis_release, redis_stats, redis_free};
  for (int i = 0; i < POOL; i++) pthread_mutex_init(&R->conns[i].mu, NULL);
  R->port = port;
  R->host = strdup(host ? host : "127.0.0.1");
  R->password = password && *password ? strdup(password) : NULL;
  R->prefix = strdup(prefix ? prefix : "llmux:rl:");
  R->source[SCRIPT_ACQUIRE] = concat(PRELUDE, ACQUIRE);
  R->source[SCRIPT_RELEASE] = concat(PRELUDE, RELEASE);
  if (!R->host || (password && *password && !R->password) || !R->prefix || !R->source[0] || !R->source[1]) goto fail;
  replica_id(R->replica);
  atomic_init(&R->warned_ns, INT64_MIN / 2);
  R->conns[0].c = redis_open(R, why, sizeof why);
  if (!R->conns[0].c || !scripts_load(R, R->conns[0].c, why, sizeof why)) goto fail;
  return &R->base;
fail:
  snprintf(err, err_size, "redis %s:%d: %s", host ? host : "127.0.0.1", port, why);
  if (R) redis_free(&R->base);
  return NULL;
}
