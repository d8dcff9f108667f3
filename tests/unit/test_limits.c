// test_limits: the gateway's rate limiter (gateway/limits*.c). One set of
// checks runs against the local back end and against Redis: rpm exact within
// a sliding 60 s window with the right retry-after, tpm charged at release,
// parallel slots, budgets per UTC day / month / in total across period
// boundaries, the x-ratelimit-* numbers, and 8 threads on one key never
// admitting more than the limit. Then what only one back end has: idle keys
// swept from memory (local); two limiters ("replicas") sharing one limit,
// slot leases outliving a dead replica, connection errors, and Redis killed
// and restarted mid-test (fail-open, then recovery). The test starts its own
// redis-server on a free port and fails when there is none.
#include <fcntl.h>
#include <limits.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/timing.h"
#include "gateway/limits.h"
#include "testutil.h"

#define T0 1709161200000LL      // 2024-02-28T23:00:00Z
#define FEB29 1709164800000LL   // 2024-02-29T00:00:00Z
#define MAR1 1709251200000LL    // 2024-03-01T00:00:00Z
#define NEWYEAR 1735689600000LL // 2025-01-01T00:00:00Z
#define PASSWORD "s3cret"

static limiter *(*g_make)(void);  // the back end under test
static const char *g_backend;
static int g_port;
static pid_t g_redis;

static bool near(double a, double b) { return fabs(a - b) < 1e-6; }
static bool is(const char *a, const char *b) { return a && b && !strcmp(a, b); }

// A key unique to this run, back end and check.
static const char *key(const char *name) {
  static char bufs[8][128];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, 128, "%s-%d-%s", g_backend, (int)getpid(), name);
  return b;
}

static limit_result acq(limiter *l, const char *k, limit_spec s, long long now) {
  return limiter_acquire(l, k, &s, now);
}
static void rel(limiter *l, const char *k, limit_spec s, unsigned long long slot, long long tokens, long long now) {
  limiter_release(l, k, &s, slot, tokens, now);
}

// ---- checks for both back ends
static void check_rpm(void) {
  limiter *l = g_make();
  const char *k = key("rpm");
  limit_spec s = {.rpm = 5};
  for (int i = 0; i < 5; i++) {
    limit_result r = acq(l, k, s, T0 + i * 1000);
    CHECK_MSG(r.ok && !r.unchecked && r.remaining_requests == 4 - i, "%s: admission %d", g_backend, i);
    CHECK(r.limit_requests == 5 && near(r.reset_requests_s, 60) && !r.which && r.retry_after_s == 0);
  }
  limit_result r = acq(l, k, s, T0 + 10000);
  CHECK_MSG(!r.ok && is(r.which, "requests") && near(r.retry_after_s, 50), "%s: retry %g", g_backend, r.retry_after_s);
  CHECK(r.remaining_requests == 0 && near(r.reset_requests_s, 54) && r.slot == 0);
  r = acq(l, k, s, T0 + 59999);
  CHECK(!r.ok && near(r.retry_after_s, 0.001));
  CHECK(acq(l, k, s, T0 + 60000).ok);  // the first admission left the window
  r = acq(l, k, s, T0 + 60500);
  CHECK(!r.ok && near(r.retry_after_s, 0.5));
  CHECK(acq(l, k, s, T0 + 61000).ok);
  // Refusals were not counted: three more slide in as 2, 3 and 4 s age out.
  for (int i = 2; i <= 4; i++) CHECK_MSG(acq(l, k, s, T0 + 60000 + i * 1000).ok, "%s: slide %d", g_backend, i);
  CHECK(!acq(l, k, s, T0 + 64001).ok);
  // A lower limit waits for enough to age out: 5 in the window (60..64 s), rpm 2
  // needs 4 of them gone, the 4th oldest (63 s) last.
  limit_spec two = {.rpm = 2};
  r = acq(l, k, two, T0 + 64001);
  CHECK_MSG(!r.ok && near(r.retry_after_s, (63000 + 60000 - 64001) / 1000.0), "%s: retry %g", g_backend,
            r.retry_after_s);
  // Same millisecond: three at once, the fourth waits the whole window.
  const char *k2 = key("rpm-same-ms");
  limit_spec three = {.rpm = 3};
  for (int i = 0; i < 3; i++) CHECK(acq(l, k2, three, T0).ok);
  r = acq(l, k2, three, T0);
  CHECK(!r.ok && near(r.retry_after_s, 60));
  for (int i = 0; i < 3; i++) CHECK(acq(l, k2, three, T0 + 60000).ok);
  CHECK(!acq(l, k2, three, T0 + 60000).ok);
  limiter_free(l);
}

static void check_tpm(void) {
  limiter *l = g_make();
  const char *k = key("tpm");
  limit_spec s = {.tpm = 100};
  limit_result r = acq(l, k, s, T0);
  CHECK(r.ok && r.limit_tokens == 100 && r.remaining_tokens == 100 && r.reset_tokens_s == 0);
  rel(l, k, s, r.slot, 60, T0 + 1000);
  r = acq(l, k, s, T0 + 2000);
  CHECK_MSG(r.ok && r.remaining_tokens == 40 && near(r.reset_tokens_s, 59), "%s: %lld", g_backend, r.remaining_tokens);
  rel(l, k, s, r.slot, 50, T0 + 3000);  // 110: used up
  rel(l, k, s, 0, 0, T0 + 3000);        // nothing to charge
  rel(l, k, s, 0, -5, T0 + 3000);
  r = acq(l, k, s, T0 + 4000);
  CHECK_MSG(!r.ok && is(r.which, "tokens") && near(r.retry_after_s, 57), "%s: %s %g", g_backend, r.which,
            r.retry_after_s);
  CHECK(r.remaining_tokens == 0 && near(r.reset_tokens_s, 59));
  CHECK(!acq(l, k, s, T0 + 60999).ok);
  r = acq(l, k, s, T0 + 61000);  // the 60 aged out, 50 left
  CHECK_MSG(r.ok && r.remaining_tokens == 50 && near(r.reset_tokens_s, 2), "%s: %lld %g", g_backend,
            r.remaining_tokens, r.reset_tokens_s);
  r = acq(l, k, s, T0 + 63000);
  CHECK(r.ok && r.remaining_tokens == 100 && r.reset_tokens_s == 0);
  // Several charges must age out: 50 + 30 + 40 against tpm 50 frees when 40 is left.
  const char *k2 = key("tpm-walk");
  limit_spec fifty = {.tpm = 50};
  rel(l, k2, fifty, 0, 50, T0 + 1000);
  rel(l, k2, fifty, 0, 30, T0 + 2000);
  rel(l, k2, fifty, 0, 40, T0 + 3000);
  r = acq(l, k2, fifty, T0 + 5000);
  CHECK_MSG(!r.ok && near(r.retry_after_s, 57), "%s: retry %g", g_backend, r.retry_after_s);
  CHECK(!acq(l, k2, fifty, T0 + 61999).ok && acq(l, k2, fifty, T0 + 62000).ok);
  limiter_free(l);
}

static void check_parallel(void) {
  limiter *l = g_make();
  const char *k = key("parallel");
  limit_spec s = {.max_parallel = 2, .tpm = 1000000};
  limit_result a = acq(l, k, s, T0), b = acq(l, k, s, T0), c = acq(l, k, s, T0);
  CHECK(a.ok && b.ok && a.slot && b.slot);
  CHECK_MSG(!c.ok && is(c.which, "parallel") && near(c.retry_after_s, 1), "%s", g_backend);
  rel(l, k, s, a.slot, 0, T0 + 1);
  limit_result d = acq(l, k, s, T0 + 2);
  CHECK(d.ok);
  rel(l, k, s, 0, 5, T0 + 3);  // no slot: frees nothing
  CHECK(!acq(l, k, s, T0 + 4).ok);
  rel(l, k, s, b.slot, 0, T0 + 5);
  rel(l, k, s, d.slot, 0, T0 + 5);
  limit_result e = acq(l, k, s, T0 + 6), f = acq(l, k, s, T0 + 6);
  CHECK(e.ok && f.ok && !acq(l, k, s, T0 + 6).ok);
  CHECK(acq(l, key("unlimited"), (limit_spec){0}, T0).slot == 0);
  limiter_free(l);
}

static void check_budget_day(void) {
  limiter *l = g_make();
  const char *k = key("budget-day");
  limit_spec s = {.budget = 100, .budget_period = LIMIT_DAY};
  limit_result r = acq(l, k, s, T0);
  CHECK(r.ok && r.limit_budget == 100 && r.remaining_budget == 100 && near(r.reset_budget_s, 3600));
  rel(l, k, s, r.slot, 100, T0 + 1000);
  r = acq(l, k, s, T0 + 2000);
  CHECK_MSG(!r.ok && is(r.which, "budget") && near(r.retry_after_s, 3598), "%s: %s %g", g_backend, r.which,
            r.retry_after_s);
  CHECK(r.remaining_budget == 0);
  CHECK(!acq(l, k, s, FEB29 - 1).ok);
  r = acq(l, k, s, FEB29);  // a new UTC day
  CHECK(r.ok && r.remaining_budget == 100 && near(r.reset_budget_s, 86400));
  // Tokens count in the day the request ended.
  r = acq(l, k, s, MAR1 - 1000);
  CHECK(r.ok);
  rel(l, k, s, r.slot, 100, MAR1 + 1000);
  r = acq(l, k, s, MAR1 + 2000);
  CHECK(!r.ok && near(r.retry_after_s, 86398));
  limiter_free(l);
}

static void check_budget_month(void) {
  limiter *l = g_make();
  const char *k = key("budget-month");
  limit_spec s = {.budget = 100, .budget_period = LIMIT_MONTH};
  limit_result r = acq(l, k, s, FEB29 + 12 * 3600000LL);
  CHECK(r.ok && near(r.reset_budget_s, 12 * 3600));
  rel(l, k, s, r.slot, 60, FEB29 + 12 * 3600000LL);
  r = acq(l, k, s, FEB29 + 13 * 3600000LL);
  CHECK(r.ok && r.remaining_budget == 40);
  rel(l, k, s, r.slot, 90, FEB29 + 13 * 3600000LL);  // over: the request was admitted, so it is charged
  r = acq(l, k, s, FEB29 + 14 * 3600000LL);
  CHECK_MSG(!r.ok && is(r.which, "budget") && near(r.retry_after_s, 10 * 3600), "%s: %g", g_backend, r.retry_after_s);
  CHECK(acq(l, k, s, MAR1).ok);
  // December into January.
  const char *k2 = key("budget-newyear");
  rel(l, k2, s, 0, 100, NEWYEAR - 1000);
  r = acq(l, k2, s, NEWYEAR - 1);
  CHECK(!r.ok && near(r.retry_after_s, 0.001));
  CHECK(acq(l, k2, s, NEWYEAR).ok);
  limiter_free(l);
}

static void check_budget_total(void) {
  limiter *l = g_make();
  const char *k = key("budget-total");
  limit_spec s = {.budget = 100, .budget_period = LIMIT_TOTAL};
  limit_result r = acq(l, k, s, T0);
  CHECK(r.ok && r.reset_budget_s == -1 && r.remaining_budget == 100);
  rel(l, k, s, r.slot, 99, T0);
  CHECK(acq(l, k, s, T0 + 1).ok);
  rel(l, k, s, 0, 1, T0 + 1);
  r = acq(l, k, s, T0 + 2);
  CHECK_MSG(!r.ok && is(r.which, "budget") && r.retry_after_s == -1, "%s: %g", g_backend, r.retry_after_s);
  CHECK(!acq(l, k, s, T0 + 400 * 86400000LL).ok);
  // Never freeing beats any wait.
  const char *k2 = key("budget-total-rpm");
  limit_spec both = {.rpm = 1, .budget = 10};
  rel(l, k2, both, acq(l, k2, both, T0).slot, 10, T0);
  r = acq(l, k2, both, T0 + 1000);
  CHECK_MSG(!r.ok && is(r.which, "budget") && r.retry_after_s == -1, "%s: %s %g", g_backend, r.which, r.retry_after_s);
  limiter_free(l);
}

// Several limits refuse: the one that frees last is reported.
static void check_which(void) {
  limiter *l = g_make();
  const char *k = key("which");
  limit_spec s = {.rpm = 1, .budget = 10, .budget_period = LIMIT_DAY};
  limit_result r = acq(l, k, s, T0);
  rel(l, k, s, r.slot, 10, T0);
  r = acq(l, k, s, T0 + 1000);
  CHECK_MSG(!r.ok && is(r.which, "budget") && near(r.retry_after_s, 3599), "%s: %s", g_backend, r.which);
  const char *k2 = key("which-2");
  limit_spec p = {.rpm = 1, .max_parallel = 1};
  CHECK(acq(l, k2, p, T0).ok);
  r = acq(l, k2, p, T0 + 1000);
  CHECK(!r.ok && is(r.which, "requests") && near(r.retry_after_s, 59));
  // A refusal counts nothing: a parallel refusal does not use up rpm.
  const char *k3 = key("which-3");
  limit_spec q = {.rpm = 3, .max_parallel = 1};
  limit_result a = acq(l, k3, q, T0);
  for (int i = 0; i < 5; i++) CHECK(is(acq(l, k3, q, T0).which, "parallel"));
  rel(l, k3, q, a.slot, 0, T0);
  for (int i = 0; i < 2; i++) {
    a = acq(l, k3, q, T0);
    CHECK(a.ok);
    rel(l, k3, q, a.slot, 0, T0);
  }
  CHECK(is(acq(l, k3, q, T0).which, "requests"));
  limiter_free(l);
}

static void check_headers(void) {
  limiter *l = g_make();
  const char *k = key("headers");
  limit_spec s = {.rpm = 10, .tpm = 1000};
  limit_result r = acq(l, k, s, T0);
  CHECK(r.limit_requests == 10 && r.remaining_requests == 9 && r.limit_tokens == 1000 && r.remaining_tokens == 1000);
  CHECK(near(r.reset_requests_s, 60) && r.reset_tokens_s == 0 && r.limit_budget == 0);
  rel(l, k, s, r.slot, 300, T0 + 500);
  r = acq(l, k, s, T0 + 1500);
  CHECK_MSG(r.remaining_requests == 8 && r.remaining_tokens == 700, "%s: %lld %lld", g_backend, r.remaining_requests,
            r.remaining_tokens);
  CHECK(near(r.reset_requests_s, 60) && near(r.reset_tokens_s, 59));
  r = acq(l, key("headers-none"), (limit_spec){0}, T0);
  CHECK(r.ok && r.limit_requests == 0 && r.limit_tokens == 0 && r.remaining_requests == 0 && !r.which);
  limiter_free(l);
}

// ---- threads
typedef struct {
  limiter *l;
  const char *key;
  limit_spec spec;
  int tries;
  atomic_int *admitted, *holders, *max_holders;
} hammer_arg;

static void *hammer_rpm(void *p) {
  hammer_arg *a = p;
  for (int i = 0; i < a->tries; i++)
    if (limiter_acquire(a->l, a->key, &a->spec, T0).ok) atomic_fetch_add(a->admitted, 1);
  return NULL;
}

// Holds each admitted slot briefly, counting holders: never more than max_parallel.
static void *hammer_parallel(void *p) {
  hammer_arg *a = p;
  for (int i = 0; i < a->tries; i++) {
    limit_result r = limiter_acquire(a->l, a->key, &a->spec, T0 + i);
    if (!r.ok) continue;
    atomic_fetch_add(a->admitted, 1);
    int h = atomic_fetch_add(a->holders, 1) + 1, m = atomic_load(a->max_holders);
    while (h > m && !atomic_compare_exchange_weak(a->max_holders, &m, h)) {
    }
    sched_yield();
    atomic_fetch_sub(a->holders, 1);
    limiter_release(a->l, a->key, &a->spec, r.slot, 1, T0 + i);
  }
  return NULL;
}

// n threads over the given limiters (round robin); returns admissions.
static int hammer(limiter **ls, int n_limiters, int n, void *(*fn)(void *), const char *k, limit_spec s, int tries,
                  int *max_holders) {
  atomic_int admitted = 0, holders = 0, maxh = 0;
  pthread_t th[16];
  hammer_arg args[16];
  for (int i = 0; i < n; i++) {
    args[i] = (hammer_arg){ls[i % n_limiters], k, s, tries, &admitted, &holders, &maxh};
    pthread_create(&th[i], NULL, fn, &args[i]);
  }
  for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
  if (max_holders) *max_holders = atomic_load(&maxh);
  return atomic_load(&admitted);
}

static void check_threads(void) {
  limiter *l = g_make();
  int rpm = 1000, got = hammer(&l, 1, 8, hammer_rpm, key("threads"), (limit_spec){.rpm = rpm}, 400, NULL);
  CHECK_MSG(got == rpm, "%s: 8 threads admitted %d of rpm %d", g_backend, got, rpm);
  int maxh = 0;
  got = hammer(&l, 1, 8, hammer_parallel, key("threads-par"), (limit_spec){.max_parallel = 3}, 300, &maxh);
  CHECK_MSG(got > 0 && maxh <= 3, "%s: %d admitted, %d held at once", g_backend, got, maxh);
  limit_spec p = {.max_parallel = 3};
  for (int i = 0; i < 3; i++) CHECK(acq(l, key("threads-par"), p, T0 + 1000).ok);  // every slot came back
  CHECK(!acq(l, key("threads-par"), p, T0 + 1000).ok);
  limiter_free(l);
}

// ---- cost
static void measure(const char *what, int n) {
  limiter *l = g_make();
  const char *k = key("cost");
  limit_spec s = {.rpm = 1000000000, .tpm = 1000000000000LL, .max_parallel = 1000, .budget = 1LL << 50,
                  .budget_period = LIMIT_DAY};
  int64_t t = time_ns();
  for (int i = 0; i < n; i++) {
    limit_result r = limiter_acquire(l, k, &s, T0 + i / 4);  // 4 a millisecond: a full window after 240k
    CHECK(r.ok && !r.unchecked);
    limiter_release(l, k, &s, r.slot, 100, T0 + i / 4);
  }
  double us = (double)(time_ns() - t) / n / 1000.0;
  printf("%s: %.2f us per acquire + release (every limit set, single thread, %d rounds)\n", what, us, n);
  limiter_free(l);
}

static void run_common(const char *backend, limiter *(*make)(void)) {
  g_backend = backend;
  g_make = make;
  check_rpm();
  check_tpm();
  check_parallel();
  check_budget_day();
  check_budget_month();
  check_budget_total();
  check_which();
  check_headers();
  check_threads();
}

// ---- UTC periods, against libc's calendar (which limits.c avoids: it locks)
static void check_periods(void) {
  unsigned long long x = 88172645463325252ULL;
  int bad = 0;
  for (int i = 0; i < 200000 && bad < 5; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    long long now = (long long)(x % 7258118400000ULL) - 2208988800000LL;  // 1900 to 2200
    if (i < 4) now = (long long[]){FEB29 - 1, MAR1, NEWYEAR - 1, 951868800000LL /* 2000-03-01 */}[i];
    time_t t = (time_t)(now >= 0 ? now / 1000 : -((-now + 999) / 1000));
    struct tm tm;
    gmtime_r(&t, &tm);
    struct tm next = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon + 1, .tm_mday = 1};
    long long id, end, want_end = (long long)timegm(&next) * 1000, want_id = (tm.tm_year + 1900LL) * 12 + tm.tm_mon;
    limit_period(LIMIT_MONTH, now, &id, &end);
    if (id != want_id || end != want_end) {
      bad++;
      CHECK_MSG(false, "month of %lld: id %lld end %lld, want %lld %lld", now, id, end, want_id, want_end);
    }
    long long day_end = ((long long)timegm(&(struct tm){.tm_year = tm.tm_year, .tm_mon = tm.tm_mon,
                                                        .tm_mday = tm.tm_mday + 1})) * 1000;
    limit_period(LIMIT_DAY, now, &id, &end);
    CHECK(end == day_end && end > now && end - now <= 86400000);
  }
  long long id, end;
  limit_period(LIMIT_TOTAL, T0, &id, &end);
  CHECK(end == LLONG_MAX);
}

// ---- local only
static limiter *make_local(void) { return limiter_new_local(); }

static void check_local_sweep(void) {
  limiter *l = limiter_new_local();
  char k[64];
  limit_spec rpm = {.rpm = 10}, day = {.budget = 1000, .budget_period = LIMIT_DAY}, total = {.budget = 1000},
             par = {.max_parallel = 5}, tpm = {.tpm = 100};
  for (int i = 0; i < 20000; i++) {
    snprintf(k, sizeof k, "sweep-%d", i);
    CHECK(acq(l, k, rpm, T0).ok);
  }
  for (int i = 0; i < 10; i++) {
    snprintf(k, sizeof k, "day-%d", i);
    rel(l, k, day, 0, 5, T0);
    snprintf(k, sizeof k, "total-%d", i);
    rel(l, k, total, 0, 5, T0);
    snprintf(k, sizeof k, "par-%d", i);
    CHECK(acq(l, k, par, T0).ok);  // held, never released
    snprintf(k, sizeof k, "tpm-%d", i);
    rel(l, k, tpm, 0, 5, T0 + 100000);  // still in the window at the first sweep
  }
  CHECK(limiter_get_stats(l).keys == 20040);
  for (int i = 0; i < 64; i++) acq(l, "other", rpm, T0 + 120000);  // each acquire sweeps one of the 64 shards
  long long keys = limiter_get_stats(l).keys;
  CHECK_MSG(keys == 41, "%lld keys left after the window (want day, total, parallel, tpm and other)", keys);
  for (int i = 0; i < 64; i++) acq(l, "other", rpm, FEB29 + 1000);
  keys = limiter_get_stats(l).keys;
  CHECK_MSG(keys == 21, "%lld keys left the next day (want total, parallel and other)", keys);
  CHECK(limiter_get_stats(l).errors == 0);
  limiter_free(l);
}

// ---- Redis: a private server
static const char *redis_binary(void) {
  static char found[512];
  const char *env = getenv("REDIS_SERVER");
  if (env && !access(env, X_OK)) return env;
  const char *path = getenv("PATH");
  char dirs[2048];
  snprintf(dirs, sizeof dirs, "%s:/usr/bin:/usr/local/bin:/usr/sbin", path ? path : "");
  for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(found, sizeof found, "%s/redis-server", d);
    if (!access(found, X_OK)) return found;
  }
  return NULL;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) {
    perror("free port");
    exit(1);
  }
  close(fd);
  return ntohs(a.sin_port);
}

static bool redis_answers(int port) {
  struct timeval tv = {0, 200000};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  bool up = false;
  if (c && !c->err) {
    redisReply *r = redisCommand(c, "AUTH %s", PASSWORD);
    up = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
  }
  redisFree(c);
  return up;
}

static pid_t redis_start(const char *bin, int port) {
  char port_s[16];
  snprintf(port_s, sizeof port_s, "%d", port);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(bin, bin, "--port", port_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass",
          PASSWORD, "--daemonize", "no", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 100 && pid > 0; i++) {
    if (redis_answers(port)) return pid;
    usleep(50000);
  }
  fprintf(stderr, "%s --port %d did not answer within 5 s\n", bin, port);
  exit(1);
}

static void redis_stop(pid_t pid, int sig) {
  kill(pid, sig);
  waitpid(pid, NULL, 0);
}

static limiter *make_redis(void) {
  char err[256];
  limiter *l = limiter_new_redis("127.0.0.1", g_port, PASSWORD, "test:", err, sizeof err);
  if (!l) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  return l;
}

// Two replicas, four threads each, one limit.
static void check_redis_replicas(void) {
  limiter *ls[2] = {make_redis(), make_redis()};
  int got = hammer(ls, 2, 8, hammer_rpm, key("replicas"), (limit_spec){.rpm = 500}, 200, NULL);
  CHECK_MSG(got == 500, "two replicas admitted %d of rpm 500", got);
  int maxh = 0;
  got = hammer(ls, 2, 8, hammer_parallel, key("replicas-par"), (limit_spec){.max_parallel = 2}, 200, &maxh);
  CHECK_MSG(got > 0 && maxh <= 2, "two replicas: %d admitted, %d held at once", got, maxh);
  limiter_free(ls[0]);
  limiter_free(ls[1]);
}

// A replica dies holding a slot: the slot counts until its lease ends.
static void check_redis_lease(void) {
  limiter *a = make_redis(), *b = make_redis();
  const char *k = key("lease");
  limit_spec s = {.max_parallel = 1};
  CHECK(acq(a, k, s, T0).ok);
  limiter_free(a);  // never released
  CHECK(!acq(b, k, s, T0 + 1000).ok);
  CHECK(!acq(b, k, s, T0 + LIMITER_SLOT_LEASE_MS - 1).ok);
  CHECK(acq(b, k, s, T0 + LIMITER_SLOT_LEASE_MS).ok);
  limiter_free(b);
}

static void check_redis_errors(void) {
  char err[256] = "", want[64];
  int closed = free_port();
  CHECK(!limiter_new_redis("127.0.0.1", closed, NULL, NULL, err, sizeof err));
  snprintf(want, sizeof want, "redis 127.0.0.1:%d: ", closed);
  CHECK_MSG(strstr(err, want) && strstr(err, "refused"), "%s", err);
  CHECK(!limiter_new_redis("127.0.0.1", g_port, "wrong", NULL, err, sizeof err));
  CHECK_MSG(strstr(err, "AUTH: WRONGPASS"), "%s", err);
  CHECK(!limiter_new_redis("127.0.0.1", g_port, NULL, NULL, err, sizeof err));
  CHECK_MSG(strstr(err, "SCRIPT: NOAUTH"), "%s", err);
}

// Redis dies: requests pass unchecked, quickly, and are counted; it comes
// back (empty): limits hold again.
static void check_redis_outage(const char *bin) {
  limiter *l = make_redis();
  limit_spec s = {.rpm = 1, .max_parallel = 1};
  const char *k = key("outage");
  CHECK(acq(l, k, s, T0).ok && !acq(l, k, s, T0).ok);
  redis_stop(g_redis, SIGKILL);
  int64_t t = time_ns();
  for (int i = 0; i < 20; i++) {
    limit_result r = acq(l, k, s, T0 + i);
    CHECK_MSG(r.ok && r.unchecked && !r.slot, "attempt %d while down", i);
    rel(l, k, s, r.slot, 10, T0 + i);
  }
  double down_s = (double)(time_ns() - t) * 1e-9;
  CHECK_MSG(down_s < 1.0, "20 acquires with Redis down took %.3f s", down_s);
  CHECK(limiter_get_stats(l).errors >= 20);
  g_redis = redis_start(bin, g_port);
  limit_result r = {0};
  t = time_ns();
  while (time_ns() - t < 5000000000LL && (r = acq(l, k, s, T0 + 100)).unchecked) usleep(20000);
  CHECK_MSG(r.ok && !r.unchecked, "not back %.1f s after the restart", (double)(time_ns() - t) * 1e-9);
  r = acq(l, k, s, T0 + 101);
  CHECK(!r.ok && !r.unchecked && is(r.which, "requests"));
  limiter_free(l);
}

// The floor under the Redis limiter's cost: one round trip.
static void measure_ping(int n) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", g_port, tv);
  freeReplyObject(redisCommand(c, "AUTH %s", PASSWORD));
  int64_t t = time_ns();
  for (int i = 0; i < n; i++) freeReplyObject(redisCommand(c, "PING"));
  printf("redis: %.2f us per PING round trip\n", (double)(time_ns() - t) / n / 1000.0);
  redisFree(c);
}

static void run_redis(void) {
  const char *bin = redis_binary();
  CHECK_MSG(bin, "redis-server not found: install it (scripts/deps.sh) or set REDIS_SERVER");
  if (!bin) return;
  g_port = free_port();
  g_redis = redis_start(bin, g_port);
  run_common("redis", make_redis);
  check_redis_replicas();
  check_redis_lease();
  check_redis_errors();
  check_redis_outage(bin);
  measure_ping(5000);
  measure("redis", 5000);
  redis_stop(g_redis, SIGTERM);
}

int main(void) {
  check_periods();
  run_common("local", make_local);
  check_local_sweep();
  measure("local", 400000);
  run_redis();
  return tu_finish();
}
