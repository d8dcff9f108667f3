// libFuzzer target: request bodies of the OpenAI routes, as the server takes
// them, through everything that runs before a request reaches a scheduler:
// JSON parsing, field validation, messages, tools and tool_choice,
// response_format (schema compiling), chat-template rendering, tokenizing,
// completion prompts and embedding inputs. The model is stories260K with the
// ChatML template. Checks: no crash, no leak, no sanitizer report, and a
// refusal always carries a message and a 4xx/5xx status.
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/openai.h"
#include "api/openai/toolcall.h"

static serve_model model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *shared = getenv("LLMUX_SHARED");
  char path[4096];
  snprintf(path, sizeof path, "%s/models/stories260K.gguf", shared ? shared : "../shared");
  model.id = "stories260K";
  model.model = llmux_model_load(path, NULL);
  model.chat_source = (char *)tmpl_builtin("chatml");
  model.chat = tmpl_parse(model.chat_source, strlen(model.chat_source));
  model.toolcall_format = TOOLCALL_HERMES;  // exercise the tool paths
  if (!model.model || !model.chat) abort();
  return 0;
}

static void check_refusal(const api_err *e) {
  if (e->status < 400 || e->status > 599 || !e->msg[0]) abort();
}

static void chat(const json_t *body) {
  api_err e = {0};
  chat_request r;
  if (openai_chat_prepare(&model, body, &r, &e)) openai_chat_request_free(&r);
  else check_refusal(&e);
}

static void prompts(const json_t *body, const char *field, bool texts) {
  api_err e = {0};
  llmux_token **toks = NULL;
  int *lens = NULL;
  char **t = NULL;
  int n = gen_parse_prompts(model.model, json_object_get(body, field), field, &toks, &lens, texts ? &t : NULL, &e);
  if (n < 0) {
    check_refusal(&e);
    return;
  }
  for (int i = 0; i < n; i++) {
    free(toks[i]);
    if (t) free(t[i]);
  }
  free(toks);
  free(lens);
  free(t);
}

static void completion(const json_t *body) {
  api_err e = {0};
  gen_opts o;
  if (!gen_parse_opts(body, &model, false, &o, &e)) check_refusal(&e);
  gen_opts_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(body)) {
    json_decref(body);
    return 0;
  }
  chat(body);
  completion(body);
  prompts(body, "prompt", true);
  prompts(body, "input", false);
  json_decref(body);
  return 0;
}
