// gateway/config: the gateway's configuration file (YAML), read and checked
// field by field into plain structs; every problem is one line naming the
// field ("backends[1].url: ..."). Owns nothing at run time: the gateway
// copies what it needs. docs/GATEWAY.md documents every option.
#ifndef LLMUX_GATEWAY_CONFIG_H
#define LLMUX_GATEWAY_CONFIG_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char *name;
  char *url;      // base URL, without /v1
  char *api_key;  // sent upstream as a bearer key; NULL: none
  char **models;  // the names clients use
  char **upstream_models;  // the names the backend knows them by
  int n_models;
  int weight;
  int max_concurrency;  // 0: unlimited
} gw_backend_cfg;

typedef struct {
  char *host;
  int port;
  char *admin_key;   // NULL: admin routes off
  char *store_path;  // SQLite file of keys and usage
  char *redis_host;  // NULL: limits in this process
  int redis_port;
  char *redis_password, *redis_prefix;
  bool require_keys;  // false: requests without a key pass, unlimited (a private deployment)
  double health_interval_s, health_timeout_s;
  char *health_path;
  int eject_failures;
  double eject_cooldown_s;
  int retries;
  double connect_timeout_s, first_byte_timeout_s, idle_timeout_s;
  double registry_ttl_s;
  char *registry_key;  // what `llmux serve --register` must present; NULL: the admin key
  size_t max_body;
  json_t *aliases;    // {"alias": "model"}
  json_t *fallbacks;  // {"model": ["other", ...]}
  gw_backend_cfg *backends;
  int n_backends;
} gw_config;

gw_config *gw_config_load(const char *path, char *err, size_t err_size);
gw_config *gw_config_parse(const char *yaml, size_t len, char *err, size_t err_size);
void gw_config_free(gw_config *c);
void gw_backend_cfg_free(gw_backend_cfg *b);

#endif
