// gateway/config: see config.h. The YAML becomes JSON (core/yaml_json), and
// each section is read with small typed getters that name the field.
#include "gateway/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/yaml_json.h"

typedef struct {
  char *err;
  size_t size;
  bool failed;
} cfg_err;

static bool fail(cfg_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(cfg_err *e, const char *fmt, ...) {
  if (e->failed) return false;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->err, e->size, fmt, ap);
  va_end(ap);
  e->failed = true;
  return false;
}

static bool known_keys(const json_t *obj, const char *where, const char *const *keys, cfg_err *e) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) {
    bool ok = false;
    for (int i = 0; keys[i] && !ok; i++) ok = !strcmp(k, keys[i]);
    if (!ok) return fail(e, "%s%s%s: unknown option (see docs/GATEWAY.md)", where, *where ? "." : "", k);
  }
  return true;
}

static bool get_str(const json_t *o, const char *k, const char *where, char **out, cfg_err *e) {
  json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v)) return true;
  if (!json_is_string(v)) return fail(e, "%s%s%s: must be a string", where, *where ? "." : "", k);
  free(*out);
  *out = strdup(json_string_value(v));
  return true;
}

// A string given directly, or through an environment variable named by `<k>_env`.
static bool get_secret(const json_t *o, const char *k, const char *where, char **out, cfg_err *e) {
  char env_key[64], *name = NULL;
  snprintf(env_key, sizeof env_key, "%s_env", k);
  if (!get_str(o, k, where, out, e) || !get_str(o, env_key, where, &name, e)) return false;
  if (!name) return true;
  const char *val = getenv(name);
  bool ok = val && *val;
  if (ok) {
    free(*out);
    *out = strdup(val);
  }
  free(name);
  return ok || fail(e, "%s%s%s: the environment variable it names is not set", where, *where ? "." : "", env_key);
}

static bool get_num(const json_t *o, const char *k, const char *where, double lo, double hi, double *out, cfg_err *e) {
  json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v)) return true;
  if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
    return fail(e, "%s%s%s: must be a number from %g to %g", where, *where ? "." : "", k, lo, hi);
  *out = json_number_value(v);
  return true;
}

static bool get_int(const json_t *o, const char *k, const char *where, int lo, int hi, int *out, cfg_err *e) {
  double d = *out;
  if (!get_num(o, k, where, lo, hi, &d, e)) return false;
  if (d != (int)d) return fail(e, "%s%s%s: must be a whole number", where, *where ? "." : "", k);
  *out = (int)d;
  return true;
}

static bool get_bool(const json_t *o, const char *k, const char *where, bool *out, cfg_err *e) {
  json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v)) return true;
  if (!json_is_boolean(v)) return fail(e, "%s%s%s: must be true or false", where, *where ? "." : "", k);
  *out = json_is_true(v);
  return true;
}

// A section that must be an object when present; NULL (no error) when absent.
static const json_t *section(const json_t *root, const char *k, cfg_err *e) {
  json_t *v = json_object_get(root, k);
  if (!v || json_is_null(v)) return NULL;
  if (!json_is_object(v)) return fail(e, "%s: must be a mapping", k), NULL;
  return v;
}

// ---- backends -----------------------------------------------------------------------------------------

void gw_backend_cfg_free(gw_backend_cfg *b) {
  free(b->name);
  free(b->url);
  free(b->api_key);
  for (int i = 0; i < b->n_models; i++) {
    free(b->models[i]);
    free(b->upstream_models[i]);
  }
  free(b->models);
  free(b->upstream_models);
}

static bool add_model(gw_backend_cfg *b, const char *pub, const char *up) {
  char **m = realloc(b->models, (size_t)(b->n_models + 1) * sizeof *m);
  if (m) b->models = m;
  char **u = realloc(b->upstream_models, (size_t)(b->n_models + 1) * sizeof *u);
  if (u) b->upstream_models = u;
  if (!m || !u) return false;
  b->models[b->n_models] = strdup(pub);
  b->upstream_models[b->n_models] = strdup(up);
  b->n_models++;
  return true;
}

// models: [a, b] or {public: upstream}.
static bool backend_models(const json_t *v, const char *where, gw_backend_cfg *b, cfg_err *e) {
  if (json_is_array(v)) {
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m) {
      if (!json_is_string(m) || !json_string_length(m)) return fail(e, "%s.models[%zu]: must be a model name", where, i);
      add_model(b, json_string_value(m), json_string_value(m));
    }
  } else if (json_is_object(v)) {
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m) {
      if (!json_is_string(m)) return fail(e, "%s.models.%s: must be the backend's name for the model", where, k);
      add_model(b, k, json_string_value(m));
    }
  } else {
    return fail(e, "%s.models: must be a list of model names or a mapping of names to the backend's names", where);
  }
  return b->n_models > 0 || fail(e, "%s.models: lists no model", where);
}

static bool parse_backend(const json_t *v, int idx, gw_backend_cfg *b, cfg_err *e) {
  static const char *const keys[] = {"name", "url", "api_key", "api_key_env", "models", "weight", "max_concurrency", NULL};
  char where[48];
  snprintf(where, sizeof where, "backends[%d]", idx);
  if (!json_is_object(v)) return fail(e, "%s: must be a mapping", where);
  b->weight = 1;
  if (!known_keys(v, where, keys, e) || !get_str(v, "name", where, &b->name, e) || !get_str(v, "url", where, &b->url, e) ||
      !get_secret(v, "api_key", where, &b->api_key, e) || !get_int(v, "weight", where, 1, 1000, &b->weight, e) ||
      !get_int(v, "max_concurrency", where, 0, 1 << 20, &b->max_concurrency, e))
    return false;
  if (!b->url || (strncmp(b->url, "http://", 7) && strncmp(b->url, "https://", 8)))
    return fail(e, "%s.url: must be an http:// or https:// URL", where);
  size_t n = strlen(b->url);
  while (n > 0 && b->url[n - 1] == '/') b->url[--n] = 0;
  if (n > 3 && !strcmp(b->url + n - 3, "/v1")) b->url[n - 3] = 0;  // we add /v1 ourselves
  if (!b->name) b->name = strdup(b->url);
  json_t *models = json_object_get(v, "models");
  if (!models) return fail(e, "%s.models: is required", where);
  return backend_models(models, where, b, e);
}

static bool parse_backends(const json_t *root, gw_config *c, cfg_err *e) {
  json_t *v = json_object_get(root, "backends");
  if (!v || json_is_null(v)) return true;
  if (!json_is_array(v)) return fail(e, "backends: must be a list");
  c->backends = calloc(json_array_size(v) + 1, sizeof *c->backends);
  if (!c->backends) return fail(e, "out of memory");
  for (size_t i = 0; i < json_array_size(v); i++) {
    c->n_backends++;
    if (!parse_backend(json_array_get(v, i), (int)i, &c->backends[i], e)) return false;
    for (size_t k = 0; k < i; k++)
      if (!strcmp(c->backends[k].name, c->backends[i].name))
        return fail(e, "backends[%zu].name: '%s' is used twice", i, c->backends[i].name);
  }
  return true;
}

// ---- sections -------------------------------------------------------------------------------------------

static bool parse_routing(const json_t *root, gw_config *c, cfg_err *e) {
  json_t *a = json_object_get(root, "aliases"), *f = json_object_get(root, "fallbacks");
  const char *k;
  json_t *v;
  if (a && !json_is_null(a)) {
    if (!json_is_object(a)) return fail(e, "aliases: must map alias names to model names");
    json_object_foreach(a, k, v) if (!json_is_string(v)) return fail(e, "aliases.%s: must be a model name", k);
    c->aliases = json_incref(a);
  }
  if (f && !json_is_null(f)) {
    if (!json_is_object(f)) return fail(e, "fallbacks: must map model names to lists of model names");
    json_object_foreach(f, k, v) {
      if (!json_is_array(v)) return fail(e, "fallbacks.%s: must be a list of model names", k);
      for (size_t i = 0; i < json_array_size(v); i++)
        if (!json_is_string(json_array_get(v, i))) return fail(e, "fallbacks.%s[%zu]: must be a model name", k, i);
    }
    c->fallbacks = json_incref(f);
  }
  return true;
}

static bool parse_sections(const json_t *root, gw_config *c, cfg_err *e) {
  const json_t *listen = section(root, "listen", e), *store = section(root, "store", e),
               *redis = section(root, "redis", e), *health = section(root, "health_check", e),
               *eject = section(root, "ejection", e), *tmo = section(root, "timeouts", e),
               *reg = section(root, "registry", e);
  if (e->failed) return false;
  static const char *const k_listen[] = {"host", "port", "max_body", NULL}, *const k_store[] = {"path", NULL},
                           *const k_redis[] = {"host", "port", "password", "password_env", "prefix", NULL},
                           *const k_health[] = {"interval_s", "timeout_s", "path", NULL},
                           *const k_eject[] = {"consecutive_failures", "cooldown_s", NULL},
                           *const k_tmo[] = {"connect_s", "first_byte_s", "idle_s", NULL},
                           *const k_reg[] = {"ttl_s", "key", "key_env", NULL};
  double max_body = (double)c->max_body;
  if (listen && (!known_keys(listen, "listen", k_listen, e) || !get_str(listen, "host", "listen", &c->host, e) ||
                 !get_int(listen, "port", "listen", 0, 65535, &c->port, e) ||
                 !get_num(listen, "max_body", "listen", 1024, 1 << 30, &max_body, e)))
    return false;
  c->max_body = (size_t)max_body;
  if (store && (!known_keys(store, "store", k_store, e) || !get_str(store, "path", "store", &c->store_path, e)))
    return false;
  if (redis) {
    c->redis_host = strdup("127.0.0.1");
    if (!known_keys(redis, "redis", k_redis, e) || !get_str(redis, "host", "redis", &c->redis_host, e) ||
        !get_int(redis, "port", "redis", 1, 65535, &c->redis_port, e) ||
        !get_secret(redis, "password", "redis", &c->redis_password, e) ||
        !get_str(redis, "prefix", "redis", &c->redis_prefix, e))
      return false;
  }
  if (health && (!known_keys(health, "health_check", k_health, e) ||
                 !get_num(health, "interval_s", "health_check", 0.05, 3600, &c->health_interval_s, e) ||
                 !get_num(health, "timeout_s", "health_check", 0.05, 600, &c->health_timeout_s, e) ||
                 !get_str(health, "path", "health_check", &c->health_path, e)))
    return false;
  if (eject && (!known_keys(eject, "ejection", k_eject, e) ||
                !get_int(eject, "consecutive_failures", "ejection", 1, 1000, &c->eject_failures, e) ||
                !get_num(eject, "cooldown_s", "ejection", 0.01, 3600, &c->eject_cooldown_s, e)))
    return false;
  if (tmo && (!known_keys(tmo, "timeouts", k_tmo, e) || !get_num(tmo, "connect_s", "timeouts", 0.01, 600, &c->connect_timeout_s, e) ||
              !get_num(tmo, "first_byte_s", "timeouts", 0.01, 3600, &c->first_byte_timeout_s, e) ||
              !get_num(tmo, "idle_s", "timeouts", 0.01, 3600, &c->idle_timeout_s, e)))
    return false;
  if (reg && (!known_keys(reg, "registry", k_reg, e) || !get_num(reg, "ttl_s", "registry", 0.1, 3600, &c->registry_ttl_s, e) ||
              !get_secret(reg, "key", "registry", &c->registry_key, e)))
    return false;
  return get_secret(root, "admin_key", "", &c->admin_key, e) && get_bool(root, "require_keys", "", &c->require_keys, e) &&
         get_int(root, "retries", "", 0, 10, &c->retries, e) && parse_routing(root, c, e) && parse_backends(root, c, e);
}

static void defaults(gw_config *c) {
  c->host = strdup("127.0.0.1");
  c->port = 4000;
  c->store_path = strdup("llmux-gateway.db");
  c->redis_port = 6379;
  c->redis_prefix = strdup("llmux:");
  c->require_keys = true;
  c->health_interval_s = 5;
  c->health_timeout_s = 2;
  c->health_path = strdup("/health");
  c->eject_failures = 3;
  c->eject_cooldown_s = 10;
  c->retries = 1;
  c->connect_timeout_s = 2;
  c->first_byte_timeout_s = 120;
  c->idle_timeout_s = 60;
  c->registry_ttl_s = 15;
  c->max_body = 16u << 20;
}

gw_config *gw_config_parse(const char *yaml, size_t len, char *err, size_t err_size) {
  json_t *root = yaml_to_json(yaml, len, err, err_size);
  if (!root) return NULL;
  gw_config *c = calloc(1, sizeof *c);
  cfg_err e = {err, err_size, false};
  static const char *const top[] = {"listen", "store", "redis", "health_check", "ejection", "timeouts", "registry",
                                    "admin_key", "admin_key_env", "require_keys", "retries", "aliases", "fallbacks",
                                    "backends", NULL};
  if (!c) fail(&e, "out of memory");
  else if (!json_is_object(root)) fail(&e, "the configuration must be a mapping of options");
  else {
    defaults(c);
    if (known_keys(root, "", top, &e)) parse_sections(root, c, &e);
  }
  json_decref(root);
  if (e.failed) {
    gw_config_free(c);
    return NULL;
  }
  return c;
}

gw_config *gw_config_load(const char *path, char *err, size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_size, "%s: cannot open", path);
    return NULL;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0, got;
  char chunk[65536];
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && len < (16u << 20)) {
    if (len + got + 1 > cap) {
      cap = (len + got + 1) * 2;
      char *b = realloc(buf, cap);
      if (!b) break;
      buf = b;
    }
    memcpy(buf + len, chunk, got);
    len += got;
  }
  fclose(f);
  char inner[400];
  gw_config *c = buf ? gw_config_parse(buf, len, inner, sizeof inner) : NULL;
  if (!c) snprintf(err, err_size, "%s: %s", path, buf ? inner : "empty or unreadable");
  free(buf);
  return c;
}

void gw_config_free(gw_config *c) {
  if (!c) return;
  free(c->host);
  free(c->admin_key);
  free(c->store_path);
  free(c->redis_host);
  free(c->redis_password);
  free(c->redis_prefix);
  free(c->health_path);
  free(c->registry_key);
  json_decref(c->aliases);
  json_decref(c->fallbacks);
  for (int i = 0; i < c->n_backends; i++) gw_backend_cfg_free(&c->backends[i]);
  free(c->backends);
  free(c);
}
