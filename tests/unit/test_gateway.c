// gateway: the configuration (the complete example in docs/GATEWAY.md must
// load, and every kind of mistake gives a message naming the field), YAML
// edge cases, the body rewrite and the usage scanner fed in odd pieces, and
// the balancer's choices.
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "core/yaml_json.h"
#include "gateway/config.h"
#include "gateway/pool.h"
#include "gateway/rewrite.h"
#include "testutil.h"

// The first ```yaml block of docs/GATEWAY.md.
static char *doc_example(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/docs/GATEWAY.md", LLMUX_SOURCE_DIR);
  size_t len;
  char *doc = tu_read_file(path, &len), *a = strstr(doc, "```yaml\n");
  CHECK(a != NULL);
  if (!a) return doc;
  a += 8;
  char *b = strstr(a, "```");
  memmove(doc, a, (size_t)(b - a));
  doc[b - a] = 0;
  return doc;
}

static void test_doc_example(void) {
  setenv("LLMUX_ADMIN_KEY", "adm", 1);
  setenv("REDIS_PASSWORD", "pw", 1);
  setenv("LLMUX_REGISTRY_KEY", "reg", 1);
  setenv("HOSTED_API_KEY", "up", 1);
  char *y = doc_example(), err[300] = "";
  gw_config *c = gw_config_parse(y, strlen(y), err, sizeof err);
  CHECK_MSG(c != NULL, "docs/GATEWAY.md example: %s", err);
  if (c) {
    CHECK(!strcmp(c->admin_key, "adm") && !strcmp(c->redis_password, "pw") && !strcmp(c->registry_key, "reg"));
    CHECK(c->port == 4000 && c->n_backends == 3 && c->retries == 1 && c->eject_failures == 3);
    CHECK(!strcmp(c->backends[0].url, "http://127.0.0.1:8081") && c->backends[0].weight == 2);
    CHECK(!strcmp(c->backends[2].url, "https://api.example.com") && !strcmp(c->backends[2].api_key, "up"));
    CHECK(!strcmp(c->backends[2].models[0], "big-model") && !strcmp(c->backends[2].upstream_models[0], "provider-model-2026"));
    CHECK(json_is_array(json_object_get(c->fallbacks, "llama-3.2-1b")));
  }
  gw_config_free(c);
  free(y);
  unsetenv("HOSTED_API_KEY");
}

static void expect_error(const char *yaml, const char *want) {
  char err[300] = "";
  gw_config *c = gw_config_parse(yaml, strlen(yaml), err, sizeof err);
  CHECK_MSG(c == NULL && strstr(err, want), "'%s': got '%s', want '%s'", yaml, c ? "(accepted)" : err, want);
  gw_config_free(c);
}

static void test_errors(void) {
  expect_error("listen: {prot: 1}", "listen.prot: unknown option");
  expect_error("frobnicate: 1", "frobnicate: unknown option");
  expect_error("listen: {port: 70000}", "listen.port: must be a number from 0 to 65535");
  expect_error("backends: [{name: a, url: ftp://x, models: [m]}]", "backends[0].url: must be an http");
  expect_error("backends: [{name: a, url: http://x}]", "backends[0].models: is required");
  expect_error("backends: [{name: a, url: http://x, models: []}]", "backends[0].models: lists no model");
  expect_error("backends: [{name: a, url: http://x, models: [m]}, {name: a, url: http://y, models: [m]}]",
               "backends[1].name: 'a' is used twice");
  expect_error("backends: {a: 1}", "backends: must be a list");
  expect_error("retries: lots", "retries: must be a number");
  expect_error("admin_key_env: SURELY_NOT_SET_ANYWHERE", "admin_key_env: the environment variable");
  expect_error("aliases: {a: [1]}", "aliases.a: must be a model name");
  expect_error("fallbacks: {a: b}", "fallbacks.a: must be a list");
  expect_error("listen: [1, 2", "line 2, column 1: did not find expected");
  expect_error("- just\n- a list", "must be a mapping");
  // An alias bomb is refused, not expanded.
  const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
  char err[300];
  json_t *j = yaml_to_json(bomb, strlen(bomb), err, sizeof err);
  CHECK_MSG(j == NULL && strstr(err, "too much"), "alias bomb: %s", j ? "accepted" : err);
  json_decref(j);
}

static void test_yaml_scalars(void) {
  char err[200];
  const char *y = "i: 42\nf: 1.5\nt: true\nn: ~\ns: '42'\nw: hello world\nneg: -7\n";
  json_t *j = yaml_to_json(y, strlen(y), err, sizeof err);
  CHECK(j && json_integer_value(json_object_get(j, "i")) == 42 && json_real_value(json_object_get(j, "f")) == 1.5);
  CHECK(json_is_true(json_object_get(j, "t")) && json_is_null(json_object_get(j, "n")));
  CHECK(json_is_string(json_object_get(j, "s")) && !strcmp(json_string_value(json_object_get(j, "w")), "hello world"));
  CHECK(json_integer_value(json_object_get(j, "neg")) == -7);
  json_decref(j);
}

static void test_rewrite(void) {
  json_t *body = json_loads("{\"model\":\"alias\",\"stream\":true,\"messages\":[]}", 0, NULL);
  size_t len;
  char *s = gw_body_for_backend(body, "real", true, &len);
  json_t *out = json_loads(s, 0, NULL);
  CHECK(!strcmp(json_string_value(json_object_get(out, "model")), "real"));
  CHECK(json_is_true(json_object_get(json_object_get(out, "stream_options"), "include_usage")));
  CHECK(!strcmp(json_string_value(json_object_get(body, "model")), "alias"));  // the request itself is untouched
  json_decref(out);
  free(s);
  json_decref(body);
  // The usage chunk found however the stream is cut.
  const char *sse = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
                    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n";
  for (size_t step = 1; step < 40; step += 3) {
    gw_usage_scan u = {0};
    for (size_t i = 0; i < strlen(sse); i += step) gw_usage_feed(&u, sse + i, strlen(sse) - i < step ? strlen(sse) - i : step);
    CHECK_MSG(u.prompt_tokens == 7 && u.completion_tokens == 3, "pieces of %zu: %lld %lld", step, u.prompt_tokens,
              u.completion_tokens);
  }
  gw_usage_scan u = {0};
  gw_usage_feed(&u, "data: {\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":\"x\"}}\n", 62);
  CHECK(u.prompt_tokens == 0 && u.completion_tokens == 0);
}

static gw_pool *pool_of(const char *yaml) {
  char err[300] = "";
  gw_config *c = gw_config_parse(yaml, strlen(yaml), err, sizeof err);
  CHECK_MSG(c != NULL, "%s", err);
  gw_pool *p = c ? gw_pool_new(c) : NULL;
  gw_config_free(c);
  return p;
}

// Picks n requests for model m; hold: keep them outstanding (else each ends
// before the next). Counts per backend name a and b.
static void picks(gw_pool *p, int n, bool hold, int *na, int *nb) {
  gw_backend *held[64];
  *na = *nb = 0;
  for (int i = 0; i < n; i++) {
    const char *um;
    gw_backend *b = gw_pool_pick(p, "m", NULL, 0, &um);
    CHECK(b != NULL);
    if (!b) return;
    (*(b->cfg.name[0] == 'a' ? na : nb))++;
    if (hold) held[i] = b;
    else gw_pool_done(p, b, true);
  }
  for (int i = 0; hold && i < n; i++) gw_pool_done(p, held[i], true);
}

static void test_balance(void) {
  CHECK(sodium_init() >= 0);
  gw_pool *p = pool_of("backends: [{name: a, url: 'http://127.0.0.1:1', models: [m]},"
                       " {name: b, url: 'http://127.0.0.1:2', models: [m]}]");
  int na, nb;
  for (int round = 0; round < 3; round++) {  // one at a time: they take turns, whatever the coin says
    picks(p, 21, false, &na, &nb);
    CHECK_MSG(abs(na - nb) == 1, "one at a time: a %d, b %d", na, nb);
  }
  picks(p, 40, true, &na, &nb);  // all outstanding: fewer outstanding wins
  CHECK_MSG(na == 20 && nb == 20, "held: a %d, b %d", na, nb);
  gw_pool_free(p);
  p = pool_of("backends: [{name: a, url: 'http://127.0.0.1:1', models: [m], weight: 3},"
              " {name: b, url: 'http://127.0.0.1:2', models: [m]}]");
  picks(p, 32, true, &na, &nb);  // outstanding per weight: three to one
  CHECK_MSG(na == 24 && nb == 8, "weights 3:1 held: a %d, b %d", na, nb);
  gw_pool_free(p);
}

int main(void) {
  test_doc_example();
  test_errors();
  test_yaml_scalars();
  test_rewrite();
  test_balance();
  return tu_finish();
}
