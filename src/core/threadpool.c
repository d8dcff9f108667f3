// threadpool: see threadpool.h.
#include "core/threadpool.h"

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"

#define SPIN_ITERS 100000

// Fields on cache lines by who writes them when, so that a run moves as
// few lines between cores as it can (one way takes about 230 ns here):
// fixed ones, read by all; the run's, written by thread 0 before a run and
// read once by each worker on waking; pending, written by each worker at
// its end and read by thread 0, which waits for it.
struct pool {
  int n;
  pthread_t *threads;
  struct range *ranges;  // balanced splits, per thread: the plan's units left, and its speed
  _Atomic int sleepers;  // workers blocked on cv
  _Atomic int stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  _Alignas(64) pool_fn fn;
  void *arg;
  long grain;            // of the current plan
  _Atomic unsigned gen;  // bumped once per run
  _Alignas(64) _Atomic int pending;  // workers still busy in this run
};

// A thread's units not yet taken, [front, back), in one word so that its
// owner (taking from the front) and a thief (from the back) agree by one
// compare-and-swap; a cache line each, so that owners do not contend. Its
// speed (units per ns, a moving average; 0 until first noted), which the
// thread writes during a run and thread 0 reads between runs (pool_run's
// wait orders the two), shares the line: pool_plan reads the one and
// writes the other.
struct range {
  _Alignas(64) _Atomic uint64_t fb;
  double speed;
};

static uint64_t fb_pack(uint64_t front, uint64_t back) { return front << 32 | back; }
static long fb_front(uint64_t fb) { return (long)(fb >> 32); }
static long fb_back(uint64_t fb) { return (long)(fb & 0xffffffffu); }

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

// Spins with a pause, then also yields the CPU now and then, so that a
// pool larger than the machine (or a busy machine) still makes progress.
// Not from the first spins: a pause takes about 20 ns here and a yield
// 1.2 us, during which the waiter misses the word it waits for, and a
// decode step's waits (a thread a few us behind the other, the caller's
// work between runs) are often longer than 256 pauses.
#define SPIN_BEFORE_YIELD 4096  // about 80 us
static inline void spin_step(unsigned i) {
  if (i >= SPIN_BEFORE_YIELD && (i & 255) == 255) sched_yield();
  else cpu_relax();
}

void pool_spin(unsigned i) { spin_step(i); }

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
  if (n_threads > POOL_MAX_THREADS) {
    err_set("%d threads asked for; a pool runs 1 to %d (0: one per core)", n_threads, POOL_MAX_THREADS);
    return NULL;
  }
  pool *p = aligned_alloc(_Alignof(pool), sizeof *p);  // a multiple of its alignment: whole lines
  int started = 1;  // the caller's thread; workers are counted as they start
  if (!p) goto fail;
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->threads = calloc((size_t)n_threads, sizeof *p->threads);
  p->ranges = aligned_alloc(_Alignof(struct range), (size_t)n_threads * sizeof *p->ranges);
  if (!p->threads || !p->ranges) goto fail;
  memset(p->ranges, 0, (size_t)n_threads * sizeof *p->ranges);
  for (; started < n_threads; started++) {
    struct worker_arg *wa = malloc(sizeof *wa);
    if (!wa) goto fail;
    wa->p = p;
    wa->ith = started;
    if (pthread_create(&p->threads[started], NULL, worker_main, wa) != 0) {
      free(wa);
      goto fail;
    }
  }
  p->n = n_threads;
  return p;
fail:
  err_set("cannot start %d threads", n_threads);
  if (p) p->n = started;  // pool_free joins only the workers that exist
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
  free(p->ranges);
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
  for (unsigned i = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++) spin_step(i);  // wraps: harmless
}

// A thread's share is at least a quarter of the fastest one's: a single slow
// reading (a thread preempted once) costs one lopsided split, not starvation.
#define MIN_SPEED_RATIO 0.25
#define SPEED_WEIGHT 0.2  // of the newest reading in the moving average

static double plan_weight(const pool *p, int i, double fastest) {
  if (fastest <= 0) return 1;  // nothing noted yet: even
  return p->ranges[i].speed > fastest * MIN_SPEED_RATIO ? p->ranges[i].speed : fastest * MIN_SPEED_RATIO;
}

void pool_plan(pool *p, long n, long grain) {
  assert(n >= 0 && (uint64_t)n <= UINT32_MAX);
  p->grain = grain > 0 ? grain : 1;
  double fastest = 0, total = 0, acc = 0;
  for (int i = 0; i < p->n; i++) fastest = p->ranges[i].speed > fastest ? p->ranges[i].speed : fastest;
  for (int i = 0; i < p->n; i++) total += plan_weight(p, i, fastest);
  long lo = 0;
  for (int i = 0; i < p->n; i++) {
    acc += plan_weight(p, i, fastest);
    long hi = i + 1 == p->n ? n : (long)((double)n * acc / total / (double)p->grain + 0.5) * p->grain;
    if (hi > n) hi = n;
    atomic_store_explicit(&p->ranges[i].fb, fb_pack((uint64_t)lo, (uint64_t)hi), memory_order_relaxed);
    lo = hi;
  }
}

// The owner takes a quarter of what its range has left, in whole grains:
// large pieces while there is much, small ones near the end, when a thief
// may come.
static bool take_own(pool *p, int ith, long *lo, long *hi) {
  struct range *r = &p->ranges[ith];
  uint64_t fb = atomic_load_explicit(&r->fb, memory_order_relaxed);
  for (;;) {
    long front = fb_front(fb), back = fb_back(fb), left = back - front;
    if (left <= 0) return false;
    long k = left / 4 / p->grain * p->grain;
    if (k < p->grain) k = p->grain;
    if (k > left) k = left;
    if (atomic_compare_exchange_weak_explicit(&r->fb, &fb, fb_pack((uint64_t)(front + k), (uint64_t)back),
                                              memory_order_relaxed, memory_order_relaxed)) {
      *lo = front, *hi = front + k;
      return true;
    }
  }
}

// A thief takes the back half of the largest range left, from a grain's
// start (all of it when that is a single grain).
static bool steal(pool *p, long *lo, long *hi) {
  for (;;) {
    int victim = -1;
    long most = 0;
    uint64_t fb = 0;
    for (int i = 0; i < p->n; i++) {
      uint64_t v = atomic_load_explicit(&p->ranges[i].fb, memory_order_relaxed);
      if (fb_back(v) - fb_front(v) > most) victim = i, most = fb_back(v) - fb_front(v), fb = v;
    }
    if (victim < 0) return false;
    long front = fb_front(fb), back = fb_back(fb);
    long mid = front + ((back - front) / 2 + p->grain - 1) / p->grain * p->grain;
    long k = mid < back ? back - mid : back - front;
    if (atomic_compare_exchange_weak_explicit(&p->ranges[victim].fb, &fb, fb_pack((uint64_t)front, (uint64_t)(back - k)),
                                              memory_order_relaxed, memory_order_relaxed)) {
      *lo = back - k, *hi = back;
      return true;
    }
  }
}

bool pool_take(pool *p, int ith, long *lo, long *hi) { return take_own(p, ith, lo, hi) || steal(p, lo, hi); }

void pool_note(pool *p, int ith, double units, int64_t ns) {
  if (units <= 0 || ns <= 0) return;
  double s = units / (double)ns, *slot = &p->ranges[ith].speed;
  *slot = *slot > 0 ? *slot + SPEED_WEIGHT * (s - *slot) : s;
}
