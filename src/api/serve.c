// api/serve: the model table and the life of a serve process; see serve.h.
#include "api/serve.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/openai/toolcall.h"
#include "api/serve_metrics.h"
#include "core/error.h"
#include "core/log.h"

struct serve {
  serve_config cfg;
  pthread_rwlock_t lock;  // the table
  serve_model **models;
  int n_models, cap;
  pthread_mutex_t load_mu;  // one load at a time
  http_server *http;
  serve_metrics *metrics;
  _Atomic bool ready;
};

http_response *serve_route(http_request *rq, void *user);  // api/router.c

serve *serve_new(const serve_config *cfg) {
  serve *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  if (!s->cfg.max_body) s->cfg.max_body = 16u << 20;
  s->metrics = smetrics_new();
  if (!s->metrics) {
    free(s);
    return NULL;
  }
  pthread_rwlock_init(&s->lock, NULL);
  pthread_mutex_init(&s->load_mu, NULL);
  return s;
}

int serve_listen(serve *s, char *err, size_t err_size) {
  http_config hc = {.host = s->cfg.host, .port = s->cfg.port, .max_body = s->cfg.max_body, .max_connections = 512};
  s->http = http_start(&hc, serve_route, s, err, err_size);
  return s->http ? 0 : -1;
}

int serve_port(const serve *s) { return s->http ? http_port(s->http) : 0; }
void serve_set_ready(serve *s) { atomic_store(&s->ready, true); }
bool serve_ready(const serve *s) { return atomic_load(&s->ready); }
const serve_config *serve_get_config(const serve *s) { return &s->cfg; }
struct serve_metrics *serve_get_metrics(serve *s) { return s->metrics; }

// ---- one model --------------------------------------------------------------------------------------

void serve_model_id(const serve_model_spec *spec, char *out, size_t size) {
  if (spec->alias && *spec->alias) {
    snprintf(out, size, "%s", spec->alias);
    return;
  }
  const char *base = strrchr(spec->path, '/');
  base = base ? base + 1 : spec->path;
  size_t n = strlen(base);
  if (n > 5 && !strcmp(base + n - 5, ".gguf")) n -= 5;
  snprintf(out, size, "%.*s", (int)n, base);
}

static void model_free(serve_model *m) {
  if (!m) return;
  sched_free(m->sched, 0);
  tmpl_free(m->chat);
  free(m->chat_source);
  llmux_model_free(m->model);
  free(m->id);
  free(m->path);
  free(m);
}

// The chat template: the --chat-template override, else the model's, else ChatML.
static int load_template(serve_model *m, const char *override, char *err, size_t err_size) {
  const char *own = llmux_model_chat_template(m->model);
  m->chat_source = override ? tmpl_load_source(override) : strdup(own ? own : tmpl_builtin("chatml"));
  if (!m->chat_source) {
    snprintf(err, err_size, "chat template '%s': %s", override ? override : "(model)", err_get());
    return -1;
  }
  if (!(m->chat = tmpl_parse(m->chat_source, strlen(m->chat_source)))) {
    snprintf(err, err_size, "the chat template of %s cannot be used: %s (choose another with --chat-template NAME|FILE)",
             m->id, err_get());
    return -1;
  }
  // A template that cannot render one user message would fail every chat request: refuse it now.
  json_t *probe = json_pack("{s:[{s:s,s:s}],s:b,s:s,s:s}", "messages", "role", "user", "content", "Hello",
                            "add_generation_prompt", 1, "bos_token", "", "eos_token", "");
  char *out = NULL;
  size_t len;
  int rc = tmpl_render(m->chat, probe, &out, &len);
  json_decref(probe);
  free(out);
  if (rc != 0) {
    snprintf(err, err_size, "the chat template of %s fails on a single user message: %s (choose another with --chat-template NAME|FILE)",
             m->id, err_get());
    return -1;
  }
  if (!override && !own) log_warn("%s has no chat template; using ChatML", m->id);
  m->toolcall_format = toolcall_detect(m->chat_source);
  return 0;
}

static serve_model *model_open(serve *s, const serve_model_spec *spec, char *err, size_t err_size) {
  serve_model *m = calloc(1, sizeof *m);
  char id[256];
  serve_model_id(spec, id, sizeof id);
  if (!m || !(m->id = strdup(id)) || !(m->path = strdup(spec->path))) {
    snprintf(err, err_size, "out of memory");
    model_free(m);
    return NULL;
  }
  log_info("loading %s from %s", m->id, m->path);
  if (!(m->model = llmux_model_load(spec->path, NULL))) {
    snprintf(err, err_size, "%s", llmux_last_error());
    model_free(m);
    return NULL;
  }
  if (load_template(m, spec->chat_template, err, err_size) != 0) {
    model_free(m);
    return NULL;
  }
  if (!(m->sched = sched_new(m->model, &s->cfg.sched))) {
    snprintf(err, err_size, "%s: %s", m->id, err_get());
    model_free(m);
    return NULL;
  }
  m->created = (long long)time(NULL);
  atomic_init(&m->refs, 1);  // the table's
  const sched_config *sc = sched_get_config(m->sched);
  log_info("%s ready: %d slots of %d tokens, chat template %s, tool calls %s", m->id, sc->n_slot, sc->n_ctx,
           spec->chat_template ? spec->chat_template : "(model's)", toolcall_format_name(m->toolcall_format));
  return m;
}

// ---- the table --------------------------------------------------------------------------------------------

static int find(const serve *s, const char *id) {
  for (int i = 0; i < s->n_models; i++)
    if (!strcmp(s->models[i]->id, id)) return i;
  return -1;
}

int serve_load(serve *s, const serve_model_spec *spec, char *err, size_t err_size) {
  char id[256];
  serve_model_id(spec, id, sizeof id);
  pthread_mutex_lock(&s->load_mu);
  pthread_rwlock_rdlock(&s->lock);
  bool taken = find(s, id) >= 0;
  pthread_rwlock_unlock(&s->lock);
  serve_model *m = taken ? NULL : model_open(s, spec, err, err_size);
  if (taken) snprintf(err, err_size, "a model with id '%s' is already loaded", id);
  if (m) {
    pthread_rwlock_wrlock(&s->lock);
    if (s->n_models == s->cap) {
      int cap = s->cap ? s->cap * 2 : 4;
      serve_model **t = realloc(s->models, (size_t)cap * sizeof *t);
      if (t) s->models = t, s->cap = cap;
    }
    bool room = s->n_models < s->cap;
    if (room) s->models[s->n_models++] = m;
    pthread_rwlock_unlock(&s->lock);
    if (!room) {
      snprintf(err, err_size, "out of memory");
      model_free(m);
      m = NULL;
    }
  }
  pthread_mutex_unlock(&s->load_mu);
  return m ? 0 : -1;
}

int serve_unload(serve *s, const char *id, char *err, size_t err_size) {
  pthread_rwlock_wrlock(&s->lock);
  int i = find(s, id);
  serve_model *m = i >= 0 ? s->models[i] : NULL;
  if (m) s->models[i] = s->models[--s->n_models];
  pthread_rwlock_unlock(&s->lock);
  if (!m) {
    snprintf(err, err_size, "the model '%s' is not loaded", id);
    return -1;
  }
  log_info("unloading %s (it leaves memory when its last request ends)", id);
  serve_put_model(s, m);
  return 0;
}

serve_model *serve_get_model(serve *s, const char *id) {
  pthread_rwlock_rdlock(&s->lock);
  int i = id ? find(s, id) : s->n_models == 1 ? 0 : -1;
  serve_model *m = i >= 0 ? s->models[i] : NULL;
  if (m) atomic_fetch_add(&m->refs, 1);
  pthread_rwlock_unlock(&s->lock);
  return m;
}

void serve_put_model(serve *s, serve_model *m) {
  (void)s;
  if (m && atomic_fetch_sub(&m->refs, 1) == 1) model_free(m);
}

void serve_each_model(serve *s, void (*fn)(serve_model *m, void *user), void *user) {
  pthread_rwlock_rdlock(&s->lock);
  for (int i = 0; i < s->n_models; i++) fn(s->models[i], user);
  pthread_rwlock_unlock(&s->lock);
}

json_t *serve_model_json(const serve_model *m) {
  const sched_config *sc = sched_get_config(m->sched);
  const sched_stats *st = sched_get_stats(m->sched);
  return json_pack("{s:s,s:s,s:I,s:s,s:i,s:{s:s,s:i,s:i,s:i,s:i,s:i,s:I,s:s}}", "id", m->id, "object", "model", "created",
                   (json_int_t)m->created, "owned_by", "llmux", "max_model_len", sc->n_ctx, "meta", "arch",
                   llmux_model_arch(m->model), "n_ctx_train", llmux_model_n_ctx_train(m->model), "n_ctx_per_slot",
                   sc->n_ctx, "n_slots", sc->n_slot, "slots_busy", (int)atomic_load(&st->busy_slots), "n_vocab",
                   llmux_model_n_vocab(m->model), "weight_bytes", (json_int_t)llmux_model_weight_bytes(m->model),
                   "tool_call_format", toolcall_format_name(m->toolcall_format));
}

static void append_model(serve_model *m, void *user) { json_array_append_new(user, serve_model_json(m)); }

json_t *serve_models_json(serve *s) {
  json_t *a = json_array();
  serve_each_model(s, append_model, a);
  return a;
}

// ---- shutting down ----------------------------------------------------------------------------------------

static void stop_model(serve_model *m, void *user) {
  (void)user;
  sched_shutdown(m->sched, 0);
}

void serve_shutdown(serve *s) {
  if (!s) return;
  if (s->http) {
    http_quiesce(s->http);
    double end = sched_now() + s->cfg.shutdown_grace_s;
    while (http_in_flight(s->http) > 0 && sched_now() < end) usleep(20000);
    if (http_in_flight(s->http) > 0) log_warn("%d requests still running at the deadline; closing them", http_in_flight(s->http));
  }
  serve_each_model(s, stop_model, NULL);
  // Schedulers first: waiting handlers then see their requests cancelled and return.
  pthread_rwlock_wrlock(&s->lock);
  int n = s->n_models;
  serve_model **models = s->models;
  s->models = NULL;
  s->n_models = s->cap = 0;
  pthread_rwlock_unlock(&s->lock);
  for (int i = 0; i < n; i++) serve_put_model(s, models[i]);
  free(models);
  http_stop(s->http);
  smetrics_free(s->metrics);
  pthread_rwlock_destroy(&s->lock);
  pthread_mutex_destroy(&s->load_mu);
  free(s);
}
