// api/openai: the handlers of the OpenAI-compatible routes and the few
// server routes beside them (/health, /tokenize, /detokenize, /metrics,
// admin). Each takes the server and the request and returns the response;
// api/router.c decides which one runs.
#ifndef LLMUX_API_OPENAI_H
#define LLMUX_API_OPENAI_H
#include <jansson.h>

#include "api/api_util.h"
#include "api/openai_gen.h"
#include "api/serve.h"
#include "http/server.h"

http_response *openai_completions(serve *s, http_request *rq);
http_response *openai_chat(serve *s, http_request *rq);
http_response *openai_embeddings(serve *s, http_request *rq);
http_response *openai_models(serve *s, http_request *rq);
http_response *openai_model(serve *s, http_request *rq, const char *id);
http_response *openai_tokenize(serve *s, http_request *rq);
http_response *openai_detokenize(serve *s, http_request *rq);
http_response *openai_health(serve *s, http_request *rq);
http_response *admin_models(serve *s, http_request *rq);

// The model a request names in "model" with a reference taken (release with
// serve_put_model): NULL and *sm set, or the error response (400 when the
// field is missing and several models are served, 404 when unknown).
http_response *openai_pick_model(serve *s, const json_t *body, serve_model **sm);
// What every model route starts with: the body parsed as a JSON object and
// its model picked. NULL with *body and *sm set (release both), or the
// error response (nothing to release).
http_response *openai_begin(serve *s, http_request *rq, json_t **body, serve_model **sm);

// Chat messages rendered through the model's template into prompt tokens,
// for /tokenize of messages. NULL with e set.
llmux_token *openai_chat_prompt(const serve_model *sm, const json_t *body, int *n_tokens, api_err *e);

// A chat request checked and turned into what the scheduler runs: every
// field validated, constraints compiled, the prompt rendered and tokenized.
// Needs no scheduler (the request-body fuzz target drives it).
typedef struct {
  gen_opts o;
  llmux_token *prompt;
  int n_prompt;
  int calls;    // toolcall_format to read the output with
  bool forced;  // tool_choice forces a call
} chat_request;
bool openai_chat_prepare(const serve_model *sm, const json_t *body, chat_request *out, api_err *e);
void openai_chat_request_free(chat_request *r);

#endif
