// test_metrics: the Prometheus registry (api/metrics.c): the exact text of a
// small registry, escaping, number formatting, every registration error,
// concurrent updates from 4 threads (exact sums, label sets first seen by
// several threads at once, rendering meanwhile), and every rendering read
// back by a small independent parser of the text format 0.0.4.
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "llmux.h"
#include "testutil.h"

// ---- an independent reader of the text format
// Each line is "# HELP name text", "# TYPE name kind" or
// "name{label="value",...} number"; samples belong to the last TYPE line
// (histograms: name_bucket with an le label, cumulative and ending in +Inf,
// then name_sum and name_count equal to the +Inf bucket). Returns the number
// of samples, or -1 after printing the first bad line.
typedef struct {
  char type_name[128], type[32];
  double prev;  // histograms: the previous bucket of this label set (0 before the first)
  double inf;   // and its +Inf bucket, -1 before it
} parse_state;

static const char *parse_name(const char *p, bool colon) {
  const char *s = p;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || (colon && *p == ':') ||
         (p > s && *p >= '0' && *p <= '9'))
    p++;
  return p > s ? p : NULL;
}

// {a="x",b="y"}: copies the le value, if any, into le. Returns the end, or NULL.
static const char *parse_labels(const char *p, char *le, size_t le_size) {
  le[0] = 0;
  if (*p != '{') return p;
  p++;
  while (*p != '}') {
    const char *end = parse_name(p, false);
    if (!end || end[0] != '=' || end[1] != '"') return NULL;
    bool is_le = end - p == 2 && !strncmp(p, "le", 2);
    size_t n = 0;
    for (p = end + 2; *p != '"'; p++) {
      if (*p == '\n' || !*p) return NULL;
      if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == 'n')) p++;
      else if (*p == '\\') return NULL;
      if (is_le && n + 1 < le_size) le[n++] = *p;
    }
    if (is_le) le[n] = 0;
    p++;
    if (*p == ',') p++;
    else if (*p != '}') return NULL;
  }
  return p + 1;
}

static bool parse_number(const char *p, double *v) {
  if (!strcmp(p, "+Inf") || !strcmp(p, "-Inf") || !strcmp(p, "NaN")) {
    *v = !strcmp(p, "NaN") ? NAN : p[0] == '+' ? INFINITY : -INFINITY;
    return true;
  }
  char *end;
  *v = strtod(p, &end);
  return end != p && *end == 0;
}

static bool parse_comment(parse_state *st, const char *line) {
  char name[128], kind[32];
  if (!strncmp(line, "# HELP ", 7)) return parse_name(line + 7, true) != NULL;
  if (sscanf(line, "# TYPE %127s %31s", name, kind) != 2) return false;
  if (strcmp(kind, "counter") && strcmp(kind, "gauge") && strcmp(kind, "histogram")) return false;
  snprintf(st->type_name, sizeof st->type_name, "%s", name);
  snprintf(st->type, sizeof st->type, "%s", kind);
  st->prev = 0;
  st->inf = -1;
  return true;
}

// A histogram sample: buckets cumulative, +Inf last, _count equal to it.
static bool check_histogram(parse_state *st, const char *suffix, const char *le, double v) {
  if (!strcmp(suffix, "_bucket")) {
    if (!le[0] || st->inf >= 0 || v < st->prev) return false;  // after +Inf come _sum and _count
    st->prev = v;
    if (!strcmp(le, "+Inf")) st->inf = v;
    return true;
  }
  if (!strcmp(suffix, "_sum")) return st->inf >= 0 && !le[0];
  if (!strcmp(suffix, "_count")) {
    bool ok = st->inf >= 0 && v == st->inf && !le[0];
    st->prev = 0;
    st->inf = -1;
    return ok;
  }
  return false;
}

static bool parse_sample(parse_state *st, const char *line) {
  const char *end = parse_name(line, true);
  char le[64];
  size_t n = end ? (size_t)(end - line) : 0, tn = strlen(st->type_name);
  if (!end || !st->type[0] || n < tn || strncmp(line, st->type_name, tn)) return false;
  char suffix[16];
  snprintf(suffix, sizeof suffix, "%.*s", (int)(n - tn), line + tn);
  const char *p = parse_labels(end, le, sizeof le);
  double v;
  if (!p || *p != ' ' || !parse_number(p + 1, &v)) return false;
  if (!strcmp(st->type, "histogram")) return check_histogram(st, suffix, le, v);
  return suffix[0] == 0 && !le[0];
}

static bool parse_quiet;  // test_parser feeds bad lines on purpose

static int parse_exposition(const char *text) {
  parse_state st = {.inf = -1};
  int samples = 0;
  char line[1024];
  for (const char *p = text; *p;) {
    const char *nl = strchr(p, '\n');
    if (!nl || (size_t)(nl - p) >= sizeof line) {
      if (!parse_quiet) fprintf(stderr, "unterminated or overlong line: %.60s\n", p);
      return -1;
    }
    snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
    bool ok = line[0] == '#' ? parse_comment(&st, line) : (samples++, parse_sample(&st, line));
    if (!ok) {
      if (!parse_quiet) fprintf(stderr, "bad exposition line: %s\n", line);
      return -1;
    }
    p = nl + 1;
  }
  return samples;
}

// ---- the exact text
static const char *const EXPECTED =
  "# HELP llmux_requests_total Requests served.\n"
  "# TYPE llmux_requests_total counter\n"
  "llmux_requests_total{model=\"qwen\",status=\"200\"} 3\n"
  "llmux_requests_total{model=\"llama\",status=\"500\"} 1\n"
  "# HELP llmux_errors_total Never updated: no series.\n"
  "# TYPE llmux_errors_total counter\n"
  "# HELP llmux_slots_busy Busy sequence slots.\n"
  "# TYPE llmux_slots_busy gauge\n"
  "llmux_slots_busy 2\n"
  "# HELP llmux_started_total Unlabelled, never updated.\n"
  "# TYPE llmux_started_total counter\n"
  "llmux_started_total 0\n"
  "# HELP llmux_request_seconds Request latency.\n"
  "# TYPE llmux_request_seconds histogram\n"
  "llmux_request_seconds_bucket{endpoint=\"/v1/chat\",le=\"0.125\"} 2\n"
  "llmux_request_seconds_bucket{endpoint=\"/v1/chat\",le=\"0.5\"} 3\n"
  "llmux_request_seconds_bucket{endpoint=\"/v1/chat\",le=\"2.5\"} 4\n"
  "llmux_request_seconds_bucket{endpoint=\"/v1/chat\",le=\"+Inf\"} 5\n"
  "llmux_request_seconds_sum{endpoint=\"/v1/chat\"} 11.4375\n"
  "llmux_request_seconds_count{endpoint=\"/v1/chat\"} 5\n"
  "llmux_request_seconds_bucket{endpoint=\"/v1/embeddings\",le=\"0.125\"} 0\n"
  "llmux_request_seconds_bucket{endpoint=\"/v1/embeddings\",le=\"0.5\"} 0\n"
  "llmux_request_seconds_bucket{endpoint=\"/v1/embeddings\",le=\"2.5\"} 1\n"
  "llmux_request_seconds_bucket{endpoint=\"/v1/embeddings\",le=\"+Inf\"} 1\n"
  "llmux_request_seconds_sum{endpoint=\"/v1/embeddings\"} 2.5\n"
  "llmux_request_seconds_count{endpoint=\"/v1/embeddings\"} 1\n"
  "# HELP llmux_token_seconds No labels, no bounds.\n"
  "# TYPE llmux_token_seconds histogram\n"
  "llmux_token_seconds_bucket{le=\"+Inf\"} 1\n"
  "llmux_token_seconds_sum 0.5\n"
  "llmux_token_seconds_count 1\n";

static void test_exact(void) {
  metrics_registry *r = metrics_new();
  const char *const lbl[] = {"model", "status"}, *const ep[] = {"endpoint"};
  const double bounds[] = {0.125, 0.5, 2.5};
  metric *req = metrics_counter(r, "llmux_requests_total", "Requests served.", lbl, 2);
  CHECK(metrics_counter(r, "llmux_errors_total", "Never updated: no series.", lbl, 2) != NULL);
  metric *busy = metrics_gauge(r, "llmux_slots_busy", "Busy sequence slots.", NULL, 0);
  CHECK(metrics_counter(r, "llmux_started_total", "Unlabelled, never updated.", NULL, 0) != NULL);
  metric *lat = metrics_histogram(r, "llmux_request_seconds", "Request latency.", ep, 1, bounds, 3);
  metric *tok = metrics_histogram(r, "llmux_token_seconds", "No labels, no bounds.", NULL, 0, NULL, 0);
  CHECK(req && busy && lat && tok);
  metrics_add(req, (const char *const[]){"qwen", "200"}, 1);
  metrics_add(req, (const char *const[]){"llama", "500"}, 1);
  metrics_add(req, (const char *const[]){"qwen", "200"}, 2);
  metrics_add(req, (const char *const[]){"qwen", "200"}, -5);  // counters only go up: ignored
  metrics_add(req, (const char *const[]){"qwen", "200"}, NAN);
  metrics_set(busy, NULL, 3);
  metrics_add(busy, NULL, -1);
  // 0.125 lies on a bound: le means "less or equal", so it counts there.
  const double obs[] = {0.0625, 0.125, 0.25, 1, 10};
  for (size_t i = 0; i < sizeof obs / sizeof *obs; i++) metrics_observe(lat, (const char *const[]){"/v1/chat"}, obs[i]);
  metrics_observe(lat, (const char *const[]){"/v1/embeddings"}, 2.5);
  metrics_observe(lat, (const char *const[]){"/v1/embeddings"}, NAN);  // ignored
  metrics_observe(tok, NULL, 0.5);
  char *text = metrics_render(r);
  CHECK(text != NULL);
  CHECK_MSG(text && !strcmp(text, EXPECTED), "rendered:\n%s", text ? text : "(null)");
  CHECK(text && parse_exposition(text) == 19);
  double v = 0;
  CHECK(metrics_get(req, (const char *const[]){"qwen", "200"}, &v) && v == 3);
  CHECK(metrics_get(lat, (const char *const[]){"/v1/chat"}, &v) && v == 5);
  CHECK(!metrics_get(req, (const char *const[]){"qwen", "404"}, &v));
  free(text);
  metrics_free(r);
}

static void test_escaping_and_numbers(void) {
  metrics_registry *r = metrics_new();
  const char *const lbl[] = {"v"};
  metric *g = metrics_gauge(r, "g", "back\\slash \"quoted\"\nsecond line", lbl, 1);
  metrics_set(g, (const char *const[]){"a\\b\"c\nd"}, 0.1);
  metrics_set(g, (const char *const[]){""}, 1e21);
  metrics_set(g, (const char *const[]){NULL}, -0.5);  // NULL reads as "": the same series
  metrics_set(g, (const char *const[]){"inf"}, INFINITY);
  metrics_set(g, (const char *const[]){"-inf"}, -INFINITY);
  metrics_set(g, (const char *const[]){"nan"}, NAN);
  metrics_set(g, (const char *const[]){"third"}, 1.0 / 3);
  metrics_set(g, (const char *const[]){"utf8 é"}, 123456789);
  const char *want =
    "# HELP g back\\\\slash \"quoted\"\\nsecond line\n"
    "# TYPE g gauge\n"
    "g{v=\"a\\\\b\\\"c\\nd\"} 0.1\n"
    "g{v=\"\"} -0.5\n"
    "g{v=\"inf\"} +Inf\n"
    "g{v=\"-inf\"} -Inf\n"
    "g{v=\"nan\"} NaN\n"
    "g{v=\"third\"} 0.33333333333333331\n"
    "g{v=\"utf8 é\"} 123456789\n";
  char *text = metrics_render(r);
  CHECK_MSG(text && !strcmp(text, want), "rendered:\n%s", text ? text : "(null)");
  CHECK(text && parse_exposition(text) == 7);
  free(text);
  metrics_free(r);
  // An empty registry renders as an empty text.
  r = metrics_new();
  text = metrics_render(r);
  CHECK(text && !strcmp(text, ""));
  free(text);
  metrics_free(r);
}

static bool error_has(const char *what) { return strstr(llmux_last_error(), what) != NULL; }

static void test_errors(void) {
  metrics_registry *r = metrics_new();
  const char *const ok[] = {"model"}, *const dup[] = {"a", "a"}, *const reserved[] = {"__x"};
  const char *const le[] = {"le"}, *const bad[] = {"a-b"};
  const double up[] = {1, 2}, down[] = {2, 1}, inf[] = {1, INFINITY};
  CHECK(metrics_counter(r, "1abc", NULL, NULL, 0) == NULL && error_has("'1abc' is not allowed"));
  CHECK(metrics_counter(r, "a-b", NULL, NULL, 0) == NULL && error_has("'a-b'"));
  CHECK(metrics_counter(r, "", NULL, NULL, 0) == NULL && error_has("''"));
  CHECK(metrics_counter(r, NULL, NULL, NULL, 0) == NULL && error_has("(null)"));
  CHECK(metrics_counter(r, "c", NULL, bad, 1) == NULL && error_has("label name 'a-b'"));
  CHECK(metrics_counter(r, "c", NULL, reserved, 1) == NULL && error_has("'__x'"));
  CHECK(metrics_counter(r, "c", NULL, dup, 2) == NULL && error_has("label a appears twice"));
  CHECK(metrics_counter(r, "c", NULL, NULL, 1) == NULL && error_has("without their list"));
  CHECK(metrics_histogram(r, "h", NULL, le, 1, up, 2) == NULL && error_has("label name 'le'"));
  CHECK(metrics_histogram(r, "h", NULL, NULL, 0, down, 2) == NULL && error_has("strictly increasing"));
  CHECK(metrics_histogram(r, "h", NULL, NULL, 0, inf, 2) == NULL && error_has("finite"));
  CHECK(metrics_gauge(r, "le_ok:x", NULL, le, 1) != NULL);  // "le" is only taken in histograms
  CHECK(metrics_counter(r, "c", NULL, ok, 1) != NULL);
  CHECK(metrics_gauge(r, "c", NULL, NULL, 0) == NULL && error_has("metric c is already registered"));
  // A failed registration's NULL is a valid, inert metric.
  metrics_add(NULL, NULL, 1);
  metrics_set(NULL, NULL, 1);
  metrics_observe(NULL, NULL, 1);
  double v;
  CHECK(!metrics_get(NULL, NULL, &v));
  char *text = metrics_render(r);
  CHECK(text && parse_exposition(text) == 0);
  free(text);
  metrics_free(r);
}

// ---- threads
#define N_THREADS 4
#define N_UPDATES 100000

typedef struct {
  metric *counter, *hist;
  int id;
} worker_arg;

// Each thread: one shared label set, its own label set, and label sets that
// every thread meets for the first time at about the same moment.
static void *worker(void *p) {
  worker_arg *a = p;
  char own[16], fresh[16];
  snprintf(own, sizeof own, "t%d", a->id);
  for (int i = 0; i < N_UPDATES; i++) {
    metrics_add(a->counter, (const char *const[]){"shared"}, 1);
    metrics_add(a->counter, (const char *const[]){own}, 1);
    snprintf(fresh, sizeof fresh, "new%d", i / 1000);
    metrics_add(a->counter, (const char *const[]){fresh}, 1);
    metrics_observe(a->hist, NULL, (double)(i % 4));
  }
  return NULL;
}

static void *renderer(void *p) {
  metrics_registry *r = p;
  for (int i = 0; i < 50; i++) {
    char *text = metrics_render(r);
    CHECK(text && parse_exposition(text) >= 0);
    free(text);
  }
  return NULL;
}

static void test_threads(void) {
  metrics_registry *r = metrics_new();
  const char *const lbl[] = {"who"};
  const double bounds[] = {0.5, 1.5, 2.5};
  worker_arg args[N_THREADS];
  pthread_t th[N_THREADS + 1];
  metric *c = metrics_counter(r, "hits_total", "Concurrent hits.", lbl, 1);
  metric *h = metrics_histogram(r, "obs", "Concurrent observations.", NULL, 0, bounds, 3);
  for (int t = 0; t < N_THREADS; t++) {
    args[t] = (worker_arg){c, h, t};
    pthread_create(&th[t], NULL, worker, &args[t]);
  }
  pthread_create(&th[N_THREADS], NULL, renderer, r);
  for (int t = 0; t <= N_THREADS; t++) pthread_join(th[t], NULL);
  double v = 0;
  CHECK(metrics_get(c, (const char *const[]){"shared"}, &v) && v == N_THREADS * N_UPDATES);
  printf("4 threads x %d increments: shared %.0f\n", N_UPDATES, v);
  for (int t = 0; t < N_THREADS; t++) {
    char own[16];
    snprintf(own, sizeof own, "t%d", t);
    CHECK(metrics_get(c, (const char *const[]){own}, &v) && v == N_UPDATES);
  }
  for (int k = 0; k < N_UPDATES / 1000; k++) {
    char fresh[16];
    snprintf(fresh, sizeof fresh, "new%d", k);
    CHECK(metrics_get(c, (const char *const[]){fresh}, &v) && v == N_THREADS * 1000);
  }
  CHECK(metrics_get(h, NULL, &v) && v == N_THREADS * N_UPDATES);
  char *text = metrics_render(r);
  // 1 + 4 + 100 label sets; buckets 0 | 1 | 2 | 3 each a quarter of the observations.
  CHECK(text && parse_exposition(text) == 1 + N_THREADS + N_UPDATES / 1000 + 6);
  CHECK(text && strstr(text, "hits_total{who=\"shared\"} 400000\n"));
  CHECK(text && strstr(text, "obs_bucket{le=\"0.5\"} 100000\nobs_bucket{le=\"1.5\"} 200000\n"
                             "obs_bucket{le=\"2.5\"} 300000\nobs_bucket{le=\"+Inf\"} 400000\n"
                             "obs_sum 600000\nobs_count 400000\n"));
  free(text);
  metrics_free(r);
}

// The parser itself must refuse what the format forbids.
static void test_parser(void) {
  parse_quiet = true;
  CHECK(parse_exposition("# TYPE a counter\na 1\n") == 1);
  CHECK(parse_exposition("# TYPE a counter\na{x=\"1\",y=\"\\\"\"} 1e3\n") == 1);
  CHECK(parse_exposition("a 1\n") == -1);                               // no TYPE
  CHECK(parse_exposition("# TYPE a counter\nb 1\n") == -1);             // another metric
  CHECK(parse_exposition("# TYPE a counter\na{x=\"1\"} one\n") == -1);  // not a number
  CHECK(parse_exposition("# TYPE a counter\na{x=1} 1\n") == -1);        // unquoted
  CHECK(parse_exposition("# TYPE a counter\na{x=\"\\t\"} 1\n") == -1);  // bad escape
  CHECK(parse_exposition("# TYPE a counter\na 1") == -1);               // no newline
  CHECK(parse_exposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n") == -1);
  CHECK(parse_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 2\n") == -1);
  CHECK(parse_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n") == 3);
  parse_quiet = false;
}

int main(void) {
  test_parser();
  test_exact();
  test_escaping_and_numbers();
  test_errors();
  test_threads();
  return tu_finish();
}
