// http/server: an HTTP/1.1 server on libmicrohttpd, one thread per
// connection, that hands each complete request to one handler function and
// sends back what it returns: a whole body, or a stream produced chunk by
// chunk (server-sent events). Owns sockets, body buffering and its size limit
// (413), CORS pre-flight, and graceful stop. Knows nothing of JSON or models.
#ifndef LLMUX_HTTP_SERVER_H
#define LLMUX_HTTP_SERVER_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct http_server http_server;
typedef struct http_request http_request;
typedef struct http_response http_response;

typedef struct {
  const char *host;        // address to listen on ("127.0.0.1", "0.0.0.0", "::")
  int port;                // 0: any free port (see http_port)
  size_t max_body;         // larger request bodies get 413
  int max_connections;
  int timeout_s;           // idle connection timeout
} http_config;

// Called once per request with the whole body. Must return a response (the
// server frees it after sending).
typedef http_response *(*http_handler)(http_request *rq, void *user);

http_server *http_start(const http_config *cfg, http_handler handler, void *user, char *err, size_t err_size);
int http_port(const http_server *s);
// Stops accepting new connections; requests in flight go on.
void http_quiesce(http_server *s);
// Requests being handled or streamed right now.
int http_in_flight(const http_server *s);
// Closes every connection and frees the server.
void http_stop(http_server *s);

// ---- the request ----------------------------------------------------------------------------
const char *http_method(const http_request *rq);
const char *http_path(const http_request *rq);  // without the query string
const char *http_body(const http_request *rq, size_t *len);
const char *http_header(const http_request *rq, const char *name);  // NULL if absent
const char *http_query(const http_request *rq, const char *name);   // NULL if absent
// The key of an "Authorization: Bearer KEY" header, or NULL.
const char *http_bearer(const http_request *rq);
// The socket, for noticing a client that went away (http_fd_gone).
int http_fd(const http_request *rq);
// True when the peer has closed or reset the connection.
bool http_fd_gone(int fd);

// ---- responses -----------------------------------------------------------------------------
// Takes ownership of body (malloc'd); copies content_type.
http_response *http_response_new(int status, const char *content_type, char *body, size_t len);
http_response *http_response_text(int status, const char *content_type, const char *text);
// A streamed body: read(state, buf, max) blocks until it can write 1..max
// bytes and returns their count, or returns 0 at the end, or -1 to abort.
// done(state, completed) is called once when the stream ends, with completed
// false when the client went away or the stream failed.
typedef ssize_t (*http_read_fn)(void *state, char *buf, size_t max);
typedef void (*http_done_fn)(void *state, bool completed);
http_response *http_response_stream(int status, const char *content_type, http_read_fn read, http_done_fn done,
                                    void *state);
void http_response_header(http_response *r, const char *name, const char *value);
int http_response_status(const http_response *r);
// Frees a response that will not be sent.
void http_response_free(http_response *r);

#endif
