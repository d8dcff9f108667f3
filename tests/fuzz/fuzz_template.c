// libFuzzer target: parses arbitrary bytes as a chat template and renders
// it. Input up to the first NUL byte is the template; what follows, when it
// is a JSON object, is the context (otherwise a fixed conversation with
// tools is used). Checks: no crash, no leak, no sanitizer report, and the
// contract of the API: a NULL template or -1 comes with an error message,
// and a 0 comes with a NUL-terminated output of the stated length.
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "template/template.h"

static const char *default_context =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Weather in Paris? <think>x</think>\"},"
    " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"id\": \"abcdefghi\", \"type\": \"function\","
    " \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}]},"
    " {\"role\": \"tool\", \"tool_call_id\": \"abcdefghi\", \"content\": \"sunny\"},"
    " {\"role\": \"assistant\", \"content\": \"It is sunny.\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *src = (const char *)data;
  const char *nul = memchr(data, 0, size);
  size_t len = nul ? (size_t)(nul - src) : size;
  json_t *ctx = nul ? json_loadb(nul + 1, size - len - 1, 0, NULL) : NULL;
  if (!json_is_object(ctx)) {
    json_decref(ctx);
    ctx = json_loads(default_context, 0, NULL);
  }
  err_clear();
  tmpl *t = tmpl_parse(src, len);
  if (!t) {
    if (!strstr(err_get(), "chat template")) abort();
  } else {
    char *out = NULL;
    size_t n = 0;
    int r = tmpl_render(t, ctx, &out, &n);
    if (r == 0 && (!out || strlen(out) > n || out[n] != 0)) abort();
    if (r != 0 && (out || !strstr(err_get(), "chat template"))) abort();
    free(out);
    tmpl_free(t);
  }
  json_decref(ctx);
  return 0;
}
