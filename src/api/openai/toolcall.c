// toolcall: turning a model's text into OpenAI tool_calls (see toolcall.h).
//
// Every syntax is "an opening marker, a body, maybe a closing marker": a
// table row per format names the markers and the body parser, and one scan
// finds the markers, hands each body to its parser and keeps everything that
// does not parse as content. Bodies are parsed into a scratch array that is
// merged only when the whole block is well formed, so a block is either all
// calls or all content, never half of each.
//
// Cost: each marker's body is parsed from the marker on, so in theory a text
// full of markers costs O(markers x length); in practice jansson stops at the
// first byte that is not JSON, and a marker inside a body's string needs a
// quote after it that ends that string. The fuzzer's 64 KiB inputs, and ones
// built to be slow (thousands of markers), parse in tens of milliseconds.
#include "api/openai/toolcall.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// ---- text helpers
static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const char *s, size_t n, size_t i) {
  while (i < n && is_ws(s[i])) i++;
  return i;
}

static bool starts_with(const char *s, size_t n, size_t i, const char *lit) {
  size_t k = strlen(lit);
  return i <= n && n - i >= k && memcmp(s + i, lit, k) == 0;
}

// Offset of lit in s[from, n), or n if absent.
static size_t find(const char *s, size_t n, size_t from, const char *lit) {
  if (from >= n) return n;
  const char *p = memmem(s + from, n - from, lit, strlen(lit));
  return p ? (size_t)(p - s) : n;
}

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// OpenAI's rule for function names, ^[a-zA-Z0-9_-]{1,64}$. Parsed calls must
// follow it too: it keeps prose such as {"name": "Alice Smith", ...} from
// passing for a call.
static bool name_ok(const char *s, size_t n) {
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; i++)
    if (!is_name_char(s[i])) return false;
  return true;
}

typedef struct {
  char *p;  // NUL-terminated when non-NULL
  size_t n, cap;
} textbuf;

static int text_append(textbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

// ---- one call
// The arguments as OpenAI sends them: a string holding a JSON object. An
// object is written compactly (15 significant digits, so 0.1 stays 0.1); a
// string is kept as the model wrote it when it holds an object.
static json_t *args_text(const json_t *a) {
  if (json_is_object(a)) {
    char *s = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_t *r = s ? json_string(s) : NULL;
    free(s);
    return r;
  }
  if (!json_is_string(a)) return NULL;
  json_t *o = json_loadb(json_string_value(a), json_string_length(a), JSON_ALLOW_NUL, NULL);
  bool ok = json_is_object(o);
  json_decref(o);
  return ok ? json_copy((json_t *)a) : NULL;
}

// An OpenAI tool_call; "id" comes first and is filled in at the end. Takes
// args (an arguments string, or NULL on an earlier failure).
static json_t *call_new(const char *name, size_t name_len, json_t *args) {
  if (!args || !name_ok(name, name_len)) {
    json_decref(args);
    return NULL;
  }
  return json_pack("{s:s,s:s,s:{s:s#,s:o}}", "id", "", "type", "function", "function", "name", name, (int)name_len,
                   "arguments", args);
}

// {"name": N, "arguments": A}, with the spellings models use: "tool_name"
// (Command R), "parameters" (Llama 3), or both under "function" (OpenAI's own
// shape, which models trained on API logs echo).
static json_t *call_from_object(const json_t *o) {
  if (!json_is_object(o)) return NULL;
  const json_t *fn = json_object_get(o, "function");
  if (json_is_object(fn) && !json_object_get(o, "name")) o = fn;
  const json_t *name = json_object_get(o, "name");
  if (!name) name = json_object_get(o, "tool_name");
  const json_t *args = json_object_get(o, "arguments");
  if (!args) args = json_object_get(o, "parameters");
  if (!json_is_string(name) || !args) return NULL;
  return call_new(json_string_value(name), json_string_length(name), args_text(args));
}

static void truncate_array(json_t *a, size_t n) {
  while (json_array_size(a) > n) json_array_remove(a, json_array_size(a) - 1);
}

// Appends the call(s) in v, an object or a non-empty array of objects; on
// false nothing was appended.
static bool add_calls(const json_t *v, json_t *out) {
  size_t had = json_array_size(out);
  if (json_is_object(v)) return json_array_append_new(out, call_from_object(v)) == 0;
  if (!json_is_array(v) || json_array_size(v) == 0) return false;
  size_t i;
  const json_t *e;
  json_array_foreach(v, i, e) {
    if (json_array_append_new(out, call_from_object(e)) != 0) {
      truncate_array(out, had);
      return false;
    }
  }
  return true;
}

// ---- bodies: each parses what follows an opening marker and returns the
// bytes it used, 0 if that is not a call.
typedef size_t (*body_fn)(const char *s, size_t n, json_t *out);

// A JSON object or array starting exactly at s[i]; *end is set after it.
static json_t *json_at(const char *s, size_t n, size_t i, size_t *end) {
  if (i >= n || (s[i] != '{' && s[i] != '[')) return NULL;
  json_error_t e;
  json_t *v = json_loadb(s + i, n - i, JSON_DISABLE_EOF_CHECK, &e);
  if (v) *end = i + (size_t)e.position;
  return v;
}

// One call, an array of calls, or several of those one after another,
// separated by ';' (Llama 3.x) or whitespace. Stops after the last good one
// and the ';' that follows it, if any.
static size_t body_json(const char *s, size_t n, json_t *out) {
  size_t i = skip_ws(s, n, 0), done = 0, end = 0;
  for (;;) {
    json_t *v = json_at(s, n, i, &end);
    bool ok = v && add_calls(v, out);
    json_decref(v);
    if (!ok) return done;
    done = i = skip_ws(s, n, end);
    if (i < n && s[i] == ';') done = i = skip_ws(s, n, i + 1);
  }
}

// A Qwen3-Coder parameter value: JSON when it reads as JSON (numbers,
// booleans, objects, arrays: the template printed them so), else the text.
// A string parameter whose text happens to be JSON ("42") comes back as
// JSON: the schema that would tell is not known here.
static json_t *xml_value(const char *v, size_t n) {
  if (n && v[0] == '\n') v++, n--;
  if (n && v[n - 1] == '\n') n--;
  json_t *j = json_loadb(v, n, JSON_DECODE_ANY, NULL);
  return j ? j : json_stringn(v, n);
}

// <parameter=KEY>VALUE</parameter> at s[i] into args; returns the offset
// after it, 0 if malformed.
static size_t xml_parameter(const char *s, size_t n, size_t i, json_t *args) {
  size_t key = i + strlen("<parameter="), key_end = find(s, n, key, ">");
  if (key_end == n || key_end == key) return 0;
  for (size_t k = key; k < key_end; k++)
    if ((unsigned char)s[k] < 0x20) return 0;  // a name on one line; jansson refuses NUL in keys
  size_t val = key_end + 1, val_end = find(s, n, val, "</parameter>");
  if (val_end == n) return 0;
  if (json_object_setn_new(args, s + key, key_end - key, xml_value(s + val, val_end - val)) != 0) return 0;
  return val_end + strlen("</parameter>");
}

// Qwen3-Coder: <function=NAME> <parameter=K>V</parameter>... </function>
static size_t body_xml_function(const char *s, size_t n, size_t i, json_t *out) {
  size_t name = i + strlen("<function="), name_end = find(s, n, name, ">");
  if (name_end == n || name_end - name > 64) return 0;
  json_t *args = json_object();
  for (i = skip_ws(s, n, name_end + 1); args && !starts_with(s, n, i, "</function>"); i = skip_ws(s, n, i)) {
    if (!starts_with(s, n, i, "<parameter=") || !(i = xml_parameter(s, n, i, args))) {
      json_decref(args);
      return 0;
    }
  }
  json_t *call = call_new(s + name, name_end - name, args_text(args));
  json_decref(args);
  if (json_array_append_new(out, call) != 0) return 0;
  return i + strlen("</function>");
}

static size_t body_hermes(const char *s, size_t n, json_t *out) {
  size_t i = skip_ws(s, n, 0);
  return starts_with(s, n, i, "<function=") ? body_xml_function(s, n, i, out) : body_json(s, n, out);
}

// Mistral: a JSON array (v0.3, Nemo), or NAME[ARGS]{...} with an optional
// [CALL_ID]ID before [ARGS] (tokenizers v11 and later).
static size_t body_mistral(const char *s, size_t n, json_t *out) {
  size_t i = skip_ws(s, n, 0);
  if (i < n && (s[i] == '[' || s[i] == '{')) return body_json(s, n, out);
  size_t window = n - i < 160 ? n : i + 160;  // a name and an id, not the whole text
  size_t args = find(s, window, i, "[ARGS]"), name_end = find(s, args, i, "[CALL_ID]"), end = 0;
  if (args == window) return 0;
  json_t *a = json_at(s, n, args + strlen("[ARGS]"), &end);
  json_t *call = call_new(s + i, name_end - i, json_is_object(a) ? args_text(a) : NULL);
  json_decref(a);
  return json_array_append_new(out, call) == 0 ? end : 0;
}

#define DS_CALL_BEGIN "<｜tool▁call▁begin｜>"
#define DS_CALL_END "<｜tool▁call▁end｜>"
#define DS_SEP "<｜tool▁sep｜>"

// One DeepSeek call after its begin marker: "function<sep>NAME\n```json\n{...}\n```"
// (V3, R1) or "NAME<sep>{...}" (V3.1), then the end marker.
static size_t deepseek_call(const char *s, size_t n, size_t i, json_t *out) {
  size_t window = n - i < 160 ? n : i + 160;  // a name, not the whole text
  size_t sep = find(s, window, i, DS_SEP), name = i, name_end = sep, end = 0;
  if (sep == window) return 0;
  size_t j = sep + strlen(DS_SEP);
  if (sep - i == strlen("function") && !memcmp(s + i, "function", sep - i)) {
    for (name = name_end = j; name_end < n && is_name_char(s[name_end]);) name_end++;
    j = skip_ws(s, n, name_end);
    if (starts_with(s, n, j, "```json")) j += strlen("```json");
    else if (starts_with(s, n, j, "```")) j += strlen("```");
  }
  json_t *a = json_at(s, n, skip_ws(s, n, j), &end);
  json_t *call = call_new(s + name, name_end - name, json_is_object(a) ? args_text(a) : NULL);
  json_decref(a);
  if (json_array_append_new(out, call) != 0) return 0;
  j = skip_ws(s, n, end);
  if (starts_with(s, n, j, "```")) j = skip_ws(s, n, j + 3);
  return starts_with(s, n, j, DS_CALL_END) ? j + strlen(DS_CALL_END) : 0;
}

static size_t body_deepseek(const char *s, size_t n, json_t *out) {
  size_t i = skip_ws(s, n, 0), done = 0;
  while (starts_with(s, n, i, DS_CALL_BEGIN)) {
    size_t end = deepseek_call(s, n, i + strlen(DS_CALL_BEGIN), out);
    if (!end) return 0;
    done = end;
    i = skip_ws(s, n, end);
  }
  return done;
}

// ---- formats
typedef struct {
  const char *name;
  const char *open;   // marker before a block of calls (NULL: only the bare form)
  const char *close;  // marker after it (NULL: none; the block ends where its body does)
  body_fn body;       // NULL: no calls at all
  size_t keep;        // bytes at the end of open that belong to the body
} format_spec;

static const format_spec specs[TOOLCALL_FORMAT_COUNT] = {
    [TOOLCALL_NONE] = {"none", NULL, NULL, NULL, 0},
    [TOOLCALL_GENERIC] = {"generic", NULL, NULL, body_json, 0},
    [TOOLCALL_HERMES] = {"hermes", "<tool_call>", "</tool_call>", body_hermes, 0},
    [TOOLCALL_LLAMA3] = {"llama3", "<|python_tag|>", NULL, body_json, 0},
    [TOOLCALL_MISTRAL] = {"mistral", "[TOOL_CALLS]", NULL, body_mistral, 0},
    [TOOLCALL_TOOLTAG] = {"tooltag", "<|tool_call|>", "<|/tool_call|>", body_json, 0},
    [TOOLCALL_COMMAND_R] = {"command-r", "<|START_ACTION|>", "<|END_ACTION|>", body_json, 0},
    // "functools" alone is a Python module that prose mentions; the bracket
    // keeps streaming from holding such prose back.
    [TOOLCALL_FIREFUNCTION] = {"firefunction", "functools[", NULL, body_json, 1},
    [TOOLCALL_DEEPSEEK] = {"deepseek", "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", body_deepseek, 0},
};

static const format_spec *spec_of(toolcall_format f) {
  return (unsigned)f < TOOLCALL_FORMAT_COUNT ? &specs[f] : &specs[TOOLCALL_NONE];
}

const char *toolcall_format_name(toolcall_format f) {
  return (unsigned)f < TOOLCALL_FORMAT_COUNT ? specs[f].name : "unknown";
}

int toolcall_format_from_name(const char *name) {
  for (int f = 0; name && f < TOOLCALL_FORMAT_COUNT; f++)
    if (!strcasecmp(name, specs[f].name)) return f;
  return -1;
}

// Templates spell out the markers their model writes (to render past calls
// in the history, or to explain the syntax in the system prompt), so the
// first known marker in the source names the format. Order matters only
// where one template could mention two; none of the real ones does.
toolcall_format toolcall_detect(const char *src) {
  static const struct {
    const char *marker;
    toolcall_format f;
  } markers[] = {
      {"tool▁calls▁begin", TOOLCALL_DEEPSEEK}, {"<tool_call>", TOOLCALL_HERMES},
      {"[TOOL_CALLS]", TOOLCALL_MISTRAL},       {"<|tool_call|>", TOOLCALL_TOOLTAG},
      {"<|/tool|>", TOOLCALL_TOOLTAG},          {"<|START_ACTION|>", TOOLCALL_COMMAND_R},
      {"functools[", TOOLCALL_FIREFUNCTION},   {"<|python_tag|>", TOOLCALL_LLAMA3},
  };
  if (!src) return TOOLCALL_NONE;
  for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
    if (strstr(src, markers[i].marker)) return markers[i].f;
  if (!strstr(src, "tools")) return TOOLCALL_NONE;
  // Llama 3.2 and 4 write bare JSON and their templates name no marker.
  if (strstr(src, "<|start_header_id|>") || strstr(src, "<|header_start|>")) return TOOLCALL_LLAMA3;
  return TOOLCALL_GENERIC;
}

// ---- parsing
// Whether s (leading whitespace skipped) could begin a bare call: [ { "name"
// or one of the other first keys models write. Parsing and streaming share
// it, so a text that streamed out as content is never taken for a call later.
static bool bare_call_prefix(const char *s, size_t n) {
  static const char *const keys[] = {"name\"", "function\"", "tool_name\"", "type\""};
  size_t i = 0;
  if (i < n && s[i] == '[') i = skip_ws(s, n, i + 1);
  if (i == n) return true;
  if (s[i] != '{') return false;
  i = skip_ws(s, n, i + 1);
  if (i == n) return true;
  if (s[i++] != '"') return false;
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    size_t m = strlen(keys[k]) < n - i ? strlen(keys[k]) : n - i;
    if (!memcmp(s + i, keys[k], m)) return true;
  }
  return false;
}

// After a block's body: its closing marker; with none written, the end of
// the text or the next block also close it (models stop at EOS without
// one). Returns the offset after the block and its trailing whitespace, 0
// if something else follows.
static size_t block_end(const format_spec *sp, const char *s, size_t n, size_t i) {
  i = skip_ws(s, n, i);
  if (!sp->close) return i;
  if (starts_with(s, n, i, sp->close)) return skip_ws(s, n, i + strlen(sp->close));
  return i == n || starts_with(s, n, i, sp->open) ? i : 0;
}

// The block whose opening marker is at s[at]: appends its calls and returns
// the offset after it, or 0 (and appends nothing) if it is malformed.
static size_t parse_block(const format_spec *sp, const char *s, size_t n, size_t at, json_t *calls) {
  size_t start = at + strlen(sp->open) - sp->keep;
  json_t *tmp = json_array();
  size_t used = tmp ? sp->body(s + start, n - start, tmp) : 0;
  size_t end = used ? block_end(sp, s, n, start + used) : 0;
  if (end && json_array_extend(calls, tmp) != 0) end = 0;
  json_decref(tmp);
  return end;
}

static int scan_blocks(const format_spec *sp, const char *s, size_t n, json_t *calls, textbuf *content) {
  size_t pos = 0;  // start of the text not yet copied to content
  for (size_t at = find(s, n, 0, sp->open); at < n; at = find(s, n, at + 1, sp->open)) {
    size_t end = parse_block(sp, s, n, at, calls);
    if (!end) continue;  // malformed: stays in the text, copied as content
    if (text_append(content, s + pos, at - pos) != 0) return -1;
    pos = end;
    at = end - 1;
  }
  return text_append(content, s + pos, n - pos);
}

// The bare form: the whole text, whitespace aside, is calls.
static bool parse_bare(const char *s, size_t n, json_t *calls) {
  size_t i = skip_ws(s, n, 0);
  if (i == n || !bare_call_prefix(s + i, n - i)) return false;
  size_t used = body_json(s + i, n - i, calls);
  if (used && skip_ws(s, n, i + used) == n) return true;
  json_array_clear(calls);
  return false;
}

static void random_id(char *out, bool mistral) {
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  size_t at = 0, n = mistral ? 9 : 24;
  if (!mistral) {
    memcpy(out, "call_", 5);
    at = 5;
  }
  for (size_t i = 0; i < n; i++) out[at + i] = alnum[randombytes_uniform(sizeof alnum - 1)];
  out[at + n] = 0;
}

static bool id_taken(const json_t *calls, size_t before, const char *id) {
  for (size_t i = 0; i < before; i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(calls, i), "id")), id)) return true;
  return false;
}

// Random rather than counted: ids from different responses meet again in
// one conversation's history, and a client may match results by id.
static int assign_ids(json_t *calls, toolcall_format f) {
  if (sodium_init() < 0) return -1;
  size_t i;
  json_t *c;
  json_array_foreach(calls, i, c) {
    char id[32];
    do random_id(id, f == TOOLCALL_MISTRAL);
    while (id_taken(calls, i, id));
    if (json_object_set_new(c, "id", json_string(id)) != 0) return -1;
  }
  return 0;
}

static bool only_ws(const char *s, size_t n) { return skip_ws(s, n, 0) == n; }

int toolcall_parse(toolcall_format f, const char *text, size_t len, json_t **calls, char **content) {
  const format_spec *sp = spec_of(f);
  json_t *found = json_array();
  textbuf out = {0};
  *calls = NULL;
  *content = NULL;
  if (!found) return -1;
  if (sp->open && scan_blocks(sp, text, len, found, &out) != 0) goto fail;
  if (json_array_size(found) == 0 && sp->body && parse_bare(text, len, found)) {
    free(out.p);  // the calls took the whole text
    out = (textbuf){0};
  }
  if (json_array_size(found) == 0) {
    out.n = 0;
    if (text_append(&out, text, len) != 0) goto fail;
    json_decref(found);
    *content = out.p;
    return 0;
  }
  if (assign_ids(found, f) != 0) goto fail;
  *calls = found;
  if (out.p && !only_ws(out.p, out.n)) *content = out.p;
  else free(out.p);
  return 0;
fail:
  json_decref(found);
  free(out.p);
  return -1;
}

// ---- streaming
// Where the text might start a marker: its first full occurrence, else the
// longest end of the text that is the marker's beginning.
static size_t marker_hold(const char *m, const char *s, size_t n) {
  size_t at = find(s, n, 0, m), k = strlen(m) - 1;
  if (at < n) return at;
  for (k = k < n ? k : n; k > 0; k--)
    if (!memcmp(s + n - k, m, k)) return n - k;
  return n;
}

size_t toolcall_hold_from(toolcall_format f, const char *text, size_t len) {
  const format_spec *sp = spec_of(f);
  if (!sp->body) return len;
  size_t i = skip_ws(text, len, 0);
  if (len && bare_call_prefix(text + i, len - i)) return 0;
  return sp->open ? marker_hold(sp->open, text, len) : len;
}

bool toolcall_maybe_prefix(toolcall_format f, const char *text, size_t len) {
  return toolcall_hold_from(f, text, len) < len;
}

// ---- request side
static int fail_msg(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_msg(char *err, size_t size, const char *fmt, ...) {
  if (err && size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static int check_function(const json_t *fn, size_t i, char *err, size_t es) {
  const json_t *name = json_object_get(fn, "name"), *desc = json_object_get(fn, "description");
  const json_t *params = json_object_get(fn, "parameters");
  if (!name) return fail_msg(err, es, "tools[%zu].function.name is missing", i);
  if (!json_is_string(name)) return fail_msg(err, es, "tools[%zu].function.name must be a string", i);
  if (!name_ok(json_string_value(name), json_string_length(name)))
    return fail_msg(err, es, "tools[%zu].function.name must match ^[a-zA-Z0-9_-]{1,64}$", i);
  if (desc && !json_is_string(desc) && !json_is_null(desc))
    return fail_msg(err, es, "tools[%zu].function.description must be a string", i);
  if (params && !json_is_object(params) && !json_is_null(params))
    return fail_msg(err, es, "tools[%zu].function.parameters must be an object", i);
  return 0;
}

static int check_tool(const json_t *t, size_t i, char *err, size_t es) {
  if (!json_is_object(t)) return fail_msg(err, es, "tools[%zu] must be an object", i);
  const json_t *type = json_object_get(t, "type"), *fn = json_object_get(t, "function");
  if (!type) return fail_msg(err, es, "tools[%zu].type is missing", i);
  if (!json_is_string(type) || strcmp(json_string_value(type), "function"))
    return fail_msg(err, es, "tools[%zu].type must be \"function\"", i);
  if (!fn) return fail_msg(err, es, "tools[%zu].function is missing", i);
  if (!json_is_object(fn)) return fail_msg(err, es, "tools[%zu].function must be an object", i);
  return check_function(fn, i, err, es);
}

static const char *tool_name(const json_t *tools, size_t i) {
  return json_string_value(json_object_get(json_object_get(json_array_get(tools, i), "function"), "name"));
}

int toolcall_validate_tools(const json_t *tools, char *err, size_t err_size) {
  if (!json_is_array(tools)) return fail_msg(err, err_size, "tools must be an array");
  for (size_t i = 0; i < json_array_size(tools); i++) {
    if (check_tool(json_array_get(tools, i), i, err, err_size) != 0) return -1;
    for (size_t j = 0; j < i; j++)
      if (!strcmp(tool_name(tools, i), tool_name(tools, j)))
        return fail_msg(err, err_size, "tools[%zu].function.name repeats tools[%zu].function.name", i, j);
  }
  return 0;
}

// {"type":"object","properties":{"name":{"const":N},"arguments":PARAMS},...}
static json_t *call_schema(const json_t *fn) {
  const json_t *params = json_object_get(fn, "parameters");
  json_t *p = json_is_object(params) ? json_deep_copy(params) : json_pack("{s:s}", "type", "object");
  return json_pack("{s:s,s:{s:{s:O},s:o},s:[s,s],s:b}", "type", "object", "properties", "name", "const",
                   json_object_get(fn, "name"), "arguments", p, "required", "name", "arguments",
                   "additionalProperties", 0);
}

static json_t *allowed_calls(const json_t *tools, const char *only_name) {
  json_t *alts = json_array();
  for (size_t i = 0; alts && i < json_array_size(tools); i++) {
    if (only_name && strcmp(tool_name(tools, i), only_name)) continue;
    const json_t *fn = json_object_get(json_array_get(tools, i), "function");
    if (json_array_append_new(alts, call_schema(fn)) != 0) {
      json_decref(alts);
      return NULL;
    }
  }
  return alts;
}

json_t *toolcall_forced_schema(const json_t *tools, const char *only_name, bool parallel, char *err,
                               size_t err_size) {
  if (toolcall_validate_tools(tools, err, err_size) != 0) return NULL;
  json_t *alts = allowed_calls(tools, only_name), *one = NULL;
  size_t n = json_array_size(alts);
  if (!alts) fail_msg(err, err_size, "out of memory");
  else if (n == 0 && only_name) fail_msg(err, err_size, "tool_choice names function \"%s\", which is not in tools", only_name);
  else if (n == 0) fail_msg(err, err_size, "tool_choice requires a tool call but tools is empty");
  else one = n == 1 ? json_incref(json_array_get(alts, 0)) : json_pack("{s:O}", "anyOf", alts);
  json_decref(alts);
  if (one && parallel) return json_pack("{s:s,s:o,s:i}", "type", "array", "items", one, "minItems", 1);
  return one;
}
