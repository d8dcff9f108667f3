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

#endif
