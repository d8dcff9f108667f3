// fake_upstream: the fastest OpenAI-style backend we can make, for measuring
// the gateway's own cost (bench/gateway.sh): every POST gets a canned chat
// completion, or with "stream": true a stream of N chunks (N from the
// request's max_tokens, default 16); GET /health answers ok. libmicrohttpd
// with an epoll thread pool, so the upstream is never the bottleneck.
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char COMPLETION[] =
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"bench\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"Hello there.\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}";
static const char CHUNK[] =
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok\"},\"finish_reason\":null}]}\n\n";
static const char TAIL[] =
    "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":16,\"total_tokens\":25}}\n\ndata: [DONE]\n\n";

typedef struct {
  char body[4096];
  size_t len;
} req;

static enum MHD_Result reply(struct MHD_Connection *c, const char *type, const char *body, size_t len, int status) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", type);
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result stream(struct MHD_Connection *c, const char *body) {
  const char *mt = strstr(body, "\"max_tokens\":");
  int n = mt ? atoi(mt + 13) : 16;
  if (n < 1 || n > 100000) n = 16;
  size_t len = (size_t)n * (sizeof CHUNK - 1) + sizeof TAIL - 1;
  char *all = malloc(len);
  for (int i = 0; i < n; i++) memcpy(all + (size_t)i * (sizeof CHUNK - 1), CHUNK, sizeof CHUNK - 1);
  memcpy(all + (size_t)n * (sizeof CHUNK - 1), TAIL, sizeof TAIL - 1);
  struct MHD_Response *r = MHD_create_response_from_buffer(len, all, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", "text/event-stream");
  enum MHD_Result ok = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **state) {
  (void)cls;
  (void)url;
  (void)version;
  req *r = *state;
  if (!r) {
    *state = calloc(1, sizeof *r);
    return MHD_YES;
  }
  if (*size) {
    size_t n = *size < sizeof r->body - 1 - r->len ? *size : sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, data, n);
    r->len += n;
    *size = 0;
    return MHD_YES;
  }
  if (!strcmp(method, "GET")) return reply(c, "application/json", "{\"status\":\"ok\"}", 15, 200);
  if (strstr(r->body, "\"stream\":true")) return stream(c, r->body);
  return reply(c, "application/json", COMPLETION, sizeof COMPLETION - 1, 200);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t) {
  (void)cls;
  (void)c;
  (void)t;
  free(*state);
  *state = NULL;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0, threads = argc > 2 ? atoi(argv[2]) : 1;
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD, (uint16_t)port, NULL, NULL, on_request, NULL,
                                          MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_THREAD_POOL_SIZE,
                                          (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT, 10000u, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "fake_upstream: cannot listen on port %d\n", port);
    return 1;
  }
  printf("listening %d\n", MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
  fflush(stdout);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  sigprocmask(SIG_BLOCK, &s, NULL);
  int sig;
  sigwait(&s, &sig);
  MHD_stop_daemon(d);
  return 0;
}
