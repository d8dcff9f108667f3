// membw: measures this machine's memory read bandwidth the way the engine
// uses memory during generation: every thread of a pool streams its share of
// a buffer far larger than the caches. The bench reports tokens/s beside it.
#ifndef LLMUX_MEMBW_H
#define LLMUX_MEMBW_H
#include <stddef.h>

#include "core/threadpool.h"

// Median read bandwidth in bytes/s over `reps` passes over `bytes` bytes;
// 0 if the buffer cannot be allocated.
double membw_measure(pool *p, size_t bytes, int reps);

// A buffer kept for repeated measurements, so that a benchmark can read the
// bandwidth right beside each of its runs: it swings by a quarter from one
// minute to the next on shared machines, and a share of it measured minutes
// apart says as much about the neighbours as about the code.
typedef struct membw_probe membw_probe;
membw_probe *membw_probe_new(size_t bytes);  // NULL if it cannot be allocated
double membw_probe_run(membw_probe *b, pool *p, int reps);  // as membw_measure
void membw_probe_free(membw_probe *b);

#endif
