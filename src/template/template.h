// template: our own interpreter for the Jinja subset that chat templates use
// (tokenizer.chat_template in GGUF files and tokenizer_config.json), and the
// table of built-in templates chosen by name with --chat-template.
//
// It owns: parsing a template into an immutable tree (tmpl_parse), rendering
// that tree against a JSON context (tmpl_render), and the named templates.
// It must never: run anything but the template (no file or network access,
// no includes), grow without bound (output, work, recursion and nesting are
// all capped, each cap a clear error), or produce text from a template it
// cannot fully understand: every construct outside the subset is an error at
// tmpl_parse, with line:column, so a bad template fails at load, not at the
// first request.
//
//   tmpl *t = tmpl_parse(src, strlen(src));              // NULL: err_get() says why
//   json_t *ctx = json_pack("{s:[{s:s,s:s}],s:b,s:s,s:s}", "messages", "role", "user",
//                           "content", "Hi", "add_generation_prompt", 1,
//                           "bos_token", "<s>", "eos_token", "</s>");
//   char *text; size_t n;
//   if (tmpl_render(t, ctx, &text, &n) == 0) { use(text, n); free(text); }
//   json_decref(ctx); tmpl_free(t);
//
// Semantics follow Hugging Face's Jinja setup for chat templates
// (trim_blocks and lstrip_blocks on, loop controls on, a single trailing
// newline dropped) and, where Python's Jinja2 and @huggingface/jinja differ,
// @huggingface/jinja, our conformance oracle (tests/e2e/template_ref.mjs):
// `{{ true }}` prints "true", `{{ none }}` prints nothing, and lists and dicts
// print as JSON with Python's ", " / ": " separators. Undefined values print
// as empty, give undefined on attribute access and iterate as empty.
// Supported: {{ }}, {% %}, {# #}, whitespace control (- and +), if/elif/else,
// for (tuple targets, `if` filter, else, loop.*, break/continue), set (names,
// tuples, namespace attributes, block form), macro, filter blocks, raw, do,
// generation; the filters, tests, methods and globals listed in
// tmpl_filters.c and tmpl_methods.c. Not supported (an error at parse):
// include/extends/block/import, call blocks, recursive loops, *args/**kwargs.
//
// A parsed tmpl is read-only while rendering, so one tmpl may be rendered by
// several threads at once.
#ifndef LLMUX_TEMPLATE_H
#define LLMUX_TEMPLATE_H
#include <jansson.h>
#include <stddef.h>

typedef struct tmpl tmpl;

// Parses a template. NULL on error, with err_set() naming line:column and
// the problem (syntax errors, unsupported constructs, invalid UTF-8,
// excessive nesting or size).
tmpl *tmpl_parse(const char *source, size_t len);
// Renders with `context` (a JSON object: messages, tools, add_generation_prompt,
// bos_token, eos_token and any custom keywords). On success, *out is a
// NUL-terminated malloc'd string of *out_len bytes and the result is 0; on
// error -1, *out is NULL and err_get() has the reason (a template's
// raise_exception message is quoted in it).
int tmpl_render(const tmpl *t, const json_t *context, char **out, size_t *out_len);
void tmpl_free(tmpl *t);

// The source of a built-in template by name ("chatml", "llama3", ...; case
// insensitive), or NULL if there is no such name.
const char *tmpl_builtin(const char *name);
// The names of the built-in templates, NULL-terminated.
const char *const *tmpl_builtin_names(void);
// What --chat-template NAME|FILE means: a built-in name, else a file to read.
// Returns a malloc'd NUL-terminated source, or NULL with err_set().
char *tmpl_load_source(const char *name_or_path);

#endif
