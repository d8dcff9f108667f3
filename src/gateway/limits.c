// gateway/limits: what the local and Redis limiters share: the dispatch of
// the public calls, the refusal rule, the result (retry-after and the
// x-ratelimit-* numbers) built from a key's state, and UTC budget periods.
// Owns no state.
#include "gateway/limits.h"

#include <limits.h>

#define WINDOW_MS 60000LL
#define DAY_MS 86400000LL

limit_result limiter_acquire(limiter *l, const char *key, const limit_spec *s, long long now_ms) {
  limit_spec c = limit_spec_clean(s);
  return l->acquire(l, key, &c, now_ms);
}

void limiter_release(limiter *l, const char *key, const limit_spec *s, unsigned long long slot, long long tokens,
                     long long now_ms) {
  limit_spec c = limit_spec_clean(s);
  l->release(l, key, &c, slot, tokens > 0 ? tokens : 0, now_ms);
}

limiter_stats limiter_get_stats(limiter *l) { return l->stats(l); }

void limiter_free(limiter *l) {
  if (l) l->free(l);
}

static long long nonneg(long long v) { return v > 0 ? v : 0; }

limit_spec limit_spec_clean(const limit_spec *s) {
  limit_spec c = {nonneg(s->rpm), nonneg(s->tpm), nonneg(s->max_parallel), nonneg(s->budget), s->budget_period};
  if (c.budget_period != LIMIT_DAY && c.budget_period != LIMIT_MONTH) c.budget_period = LIMIT_TOTAL;
  return c;
}

bool limit_refuses(const limit_spec *s, const limit_state *st) {
  return (s->max_parallel > 0 && st->parallel >= s->max_parallel) || (s->rpm > 0 && st->requests >= s->rpm) ||
         (s->tpm > 0 && st->tokens >= s->tpm) || (s->budget > 0 && st->budget_used >= s->budget);
}

static long long floor_div(long long a, long long b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// ---- UTC calendar months, in arithmetic: glibc's gmtime_r and timegm take a
// process-wide lock, which acquire must not. Years count from March, so that
// the leap day ends a year: months then have 31 30 31 30 31 31 30 31 30 31 31
// and 28 or 29 days, whose running sums (153 * m + 2) / 5 gives. An era is
// 400 years, 146097 days. A month id is year * 12 + month (0 = January).

// Days from 1970-01-01 to the first day of month id.
static long long month_first_day(long long id) {
  long long y = floor_div(id, 12), m = id - y * 12;  // m: 0 = January
  long long my = m < 2 ? y - 1 : y, mm = m < 2 ? m + 10 : m - 2;  // March-based year and month
  long long era = floor_div(my, 400), yoe = my - era * 400;
  long long day_of_era = yoe * 365 + yoe / 4 - yoe / 100 + (153 * mm + 2) / 5;
  return era * 146097 + day_of_era - 719468;  // 719468: days from 0000-03-01 to 1970-01-01
}

// The month id of a day counted from 1970-01-01.
static long long month_of_day(long long day) {
  long long z = day + 719468, era = floor_div(z, 146097), doe = z - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // leap days taken out
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mm = (5 * doy + 2) / 153;
  long long y = era * 400 + yoe + (mm >= 10);
  return y * 12 + (mm < 10 ? mm + 2 : mm - 10);
}

void limit_period(int period, long long now_ms, long long *id, long long *end_ms) {
  if (period == LIMIT_DAY) {
    *id = floor_div(now_ms, DAY_MS);
    *end_ms = (*id + 1) * DAY_MS;
  } else if (period == LIMIT_MONTH) {
    *id = month_of_day(floor_div(now_ms, DAY_MS));
    *end_ms = month_first_day(*id + 1) * DAY_MS;
  } else {
    *id = 0;
    *end_ms = LLONG_MAX;
  }
}

// Seconds from now until `at`, never negative.
static double secs_until(long long at, long long now) { return at > now ? (double)(at - now) / 1000.0 : 0.0; }

// Seconds until the window whose newest entry is `last` is empty.
static double window_reset(long long last, long long now) { return last >= 0 ? secs_until(last + WINDOW_MS, now) : 0; }

// A refusing limit's retry beats the current one when it frees later; -1
// (never) beats everything.
static void refusal(limit_result *r, const char *which, double retry) {
  bool later = r->retry_after_s >= 0 && (retry < 0 || retry > r->retry_after_s);
  if (!r->which || later) {
    r->which = which;
    r->retry_after_s = retry;
  }
}

static void refusals(limit_result *r, const limit_spec *s, const limit_state *st, long long now) {
  if (s->max_parallel > 0 && st->parallel >= s->max_parallel) refusal(r, "parallel", 1.0);
  if (s->rpm > 0 && st->requests >= s->rpm) refusal(r, "requests", secs_until(st->requests_free_ms, now));
  if (s->tpm > 0 && st->tokens >= s->tpm) refusal(r, "tokens", secs_until(st->tokens_free_ms, now));
  if (s->budget > 0 && st->budget_used >= s->budget) refusal(r, "budget", r->reset_budget_s);
}

limit_result limit_result_make(const limit_spec *s, const limit_state *st, bool ok, long long now_ms) {
  limit_result r = {.ok = ok};
  bool counted = ok && s->rpm > 0;  // the window holds this request now
  r.limit_requests = s->rpm;
  r.remaining_requests = s->rpm > 0 ? nonneg(s->rpm - st->requests - counted) : 0;
  r.reset_requests_s = window_reset(counted ? now_ms : st->requests_last_ms, now_ms);
  r.limit_tokens = s->tpm;
  r.remaining_tokens = s->tpm > 0 ? nonneg(s->tpm - st->tokens) : 0;
  r.reset_tokens_s = window_reset(st->tokens_last_ms, now_ms);
  long long id, end;
  limit_period(s->budget_period, now_ms, &id, &end);
  r.limit_budget = s->budget;
  r.remaining_budget = s->budget > 0 ? nonneg(s->budget - st->budget_used) : 0;
  r.reset_budget_s = end == LLONG_MAX ? -1 : secs_until(end, now_ms);
  if (!ok) refusals(&r, s, st, now_ms);
  return r;
}

limit_result limit_result_unchecked(const limit_spec *s) {
  limit_result r = {.ok = true, .unchecked = true};
  r.limit_requests = r.remaining_requests = s->rpm;
  r.limit_tokens = r.remaining_tokens = s->tpm;
  r.limit_budget = r.remaining_budget = s->budget;
  return r;
}
