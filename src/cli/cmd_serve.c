// cmd_serve: `llmux serve`: the OpenAI-compatible server. Listens first (so
// /health can say 503 while loading), loads the models, then waits for
// SIGTERM / SIGINT and shuts down gracefully.
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/register.h"
#include "api/serve.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/log.h"

#define MAX_MODELS 32
#define MAX_KEYS 64

static const char USAGE[] =
  "usage: llmux serve -m FILE [--alias ID] [-m FILE2 ...] [options]\n"
  "  -m, --model FILE        GGUF model to serve (repeatable)\n"
  "  --alias ID              model id for the -m before it (default: file name without .gguf)\n"
  "  --chat-template NAME|FILE  chat template for the -m before it (default: the model's own)\n"
  "  --models-dir DIR        also serve every .gguf file in DIR\n"
  "  --host ADDR             address to listen on (default 127.0.0.1)\n"
  "  --port N                port (default 8080; 0 picks a free one)\n"
  "  --parallel N            slots: requests generated at once per model (default 4)\n"
  "  -c, --ctx N             context per slot, in tokens (default: the model's, up to 4096)\n"
  "  -t, --threads N         threads per model (default: one per core)\n"
  "  --batch N               most tokens per forward pass (default 512)\n"
  "  --prefill-chunk N       most prompt tokens per step while others generate (default 128)\n"
  "  --max-queue N           requests waiting beyond the slots before 429 (default 64)\n"
  "  --api-key KEY           require this bearer key (repeatable)\n"
  "  --api-key-file FILE     require one of the keys in FILE (one per line)\n"
  "  --open-health           keep /health and /metrics open when keys are set\n"
  "  --admin-key KEY         enable /admin/models (load/unload at run time) with this key\n"
  "  --max-body BYTES        largest request body (default 16 MiB)\n"
  "  --shutdown-grace S      seconds in-flight requests get on SIGTERM (default 30)\n"
  "  --register URL          announce this server's models to a gateway (heartbeats until stopped)\n"
  "  --advertise URL         the URL the gateway should use for this server (with --register)\n"
  "  --register-key KEY      the gateway's registry key\n";

typedef struct {
  serve_config cfg;
  serve_model_spec models[MAX_MODELS];
  int n_models;
  const char *models_dir;
  const char *register_url, *advertise, *register_key;
  char *keys[MAX_KEYS];
  int n_keys;
} serve_opts;

static int add_keys_from_file(serve_opts *o, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "llmux serve: cannot read the key file %s\n", path);
    return -1;
  }
  char line[512];
  while (fgets(line, sizeof line, f) && o->n_keys < MAX_KEYS) {
    line[strcspn(line, "\r\n")] = 0;
    if (line[0] && line[0] != '#') o->keys[o->n_keys++] = strdup(line);
  }
  fclose(f);
  return 0;
}

static bool model_arg(int argc, char **argv, int *i, serve_opts *o) {
  const char *v;
  if (arg_str(argc, argv, i, "--model", "-m", &v)) {
    if (o->n_models < MAX_MODELS) o->models[o->n_models++] = (serve_model_spec){.path = v};
    return true;
  }
  serve_model_spec *last = o->n_models ? &o->models[o->n_models - 1] : NULL;
  if (arg_str(argc, argv, i, "--alias", NULL, &v)) {
    if (last) last->alias = v;
    return true;
  }
  if (arg_str(argc, argv, i, "--chat-template", NULL, &v)) {
    if (last) last->chat_template = v;
    return true;
  }
  return false;
}

static int parse(int argc, char **argv, serve_opts *o) {
  sched_config *sc = &o->cfg.sched;
  float grace = 30;
  int max_body = 16 << 20;
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (arg_flag(argv, i, "--help") || arg_flag(argv, i, "-h")) {
      fputs(USAGE, stdout);
      exit(0);
    }
    if (model_arg(argc, argv, &i, o) || arg_str(argc, argv, &i, "--models-dir", NULL, &o->models_dir) ||
        arg_str(argc, argv, &i, "--host", NULL, &o->cfg.host) || arg_int(argc, argv, &i, "--port", NULL, &o->cfg.port) ||
        arg_int(argc, argv, &i, "--parallel", "-np", &sc->n_slot) || arg_int(argc, argv, &i, "--ctx", "-c", &sc->n_ctx) ||
        arg_int(argc, argv, &i, "--threads", "-t", &sc->n_threads) || arg_int(argc, argv, &i, "--batch", "-b", &sc->n_batch) ||
        arg_int(argc, argv, &i, "--prefill-chunk", NULL, &sc->prefill_chunk) ||
        arg_int(argc, argv, &i, "--max-queue", NULL, &sc->max_queue) ||
        arg_str(argc, argv, &i, "--admin-key", NULL, &o->cfg.admin_key) ||
        arg_int(argc, argv, &i, "--max-body", NULL, &max_body) ||
        arg_float(argc, argv, &i, "--shutdown-grace", NULL, &grace) ||
        arg_str(argc, argv, &i, "--register", NULL, &o->register_url) ||
        arg_str(argc, argv, &i, "--advertise", NULL, &o->advertise) ||
        arg_str(argc, argv, &i, "--register-key", NULL, &o->register_key))
      continue;
    if (arg_str(argc, argv, &i, "--api-key", NULL, &v)) {
      if (o->n_keys < MAX_KEYS) o->keys[o->n_keys++] = strdup(v);
    } else if (arg_str(argc, argv, &i, "--api-key-file", NULL, &v)) {
      if (add_keys_from_file(o, v) != 0) return 1;
    } else if (arg_flag(argv, i, "--open-health")) {
      o->cfg.open_health = true;
    } else {
      return arg_unknown("serve", argv[i]);
    }
  }
  o->cfg.shutdown_grace_s = grace;
  o->cfg.max_body = max_body > 0 ? (size_t)max_body : 16u << 20;
  o->cfg.api_keys = (const char *const *)o->keys;
  o->cfg.n_api_keys = o->n_keys;
  if (o->register_url && !o->advertise) {
    fprintf(stderr, "llmux serve: --register needs --advertise URL (how the gateway reaches this server)\n");
    return 2;
  }
  if (o->n_models == 0 && !o->models_dir) {
    fprintf(stderr, "llmux serve: give a model with -m FILE or --models-dir DIR\n%s", USAGE);
    return 2;
  }
  return 0;
}

// Every .gguf in dir, in name order; returns how many failed to load.
static int load_dir(serve *s, const char *dir) {
  struct dirent **names;
  int n = scandir(dir, &names, NULL, alphasort), failed = 0;
  if (n < 0) {
    fprintf(stderr, "llmux serve: cannot read the folder %s\n", dir);
    return 1;
  }
  for (int i = 0; i < n; i++) {
    size_t len = strlen(names[i]->d_name);
    if (len > 5 && !strcmp(names[i]->d_name + len - 5, ".gguf")) {
      char path[4096], err[512];
      snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
      serve_model_spec spec = {.path = path};
      if (serve_load(s, &spec, err, sizeof err) != 0) {
        fprintf(stderr, "llmux serve: %s\n", err);
        failed++;
      }
    }
    free(names[i]);
  }
  free(names);
  return failed;
}

static int load_all(serve *s, const serve_opts *o) {
  for (int i = 0; i < o->n_models; i++) {
    char err[1024];
    if (serve_load(s, &o->models[i], err, sizeof err) != 0) {
      fprintf(stderr, "llmux serve: %s\n", err);
      return -1;
    }
  }
  return o->models_dir && load_dir(s, o->models_dir) ? -1 : 0;
}

int cmd_serve(int argc, char **argv) {
  serve_opts o = {0};
  o.cfg.sched = sched_default_config();
  o.cfg.sched.n_ctx = 0;
  o.cfg.port = 8080;
  int rc = parse(argc, argv, &o);
  if (rc) return rc;
  cli_block_stop_signals();  // the main thread waits for them below
  serve *s = serve_new(&o.cfg);
  char err[512];
  if (!s || serve_listen(s, err, sizeof err) != 0) {
    fprintf(stderr, "llmux serve: %s\n", s ? err : "out of memory");
    serve_shutdown(s);
    return 1;
  }
  fprintf(stderr, "llmux serve: listening on http://%s:%d\n", o.cfg.host ? o.cfg.host : "127.0.0.1", serve_port(s));
  rc = load_all(s, &o);
  if (rc == 0) {
    serve_set_ready(s);
    fprintf(stderr, "llmux serve: ready\n");
    serve_registration *reg = o.register_url ? serve_register_start(s, o.register_url, o.advertise, o.register_key) : NULL;
    const char *sig = cli_wait_stop();
    serve_register_stop(reg);
    fprintf(stderr, "llmux serve: %s: finishing in-flight requests (at most %.0f s)\n", sig,
            o.cfg.shutdown_grace_s);
  }
  serve_shutdown(s);
  for (int i = 0; i < o.n_keys; i++) free(o.keys[i]);
  return rc == 0 ? 0 : 1;
}
