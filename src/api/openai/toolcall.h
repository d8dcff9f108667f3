// toolcall: OpenAI function calling, model side. The request's `tools` reach
// the model through its own chat template (the template engine passes them
// in); this module turns what the model then writes back into OpenAI
// `tool_calls`, checks the request's `tools`, and builds the JSON schema that
// forces a call when tool_choice demands one.
//
// It owns: recognising which call syntax a model family uses (from its chat
// template), parsing generated text into calls plus leftover content, telling
// a streaming server which bytes might still become a call, tool-call ids.
// It must never: lose or alter text that is not a well-formed call (anything
// it cannot parse stays content, byte for byte), check calls against the
// tools offered (the caller does: it has the request), or depend on the
// server, the sampler or the template engine.
//
//   toolcall_format f = toolcall_detect(chat_template_source);   // once per model
//   // streaming: send text[sent, hold) as content, keep the rest back
//   size_t hold = toolcall_hold_from(f, text, len);
//   // at the end of generation:
//   json_t *calls; char *content;
//   if (toolcall_parse(f, text, len, &calls, &content) == 0) {
//     // calls: NULL, or [{"id":"call_...","type":"function",
//     //                   "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]
//     // content: the text outside the calls; NULL when calls took all of it
//     json_decref(calls); free(content);
//   }
//
// Syntaxes (special tokens must be decoded as text for the markers to show):
//   HERMES        <tool_call>{"name":N,"arguments":A}</tool_call>, repeated, after
//                 any text (Hermes, Qwen 2.5/3, Granite 4, many fine-tunes); also
//                 Qwen3-Coder's <tool_call><function=N><parameter=K>V</parameter>
//                 </function></tool_call> inside the same tags
//   LLAMA3        [<|python_tag|>]{"name":N,"parameters":A}[; {...}] or a JSON
//                 array of them (Llama 3.1-3.3, Llama 4, Cogito)
//   MISTRAL       [TOOL_CALLS][{"name":N,"arguments":A,"id":I}, ...], or
//                 [TOOL_CALLS]N[ARGS]{...} repeated (newer tokenizers)
//   TOOLTAG       <|tool_call|>[{...}]<|/tool_call|> (Phi-4-mini, Granite 3)
//   COMMAND_R     <|START_ACTION|>[{"tool_name":N,"parameters":A}]<|END_ACTION|>
//   FIREFUNCTION  functools[{"name":N,"arguments":A}, ...]
//   DEEPSEEK      <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>N
//                 ```json A ```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜> (V3, R1),
//                 or ...call▁begin｜>N<｜tool▁sep｜>A<｜tool▁call▁end｜> (V3.1)
//   GENERIC       the whole output is one call object or an array of them: what
//                 constrained decoding with toolcall_forced_schema produces.
// Every format but NONE also accepts the GENERIC form when the whole output
// is calls and its own markers are absent (models often drop them).
// A call object needs a name matching ^[a-zA-Z0-9_-]{1,64}$ ("name" or
// "tool_name", at the top or under "function") and its arguments ("arguments"
// or "parameters": an object, or a string holding a JSON object).
#ifndef LLMUX_TOOLCALL_H
#define LLMUX_TOOLCALL_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
  TOOLCALL_NONE,  // the template ignores tools: no text is ever a call
  TOOLCALL_GENERIC,
  TOOLCALL_HERMES,
  TOOLCALL_LLAMA3,
  TOOLCALL_MISTRAL,
  TOOLCALL_TOOLTAG,
  TOOLCALL_COMMAND_R,
  TOOLCALL_FIREFUNCTION,
  TOOLCALL_DEEPSEEK,
  TOOLCALL_FORMAT_COUNT
} toolcall_format;

// The format a chat template's model writes calls in, from the markers its
// source mentions; TOOLCALL_GENERIC if it mentions tools but no known
// marker; TOOLCALL_NONE if it ignores tools (or source is NULL).
toolcall_format toolcall_detect(const char *template_source);
// "none", "generic", "hermes", "llama3", "mistral", "tooltag", "command-r",
// "firefunction", "deepseek"; "unknown" out of range.
const char *toolcall_format_name(toolcall_format f);
// The inverse (case-insensitive), for a command-line override; -1 if unknown.
int toolcall_format_from_name(const char *name);

// Parses generated text (len bytes, NUL bytes allowed). On success returns 0
// with *calls a JSON array of OpenAI tool_call objects, ids unique within it
// ("call_" + 24 random alphanumerics; 9 alphanumerics for MISTRAL, whose
// templates refuse any other id when the calls come back in the history),
// `arguments` a string holding a JSON object; and *content the text outside
// the calls, verbatim and NUL-terminated, or NULL if that is only whitespace.
// With no call (or a malformed one, which stays content), *calls is NULL and
// *content is a copy of the whole text. -1 only when memory runs out (both NULL).
int toolcall_parse(toolcall_format f, const char *text, size_t len, json_t **calls, char **content);

// Streaming: the offset from which the text generated so far might belong to
// a tool call (a marker, a marker's beginning at the end of the text, or the
// beginning of a bare JSON call); len if none. Bytes before it are content
// whatever comes next, and the offset never moves back as text is appended,
// unless the held text turns out not to be a call (then it grows to len).
size_t toolcall_hold_from(toolcall_format f, const char *text, size_t len);
// Whether the text so far might be or contain the start of a tool call
// (toolcall_hold_from(...) < len): the server holds it back instead of
// streaming it as content.
bool toolcall_maybe_prefix(toolcall_format f, const char *text, size_t len);

// Checks a request's `tools`: an array of {"type":"function","function":{
// "name": ^[a-zA-Z0-9_-]{1,64}$ (unique), "description": string?,
// "parameters": object?}}. 0 if valid; else -1 with err naming the field
// path ("tools[1].function.name is missing").
int toolcall_validate_tools(const json_t *tools, char *err, size_t err_size);
// The JSON schema that forces a call, for tool_choice "required" (only_name
// NULL: any tool) or naming a function (only_name): for each allowed tool
// {"type":"object","properties":{"name":{"const":NAME},"arguments":PARAMS},
// "required":["name","arguments"],"additionalProperties":false}, combined
// with anyOf when there are several; with parallel, an array of one or more
// of those. The output it forces is parsed with TOOLCALL_GENERIC. NULL with
// err on invalid tools, an unknown only_name or no tools.
json_t *toolcall_forced_schema(const json_t *tools, const char *only_name, bool parallel, char *err,
                               size_t err_size);

#endif
