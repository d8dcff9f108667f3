// gateway/upstream: one HTTP request to a backend (libcurl), read
// incrementally so that a streamed body passes through chunk by chunk:
// open sends the request and returns once the response head is in (the
// gateway can still fail over to another backend then), read hands out the
// body as it arrives. Each thread keeps its connections to backends alive
// between its requests. A client that goes away (client_fd closed) aborts the
// transfer, which closes the upstream connection, so the backend stops too.
#ifndef LLMUX_GATEWAY_UPSTREAM_H
#define LLMUX_GATEWAY_UPSTREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct upstream upstream;

typedef enum { UP_OK = 0, UP_CONNECT, UP_TIMEOUT, UP_ERROR, UP_CLIENT_GONE } upstream_fail;

typedef struct {
  const char *url;      // full URL
  const char *method;   // "POST" or "GET"
  const char *api_key;  // bearer key for the backend, or NULL
  const char *body;
  size_t len;
  double connect_timeout_s, first_byte_timeout_s, idle_timeout_s;
  int client_fd;  // -1: none to watch
} upstream_req;

void upstream_global_init(void);
// NULL with *why and err on failure before a response head arrived.
upstream *upstream_open(const upstream_req *rq, upstream_fail *why, char *err, size_t err_size);
int upstream_status(const upstream *u);
const char *upstream_content_type(const upstream *u);  // "" when absent
// Body bytes as they come: blocks until some arrive; 0 at the end; -1 on a
// failure (*why says which).
ssize_t upstream_read(upstream *u, char *buf, size_t max, upstream_fail *why);
void upstream_close(upstream *u);

#endif
