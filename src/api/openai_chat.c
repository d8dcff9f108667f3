// api/openai_chat: POST /v1/chat/completions. Messages are checked and
// normalised, rendered through the model's chat template (with the request's
// tools), tokenized, and generated like completions; the output is turned
// back into a message, with tool calls parsed in the model family's syntax.
// response_format and forced tool calls constrain decoding to a JSON schema.
#include <stdlib.h>
#include <string.h>

#include "api/openai.h"
#include "core/error.h"
#include "api/openai/toolcall.h"
#include "api/openai_gen.h"
#include "engine/json_schema.h"

static const char *const KEYS[] = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
                                   "n", "stream", "stream_options", "stop", "presence_penalty", "frequency_penalty",
                                   "logit_bias", "logprobs", "top_logprobs", "seed", "user", "response_format",
                                   "tools", "tool_choice", "parallel_tool_calls", "top_k", "min_p", "repeat_penalty",
                                   "ignore_eos", "chat_template_kwargs", NULL};
static const char *const MESSAGE_KEYS[] = {"role", "content", "name", "tool_calls", "tool_call_id", "refusal",
                                           "reasoning_content", NULL};

typedef struct {
  toolcall_format calls;  // how to read tool calls from the output; NONE: never
  bool forced;            // tool_choice forces a call: the whole output is the call
  bool *role_sent;        // per choice
} chat_state;

// ---- messages ----------------------------------------------------------------------------------------

// Content as one string: text parts are joined with newlines.
static json_t *norm_content(const json_t *c, size_t idx, api_err *e) {
  if (!c || json_is_null(c)) return json_null();
  if (json_is_string(c)) return json_incref((json_t *)c);
  if (!json_is_array(c)) {
    api_err_set(e, 400, "messages", "messages[%zu].content must be a string or an array of content parts", idx);
    return NULL;
  }
  size_t k, total = 0;
  json_t *part;
  json_array_foreach(c, k, part) {
    const char *type = json_string_value(json_object_get(part, "type"));
    json_t *text = json_object_get(part, "text");
    if (!type || strcmp(type, "text") || !json_is_string(text)) {
      api_err_set(e, 400, "messages", "messages[%zu].content[%zu]: %s%s%s", idx, k,
                  type ? "content of type '" : "a content part needs a type and a text",
                  type ? type : "", type ? "' is not supported by this model (text only)" : "");
      return NULL;
    }
    total += json_string_length(text) + 1;
  }
  char *buf = malloc(total + 1), *p = buf;
  if (!buf) return api_err_set(e, 500, NULL, "out of memory"), NULL;
  json_array_foreach(c, k, part) {
    json_t *text = json_object_get(part, "text");
    if (k) *p++ = '\n';
    memcpy(p, json_string_value(text), json_string_length(text));
    p += json_string_length(text);
  }
  json_t *s = json_stringn(buf, (size_t)(p - buf));
  free(buf);
  return s;
}

// An assistant's earlier tool calls with their arguments as objects, which
// is what chat templates expect (they print them with tojson).
static json_t *norm_tool_calls(const json_t *calls, size_t idx, api_err *e) {
  if (!json_is_array(calls)) return api_err_set(e, 400, "messages", "messages[%zu].tool_calls must be an array", idx), NULL;
  json_t *out = json_array(), *c;
  size_t k;
  json_array_foreach(calls, k, c) {
    json_t *fn = json_object_get(c, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    json_t *args = json_object_get(fn, "arguments");
    if (!name || !args) {
      json_decref(out);
      return api_err_set(e, 400, "messages", "messages[%zu].tool_calls[%zu] needs function.name and function.arguments", idx, k), NULL;
    }
    json_t *parsed = json_is_string(args) ? json_loads(json_string_value(args), JSON_DECODE_ANY, NULL) : json_incref(args);
    if (!parsed) parsed = json_incref(args);
    json_t *id = json_object_get(c, "id");
    json_array_append_new(out, json_pack("{s:O?,s:s,s:{s:s,s:o}}", "id", id, "type", "function", "function", "name",
                                         name, "arguments", parsed));
  }
  return out;
}

static bool known_role(const char *r) {
  return r && (!strcmp(r, "system") || !strcmp(r, "user") || !strcmp(r, "assistant") || !strcmp(r, "tool") ||
               !strcmp(r, "developer"));
}

static json_t *norm_message(const json_t *m, size_t idx, api_err *e) {
  if (!json_is_object(m)) return api_err_set(e, 400, "messages", "messages[%zu] must be an object", idx), NULL;
  char where[32];
  snprintf(where, sizeof where, "messages[%zu]", idx);
  if (!api_check_keys(m, MESSAGE_KEYS, where, e)) return NULL;
  const char *role = json_string_value(json_object_get(m, "role"));
  if (!known_role(role))
    return api_err_set(e, 400, "messages", "messages[%zu].role must be system, developer, user, assistant or tool", idx), NULL;
  json_t *content = norm_content(json_object_get(m, "content"), idx, e);
  if (!content) return NULL;
  bool is_assistant = !strcmp(role, "assistant");
  json_t *calls = json_object_get(m, "tool_calls");
  if (json_is_null(content) && !(is_assistant && calls)) {
    json_decref(content);
    return api_err_set(e, 400, "messages", "messages[%zu].content is required", idx), NULL;
  }
  // An assistant turn of only tool calls has null content; templates
  // concatenate content as a string (Qwen 3's does), so it becomes "".
  if (json_is_null(content)) {
    json_decref(content);
    content = json_string("");
  }
  json_t *out = json_pack("{s:s,s:o}", "role", !strcmp(role, "developer") ? "system" : role, "content", content);
  if (calls && !json_is_null(calls)) {
    json_t *norm = norm_tool_calls(calls, idx, e);
    if (!norm) return json_decref(out), NULL;
    json_object_set_new(out, "tool_calls", norm);
  }
  const char *keep[] = {"name", "tool_call_id", "reasoning_content"};
  for (int k = 0; k < 3; k++)
    if (json_is_string(json_object_get(m, keep[k]))) json_object_set(out, keep[k], json_object_get(m, keep[k]));
  return out;
}

static json_t *norm_messages(const json_t *body, api_err *e) {
  json_t *msgs = json_object_get(body, "messages");
  if (!json_is_array(msgs) || json_array_size(msgs) == 0)
    return api_err_set(e, 400, "messages", "'messages' must be a non-empty array"), NULL;
  json_t *out = json_array(), *m;
  size_t i;
  json_array_foreach(msgs, i, m) {
    json_t *n = norm_message(m, i, e);
    if (!n) return json_decref(out), NULL;
    json_array_append_new(out, n);
  }
  return out;
}

// ---- the prompt ------------------------------------------------------------------------------------------

static json_t *token_text(const llmux_model *m, llmux_token t) {
  char buf[256];
  int n = t >= 0 ? llmux_token_to_piece(m, t, buf, sizeof buf, true) : 0;
  return json_stringn(buf, n > 0 ? (size_t)n : 0);
}

static json_t *template_context(const serve_model *sm, const json_t *body, json_t *msgs, bool with_tools, api_err *e) {
  json_t *ctx = json_pack("{s:o,s:b,s:o,s:o}", "messages", msgs, "add_generation_prompt", 1, "bos_token",
                          token_text(sm->model, llmux_token_bos(sm->model)), "eos_token",
                          token_text(sm->model, llmux_token_eos(sm->model)));
  json_t *tools = json_object_get(body, "tools");
  if (with_tools && json_is_array(tools) && json_array_size(tools)) json_object_set(ctx, "tools", tools);
  json_t *kw = json_object_get(body, "chat_template_kwargs");
  if (kw && !json_is_null(kw)) {
    if (!json_is_object(kw)) {
      json_decref(ctx);
      return api_err_set(e, 400, "chat_template_kwargs", "'chat_template_kwargs' must be an object"), NULL;
    }
    json_object_update(ctx, kw);
  }
  return ctx;
}

static llmux_token *tokenize_rendered(const llmux_model *m, const char *text, size_t len, int *n, api_err *e) {
  // The template usually writes the BOS text itself; add it only when it did not.
  char bos[256];
  llmux_token b = llmux_token_bos(m);
  int bl = b >= 0 ? llmux_token_to_piece(m, b, bos, sizeof bos, true) : 0;
  bool add = !(bl > 0 && len >= (size_t)bl && !memcmp(text, bos, (size_t)bl));
  int need = llmux_tokenize(m, text, len, NULL, 0, add, true);
  need = need < 0 ? -need : need;
  llmux_token *t = malloc((size_t)(need > 0 ? need : 1) * sizeof *t);
  if (!t) return api_err_set(e, 500, NULL, "out of memory"), NULL;
  *n = llmux_tokenize(m, text, len, t, need, add, true);
  if (*n < 0) {
    free(t);
    return api_err_set(e, 400, "messages", "cannot tokenize the rendered prompt"), NULL;
  }
  return t;
}

static llmux_token *chat_prompt(const serve_model *sm, const json_t *body, bool with_tools, int *n, api_err *e) {
  json_t *msgs = norm_messages(body, e);
  if (!msgs) return NULL;
  json_t *ctx = template_context(sm, body, msgs, with_tools, e);
  if (!ctx) return NULL;
  char *text = NULL;
  size_t len = 0;
  int rc = tmpl_render(sm->chat, ctx, &text, &len);
  json_decref(ctx);
  if (rc != 0) return api_err_set(e, 400, "messages", "the chat template cannot render these messages: %s", err_get()), NULL;
  llmux_token *t = tokenize_rendered(sm->model, text, len, n, e);
  free(text);
  return t;
}

llmux_token *openai_chat_prompt(const serve_model *sm, const json_t *body, int *n_tokens, api_err *e) {
  return chat_prompt(sm, body, true, n_tokens, e);
}

// ---- constraints: response_format and tool_choice ---------------------------------------------------

// The schema response_format asks for: NULL for text (or absent), else a new reference.
static bool response_schema(const json_t *body, json_t **schema, api_err *e) {
  *schema = NULL;
  json_t *rf = json_object_get(body, "response_format");
  if (!rf || json_is_null(rf)) return true;
  const char *type = json_string_value(json_object_get(rf, "type"));
  if (!json_is_object(rf) || !type)
    return api_err_set(e, 400, "response_format", "'response_format' must be an object with a 'type'"), false;
  if (!strcmp(type, "text")) return true;
  if (!strcmp(type, "json_object")) return (*schema = json_pack("{s:s}", "type", "object")) != NULL;
  if (strcmp(type, "json_schema"))
    return api_err_set(e, 400, "response_format", "response_format.type must be text, json_object or json_schema"), false;
  json_t *js = json_object_get(rf, "json_schema"), *s = json_object_get(js, "schema");
  if (!json_is_object(js) || !json_is_string(json_object_get(js, "name")))
    return api_err_set(e, 400, "response_format", "response_format.json_schema needs a 'name' and a 'schema'"), false;
  *schema = s ? json_incref(s) : json_object();
  return true;
}

// tool_choice: "none", "auto", "required" or {"type":"function","function":{"name":N}}.
// Sets *forced to the schema that forces a call (or NULL) and *with_tools.
static bool tool_choice(const json_t *body, json_t **forced, bool *with_tools, api_err *e) {
  json_t *tools = json_object_get(body, "tools"), *tc = json_object_get(body, "tool_choice");
  *forced = NULL;
  *with_tools = false;
  bool parallel = true;
  if (!api_get_bool(body, "parallel_tool_calls", &parallel, e)) return false;
  char err[256];
  if (tools && !json_is_null(tools) && toolcall_validate_tools(tools, err, sizeof err) != 0)
    return api_err_set(e, 400, "tools", "%s", err), false;
  bool have = json_is_array(tools) && json_array_size(tools) > 0;
  const char *mode = tc && !json_is_null(tc) ? json_string_value(tc) : have ? "auto" : "none";
  const char *name = NULL;
  if (!mode && json_is_object(tc)) {
    name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
    if (!name) return api_err_set(e, 400, "tool_choice", "tool_choice.function.name is required"), false;
    mode = "function";
  }
  if (!mode || (strcmp(mode, "none") && strcmp(mode, "auto") && strcmp(mode, "required") && strcmp(mode, "function")))
    return api_err_set(e, 400, "tool_choice", "tool_choice must be none, auto, required or a function"), false;
  if (strcmp(mode, "none") && !have)
    return api_err_set(e, 400, "tool_choice", "tool_choice '%s' needs a non-empty 'tools'", mode), false;
  *with_tools = strcmp(mode, "none") != 0;
  if (strcmp(mode, "required") && strcmp(mode, "function")) return true;
  *forced = toolcall_forced_schema(tools, name, name ? false : parallel, err, sizeof err);
  if (!*forced) return api_err_set(e, 400, name ? "tool_choice" : "tools", "%s", err), false;
  return true;
}

static bool constraints(const json_t *body, const serve_model *sm, gen_opts *o, chat_state *st, bool *with_tools,
                        api_err *e) {
  json_t *rf_schema, *forced;
  if (!response_schema(body, &rf_schema, e)) return false;
  if (!tool_choice(body, &forced, with_tools, e)) return json_decref(rf_schema), false;
  if (rf_schema && forced) {
    json_decref(rf_schema);
    json_decref(forced);
    return api_err_set(e, 400, "response_format", "a JSON response_format cannot be combined with a forced tool_choice"), false;
  }
  // A forced call is read in the family's own syntax when it has one (every
  // syntax also takes the bare form), so its ids suit the family's template
  // when the call comes back in the history (Mistral's must be 9 characters).
  toolcall_format own = (toolcall_format)sm->toolcall_format;
  st->forced = forced != NULL;
  st->calls = !*with_tools ? TOOLCALL_NONE : forced && own == TOOLCALL_NONE ? TOOLCALL_GENERIC : own;
  o->special_text = st->calls != TOOLCALL_NONE;
  json_t *schema = rf_schema ? rf_schema : forced;
  if (!schema) return true;
  char err[300];
  o->schema = jsm_compile(schema, err, sizeof err);
  json_decref(schema);
  if (!o->schema) return api_err_set(e, 400, forced ? "tools" : "response_format", "%s", err), false;
  return true;
}

// ---- the reply -------------------------------------------------------------------------------------------

static json_t *logprobs_json(gen_job *j, const sched_req *r, int t0, int t1) {
  const llmux_model *m = j->sm->model;
  json_t *content = json_array();
  for (int k = t0; k < t1; k++) {
    const sched_tokinfo *ti = &r->toks[k];
    json_t *tops = json_array();
    for (int a = 0; a < ti->n_top; a++)
      json_array_append_new(tops, json_pack("{s:o,s:f,s:o}", "token", gen_token_text(m, ti->top_token[a]), "logprob",
                                            (double)ti->top_logprob[a], "bytes", gen_token_bytes(m, ti->top_token[a])));
    json_array_append_new(content, json_pack("{s:o,s:f,s:o,s:o}", "token", gen_token_text(m, ti->token), "logprob",
                                             (double)ti->logprob, "bytes", gen_token_bytes(m, ti->token),
                                             "top_logprobs", tops));
  }
  return json_pack("{s:o,s:n}", "content", content, "refusal");
}

// The text of a finished choice split into content and tool calls.
static void split_calls(gen_job *j, const sched_req *r, json_t **calls, char **content) {
  chat_state *st = j->user;
  *calls = NULL;
  *content = NULL;
  if (st->calls == TOOLCALL_NONE || toolcall_parse(st->calls, r->text, r->text_len, calls, content) != 0) {
    *calls = NULL;
    *content = strndup(r->text, r->text_len);
  }
}

static const char *finish_reason(gen_job *j, int i, const sched_req *r) {
  (void)i;
  chat_state *st = j->user;
  if (st->calls == TOOLCALL_NONE || r->finish != SCHED_STOP) return gen_finish_name(r->finish);
  json_t *calls;
  char *content;
  split_calls(j, r, &calls, &content);
  const char *why = calls ? "tool_calls" : "stop";
  json_decref(calls);
  free(content);
  return why;
}

static json_t *choice(gen_job *j, int i, const sched_req *r) {
  json_t *calls;
  char *content;
  split_calls(j, r, &calls, &content);
  json_t *msg = json_pack("{s:s,s:o,s:n}", "role", "assistant", "content",
                          content ? json_string(content) : json_null(), "refusal");
  if (calls) json_object_set(msg, "tool_calls", calls);
  json_t *c = json_pack("{s:i,s:o,s:o,s:s}", "index", i, "message", msg, "logprobs",
                        j->o.logprobs >= 0 ? logprobs_json(j, r, 0, r->n_toks) : json_null(), "finish_reason",
                        calls && r->finish == SCHED_STOP ? "tool_calls" : gen_finish_name(r->finish));
  json_decref(calls);
  free(content);
  return c;
}

// Tool calls in a stream: indexed, as the deltas of OpenAI's streams are.
static json_t *call_deltas(json_t *calls) {
  json_t *out = json_array(), *c;
  size_t k;
  json_array_foreach(calls, k, c) {
    json_t *d = json_deep_copy(c);
    json_object_set_new(d, "index", json_integer((json_int_t)k));
    json_array_append_new(out, d);
  }
  return out;
}

static json_t *delta(gen_job *j, int i, const sched_req *r, const char *text, size_t len, int t0, int t1,
                     const char *finish) {
  chat_state *st = j->user;
  json_t *d = json_object();
  if (!st->role_sent[i]) json_object_set_new(d, "role", json_string("assistant"));
  st->role_sent[i] = true;
  json_t *calls = NULL;
  if (finish && st->calls != TOOLCALL_NONE) {
    // The held-back rest is parsed now: content that was not a call, then the calls.
    char *content;
    split_calls(j, r, &calls, &content);
    size_t sent = j->sent_text[i], clen = content ? strlen(content) : 0;
    if (calls) {
      text = content && clen > sent && !strncmp(content, r->text, sent) ? content + sent : "";
      len = strlen(text);
      json_object_set_new(d, "tool_calls", call_deltas(calls));
    }
    if (len) json_object_set_new(d, "content", json_stringn(text, len));
    free(content);
  } else if (len) {
    json_object_set_new(d, "content", json_stringn(text, len));
  }
  const char *why = calls && r->finish == SCHED_STOP ? "tool_calls" : finish;
  json_decref(calls);
  return json_pack("{s:i,s:o,s:o,s:o}", "index", i, "delta", d, "logprobs",
                   j->o.logprobs >= 0 && t1 > t0 ? logprobs_json(j, r, t0, t1) : json_null(), "finish_reason",
                   why ? json_string(why) : json_null());
}

static size_t streamable(gen_job *j, int i, const char *text, size_t len) {
  (void)i;
  chat_state *st = j->user;
  if (st->calls == TOOLCALL_NONE) return len;
  if (st->forced) return 0;  // all of it is the call
  return toolcall_hold_from(st->calls, text, len);
}

static const gen_format FORMAT = {"chat.completion", "chat.completion.chunk", choice, delta, streamable, finish_reason};

static void free_state(void *state) {
  chat_state *st = state;
  free(st->role_sent);
  free(st);
}

// ---- the handler ------------------------------------------------------------------------------------------

static http_response *fail(serve *srv, serve_model *sm, json_t *body, gen_opts *o, const api_err *e) {
  if (o) gen_opts_free(o);
  serve_put_model(srv, sm);
  json_decref(body);
  return api_error_from(e);
}

bool openai_chat_prepare(const serve_model *sm, const json_t *body, chat_request *out, api_err *e) {
  memset(out, 0, sizeof *out);
  chat_state st = {0};
  bool with_tools = false;
  if (!api_check_keys(body, KEYS, NULL, e)) return false;
  if (!gen_parse_opts(body, sm, true, &out->o, e) || !constraints(body, sm, &out->o, &st, &with_tools, e) ||
      !(out->prompt = chat_prompt(sm, body, with_tools, &out->n_prompt, e))) {
    gen_opts_free(&out->o);
    return false;
  }
  out->calls = st.calls;
  out->forced = st.forced;
  return true;
}

void openai_chat_request_free(chat_request *r) {
  gen_opts_free(&r->o);
  free(r->prompt);
  r->prompt = NULL;
}

http_response *openai_chat(serve *srv, http_request *rq) {
  api_err e = {0};
  json_t *body;
  serve_model *sm;
  http_response *resp = openai_begin(srv, rq, &body, &sm);
  if (resp) return resp;
  chat_request cr;
  if (!openai_chat_prepare(sm, body, &cr, &e)) return fail(srv, sm, body, NULL, &e);
  chat_state *keep = malloc(sizeof *keep);
  llmux_token **prompts = malloc(sizeof *prompts);
  int *lens = malloc(sizeof *lens);
  if (keep) keep->role_sent = calloc((size_t)cr.o.n, sizeof *keep->role_sent);
  if (!keep || !keep->role_sent || !prompts || !lens) {
    if (keep) free(keep->role_sent);
    free(keep);
    free(prompts);
    free(lens);
    openai_chat_request_free(&cr);
    api_err_set(&e, 500, NULL, "out of memory");
    return fail(srv, sm, body, NULL, &e);
  }
  keep->calls = (toolcall_format)cr.calls;
  keep->forced = cr.forced;
  prompts[0] = cr.prompt;
  lens[0] = cr.n_prompt;
  gen_job *j = gen_job_new(srv, sm, &cr.o, &FORMAT, prompts, lens, 1, http_fd(rq));
  if (!j) {
    free_state(keep);
    gen_opts_free(&cr.o);
    api_err_set(&e, 500, NULL, "out of memory");
    return fail(srv, sm, body, NULL, &e);
  }
  j->user = keep;
  j->user_free = free_state;
  resp = gen_respond(j);
  json_decref(body);
  return resp;
}
