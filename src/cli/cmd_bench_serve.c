// cmd_bench_serve: `llmux bench-serve -m FILE`: the server under load. Starts
// a server in this process (or uses --url), then for each client count runs
// that many concurrent clients, each streaming completions of random token
// prompts over real HTTP (libcurl), and reports aggregate generated tokens/s
// and p50/p95 of time to first token and inter-token latency, with the ratios
// to the single-client figures.
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/serve.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/membw.h"

#define MAX_LEVELS 8

typedef struct {
  const char *model, *url;
  int levels[MAX_LEVELS], n_levels;
  int n_prompt, n_gen, requests, threads, ctx;
  bool json;
} bs_opts;

typedef struct {
  double *v;
  int n, cap;
} samples;

typedef struct {
  const bs_opts *o;
  int id, n_vocab;
  const char *url;
  samples ttft, itl;
  long tokens;
  int errors;
  // the request being read
  char line[65536];
  size_t line_len;
  double t_start, t_last;
  bool got_first;
} client;

static void add_sample(samples *s, double x) {
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 256;
    double *v = realloc(s->v, (size_t)cap * sizeof *v);
    if (!v) return;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(samples *s, double p) {
  if (s->n == 0) return 0;
  qsort(s->v, (size_t)s->n, sizeof *s->v, cmp_double);
  int i = (int)(p * (s->n - 1) + 0.5);
  return s->v[i];
}

// ---- one streamed request ---------------------------------------------------------------------------

// One SSE event: a chunk with text is a token's arrival; the usage chunk counts tokens.
static void on_event(client *c, const char *data) {
  if (!strcmp(data, "[DONE]")) return;
  json_t *j = json_loads(data, 0, NULL);
  if (!j) return;
  json_t *usage = json_object_get(j, "usage");
  if (json_is_object(usage)) c->tokens += (long)json_integer_value(json_object_get(usage, "completion_tokens"));
  json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
  if (json_object_get(j, "error")) c->errors++;
  if (choice) {
    double now = sched_now();
    if (!c->got_first) add_sample(&c->ttft, now - c->t_start);
    else add_sample(&c->itl, now - c->t_last);
    c->got_first = true;
    c->t_last = now;
  }
  json_decref(j);
}

static size_t on_body(char *p, size_t size, size_t n, void *user) {
  client *c = user;
  for (size_t i = 0; i < size * n; i++) {
    if (p[i] != '\n') {
      if (c->line_len + 1 < sizeof c->line) c->line[c->line_len++] = p[i];
      continue;
    }
    c->line[c->line_len] = 0;
    if (!strncmp(c->line, "data: ", 6)) on_event(c, c->line + 6);
    c->line_len = 0;
  }
  return size * n;
}

static char *request_body(const client *c, unsigned *seed) {
  json_t *prompt = json_array();
  for (int i = 0; i < c->o->n_prompt; i++) json_array_append_new(prompt, json_integer(100 + rand_r(seed) % (c->n_vocab - 100)));
  json_t *b = json_pack("{s:o,s:i,s:f,s:b,s:b,s:{s:b}}", "prompt", prompt, "max_tokens", c->o->n_gen, "temperature", 0.0,
                        "ignore_eos", 1, "stream", 1, "stream_options", "include_usage", 1);
  char *s = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  return s;
}

static void *client_main(void *arg) {
  client *c = arg;
  // The clients share this machine with the server they measure: let them
  // yield to it, as remote clients would not compete for its cores at all.
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
  char url[512];
  snprintf(url, sizeof url, "%s/v1/completions", c->url);
  unsigned seed = 1234u + (unsigned)c->id * 7919u;
  CURL *h = curl_easy_init();
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  for (int r = 0; h && r < c->o->requests; r++) {
    char *body = request_body(c, &seed);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    c->t_start = sched_now();
    c->got_first = false;
    c->line_len = 0;
    long status = 0;
    if (curl_easy_perform(h) != CURLE_OK || (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status), status != 200))
      c->errors++;
    free(body);
  }
  curl_slist_free_all(hdr);
  if (h) curl_easy_cleanup(h);
  return NULL;
}

// ---- one load level -----------------------------------------------------------------------------------

typedef struct {
  int clients;
  double tps, ttft50, ttft95, itl50, itl95, seconds;
  long tokens;
  int errors;
} level_result;

static level_result run_level(const bs_opts *o, const char *url, int n_vocab, int n) {
  client *cs = calloc((size_t)n, sizeof *cs);
  pthread_t *th = calloc((size_t)n, sizeof *th);
  level_result r = {.clients = n};
  if (!cs || !th) {
    free(cs);
    free(th);
    r.errors = 1;
    return r;
  }
  double t0 = sched_now();
  for (int i = 0; i < n; i++) {
    cs[i] = (client){.o = o, .id = i, .url = url, .n_vocab = n_vocab};
    pthread_create(&th[i], NULL, client_main, &cs[i]);
  }
  samples ttft = {0}, itl = {0};
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    for (int k = 0; k < cs[i].ttft.n; k++) add_sample(&ttft, cs[i].ttft.v[k]);
    for (int k = 0; k < cs[i].itl.n; k++) add_sample(&itl, cs[i].itl.v[k]);
    r.tokens += cs[i].tokens;
    r.errors += cs[i].errors;
    free(cs[i].ttft.v);
    free(cs[i].itl.v);
  }
  r.seconds = sched_now() - t0;
  r.tps = (double)r.tokens / r.seconds;
  r.ttft50 = pct(&ttft, 0.5);
  r.ttft95 = pct(&ttft, 0.95);
  r.itl50 = pct(&itl, 0.5);
  r.itl95 = pct(&itl, 0.95);
  free(ttft.v);
  free(itl.v);
  free(cs);
  free(th);
  return r;
}

// ---- the command ------------------------------------------------------------------------------------------

static int parse_levels(const char *s, bs_opts *o) {
  o->n_levels = 0;
  for (const char *p = s; *p && o->n_levels < MAX_LEVELS;) {
    int v = atoi(p);
    if (v < 1) return -1;
    o->levels[o->n_levels++] = v;
    p = strchr(p, ',');
    if (!p) break;
    p++;
  }
  return o->n_levels ? 0 : -1;
}

static const char USAGE[] =
  "usage: llmux bench-serve -m FILE [options]\n"
  "  -m, --model FILE     GGUF model (served in this process on a free port)\n"
  "  --url URL            measure a running server instead (its only model)\n"
  "  --clients LIST       concurrent clients per level (default 1,4,8,16)\n"
  "  -p N                 prompt tokens per request (default 128; random ids)\n"
  "  -n N                 generated tokens per request (default 64)\n"
  "  --requests N         requests per client per level (default 2)\n"
  "  -t, --threads N      server threads (default: one per core)\n"
  "  -c, --ctx N          context per slot (default: prompt + generated + 16)\n"
  "  --json               one JSON line per level\n";

static int parse(int argc, char **argv, bs_opts *o) {
  const char *levels = "1,4,8,16";
  *o = (bs_opts){.n_prompt = 128, .n_gen = 64, .requests = 2};
  for (int i = 1; i < argc; i++) {
    if (arg_flag(argv, i, "--help") || arg_flag(argv, i, "-h")) {
      fputs(USAGE, stdout);
      exit(0);
    }
    if (arg_str(argc, argv, &i, "--model", "-m", &o->model) || arg_str(argc, argv, &i, "--url", NULL, &o->url) ||
        arg_str(argc, argv, &i, "--clients", NULL, &levels) || arg_int(argc, argv, &i, "-p", NULL, &o->n_prompt) ||
        arg_int(argc, argv, &i, "-n", NULL, &o->n_gen) || arg_int(argc, argv, &i, "--requests", NULL, &o->requests) ||
        arg_int(argc, argv, &i, "--threads", "-t", &o->threads) || arg_int(argc, argv, &i, "--ctx", "-c", &o->ctx))
      continue;
    if (arg_flag(argv, i, "--json")) o->json = true;
    else return arg_unknown("bench-serve", argv[i]);
  }
  if ((!o->model && !o->url) || parse_levels(levels, o) != 0 || o->n_prompt < 1 || o->n_gen < 1 || o->requests < 1) {
    fputs(USAGE, stderr);
    return 2;
  }
  return 0;
}

static serve *start_server(const bs_opts *o, char *url, size_t url_size) {
  int most = 1;
  for (int i = 0; i < o->n_levels; i++) most = o->levels[i] > most ? o->levels[i] : most;
  serve_config cfg = {.host = "127.0.0.1", .port = 0, .shutdown_grace_s = 5};
  cfg.sched = sched_default_config();
  cfg.sched.n_slot = most;
  cfg.sched.n_threads = o->threads;
  cfg.sched.n_ctx = o->ctx > 0 ? o->ctx : o->n_prompt + o->n_gen + 16;
  cfg.sched.max_queue = most * 2;
  serve *s = serve_new(&cfg);
  char err[512];
  serve_model_spec spec = {.path = o->model, .alias = "bench"};
  if (!s || serve_listen(s, err, sizeof err) != 0 || serve_load(s, &spec, err, sizeof err) != 0) {
    fprintf(stderr, "llmux bench-serve: %s\n", s ? err : "out of memory");
    serve_shutdown(s);
    return NULL;
  }
  serve_set_ready(s);
  snprintf(url, url_size, "http://127.0.0.1:%d", serve_port(s));
  return s;
}

static void report(const bs_opts *o, const level_result *r, const level_result *one, double bw) {
  if (o->json) {
    printf("{\"clients\":%d,\"tokens\":%ld,\"seconds\":%.3f,\"tokens_per_s\":%.2f,\"ttft_p50_ms\":%.1f,"
           "\"ttft_p95_ms\":%.1f,\"itl_p50_ms\":%.2f,\"itl_p95_ms\":%.2f,\"speedup\":%.2f,\"itl_p95_ratio\":%.2f,"
           "\"errors\":%d,\"mem_bw_gbs\":%.1f,\"prompt\":%d,\"gen\":%d}\n",
           r->clients, r->tokens, r->seconds, r->tps, r->ttft50 * 1e3, r->ttft95 * 1e3, r->itl50 * 1e3, r->itl95 * 1e3,
           r->tps / one->tps, r->itl95 / one->itl95, r->errors, bw, o->n_prompt, o->n_gen);
    return;
  }
  printf("| %7d | %9.1f | %5.2fx | %8.0f | %8.0f | %7.1f | %7.1f | %5.2fx | %6d |\n", r->clients, r->tps,
         r->tps / one->tps, r->ttft50 * 1e3, r->ttft95 * 1e3, r->itl50 * 1e3, r->itl95 * 1e3, r->itl95 / one->itl95,
         r->errors);
}

int cmd_bench_serve(int argc, char **argv) {
  bs_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char url[256];
  serve *s = NULL;
  int n_vocab = 32000;
  if (o.url) {
    snprintf(url, sizeof url, "%s", o.url);
  } else {
    if (!(s = start_server(&o, url, sizeof url))) return 1;
    serve_model *sm = serve_get_model(s, "bench");
    n_vocab = llmux_model_n_vocab(sm->model);
    serve_put_model(s, sm);
  }
  pool *bwp = pool_new(o.threads);
  double bw = bwp ? membw_measure(bwp, (size_t)512 << 20, 5) / 1e9 : 0;
  pool_free(bwp);
  fprintf(stderr, "bench-serve: %s, prompt %d, generate %d, %d requests per client; memory bandwidth %.1f GB/s\n",
          o.model ? o.model : o.url, o.n_prompt, o.n_gen, o.requests, bw);
  if (!o.json) printf("| clients | tokens/s | x 1 client | TTFT p50 ms | TTFT p95 ms | ITL p50 ms | ITL p95 ms | ITL p95 x 1 | errors |\n|---|---|---|---|---|---|---|---|---|\n");
  level_result one = {0};
  int errors = 0;
  for (int i = 0; i < o.n_levels; i++) {
    fprintf(stderr, "bench-serve: %d client(s)...\n", o.levels[i]);
    level_result r = run_level(&o, url, n_vocab, o.levels[i]);
    if (i == 0) one = r;
    report(&o, &r, &one, bw);
    fflush(stdout);
    errors += r.errors;
  }
  serve_shutdown(s);
  curl_global_cleanup();
  return errors ? 1 : 0;
}
