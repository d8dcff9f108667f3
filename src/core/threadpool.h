// threadpool: a fixed set of worker threads that run one function together.
// pool_run(p, fn, arg) calls fn(arg, ith, nth) on every thread (the caller is
// thread 0) and returns when all have finished. Workers spin briefly between
// runs, because a decode step issues hundreds of short runs per token and a
// sleep/wake per run would cost more than the work; after the spin they sleep.
// A pool is driven by one thread at a time (the model's owner).
#ifndef LLMUX_THREADPOOL_H
#define LLMUX_THREADPOOL_H
#include <stdbool.h>
#include <stdint.h>

typedef void (*pool_fn)(void *arg, int ith, int nth);
typedef struct pool pool;

#define POOL_MAX_THREADS 1024
// n_threads <= 0 means one per CPU; more than POOL_MAX_THREADS is an error.
// Returns NULL (and sets the error) on failure.
pool *pool_new(int n_threads);
void pool_free(pool *p);
int pool_size(const pool *p);
void pool_run(pool *p, pool_fn fn, void *arg);
// One step of a wait inside a run (for a word another thread of the run
// will set; i counts the steps): a pause, and past about 80 us now and then
// a yield, so that a thread the OS has descheduled still gets to run. The
// pool waits so itself.
void pool_spin(unsigned i);

// Splits [0, n) into nth nearly equal parts; part ith is [*lo, *hi).
static inline void pool_split(long n, int ith, int nth, long *lo, long *hi) {
  long per = n / nth, rem = n % nth;
  *lo = ith * per + (ith < rem ? ith : rem);
  *hi = *lo + per + (ith < rem ? 1 : 0);
}

// Balanced splits, for work of many units that cost about the same, run on
// threads whose speeds differ and drift: a vCPU whose core a busy neighbour
// shares ran a decode step's products 1.3-1.8x slower than the other vCPU
// here, and even on equal cores memory made the two halves of an evenly
// split product finish 6-9% of its time apart.
// Before pool_run the caller plans n units: each thread gets a range in
// proportion to its recent speed. During the run pool_take hands a thread
// pieces of its own range front first, then halves of the largest range
// left to others, taken from its back; it returns false when nothing is
// left. Ranges and pieces start at multiples of grain and are whole grains
// long but at the end of the n units: a piece stays one stream through the
// prefetchers, and a kernel that reads units in groups gets whole groups.
// pool_note records how many units a thread did in how long.
// Which thread takes a unit changes from run to run, so a unit's result must
// not depend on it (matmul's tiles: each row's sums are the same wherever).
void pool_plan(pool *p, long n, long grain);
bool pool_take(pool *p, int ith, long *lo, long *hi);
void pool_note(pool *p, int ith, double units, int64_t ns);

#endif
