// libFuzzer target: what the gateway parses from outside. Input up to the
// first NUL byte is a configuration file (YAML, then every field checked);
// the rest is both a request body (rewritten for a backend when it is a
// JSON object) and a response stream scanned for its usage. Checks: no
// crash, no leak, no sanitizer report; a refused configuration has a message.
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  const char *nul = memchr(data, 0, size);
  size_t cfg_len = nul ? (size_t)(nul - text) : size;
  char err[300] = "";
  gw_config *c = gw_config_parse(text, cfg_len, err, sizeof err);
  if (!c && !err[0]) abort();
  gw_config_free(c);
  if (!nul) return 0;
  const char *rest = nul + 1;
  size_t rest_len = size - cfg_len - 1;
  json_t *body = json_loadb(rest, rest_len, 0, NULL);
  if (json_is_object(body)) {
    size_t len;
    free(gw_body_for_backend(body, "upstream-name", rest_len % 2 == 0, &len));
  }
  json_decref(body);
  gw_usage_scan u = {0};
  for (size_t i = 0; i < rest_len; i += 7) gw_usage_feed(&u, rest + i, rest_len - i < 7 ? rest_len - i : 7);
  return 0;
}
