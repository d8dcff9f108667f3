// metrics: a Prometheus registry for GET /metrics. Counters, gauges and
// histograms (fixed bucket bounds), each with a fixed list of label names;
// one series per set of label values, created the first time those values
// are updated. Metrics are registered at start-up; updates come from any
// thread (HTTP threads, the scheduler) and are cheap: a lock-free lookup of
// the label set and an atomic update, with no allocation once a label set
// exists (a new label set allocates under the metric's own mutex).
// metrics_render writes the text exposition format 0.0.4.
//
// Owns the metric definitions and their series. Never does I/O or knows
// about HTTP; never removes a series (label sets must stay few: models x
// endpoints x status codes, not request ids).
#ifndef LLMUX_METRICS_H
#define LLMUX_METRICS_H
#include <stdbool.h>

typedef struct metrics_registry metrics_registry;
typedef struct metric metric;

metrics_registry *metrics_new(void);
// Frees the registry and its metrics; no thread may still update them.
void metrics_free(metrics_registry *r);

// Registers a metric. Names follow Prometheus ([a-zA-Z_:][a-zA-Z0-9_:]*,
// labels [a-zA-Z_][a-zA-Z0-9_]*, not "__..."; "le" is taken in histograms);
// help may be NULL. A metric without labels has its one series from the
// start (rendered as 0). Returns NULL with the error set on a bad or
// duplicate name or out of memory. The registry keeps the metric; the
// pointer stays valid until metrics_free.
metric *metrics_counter(metrics_registry *r, const char *name, const char *help, const char *const *label_names,
                        int n_labels);
metric *metrics_gauge(metrics_registry *r, const char *name, const char *help, const char *const *label_names,
                      int n_labels);
// bounds: n_bounds finite upper bounds, strictly increasing; +Inf is implicit.
metric *metrics_histogram(metrics_registry *r, const char *name, const char *help, const char *const *label_names,
                          int n_labels, const double *bounds, int n_bounds);

// Updates. label_values holds one string per label name, in their order (NULL
// when there are none; a NULL string reads as ""). A NULL metric is ignored,
// so a failed registration never needs checks at the call sites; so is an
// update of the wrong kind (asserted in debug builds), a negative or NaN
// counter increment (counters only go up) and a NaN observation.
void metrics_add(metric *m, const char *const *label_values, double v);      // counters, gauges
void metrics_set(metric *m, const char *const *label_values, double v);      // gauges
void metrics_observe(metric *m, const char *const *label_values, double v);  // histograms

// The current value of a counter or gauge, or a histogram's count; false if
// that label set was never updated.
bool metrics_get(const metric *m, const char *const *label_values, double *out);

// Every metric in registration order, each series in the order it first
// appeared: "# HELP", "# TYPE", then "name{label=\"value\"} value" lines;
// histograms as cumulative _bucket{le=...} lines ending in +Inf, then _sum
// and _count. Updates running meanwhile may or may not be included (a
// histogram's _count is always its +Inf bucket). Malloc'd; NULL on out of
// memory.
char *metrics_render(metrics_registry *r);

#endif
