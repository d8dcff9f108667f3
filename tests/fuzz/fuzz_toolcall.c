// libFuzzer target: tool-call parsing (src/api/openai/toolcall.h). The first
// byte picks the format (one value past the last is an unknown format), the
// rest is generated text. Checks: no crash, no leak, no sanitizer report, and
// the contract: parse succeeds; with no call the content is the text byte for
// byte; every call has a unique id, a valid name and arguments holding a JSON
// object; the streaming hold offset stays within the text, never moves back
// as the text grows, and what it let out is where the final content starts.
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/openai/toolcall.h"

static void check_call(const json_t *calls, size_t i) {
  const json_t *c = json_array_get(calls, i), *fn = json_object_get(c, "function");
  const char *id = json_string_value(json_object_get(c, "id"));
  const char *name = json_string_value(json_object_get(fn, "name"));
  const char *args = json_string_value(json_object_get(fn, "arguments"));
  if (!id || !name || !args || !*name || strlen(name) > 64) abort();
  for (size_t j = 0; j < i; j++)
    if (!strcmp(id, json_string_value(json_object_get(json_array_get(calls, j), "id")))) abort();
  json_t *a = json_loads(args, JSON_ALLOW_NUL, NULL);  // "\\u0000" is valid JSON
  if (!json_is_object(a)) abort();
  json_decref(a);
}

static size_t ws_prefix(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

// The hold offset at a few growing prefixes; returns the most it let out.
static size_t check_stream(toolcall_format f, const char *text, size_t len) {
  size_t sent = 0;
  for (size_t k = 0;; k = k + 1 + len / 16 < len ? k + 1 + len / 16 : len) {
    size_t h = toolcall_hold_from(f, text, k);
    if (h > k || h < sent) abort();
    if (toolcall_maybe_prefix(f, text, k) != (h < k)) abort();
    sent = h;
    if (k == len) return sent;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  toolcall_format f = (toolcall_format)(data[0] % (TOOLCALL_FORMAT_COUNT + 1));
  const char *text = (const char *)data + 1;
  size_t len = size - 1, sent = check_stream(f, text, len);
  json_t *calls = NULL;
  char *content = NULL;
  if (toolcall_parse(f, text, len, &calls, &content) != 0) abort();
  if (!calls && (!content || memcmp(content, text, len) || content[len])) abort();
  if (calls && json_array_size(calls) == 0) abort();
  for (size_t i = 0; i < json_array_size(calls); i++) check_call(calls, i);
  if (content ? memcmp(content, text, sent) != 0 : ws_prefix(text, len) < sent) abort();
  json_decref(calls);
  free(content);
  return 0;
}
