// http/server: see server.h. libmicrohttpd calls on_request several times per
// request: first with the headers (we check the declared length and set up
// the body buffer), then with pieces of the body, then once with none, when
// the handler runs. A streamed response is pulled by MHD through read_stream
// on the connection's own thread, so the stream's read may block.
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADERS 16

struct http_server {
  struct MHD_Daemon *d;
  http_config cfg;
  http_handler handler;
  void *user;
  _Atomic int in_flight;
  int port;
};

struct http_request {
  http_server *srv;
  struct MHD_Connection *conn;
  const char *method, *path;
  char *body;
  size_t len, cap;
  bool too_big;
};

struct http_response {
  int status;
  char *content_type;  // owned copy
  char *body;
  size_t len;
  http_read_fn read;
  http_done_fn done;
  void *state;
  bool completed;  // the stream reached its end
  int n_headers;
  char *headers[MAX_HEADERS][2];
};

// ---- responses ---------------------------------------------------------------------------------

static http_response *response_alloc(int status, const char *content_type) {
  http_response *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->status = status;
  if (content_type && !(r->content_type = strdup(content_type))) {
    free(r);
    return NULL;
  }
  return r;
}

http_response *http_response_new(int status, const char *content_type, char *body, size_t len) {
  http_response *r = response_alloc(status, content_type);
  if (!r) {
    free(body);
    return NULL;
  }
  r->body = body;
  r->len = len;
  return r;
}

http_response *http_response_text(int status, const char *content_type, const char *text) {
  char *body = strdup(text);
  return body ? http_response_new(status, content_type, body, strlen(body)) : NULL;
}

http_response *http_response_stream(int status, const char *content_type, http_read_fn read, http_done_fn done,
                                    void *state) {
  http_response *r = response_alloc(status, content_type);
  if (!r) {
    done(state, false);
    return NULL;
  }
  r->read = read;
  r->done = done;
  r->state = state;
  return r;
}

void http_response_header(http_response *r, const char *name, const char *value) {
  if (!r || r->n_headers == MAX_HEADERS) return;
  r->headers[r->n_headers][0] = strdup(name);
  r->headers[r->n_headers][1] = strdup(value);
  r->n_headers++;
}

int http_response_status(const http_response *r) { return r->status; }


static void response_free(http_response *r) {
  for (int i = 0; i < r->n_headers; i++) {
    free(r->headers[i][0]);
    free(r->headers[i][1]);
  }
  free(r->body);
  free(r->content_type);
  free(r);
}

static void free_stream(void *cls) {
  http_response *r = cls;
  r->done(r->state, r->completed);
  response_free(r);
}

void http_response_free(http_response *r) {
  if (!r) return;
  if (r->read) {
    free_stream(r);
    return;
  }
  response_free(r);
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  http_response *r = cls;
  ssize_t n = r->read(r->state, buf, max);
  if (n > 0) return n;
  if (n == 0) r->completed = true;
  return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}


// Queues r on the connection and frees our side of it.
static enum MHD_Result send_response(struct MHD_Connection *conn, http_response *r) {
  if (!r) return MHD_NO;
  struct MHD_Response *mr;
  if (r->read) {
    mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_stream, r, free_stream);
    if (!mr) {
      free_stream(r);
      return MHD_NO;
    }
  } else {
    mr = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!mr) {
      response_free(r);
      return MHD_NO;
    }
    r->body = NULL;  // MHD owns it now
  }
  if (r->content_type) MHD_add_response_header(mr, "Content-Type", r->content_type);
  MHD_add_response_header(mr, "Access-Control-Allow-Origin", "*");
  for (int i = 0; i < r->n_headers; i++) MHD_add_response_header(mr, r->headers[i][0], r->headers[i][1]);
  int status = r->status;
  if (!r->read) response_free(r);
  enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, mr);
  MHD_destroy_response(mr);
  return ok;
}

static http_response *too_large(const http_server *s) {
  char msg[200];
  snprintf(msg, sizeof msg,
           "{\"error\":{\"message\":\"the request body is larger than the limit of %zu bytes\","
           "\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"request_too_large\"}}",
           s->cfg.max_body);
  return http_response_text(413, "application/json", msg);
}

static http_response *preflight(void) {
  http_response *r = http_response_text(204, NULL, "");
  http_response_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  http_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
  http_response_header(r, "Access-Control-Max-Age", "86400");
  return r;
}

// ---- requests ------------------------------------------------------------------------------------

static bool body_append(http_request *rq, const char *data, size_t n) {
  if (rq->len + n > rq->srv->cfg.max_body) return false;
  if (rq->len + n + 1 > rq->cap) {
    size_t cap = rq->cap ? rq->cap : 4096;
    while (cap < rq->len + n + 1) cap *= 2;
    char *b = realloc(rq->body, cap);
    if (!b) return false;
    rq->body = b;
    rq->cap = cap;
  }
  memcpy(rq->body + rq->len, data, n);
  rq->len += n;
  rq->body[rq->len] = 0;
  return true;
}

static http_request *request_new(http_server *s, struct MHD_Connection *conn, const char *url, const char *method) {
  http_request *rq = calloc(1, sizeof *rq);
  if (!rq) return NULL;
  rq->srv = s;
  rq->conn = conn;
  rq->method = method;
  rq->path = url;
  atomic_fetch_add(&s->in_flight, 1);
  return rq;
}

static bool declared_too_big(const http_server *s, struct MHD_Connection *conn) {
  const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
  return cl && strtoull(cl, NULL, 10) > s->cfg.max_body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  (void)version;
  http_server *s = cls;
  http_request *rq = *con_cls;
  if (!rq) {
    if (!(rq = request_new(s, conn, url, method))) return MHD_NO;
    *con_cls = rq;
    if (declared_too_big(s, conn)) return send_response(conn, too_large(s));
    return MHD_YES;
  }
  if (*upload_size) {
    if (!rq->too_big && !body_append(rq, upload, *upload_size)) rq->too_big = true;
    *upload_size = 0;
    return MHD_YES;
  }
  if (rq->too_big) return send_response(conn, too_large(s));
  if (!strcmp(method, "OPTIONS")) return send_response(conn, preflight());
  return send_response(conn, s->handler(rq, s->user));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)conn;
  (void)toe;
  http_server *s = cls;
  http_request *rq = *con_cls;
  if (!rq) return;
  free(rq->body);
  free(rq);
  *con_cls = NULL;
  atomic_fetch_sub(&s->in_flight, 1);
}

const char *http_method(const http_request *rq) { return rq->method; }
const char *http_path(const http_request *rq) { return rq->path; }
const char *http_body(const http_request *rq, size_t *len) {
  *len = rq->len;
  return rq->body ? rq->body : "";
}
const char *http_header(const http_request *rq, const char *name) {
  return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}
const char *http_query(const http_request *rq, const char *name) {
  return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_bearer(const http_request *rq) {
  const char *h = http_header(rq, "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7)) return NULL;
  for (h += 7; *h == ' ';) h++;
  return h;
}

int http_fd(const http_request *rq) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  return ci ? ci->connect_fd : -1;
}

bool http_fd_gone(int fd) {
  if (fd < 0) return false;
  struct pollfd p = {.fd = fd, .events = POLLRDHUP};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

// ---- the daemon --------------------------------------------------------------------------------------

static bool parse_addr(const char *host, int port, struct sockaddr_storage *ss, unsigned *flags) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return true;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *flags |= MHD_USE_IPv6;
    return true;
  }
  return false;
}

http_server *http_start(const http_config *cfg, http_handler handler, void *user, char *err, size_t err_size) {
  struct sockaddr_storage ss;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                   MHD_USE_POLL;
  const char *host = cfg->host ? cfg->host : "127.0.0.1";
  if (!parse_addr(host, cfg->port, &ss, &flags)) {
    snprintf(err, err_size, "cannot listen on '%s': not an IPv4 or IPv6 address", host);
    return NULL;
  }
  http_server *s = calloc(1, sizeof *s);
  if (!s) return snprintf(err, err_size, "out of memory"), NULL;
  s->cfg = *cfg;
  s->handler = handler;
  s->user = user;
  s->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &ss,
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
                          (unsigned)(cfg->max_connections > 0 ? cfg->max_connections : 256),
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->timeout_s > 0 ? cfg->timeout_s : 600),
                          MHD_OPTION_END);
  if (!s->d) {
    snprintf(err, err_size, "cannot listen on %s port %d (in use, or not allowed)", host, cfg->port);
    free(s);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : cfg->port;
  return s;
}

int http_port(const http_server *s) { return s->port; }
int http_in_flight(const http_server *s) { return atomic_load(&s->in_flight); }

void http_quiesce(http_server *s) {
  MHD_socket fd = MHD_quiesce_daemon(s->d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
}

void http_stop(http_server *s) {
  if (!s) return;
  MHD_stop_daemon(s->d);
  free(s);
}
