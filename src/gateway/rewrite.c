// gateway/rewrite: see rewrite.h.
#include "gateway/rewrite.h"

#include <string.h>

char *gw_body_for_backend(const json_t *body, const char *upstream_model, bool stream, size_t *len) {
  json_t *b = json_deep_copy(body);
  if (!b) return NULL;
  json_object_set_new(b, "model", json_string(upstream_model));
  if (stream) {
    json_t *so = json_object_get(b, "stream_options");
    if (!json_is_object(so)) json_object_set_new(b, "stream_options", so = json_object());
    json_object_set_new(so, "include_usage", json_true());
  }
  char *s = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  *len = s ? strlen(s) : 0;
  return s;
}

void gw_usage_from_json(gw_usage_scan *s, const json_t *j) {
  json_t *u = json_object_get(j, "usage");
  if (!json_is_object(u)) return;
  json_t *p = json_object_get(u, "prompt_tokens"), *c = json_object_get(u, "completion_tokens");
  if (json_is_integer(p) && json_integer_value(p) >= 0) s->prompt_tokens = json_integer_value(p);
  if (json_is_integer(c) && json_integer_value(c) >= 0) s->completion_tokens = json_integer_value(c);
}

static void end_line(gw_usage_scan *s) {
  s->line[s->line_len] = 0;
  if (!s->overlong && s->line_len > 6 && !strncmp(s->line, "data: ", 6) && strstr(s->line, "\"usage\"")) {
    json_t *j = json_loads(s->line + 6, 0, NULL);
    gw_usage_from_json(s, j);
    json_decref(j);
  }
  s->line_len = 0;
  s->overlong = false;
}

void gw_usage_feed(gw_usage_scan *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n') {
      end_line(s);
    } else if (s->line_len + 1 < sizeof s->line) {
      s->line[s->line_len++] = p[i];
    } else {
      s->overlong = true;  // a chunk too large to be a usage event
    }
  }
}
