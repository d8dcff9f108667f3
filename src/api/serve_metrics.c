// api/serve_metrics: see serve_metrics.h. Request metrics live in a
// registry (api/metrics.h); the schedulers' own counters and gauges are read
// when /metrics is scraped and written after the registry's text.
#include "api/serve_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "core/strbuf.h"

struct serve_metrics {
  metrics_registry *reg;
  metric *requests, *duration, *prompt_tokens, *gen_tokens, *ttft, *itl, *finished;
};

static const double LATENCY_BOUNDS[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const double TOKEN_BOUNDS[] = {0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5};

serve_metrics *smetrics_new(void) {
  serve_metrics *m = calloc(1, sizeof *m);
  if (!m || !(m->reg = metrics_new())) {
    free(m);
    return NULL;
  }
  const char *route_status[] = {"route", "status"}, *route[] = {"route"}, *model[] = {"model"},
             *model_reason[] = {"model", "reason"};
  m->requests = metrics_counter(m->reg, "llmux_requests_total", "HTTP requests answered", route_status, 2);
  m->duration = metrics_histogram(m->reg, "llmux_request_duration_seconds",
                                  "Time to the response headers (whole body unless streamed)", route, 1,
                                  LATENCY_BOUNDS, 13);
  m->prompt_tokens = metrics_counter(m->reg, "llmux_prompt_tokens_total", "Prompt tokens of finished requests", model, 1);
  m->gen_tokens = metrics_counter(m->reg, "llmux_generation_tokens_total", "Generated tokens", model, 1);
  m->ttft = metrics_histogram(m->reg, "llmux_time_to_first_token_seconds", "From submission to the first token",
                              model, 1, LATENCY_BOUNDS, 13);
  m->itl = metrics_histogram(m->reg, "llmux_inter_token_latency_seconds", "Between consecutive tokens of a request",
                             model, 1, TOKEN_BOUNDS, 13);
  m->finished = metrics_counter(m->reg, "llmux_requests_finished_total", "Generations by how they ended",
                                model_reason, 2);
  return m;
}

void smetrics_free(serve_metrics *m) {
  if (!m) return;
  metrics_free(m->reg);
  free(m);
}

void smetrics_request(serve *s, const char *route, int status, double seconds) {
  serve_metrics *m = serve_get_metrics(s);
  char code[8];
  snprintf(code, sizeof code, "%d", status);
  const char *rs[] = {route, code}, *r[] = {route};
  metrics_add(m->requests, rs, 1);
  metrics_observe(m->duration, r, seconds);
}

static const char *reason_name(sched_finish f) {
  switch (f) {
    case SCHED_STOP: return "stop";
    case SCHED_LENGTH: return "length";
    case SCHED_CANCELLED: return "cancelled";
    case SCHED_ERROR: return "error";
    default: return "running";
  }
}

void smetrics_request_done(serve *s, const char *model, const sched_req *r) {
  serve_metrics *m = serve_get_metrics(s);
  const char *l[] = {model}, *lr[] = {model, reason_name(r->finish)};
  metrics_add(m->finished, lr, 1);
  metrics_add(m->prompt_tokens, l, r->p.n_prompt);
  metrics_add(m->gen_tokens, l, r->n_toks);
  if (r->n_toks > 0) metrics_observe(m->ttft, l, r->toks[0].t - r->t_submit);
  for (int i = 1; i < r->n_toks; i++) metrics_observe(m->itl, l, r->toks[i].t - r->toks[i - 1].t);
}

// ---- the schedulers' own numbers ------------------------------------------------------------------------

typedef struct {
  const char *name, *type, *help;
} family;

static const family FAMILIES[] = {
  {"llmux_queue_depth", "gauge", "Requests waiting for a slot"},
  {"llmux_slots_busy", "gauge", "Slots generating or prefilling"},
  {"llmux_slots_total", "gauge", "Slots (parallel sequences)"},
  {"llmux_kv_cache_used_cells", "gauge", "KV cache cells holding tokens (including cached prefixes of idle slots)"},
  {"llmux_kv_cache_cells", "gauge", "KV cache cells in all"},
  {"llmux_prefix_cache_hit_tokens_total", "counter", "Prompt tokens taken from the prefix cache"},
  {"llmux_scheduler_steps_total", "counter", "Forward passes run by the scheduler"},
};

typedef struct {
  strbuf *t;
  size_t family;
} family_walk;

// A label value with backslash, double quote and newline escaped.
static void put_label(strbuf *t, const char *v) {
  for (; *v; v++) {
    if (*v == '\\' || *v == '"') strbuf_printf(t, "\\%c", *v);
    else if (*v == '\n') strbuf_printf(t, "\\n");
    else strbuf_printf(t, "%c", *v);
  }
}

static void model_value(serve_model *sm, void *user) {
  family_walk *w = user;
  const sched_stats *st = sched_get_stats(sm->sched);
  const sched_config *c = sched_get_config(sm->sched);
  long v[] = {atomic_load(&st->queued), atomic_load(&st->busy_slots), c->n_slot, atomic_load(&st->kv_cells_used),
              (long)c->n_slot * c->n_ctx, atomic_load(&st->cached_prompt_tokens), atomic_load(&st->steps)};
  strbuf_printf(w->t, "%s{model=\"", FAMILIES[w->family].name);
  put_label(w->t, sm->id);
  strbuf_printf(w->t, "\"} %ld\n", v[w->family]);
}

char *smetrics_render(serve *s) {
  serve_metrics *m = serve_get_metrics(s);
  char *base = metrics_render(m->reg);
  if (!base) return NULL;
  strbuf t = {0};
  strbuf_puts(&t, base);
  free(base);
  for (size_t k = 0; k < sizeof FAMILIES / sizeof *FAMILIES; k++) {
    const family *f = &FAMILIES[k];
    strbuf_printf(&t, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
    family_walk w = {&t, k};
    serve_each_model(s, model_value, &w);
  }
  if (t.oom) {
    free(t.p);
    return NULL;
  }
  return t.p;
}
