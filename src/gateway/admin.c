// gateway/admin: the admin routes, all behind the admin key (ordinary keys
// get 403): /admin/keys (list, create, show, revoke), /admin/usage (by key,
// model and time range), /admin/backends (health and load), and
// /admin/registry, where `llmux serve --register` announces itself (the
// registry key, or the admin key, opens that one).
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_util.h"
#include "core/error.h"
#include "gateway/gateway.h"
#include "store/keys.h"
#include "store/usage.h"

static bool key_is(const char *given, const char *want) {
  size_t n = want ? strlen(want) : 0;
  return want && given && strlen(given) == n && sodium_memcmp(given, want, n) == 0;
}

// ---- keys ------------------------------------------------------------------------------------------------

static bool spec_from_json(const json_t *b, key_spec *s, api_err *e) {
  static const char *const keys[] = {"name", "rpm", "tpm", "max_parallel", "budget_tokens", "budget_period",
                                     "models", "expires", "metadata", NULL};
  long long rpm = 0, tpm = 0, par = 0, budget = 0, expires = 0;
  if (!api_check_keys(b, keys, NULL, e) || !api_get_str(b, "name", &s->name, e) ||
      !api_get_int(b, "rpm", 0, KEY_LIMIT_MAX, &rpm, e) || !api_get_int(b, "tpm", 0, KEY_LIMIT_MAX, &tpm, e) ||
      !api_get_int(b, "max_parallel", 0, KEY_LIMIT_MAX, &par, e) ||
      !api_get_int(b, "budget_tokens", 0, KEY_LIMIT_MAX, &budget, e) ||
      !api_get_str(b, "budget_period", &s->budget_period, e) || !api_get_int(b, "expires", 0, INT64_MAX, &expires, e))
    return false;
  *s = (key_spec){.name = s->name, .rpm = rpm, .tpm = tpm, .max_parallel = par, .budget_tokens = budget,
                  .budget_period = s->budget_period, .expires = expires};
  return true;
}

// "models": a list of names/patterns, joined for the store.
static char *models_of(const json_t *b, api_err *e) {
  json_t *m = json_object_get(b, "models");
  if (!m || json_is_null(m)) return NULL;
  if (!json_is_array(m)) return api_err_set(e, 400, "models", "'models' must be a list of model names or patterns"), NULL;
  size_t total = 1;
  for (size_t i = 0; i < json_array_size(m); i++) {
    if (!json_is_string(json_array_get(m, i))) return api_err_set(e, 400, "models", "models[%zu] must be a string", i), NULL;
    total += json_string_length(json_array_get(m, i)) + 1;
  }
  char *out = calloc(total, 1);
  for (size_t i = 0; out && i < json_array_size(m); i++) {
    if (i) strcat(out, ",");
    strcat(out, json_string_value(json_array_get(m, i)));
  }
  return out;
}

static http_response *create_key(gateway *g, http_request *rq) {
  api_err e = {0};
  json_t *b = api_parse_body(rq, &e);
  key_spec spec = {0};
  char *models = NULL, *meta = NULL;
  http_response *r = NULL;
  if (!b || !spec_from_json(b, &spec, &e)) r = api_error_from(&e);
  if (!r && !(models = models_of(b, &e)) && e.status) r = api_error_from(&e);
  json_t *md = b ? json_object_get(b, "metadata") : NULL;
  if (!r && md && !json_is_null(md)) meta = json_dumps(md, JSON_COMPACT);
  if (!r) {
    spec.models = models;
    spec.metadata = meta;
    char secret[KEY_SECRET_SIZE];
    key_record rec;
    if (keys_create(gw_access_db(g->access), &spec, secret, &rec) != 0) {
      r = api_error(400, NULL, NULL, "%s", err_get());
    } else {
      json_t *j = keys_record_json(&rec, gw_now_ms() / 1000);
      json_object_set_new(j, "key", json_string(secret));  // shown this once
      r = api_json(201, j);
      sodium_memzero(secret, sizeof secret);
    }
  }
  free(models);
  free(meta);
  json_decref(b);
  return r;
}

static http_response *list_keys(gateway *g) {
  key_record *recs = NULL;
  int n = 0;
  if (keys_list(gw_access_db(g->access), &recs, &n) != 0) return api_error(500, NULL, NULL, "%s", err_get());
  json_t *data = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(data, keys_record_json(&recs[i], gw_now_ms() / 1000));
  free(recs);
  return api_json(200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

static http_response *one_key(gateway *g, http_request *rq, const char *id) {
  store_db *db = gw_access_db(g->access);
  if (!strcmp(http_method(rq), "DELETE")) {
    if (keys_revoke(db, id) < 0) return api_error(404, NULL, NULL, "no key '%s'", id);
    gw_access_forget(g->access, id);
  }
  key_record rec;
  int rc = keys_get(db, id, &rec);
  if (rc != 1) return rc < 0 ? api_error(500, NULL, NULL, "%s", err_get()) : api_error(404, NULL, NULL, "no key '%s'", id);
  return api_json(200, keys_record_json(&rec, gw_now_ms() / 1000));
}

static http_response *keys_route(gateway *g, http_request *rq, const char *path) {
  const char *m = http_method(rq);
  if (!strcmp(path, "/admin/keys")) {
    if (!strcmp(m, "GET")) return list_keys(g);
    if (!strcmp(m, "POST")) return create_key(g, rq);
    return api_error(405, NULL, NULL, "use GET or POST on /admin/keys");
  }
  if (strcmp(m, "GET") && strcmp(m, "DELETE")) return api_error(405, NULL, NULL, "use GET or DELETE on /admin/keys/{id}");
  return one_key(g, rq, path + strlen("/admin/keys/"));
}

// ---- usage, backends, registry --------------------------------------------------------------------------------

static bool query_ms(http_request *rq, const char *name, long long *out) {
  const char *v = http_query(rq, name);
  if (!v) return true;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (*end || end == v) return false;
  *out = x;
  return true;
}

static http_response *usage_route(gateway *g, http_request *rq) {
  long long from = 0, to = INT64_MAX;
  usage_group grp = USAGE_GROUP_NONE;
  const char *group = http_query(rq, "group_by");
  if (!query_ms(rq, "from", &from) || !query_ms(rq, "to", &to))
    return api_error(400, "from", NULL, "'from' and 'to' are Unix times in milliseconds");
  if (group && usage_group_parse(group, &grp) != 0) return api_error(400, "group_by", NULL, "group_by must be none, key, model or backend");
  json_t *rows = usage_query(gw_access_db(g->access), http_query(rq, "key"), http_query(rq, "model"), from, to, grp);
  if (!rows) return api_error(500, NULL, NULL, "%s", err_get());
  return api_json(200, json_pack("{s:s,s:o}", "object", "list", "data", rows));
}

static http_response *registry_route(gateway *g, http_request *rq) {
  api_err e = {0};
  json_t *b = api_parse_body(rq, &e);
  if (!b) return api_error_from(&e);
  static const char *const keys[] = {"url", "name", "models", NULL};
  const char *url = NULL, *name = NULL;
  http_response *r = NULL;
  if (!api_check_keys(b, keys, NULL, &e) || !api_get_str(b, "url", &url, &e) || !api_get_str(b, "name", &name, &e))
    r = api_error_from(&e);
  char err[256];
  if (!r && gw_pool_register(g->pool, name, url, json_object_get(b, "models"), g->cfg->registry_ttl_s, err, sizeof err) != 0)
    r = api_error(400, NULL, NULL, "%s", err);
  if (!r) r = api_json(200, json_pack("{s:s,s:f}", "status", "registered", "ttl_s", g->cfg->registry_ttl_s));
  json_decref(b);
  return r;
}

http_response *gateway_admin(gateway *g, http_request *rq, const char *path) {
  if (strncmp(path, "/admin/", 7)) return NULL;
  const char *k = http_bearer(rq);
  bool admin = key_is(k, g->cfg->admin_key);
  if (!strcmp(path, "/admin/registry") && !strcmp(http_method(rq), "POST")) {
    if (!admin && !key_is(k, g->cfg->registry_key)) return api_error(401, NULL, "invalid_api_key", "registration needs the registry key");
    return registry_route(g, rq);
  }
  if (!g->cfg->admin_key) return api_error(404, NULL, NULL, "the admin routes are off (set admin_key in the configuration)");
  if (!k) return api_error(401, NULL, "missing_api_key", "the admin routes need the admin key");
  if (!admin) return api_error(403, NULL, "not_admin", "this key may not use the admin routes");
  if (!strcmp(path, "/admin/keys") || !strncmp(path, "/admin/keys/", 12)) return keys_route(g, rq, path);
  if (!strcmp(path, "/admin/usage")) return usage_route(g, rq);
  if (!strcmp(path, "/admin/backends")) return api_json(200, json_pack("{s:s,s:o}", "object", "list", "data", gw_pool_json(g->pool)));
  return api_error(404, NULL, NULL, "no admin route %s", path);
}
