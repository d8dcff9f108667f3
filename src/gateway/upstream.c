// gateway/upstream: see upstream.h. Each thread drives its transfers with a
// multi handle of its own, a little at a time (curl_multi_wait with a short
// timeout, checking the client's socket in between), and that multi handle
// keeps the thread's upstream connections alive between requests (a
// connection thread serves one client connection's requests in turn). A
// share handle gives all threads one DNS cache. Sharing the connection cache
// too was tried: libcurl then kept only a handful of connections for all
// threads, and most requests opened a new one (11,702 TIME-WAIT sockets after
// 17,211 requests).
#include "gateway/upstream.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/server.h"

#define PUMP_SLICE_MS 50
#define MAX_BUFFER (8u << 20)  // body bytes held for a slow client before the transfer pauses

// Each thread keeps its curl handles between requests (a connection thread
// serves one client connection's requests one after another): creating and
// clearing them per request cost more than the proxying itself.
typedef struct {
  CURLM *multi;
  CURL *easy;
  bool busy;
} thread_handles;

struct upstream {
  thread_handles *h;
  bool own_handles;  // not this thread's cached ones: free them at close
  CURLM *multi;
  CURL *easy;
  struct curl_slist *headers;
  char *buf;
  size_t len, off, cap;
  bool head_done, done, paused;
  CURLcode result;
  long status;
  char content_type[128];
  int client_fd;
  double first_byte_timeout_s, idle_timeout_s;
};

static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static pthread_key_t handles_key;

static void handles_free(void *p) {
  thread_handles *h = p;
  if (h->easy) curl_easy_cleanup(h->easy);
  if (h->multi) curl_multi_cleanup(h->multi);
  free(h);
}

// This thread's handles, or fresh ones when they are in use (a thread with
// two upstream requests open at once).
static thread_handles *handles_take(bool *owned) {
  thread_handles *h = pthread_getspecific(handles_key);
  *owned = false;
  if (h && !h->busy) {
    h->busy = true;
    curl_easy_reset(h->easy);
    return h;
  }
  thread_handles *n = calloc(1, sizeof *n);
  if (!n || !(n->multi = curl_multi_init()) || !(n->easy = curl_easy_init())) {
    if (n) handles_free(n);
    return NULL;
  }
  n->busy = true;
  if (!h) pthread_setspecific(handles_key, n);
  else *owned = true;
  return n;
}

static void lock_cb(CURL *h, curl_lock_data d, curl_lock_access a, void *u) {
  (void)h;
  (void)a;
  (void)u;
  pthread_mutex_lock(&share_locks[d]);
}

static void unlock_cb(CURL *h, curl_lock_data d, void *u) {
  (void)h;
  (void)u;
  pthread_mutex_unlock(&share_locks[d]);
}

void upstream_global_init(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&share_locks[i], NULL);
  pthread_key_create(&handles_key, handles_free);
  share = curl_share_init();
  curl_share_setopt(share, CURLSHOPT_LOCKFUNC, lock_cb);
  curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, unlock_cb);
  curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t on_body(char *p, size_t size, size_t n, void *user) {
  upstream *u = user;
  size_t bytes = size * n;
  if (u->len - u->off > MAX_BUFFER) {
    u->paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (u->off > 0 && u->off == u->len) u->off = u->len = 0;
  if (u->len + bytes > u->cap) {
    size_t cap = u->cap ? u->cap * 2 : 16384;
    while (cap < u->len + bytes) cap *= 2;
    char *b = realloc(u->buf, cap);
    if (!b) return 0;  // aborts the transfer
    u->buf = b;
    u->cap = cap;
  }
  memcpy(u->buf + u->len, p, bytes);
  u->len += bytes;
  return bytes;
}

static size_t on_header(char *p, size_t size, size_t n, void *user) {
  upstream *u = user;
  size_t bytes = size * n;
  if (bytes >= 13 && !strncasecmp(p, "content-type:", 13)) {
    size_t k = 13;
    while (k < bytes && (p[k] == ' ' || p[k] == '\t')) k++;
    size_t m = bytes - k;
    while (m > 0 && (p[k + m - 1] == '\r' || p[k + m - 1] == '\n')) m--;
    snprintf(u->content_type, sizeof u->content_type, "%.*s", (int)m, p + k);
  }
  if (bytes <= 2 && (p[0] == '\r' || p[0] == '\n')) {  // the blank line ends a head
    curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &u->status);
    if (u->status >= 200) u->head_done = true;  // not a 100 Continue
  }
  return bytes;
}

static void set_options(upstream *u, const upstream_req *rq) {
  CURL *h = u->easy;
  curl_easy_setopt(h, CURLOPT_URL, rq->url);
  curl_easy_setopt(h, CURLOPT_SHARE, share);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(rq->connect_timeout_s * 1000));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, u);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, u);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  u->headers = curl_slist_append(NULL, "Content-Type: application/json");
  u->headers = curl_slist_append(u->headers, "Expect:");  // no 100-continue round trip
  if (rq->api_key) {
    char auth[600];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", rq->api_key);
    u->headers = curl_slist_append(u->headers, auth);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, u->headers);
  if (!strcmp(rq->method, "POST")) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
  }
}

// Lets curl work for up to one slice; notes the end of the transfer.
static void pump(upstream *u) {
  int running = 0;
  if (u->paused && u->len - u->off <= MAX_BUFFER / 2) {
    u->paused = false;
    curl_easy_pause(u->easy, CURLPAUSE_CONT);
  }
  curl_multi_perform(u->multi, &running);
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(u->multi, &left)))
    if (m->msg == CURLMSG_DONE) {
      u->done = true;
      u->result = m->data.result;
    }
  if (!u->done && running) curl_multi_wait(u->multi, NULL, 0, PUMP_SLICE_MS, NULL);
  if (!u->done && !running) u->done = true;
}

static upstream_fail failure_of(CURLcode c) {
  if (c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST) return UP_CONNECT;
  if (c == CURLE_OPERATION_TIMEDOUT) return UP_TIMEOUT;
  return UP_ERROR;
}

upstream *upstream_open(const upstream_req *rq, upstream_fail *why, char *err, size_t err_size) {
  upstream *u = calloc(1, sizeof *u);
  if (u) u->h = handles_take(&u->own_handles);
  if (u && u->h) {
    u->multi = u->h->multi;
    u->easy = u->h->easy;
  }
  if (!u || !u->h) {
    upstream_close(u);
    *why = UP_ERROR;
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  u->client_fd = rq->client_fd;
  u->first_byte_timeout_s = rq->first_byte_timeout_s;
  u->idle_timeout_s = rq->idle_timeout_s;
  set_options(u, rq);
  curl_multi_add_handle(u->multi, u->easy);
  double deadline = now_s() + rq->connect_timeout_s + rq->first_byte_timeout_s;
  while (!u->head_done && !u->done) {
    pump(u);
    if (now_s() > deadline) {
      *why = UP_TIMEOUT;
      snprintf(err, err_size, "no response within %.1f s", rq->first_byte_timeout_s);
      upstream_close(u);
      return NULL;
    }
    if (http_fd_gone(u->client_fd)) {
      *why = UP_CLIENT_GONE;
      snprintf(err, err_size, "the client went away");
      upstream_close(u);
      return NULL;
    }
  }
  if (!u->head_done) {
    *why = u->result == CURLE_OK ? UP_ERROR : failure_of(u->result);
    snprintf(err, err_size, "%s", u->result == CURLE_OK ? "empty response" : curl_easy_strerror(u->result));
    upstream_close(u);
    return NULL;
  }
  *why = UP_OK;
  return u;
}

int upstream_status(const upstream *u) { return (int)u->status; }
const char *upstream_content_type(const upstream *u) { return u->content_type; }

ssize_t upstream_read(upstream *u, char *buf, size_t max, upstream_fail *why) {
  double idle_deadline = now_s() + u->idle_timeout_s;
  while (u->off == u->len) {
    if (u->done) {
      *why = u->result == CURLE_OK ? UP_OK : failure_of(u->result);
      return u->result == CURLE_OK ? 0 : -1;
    }
    pump(u);
    if (u->off < u->len) break;
    if (now_s() > idle_deadline) return *why = UP_TIMEOUT, -1;
    if (http_fd_gone(u->client_fd)) return *why = UP_CLIENT_GONE, -1;
  }
  size_t n = u->len - u->off < max ? u->len - u->off : max;
  memcpy(buf, u->buf + u->off, n);
  u->off += n;
  *why = UP_OK;
  return (ssize_t)n;
}

void upstream_close(upstream *u) {
  if (!u) return;
  // Removing an unfinished transfer closes its connection, so the backend
  // sees the client go; a finished one leaves it open for the next request.
  if (u->h) curl_multi_remove_handle(u->multi, u->easy);
  if (u->h && u->own_handles) handles_free(u->h);
  else if (u->h) u->h->busy = false;
  curl_slist_free_all(u->headers);
  free(u->buf);
  free(u);
}
