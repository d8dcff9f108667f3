// metrics: see metrics.h. Each metric keeps its series in an append-only
// linked list: updates walk it without a lock (a series, once published with
// a release store, never moves or goes away), and only a label set seen for
// the first time takes the metric's mutex to append. Values are doubles kept
// as bit patterns in 64-bit atomics, added with a compare-and-swap loop (C11
// has no atomic add for floating types). Lookup is a linear scan: label sets
// are few, and a hash compare skips most of them.
#include "api/metrics.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

#include "core/error.h"

enum metric_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

typedef struct series {
  _Atomic(struct series *) next;
  uint64_t hash;
  char **values;              // (n_labels) label values
  _Atomic uint64_t value;     // bits of a double: counter / gauge value, histogram sum
  _Atomic uint64_t counts[];  // histogram: (n_bounds + 1) per-bucket counts, the last +Inf; not cumulative
} series;

struct metric {
  struct metric *next;  // registration order
  enum metric_kind kind;
  char *name, *help;
  char **label_names;   // (n_labels)
  int n_labels, n_bounds;
  double *bounds;       // (n_bounds) histogram upper bounds
  _Atomic(series *) head;
  series *tail;         // under lock
  pthread_mutex_t lock; // serializes appending a series
};

struct metrics_registry {
  pthread_mutex_t lock;  // the metric list: registration and rendering
  metric *first, *last;
};

// ---- atomic doubles
static double bits_to_f64(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

static uint64_t f64_to_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

static void atomic_add_f64(_Atomic uint64_t *p, double v) {
  uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(p, &old, f64_to_bits(bits_to_f64(old) + v), memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

// ---- series lookup
static const char *value_at(const char *const *values, int i) { return values && values[i] ? values[i] : ""; }

static uint64_t hash_values(const char *const *values, int n) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 0xff between values (never in UTF-8)
  for (int i = 0; i < n; i++) {
    for (const unsigned char *p = (const unsigned char *)value_at(values, i); *p; p++) h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  }
  return h;
}

static series *find_series(const metric *m, uint64_t h, const char *const *values) {
  for (series *s = atomic_load_explicit(&m->head, memory_order_acquire); s;
       s = atomic_load_explicit(&s->next, memory_order_acquire)) {
    if (s->hash != h) continue;
    int i = 0;
    while (i < m->n_labels && !strcmp(s->values[i], value_at(values, i))) i++;
    if (i == m->n_labels) return s;
  }
  return NULL;
}

static void series_free(series *s, int n_labels) {
  for (int i = 0; s->values && i < n_labels; i++) free(s->values[i]);
  free(s->values);
  free(s);
}

static series *series_new(const metric *m, uint64_t h, const char *const *values) {
  size_t n_counts = m->kind == KIND_HISTOGRAM ? (size_t)m->n_bounds + 1 : 0;
  series *s = calloc(1, sizeof *s + n_counts * sizeof s->counts[0]);
  if (!s) return NULL;
  s->hash = h;
  s->values = calloc((size_t)m->n_labels + 1, sizeof *s->values);
  bool ok = s->values != NULL;
  for (int i = 0; ok && i < m->n_labels; i++) ok = (s->values[i] = strdup(value_at(values, i))) != NULL;
  if (!ok) {
    series_free(s, m->n_labels);
    return NULL;
  }
  atomic_init(&s->next, NULL);
  atomic_init(&s->value, f64_to_bits(0));
  for (size_t i = 0; i < n_counts; i++) atomic_init(&s->counts[i], 0);
  return s;
}

// The series of these label values, created on first use; NULL only when
// out of memory (the update is then dropped).
static series *series_get(metric *m, const char *const *values) {
  uint64_t h = hash_values(values, m->n_labels);
  series *s = find_series(m, h, values);
  if (s) return s;
  pthread_mutex_lock(&m->lock);
  s = find_series(m, h, values);  // another thread may have added it meanwhile
  if (!s && (s = series_new(m, h, values))) {
    if (m->tail) atomic_store_explicit(&m->tail->next, s, memory_order_release);
    else atomic_store_explicit(&m->head, s, memory_order_release);
    m->tail = s;
  }
  pthread_mutex_unlock(&m->lock);
  return s;
}

// ---- updates
static bool kind_is(const metric *m, enum metric_kind a, enum metric_kind b) {
  if (!m) return false;
  assert((m->kind == a || m->kind == b) && "metrics: update of the wrong kind of metric");
  return m->kind == a || m->kind == b;
}

void metrics_add(metric *m, const char *const *label_values, double v) {
  if (!kind_is(m, KIND_COUNTER, KIND_GAUGE)) return;
  if (m->kind == KIND_COUNTER && !(v >= 0)) return;
  series *s = series_get(m, label_values);
  if (s) atomic_add_f64(&s->value, v);
}

void metrics_set(metric *m, const char *const *label_values, double v) {
  if (!kind_is(m, KIND_GAUGE, KIND_GAUGE)) return;
  series *s = series_get(m, label_values);
  if (s) atomic_store_explicit(&s->value, f64_to_bits(v), memory_order_relaxed);
}

// Index of the first bucket whose upper bound is >= v (le: less or equal).
static int bucket_of(const metric *m, double v) {
  int lo = 0, hi = m->n_bounds;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (v <= m->bounds[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

void metrics_observe(metric *m, const char *const *label_values, double v) {
  if (!kind_is(m, KIND_HISTOGRAM, KIND_HISTOGRAM) || isnan(v)) return;
  series *s = series_get(m, label_values);
  if (!s) return;
  atomic_fetch_add_explicit(&s->counts[bucket_of(m, v)], 1, memory_order_relaxed);
  atomic_add_f64(&s->value, v);
}

static uint64_t hist_count(const metric *m, series *s) {
  uint64_t n = 0;
  for (int i = 0; i <= m->n_bounds; i++) n += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
  return n;
}

bool metrics_get(const metric *m, const char *const *label_values, double *out) {
  series *s = m ? find_series(m, hash_values(label_values, m->n_labels), label_values) : NULL;
  if (!s) return false;
  if (m->kind == KIND_HISTOGRAM) *out = (double)hist_count(m, s);
  else *out = bits_to_f64(atomic_load_explicit(&s->value, memory_order_relaxed));
  return true;
}

// ---- registration
static bool valid_name(const char *s, bool colon) {
  if (!s || !*s || (*s >= '0' && *s <= '9')) return false;
  for (; *s; s++) {
    bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              (colon && *s == ':');
    if (!ok) return false;
  }
  return true;
}

static int check_labels(const char *name, const char *const *labels, int n, bool histogram) {
  if (n < 0 || (n > 0 && !labels)) {
    err_set("metric %s: %d label names given without their list", name, n);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (!valid_name(labels[i], false) || !strncmp(labels[i], "__", 2) || (histogram && !strcmp(labels[i], "le"))) {
      err_set("metric %s: label name '%s' is not allowed", name, labels[i] ? labels[i] : "(null)");
      return -1;
    }
    for (int j = 0; j < i; j++) {
      if (!strcmp(labels[i], labels[j])) {
        err_set("metric %s: label %s appears twice", name, labels[i]);
        return -1;
      }
    }
  }
  return 0;
}

static int check_bounds(const char *name, const double *bounds, int n) {
  if (n < 0 || (n > 0 && !bounds)) {
    err_set("histogram %s: %d bucket bounds given without their list", name, n);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      err_set("histogram %s: bucket bounds must be finite and strictly increasing (+Inf is implicit)", name);
      return -1;
    }
  }
  return 0;
}

static void metric_free(metric *m) {
  series *s = atomic_load_explicit(&m->head, memory_order_relaxed);
  while (s) {
    series *next = atomic_load_explicit(&s->next, memory_order_relaxed);
    series_free(s, m->n_labels);
    s = next;
  }
  for (int i = 0; m->label_names && i < m->n_labels; i++) free(m->label_names[i]);
  free(m->label_names);
  free(m->name);
  free(m->help);
  free(m->bounds);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

static metric *metric_alloc(enum metric_kind kind, const char *name, const char *help, const char *const *labels,
                            int n_labels, const double *bounds, int n_bounds) {
  metric *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  pthread_mutex_init(&m->lock, NULL);
  atomic_init(&m->head, NULL);
  m->kind = kind;
  m->n_labels = n_labels;
  m->n_bounds = n_bounds;
  m->name = strdup(name);
  m->help = strdup(help ? help : "");
  m->label_names = calloc((size_t)n_labels + 1, sizeof *m->label_names);
  m->bounds = malloc(((size_t)n_bounds + 1) * sizeof *m->bounds);
  bool ok = m->name && m->help && m->label_names && m->bounds;
  for (int i = 0; ok && i < n_labels; i++) ok = (m->label_names[i] = strdup(labels[i])) != NULL;
  if (ok && n_bounds) memcpy(m->bounds, bounds, (size_t)n_bounds * sizeof *bounds);
  // An unlabelled metric has its one series from the start, so it renders 0.
  if (!ok || (n_labels == 0 && !series_get(m, NULL))) {
    metric_free(m);
    return NULL;
  }
  return m;
}

static metric *find_metric(const metrics_registry *r, const char *name) {
  for (metric *m = r->first; m; m = m->next)
    if (!strcmp(m->name, name)) return m;
  return NULL;
}

static metric *metric_register(metrics_registry *r, enum metric_kind kind, const char *name, const char *help,
                               const char *const *labels, int n_labels, const double *bounds, int n_bounds) {
  if (!valid_name(name, true)) {
    err_set("metric name '%s' is not allowed ([a-zA-Z_:][a-zA-Z0-9_:]*)", name ? name : "(null)");
    return NULL;
  }
  if (check_labels(name, labels, n_labels, kind == KIND_HISTOGRAM) < 0) return NULL;
  if (kind == KIND_HISTOGRAM && check_bounds(name, bounds, n_bounds) < 0) return NULL;
  pthread_mutex_lock(&r->lock);
  metric *m = NULL;
  if (find_metric(r, name)) {
    err_set("metric %s is already registered", name);
  } else if (!(m = metric_alloc(kind, name, help, labels, n_labels, bounds, n_bounds))) {
    err_set("metric %s: out of memory", name);
  } else {
    if (r->last) r->last->next = m;
    else r->first = m;
    r->last = m;
  }
  pthread_mutex_unlock(&r->lock);
  return m;
}

metric *metrics_counter(metrics_registry *r, const char *name, const char *help, const char *const *label_names,
                        int n_labels) {
  return metric_register(r, KIND_COUNTER, name, help, label_names, n_labels, NULL, 0);
}

metric *metrics_gauge(metrics_registry *r, const char *name, const char *help, const char *const *label_names,
                      int n_labels) {
  return metric_register(r, KIND_GAUGE, name, help, label_names, n_labels, NULL, 0);
}

metric *metrics_histogram(metrics_registry *r, const char *name, const char *help, const char *const *label_names,
                          int n_labels, const double *bounds, int n_bounds) {
  return metric_register(r, KIND_HISTOGRAM, name, help, label_names, n_labels, bounds, n_bounds);
}

metrics_registry *metrics_new(void) {
  metrics_registry *r = calloc(1, sizeof *r);
  if (!r) {
    err_set("out of memory");
    return NULL;
  }
  pthread_mutex_init(&r->lock, NULL);
  return r;
}

void metrics_free(metrics_registry *r) {
  if (!r) return;
  for (metric *m = r->first, *next; m; m = next) {
    next = m->next;
    metric_free(m);
  }
  pthread_mutex_destroy(&r->lock);
  free(r);
}

// ---- rendering

// Escapes backslash and newline, and double quotes when in a label value.
static void sb_escaped(strbuf *b, const char *s, bool quote) {
  for (; *s; s++) {
    if (*s == '\\') strbuf_puts(b, "\\\\");
    else if (*s == '\n') strbuf_puts(b, "\\n");
    else if (*s == '"' && quote) strbuf_puts(b, "\\\"");
    else strbuf_put(b, s, 1);
  }
}

// The shortest of %.15g / %.17g that reads back as v; +Inf, -Inf, NaN as Prometheus spells them.
static const char *fmt_num(char buf[40], double v) {
  if (isnan(v)) return "NaN";
  if (isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  snprintf(buf, 40, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, 40, "%.17g", v);
  return buf;
}

static void sb_num(strbuf *b, double v) {
  char buf[40];
  strbuf_puts(b, fmt_num(buf, v));
}

// name{l1="v1",...[,le="bound"]} value
static void sb_sample(strbuf *b, const metric *m, const series *s, const char *suffix, const char *le, double v) {
  strbuf_puts(b, m->name);
  strbuf_puts(b, suffix);
  if (m->n_labels || le) strbuf_puts(b, "{");
  for (int i = 0; i < m->n_labels; i++) {
    if (i) strbuf_puts(b, ",");
    strbuf_puts(b, m->label_names[i]);
    strbuf_puts(b, "=\"");
    sb_escaped(b, s->values[i], true);
    strbuf_puts(b, "\"");
  }
  if (le) {
    strbuf_puts(b, m->n_labels ? ",le=\"" : "le=\"");
    strbuf_puts(b, le);
    strbuf_puts(b, "\"");
  }
  if (m->n_labels || le) strbuf_puts(b, "}");
  strbuf_puts(b, " ");
  sb_num(b, v);
  strbuf_puts(b, "\n");
}

static void render_histogram(strbuf *b, const metric *m, series *s) {
  uint64_t cum = 0;
  for (int i = 0; i <= m->n_bounds; i++) {
    cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
    char buf[40];
    sb_sample(b, m, s, "_bucket", i < m->n_bounds ? fmt_num(buf, m->bounds[i]) : "+Inf", (double)cum);
  }
  sb_sample(b, m, s, "_sum", NULL, bits_to_f64(atomic_load_explicit(&s->value, memory_order_relaxed)));
  sb_sample(b, m, s, "_count", NULL, (double)cum);  // the +Inf bucket, so the two always agree
}

static void render_metric(strbuf *b, const metric *m) {
  static const char *const types[] = {"counter", "gauge", "histogram"};
  strbuf_puts(b, "# HELP ");
  strbuf_puts(b, m->name);
  strbuf_puts(b, " ");
  sb_escaped(b, m->help, false);
  strbuf_puts(b, "\n# TYPE ");
  strbuf_puts(b, m->name);
  strbuf_puts(b, " ");
  strbuf_puts(b, types[m->kind]);
  strbuf_puts(b, "\n");
  for (series *s = atomic_load_explicit(&m->head, memory_order_acquire); s;
       s = atomic_load_explicit(&s->next, memory_order_acquire)) {
    if (m->kind == KIND_HISTOGRAM) render_histogram(b, m, s);
    else sb_sample(b, m, s, "", NULL, bits_to_f64(atomic_load_explicit(&s->value, memory_order_relaxed)));
  }
}

char *metrics_render(metrics_registry *r) {
  strbuf b = {0};
  strbuf_puts(&b, "");  // an empty registry renders as "", not NULL
  pthread_mutex_lock(&r->lock);
  for (const metric *m = r->first; m; m = m->next) render_metric(&b, m);
  pthread_mutex_unlock(&r->lock);
  if (b.oom) {
    free(b.p);
    err_set("out of memory rendering metrics");
    return NULL;
  }
  return b.p;
}
