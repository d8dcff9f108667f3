// sched_internal: what the scheduler loop and the request code share; not
// for callers of sched.h.
#ifndef LLMUX_SCHED_INTERNAL_H
#define LLMUX_SCHED_INTERNAL_H
#include "engine/sched.h"

sched_req *sched_req_new(const sched_params *p);
// Appends output and wakes the waiters; false when out of memory.
bool sched_req_add_text(sched_req *r, const char *text, size_t len);
bool sched_req_add_token(sched_req *r, const sched_tokinfo *ti);
void sched_req_finish(sched_req *r, sched_finish why, const char *error);

// Fills ti with the token's log-probability under logits and, when n_top > 0,
// the n_top most likely tokens (most likely first).
void sched_logprobs(const float *logits, int n_vocab, llmux_token token, int n_top, sched_tokinfo *ti);

#endif
