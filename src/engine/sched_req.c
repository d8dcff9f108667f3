// sched_req: a request's life outside the scheduler loop: owned copies of its
// parameters, the output it accumulates under its lock, waiting for more, and
// the reference count that decides who frees it. See sched.h.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/sched.h"
#include "engine/sched_internal.h"

double sched_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool copy_params(sched_params *dst, const sched_params *src) {
  *dst = *src;
  dst->prompt = malloc((size_t)src->n_prompt * sizeof *dst->prompt);
  dst->stop = NULL;
  dst->sampling.logit_bias = NULL;
  if (!dst->prompt) return false;
  memcpy(dst->prompt, src->prompt, (size_t)src->n_prompt * sizeof *dst->prompt);
  if (src->n_stop > 0) {
    char **stop = calloc((size_t)src->n_stop, sizeof *stop);
    dst->stop = (const char *const *)stop;
    if (!stop) return false;
    for (int i = 0; i < src->n_stop; i++)
      if (!(stop[i] = strdup(src->stop[i]))) return false;
  }
  if (src->sampling.n_logit_bias > 0) {
    size_t bytes = (size_t)src->sampling.n_logit_bias * sizeof(llmux_logit_bias);
    llmux_logit_bias *b = malloc(bytes);
    dst->sampling.logit_bias = b;
    if (!b) return false;
    memcpy(b, src->sampling.logit_bias, bytes);
  }
  return true;
}

static void free_params(sched_params *p) {
  free(p->prompt);
  for (int i = 0; p->stop && i < p->n_stop; i++) free((char *)p->stop[i]);
  free((void *)p->stop);
  free((void *)p->sampling.logit_bias);
}

sched_req *sched_req_new(const sched_params *p) {
  sched_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  if (!copy_params(&r->p, p) || !(r->text = malloc(256))) {
    free_params(&r->p);
    free(r->text);
    free(r);
    return NULL;
  }
  r->text[0] = 0;
  r->text_cap = 256;
  r->slot = -1;
  atomic_init(&r->refs, 2);  // the submitter's and the scheduler's
  atomic_init(&r->cancelled, false);
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->t_submit = sched_now();
  return r;
}

void sched_req_release(sched_req *r) {
  if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free_params(&r->p);
  free(r->text);
  free(r->toks);
  free(r->embd);
  free(r);
}

void sched_cancel(sched_req *r) { atomic_store(&r->cancelled, true); }

static struct timespec deadline_in(double timeout_s);

void sched_req_wait(sched_req *r, size_t text_len, int n_toks, double timeout_s) {
  struct timespec ts = deadline_in(timeout_s);
  while (r->finish == SCHED_RUNNING && r->text_len <= text_len && r->n_toks <= n_toks)
    if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT) break;
}

static struct timespec deadline_in(double timeout_s) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double end = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + timeout_s;
  ts.tv_sec = (time_t)end;
  ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
  return ts;
}

void sched_waiter_init(sched_waiter *w) {
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  w->seq = 0;
}

void sched_waiter_destroy(sched_waiter *w) {
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
}

uint64_t sched_waiter_wait(sched_waiter *w, uint64_t seen, double timeout_s) {
  struct timespec ts = deadline_in(timeout_s);
  pthread_mutex_lock(&w->mu);
  while (w->seq == seen)
    if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT) break;
  uint64_t seq = w->seq;
  pthread_mutex_unlock(&w->mu);
  return seq;
}

static void notify(sched_req *r) {
  sched_waiter *w = r->p.waiter;
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->seq++;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

// ---- appending output (scheduler thread) ---------------------------------------------

bool sched_req_add_text(sched_req *r, const char *text, size_t len) {
  pthread_mutex_lock(&r->mu);
  bool ok = true;
  if (r->text_len + len + 1 > r->text_cap) {
    size_t cap = r->text_cap * 2;
    while (cap < r->text_len + len + 1) cap *= 2;
    char *t = realloc(r->text, cap);
    if (t) {
      r->text = t;
      r->text_cap = cap;
    }
    ok = t != NULL;
  }
  if (ok) {
    memcpy(r->text + r->text_len, text, len);
    r->text_len += len;
    r->text[r->text_len] = 0;
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
  if (ok) notify(r);
  return ok;
}

bool sched_req_add_token(sched_req *r, const sched_tokinfo *ti) {
  pthread_mutex_lock(&r->mu);
  bool ok = true;
  if (r->n_toks == r->toks_cap) {
    int cap = r->toks_cap ? r->toks_cap * 2 : 64;
    sched_tokinfo *t = realloc(r->toks, (size_t)cap * sizeof *t);
    if (t) {
      r->toks = t;
      r->toks_cap = cap;
    }
    ok = t != NULL;
  }
  if (ok) {
    if (r->n_toks == 0) r->t_first = sched_now();
    r->toks[r->n_toks++] = *ti;
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->mu);
  if (ok) notify(r);
  return ok;
}

void sched_req_finish(sched_req *r, sched_finish why, const char *error) {
  pthread_mutex_lock(&r->mu);
  r->finish = why;
  if (error) snprintf(r->error, sizeof r->error, "%s", error);
  pthread_cond_broadcast(&r->cv);
  notify(r);  // under r->mu: whoever sees the finish may free the waiter at once
  pthread_mutex_unlock(&r->mu);
}
