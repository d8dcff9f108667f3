// threadpool: a fixed set of worker threads that run one function together.
// pool_run(p, fn, arg) calls fn(arg, ith, nth) on every thread (the caller is
// thread 0) and returns when all have finished. Workers spin briefly between
// runs, because a decode step issues hundreds of short runs per token and a
// sleep/wake per run would cost more than the work; after the spin they sleep.
// A pool is driven by one thread at a time (the model's owner).
#ifndef LLMUX_THREADPOOL_H
#define LLMUX_THREADPOOL_H

typedef void (*pool_fn)(void *arg, int ith, int nth);
typedef struct pool pool;

// n_threads <= 0 means one per CPU. Returns NULL (and sets the error) on failure.
pool *pool_new(int n_threads);
void pool_free(pool *p);
int pool_size(const pool *p);
void pool_run(pool *p, pool_fn fn, void *arg);

// Splits [0, n) into nth nearly equal parts; part ith is [*lo, *hi).
static inline void pool_split(long n, int ith, int nth, long *lo, long *hi) {
  long per = n / nth, rem = n % nth;
  *lo = ith * per + (ith < rem ? ith : rem);
  *hi = *lo + per + (ith < rem ? 1 : 0);
}

#endif
