// api/serve_metrics: the Prometheus metrics of `llmux serve`: requests by
// route and status with their latency, tokens, time to first token and
// inter-token latency per model, and, read from each scheduler when scraped,
// queue depth, busy slots, KV cache use and prefix-cache hits.
#ifndef LLMUX_API_SERVE_METRICS_H
#define LLMUX_API_SERVE_METRICS_H
#include "api/serve.h"

typedef struct serve_metrics serve_metrics;

serve_metrics *smetrics_new(void);
void smetrics_free(serve_metrics *m);
// One HTTP request answered (route is the pattern, not the raw path).
void smetrics_request(serve *s, const char *route, int status, double seconds);
// One generation finished: its tokens and latencies.
void smetrics_request_done(serve *s, const char *model, const sched_req *r);
// The exposition text (malloc'd), or NULL when out of memory.
char *smetrics_render(serve *s);

#endif
