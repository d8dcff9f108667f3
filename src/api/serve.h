// api/serve: the state of one `llmux serve` process: its models (each with
// its own scheduler, chat template and tool-call format), API keys, metrics,
// and the HTTP server that routes to the handlers in api/openai_*.c.
//
// Models can be loaded and unloaded while serving: the table is guarded by a
// read-write lock, and each entry is reference counted so a model leaves
// memory only after its last request has finished.
#ifndef LLMUX_API_SERVE_H
#define LLMUX_API_SERVE_H
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "engine/sched.h"
#include "http/server.h"
#include "template/template.h"

typedef struct {
  const char *path;
  const char *alias;          // the model id clients use; NULL: the file name without .gguf
  const char *chat_template;  // NULL: the model's own, else a built-in name or a file
} serve_model_spec;

typedef struct {
  const char *host;
  int port;
  sched_config sched;           // per model
  const char *const *api_keys;  // empty: no authentication
  int n_api_keys;
  bool open_health;             // /health and /metrics without a key even when keys are set
  const char *admin_key;        // NULL: the admin routes are off
  size_t max_body;
  double shutdown_grace_s;      // SIGTERM: how long in-flight requests may take
} serve_config;

typedef struct serve_model {
  char *id;
  char *path;
  llmux_model *model;
  sched *sched;
  tmpl *chat;             // the chat template in use
  char *chat_source;      // its source
  int toolcall_format;    // toolcall_format of the template
  long long created;      // unix seconds when loaded
  _Atomic int refs;
} serve_model;

typedef struct serve serve;

serve *serve_new(const serve_config *cfg);
// Starts listening (health says 503 until the models are in).
int serve_listen(serve *s, char *err, size_t err_size);
int serve_port(const serve *s);
// Loads a model and starts its scheduler; -1 with err on failure.
int serve_load(serve *s, const serve_model_spec *spec, char *err, size_t err_size);
int serve_unload(serve *s, const char *id, char *err, size_t err_size);
void serve_set_ready(serve *s);
// Stops accepting, waits for in-flight requests (at most the grace period), frees all.
void serve_shutdown(serve *s);

// For the handlers: the model by id (NULL when unknown) with a reference
// taken, and its release. NULL id: the only model, if there is one.
serve_model *serve_get_model(serve *s, const char *id);
void serve_put_model(serve *s, serve_model *m);
// A JSON array of every model's /v1/models entry.
json_t *serve_models_json(serve *s);
json_t *serve_model_json(const serve_model *m);
bool serve_ready(const serve *s);
const serve_config *serve_get_config(const serve *s);
struct serve_metrics *serve_get_metrics(serve *s);
// The id a spec gets: its alias, else the file name without ".gguf".
void serve_model_id(const serve_model_spec *spec, char *out, size_t size);
// Calls fn for every model, under the table's read lock.
void serve_each_model(serve *s, void (*fn)(serve_model *m, void *user), void *user);

#endif
