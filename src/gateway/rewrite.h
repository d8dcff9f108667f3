// gateway/rewrite: what the gateway reads and changes in the bodies it
// passes on: the request body for a backend (its own name for the model,
// and usage asked for in streams), and the token usage read from a whole
// response or scanned from an SSE stream as it passes, line by line, without
// holding the stream. Pure functions of their input (fuzzed).
#ifndef LLMUX_GATEWAY_REWRITE_H
#define LLMUX_GATEWAY_REWRITE_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

// The body for the backend, malloc'd (NULL when out of memory).
char *gw_body_for_backend(const json_t *body, const char *upstream_model, bool stream, size_t *len);

typedef struct {
  long long prompt_tokens, completion_tokens;
  char line[8192];  // the SSE line being read; longer lines are skipped
  size_t line_len;
  bool overlong;
} gw_usage_scan;

// Reads "usage" from a response object (nothing when absent).
void gw_usage_from_json(gw_usage_scan *s, const json_t *j);
// Feeds stream bytes; the last `data:` event holding a usage object wins.
void gw_usage_feed(gw_usage_scan *s, const char *p, size_t n);

#endif
