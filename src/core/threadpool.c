// threadpool: see threadpool.h.
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/cpu.h"
#include "core/error.h"

#define SPIN_ITERS 100000

struct pool {
  int n;
  pthread_t *threads;
  pool_fn fn;
  void *arg;
  _Atomic unsigned gen;     // bumped once per run
  _Atomic int pending;      // workers still busy in this run
  _Atomic int sleepers;     // workers blocked on cv
  _Atomic int stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

struct worker_arg {
  pool *p;
  int ith;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

// Spins with a pause, yielding the CPU now and then so that a pool larger
// than the machine (or a busy machine) still makes progress.
static inline void spin_step(int i) {
  if ((i & 255) == 255) sched_yield();
  else cpu_relax();
}

static unsigned wait_for_work(pool *p, unsigned seen) {
  for (int i = 0; i < SPIN_ITERS; i++) {
    unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
    if (g != seen) return g;
    spin_step(i);
  }
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add(&p->sleepers, 1);
  while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
  atomic_fetch_sub(&p->sleepers, 1);
  pthread_mutex_unlock(&p->mu);
  return atomic_load(&p->gen);
}

static void *worker_main(void *varg) {
  struct worker_arg wa = *(struct worker_arg *)varg;
  free(varg);
  pool *p = wa.p;
  unsigned seen = 0;
  for (;;) {
    seen = wait_for_work(p, seen);
    if (atomic_load(&p->stop)) break;
    p->fn(p->arg, wa.ith, p->n);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
  }
  return NULL;
}

pool *pool_new(int n_threads) {
  if (n_threads <= 0) n_threads = cpu_count();
  pool *p = calloc(1, sizeof *p);
  if (!p) goto fail;
  p->n = n_threads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->threads = calloc((size_t)n_threads, sizeof *p->threads);
  if (!p->threads) goto fail;
  for (int i = 1; i < n_threads; i++) {
    struct worker_arg *wa = malloc(sizeof *wa);
    if (!wa) goto fail;
    wa->p = p;
    wa->ith = i;
    if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
      free(wa);
      p->n = i;  // only threads 1..i-1 exist
      goto fail;
    }
  }
  return p;
fail:
  err_set("cannot start %d threads", n_threads);
  pool_free(p);
  return NULL;
}

void pool_free(pool *p) {
  if (!p) return;
  if (p->threads) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

int pool_size(const pool *p) { return p->n; }

void pool_run(pool *p, pool_fn fn, void *arg) {
  if (p->n == 1) {
    fn(arg, 0, 1);
    return;
  }
  p->fn = fn;
  p->arg = arg;
  atomic_store(&p->pending, p->n - 1);
  atomic_fetch_add(&p->gen, 1);  // seq_cst: pairs with the sleepers check in wait_for_work
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  fn(arg, 0, p->n);
  for (int i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) spin_step(i);
}
