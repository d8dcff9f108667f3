// engine/json_schema: constrained decoding for JSON schemas.
//   - accept/reject tables per feature, each document fed whole, byte by
//     byte and in random splits (all three must agree);
//   - jsm_complete, a rejected feed leaving the state as it was, copies;
//   - compile errors: the keyword and its JSON pointer; hostile schemas;
//   - masks over a small vocabulary: exact surviving sets, and at every step
//     of random walks the same as feeding each token (the oracle), and the
//     string fast path the same as the full walk;
//   - random walks to completion, parsed by jansson and checked against the
//     schema by a small independent validator written here;
//   - the real Llama 3 vocabulary (128k pieces): masks equal the oracle,
//     and how long jsm_mask takes.
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/json_schema.h"
#include "engine/json_schema_internal.h"
#include "gguf/gguf.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

static uint64_t rng_state;

static uint64_t rnd(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static jsm_schema *compile_text(const char *text, char *err, size_t err_size) {
  json_error_t jerr;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!j) {
    snprintf(err, err_size, "test schema does not parse: %s", jerr.text);
    return NULL;
  }
  jsm_schema *s = jsm_compile(j, err, err_size);
  json_decref(j);
  return s;
}

// ---- feeding documents

// mode 0: whole; 1: byte by byte; 2: random splits. 1 if every feed is taken
// and the document is complete.
static int accepts(const jsm_schema *s, const char *doc, size_t len, int mode) {
  jsm_state *st = jsm_state_new(s);
  int ok = 1;
  for (size_t i = 0; i < len && ok;) {
    size_t n = mode == 0 ? len : mode == 1 ? 1 : 1 + rnd() % 7;
    if (n > len - i) n = len - i;
    ok = jsm_feed(st, doc + i, n);
    i += n;
  }
  ok = ok && jsm_complete(st);
  jsm_state_free(st);
  return ok;
}

typedef struct {
  const char *doc;
  int ok;
} doc_case;

static void check_docs(const char *schema, const doc_case *cases, int n) {
  char err[256];
  jsm_schema *s = compile_text(schema, err, sizeof err);
  CHECK_MSG(s != NULL, "%s: %s", schema, err);
  if (!s) return;
  for (int i = 0; i < n; i++) {
    size_t len = strlen(cases[i].doc);
    for (int mode = 0; mode < 3; mode++) {
      int got = accepts(s, cases[i].doc, len, mode);
      CHECK_MSG(got == cases[i].ok, "schema %s, doc '%s' (mode %d): got %d, want %d", schema, cases[i].doc, mode, got,
                cases[i].ok);
    }
  }
  jsm_schema_free(s);
}

#define DOCS(schema, ...)                                                 \
  do {                                                                    \
    static const doc_case c_[] = {__VA_ARGS__};                           \
    check_docs(schema, c_, (int)(sizeof c_ / sizeof c_[0]));              \
  } while (0)

static void test_any(void) {
  DOCS("{}", {"{}", 1}, {"[]", 1}, {"1", 1}, {"-0.5e+10", 1}, {"\"x\"", 1}, {"true", 1}, {"false", 1}, {"null", 1},
       {" {\"a\":[1,{\"b\":null}],\"c\":\"d\"} ", 1}, {"[1, 2 ,3]", 1}, {"\"\\u00e9\\ud83d\\ude00\"", 1},
       {"\n  1 ", 1}, {"  1", 0}, {"1 \n", 0}, {"\n\t\t1\n", 1}, {"\r\n1", 0}, {"\"\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac\"", 1}, {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", 1},
       {"\"\x7f\"", 1}, {"-0", 1}, {"0.0", 1}, {"1E5", 1}, {"1e-05", 1}, {"[[],{}]", 1}, {"{\"\":1}", 1},
       {"{", 0}, {"[1,]", 0}, {"{\"a\"}", 0}, {"01", 0}, {"1.", 0}, {".5", 0}, {"+1", 0}, {"tru", 0},
       {"nul", 0}, {"\"\x01\"", 0}, {"\"\\ud800\"", 0}, {"\"\\udc00\"", 0}, {"\"\\ud800\\u0041\"", 0},
       {"\"\\u0000\"", 0}, {"'x'", 0}, {"[1 2]", 0}, {"{\"a\":1,}", 0}, {"1 2", 0}, {"\"abc", 0},
       {"\"\xc3\x28\"", 0}, {"\"\xc0\xaf\"", 0}, {"\"\xed\xa0\x80\"", 0}, {"\"\xf4\x90\x80\x80\"", 0},
       {"\"\xe2\x82\"", 0}, {"\"\x80\"", 0}, {"\"\xff\"", 0}, {"\"\\x\"", 0}, {"\"\\u12g4\"", 0}, {"1e", 0},
       {"-", 0}, {"--1", 0}, {"1e+", 0}, {"0x1", 0}, {"", 0}, {"  ", 0}, {"{\"a\" 1}", 0}, {"[,1]", 0},
       {"{,}", 0}, {"True", 0}, {"nan", 0}, {"\"a\"\"b\"", 0}, {"{} {}", 0});
  // numbers: at most 15 integer digits, 16 fraction digits, 2 exponent digits
  DOCS("{}", {"123456789012345", 1}, {"1234567890123456", 0}, {"-123456789012345.5", 1},
       {"0.1234567890123456", 1}, {"0.12345678901234567", 0}, {"1e99", 1}, {"1e100", 0}, {"1E-07", 1});
}

static void test_scalars(void) {
  DOCS("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", {"\"ab\"", 1}, {"\"abc\"", 1}, {"\"a\"", 0},
       {"\"abcd\"", 0}, {"\"\xc3\xa9\xf0\x9f\x98\x80\"", 1}, {"\"\\u00e9\\ud83d\\ude00\"", 1}, {"\"\\n\\t\"", 1},
       {"\"\\n\\t\\r\\\\\"", 0}, {"1", 0}, {"\"\"", 0});
  DOCS("{\"type\":\"string\",\"maxLength\":0}", {"\"\"", 1}, {"\"a\"", 0});
  DOCS("{\"type\":\"integer\"}", {"12", 1}, {"-3", 1}, {"0", 1}, {"-0", 1}, {"1.5", 0}, {"1e2", 0}, {"01", 0},
       {"1.0", 0}, {"\"1\"", 0}, {" 7 ", 1});
  DOCS("{\"type\":\"number\"}", {"1.5", 1}, {"1e2", 1}, {"-0.0E+1", 1}, {"12", 1}, {"1.e2", 0}, {"null", 0});
  DOCS("{\"type\":\"boolean\"}", {"true", 1}, {"false", 1}, {"null", 0}, {"1", 0}, {"truex", 0});
  DOCS("{\"type\":\"null\"}", {"null", 1}, {"true", 0}, {"nul", 0});
  DOCS("{\"type\":[\"string\",\"null\"]}", {"\"a\"", 1}, {"null", 1}, {"1", 0}, {"[]", 0});
  DOCS("{\"type\":[\"integer\",\"number\"]}", {"1", 1}, {"1.5", 1});
  DOCS("{\"type\":\"integer\",\"nullable\":true}", {"null", 1}, {"1", 1}, {"\"a\"", 0});
  DOCS("{\"minLength\":1}", {"\"a\"", 1}, {"\"\"", 0}, {"1", 0});
  DOCS("true", {"[1]", 1}, {"\"x\"", 1});
  DOCS("{\"title\":\"t\",\"description\":\"d\",\"default\":1,\"examples\":[1],\"$schema\":\"x\",\"$id\":\"y\","
       "\"$comment\":\"c\",\"format\":\"date-time\",\"strict\":true,\"type\":\"string\"}",
       {"\"2024\"", 1}, {"2024", 0});
}

static void test_objects(void) {
  const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},"
                  "\"c\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}";
  DOCS(s, {"{\"b\":\"x\"}", 1}, {"{\"a\":1,\"b\":\"x\"}", 1}, {"{\"a\":1,\"b\":\"x\",\"c\":true}", 1},
       {"{\"b\":\"x\",\"c\":false}", 1}, {"{ \"a\" : 1 , \"b\" : \"x\" }", 1}, {"{\n  \"b\": \"x\"\n}", 1},
       {"{}", 0}, {"{\"a\":1}", 0}, {"{\"b\":\"x\",\"a\":1}", 0}, {"{\"b\":\"x\",\"d\":1}", 0},
       {"{\"a\":1,\"c\":true,\"b\":\"x\"}", 0}, {"{\"b\":1}", 0}, {"{\"b\":\"x\",}", 0},
       {"{\"b\":\"x\",\"b\":\"y\"}", 0}, {"{\"\\u0062\":\"x\"}", 0}, {"{\"b\":\"x\"", 0}, {"{\"b\" \"x\"}", 0});
  // additionalProperties true: extras after the declared ones, never a declared name
  DOCS("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":true}",
       {"{\"a\":1,\"x\":[1]}", 1}, {"{\"x\":1}", 1}, {"{}", 1}, {"{\"a\":1,\"ab\":2}", 1}, {"{\"aa\":null}", 1},
       {"{\"\":0}", 1}, {"{\"\\u0062\":1}", 1}, {"{\"a\":1,\"a\":2}", 0}, {"{\"\\u0061\":1}", 0},
       {"{\"x\":1,\"a\":1}", 0}, {"{\"a\\u0000\":1}", 0}, {"{\"a\":\"s\"}", 0});
  DOCS("{\"properties\":{\"\xc3\xa9\":{}},\"additionalProperties\":{}}", {"{\"\\u00e9x\":1}", 1},
       {"{\"\\u00e9\":1}", 0}, {"{\"\xc3\xa9\":1}", 1});
  DOCS("{\"properties\":{\"\xf0\x9f\x98\x80\":{}},\"additionalProperties\":{}}", {"{\"\\ud83d\\ude00\":1}", 0},
       {"{\"\\ud83d\\ude01\":1}", 1});
  DOCS("{\"additionalProperties\":{\"type\":\"integer\"}}", {"{\"x\":1,\"y\":2}", 1}, {"{\"x\":\"s\"}", 0},
       {"[]", 0});
  DOCS("{\"type\":\"object\",\"additionalProperties\":false}", {"{}", 1}, {"{\"a\":1}", 0});
  // no properties declared (json_object mode): any keys; declared ones: only those
  DOCS("{\"type\":\"object\"}", {"{}", 1}, {"{\"a\":1,\"b\":[{}]}", 1}, {"[]", 0});
  DOCS("{\"type\":\"object\",\"properties\":{}}", {"{}", 1}, {"{\"a\":1}", 0});
  DOCS("{\"type\":\"object\",\"required\":[\"id\"]}", {"{\"id\":5}", 1}, {"{\"id\":{\"a\":[]}}", 1}, {"{}", 0},
       {"{\"x\":1}", 0}, {"{\"id\":5,\"x\":1}", 1}, {"{\"x\":1,\"id\":5}", 0});
  DOCS("{\"properties\":{\"a\\\"b\":{\"type\":\"null\"},\"\xc3\xa9\":{\"const\":1},\"t\\tab\":{}}}",
       {"{\"a\\\"b\":null,\"\xc3\xa9\":1,\"t\\tab\":2}", 1}, {"{\"\\u00e9\":1}", 0}, {"{\"t\tab\":2}", 0});
  DOCS("{\"properties\":{\"\":{\"type\":\"integer\"}},\"required\":[\"\"]}", {"{\"\":1}", 1}, {"{}", 0});
  // a required property after optional ones: those can be skipped, it cannot
  DOCS("{\"properties\":{\"a\":{},\"b\":{},\"c\":{},\"d\":{}},\"required\":[\"c\"]}", {"{\"c\":1}", 1},
       {"{\"a\":1,\"c\":1,\"d\":1}", 1}, {"{\"b\":1,\"c\":1}", 1}, {"{\"d\":1}", 0}, {"{\"a\":1,\"d\":1}", 0},
       {"{\"a\":1,\"b\":1}", 0});
  // names sharing prefixes
  DOCS("{\"properties\":{\"ab\":{},\"a\":{},\"abc\":{}}}", {"{\"ab\":1,\"a\":2,\"abc\":3}", 1}, {"{\"abc\":3}", 1},
       {"{\"a\":1,\"ab\":2}", 0});
}

static void test_arrays(void) {
  DOCS("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}", {"[1]", 1},
       {"[1,2,3]", 1}, {"[ 1 , 2 ]", 1}, {"[]", 0}, {"[1,2,3,4]", 0}, {"[\"a\"]", 0}, {"[1,]", 0});
  DOCS("{\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", {"[\"a\",1]", 1}, {"[\"a\"]", 1},
       {"[]", 1}, {"[\"a\",1,2]", 0}, {"[1]", 0});
  DOCS("{\"prefixItems\":[{\"type\":\"string\"}],\"items\":{\"type\":\"null\"},\"minItems\":2}",
       {"[\"a\",null,null]", 1}, {"[\"a\",null]", 1}, {"[\"a\"]", 0}, {"[\"a\",1]", 0});
  DOCS("{\"type\":\"array\",\"items\":false}", {"[]", 1}, {"[1]", 0});
  DOCS("{\"items\":[{\"type\":\"integer\"}]}", {"[1]", 1}, {"[1,2]", 0});
  DOCS("{\"type\":\"array\"}", {"[1,\"a\",[null]]", 1}, {"{}", 0});
  DOCS("{\"type\":\"array\",\"minItems\":2,\"maxItems\":2,\"items\":{\"type\":\"array\",\"maxItems\":0}}",
       {"[[],[]]", 1}, {"[[]]", 0}, {"[[],[1]]", 0});
}

static void test_literals(void) {
  DOCS("{\"enum\":[\"red\",\"green\",1,null,{\"a\":[1,2]},1.5,true]}", {"\"red\"", 1}, {"1", 1}, {"null", 1},
       {"{\"a\":[1,2]}", 1}, {"1.5", 1}, {"true", 1}, {" \"green\" ", 1}, {"\"blue\"", 0}, {"{\"a\": [1,2]}", 0},
       {"12", 0}, {"\"re\"", 0}, {"1.", 0}, {"false", 0});
  DOCS("{\"enum\":[1,12,123]}", {"1", 1}, {"12", 1}, {"123", 1}, {"13", 0}, {"1234", 0});
  DOCS("{\"type\":\"array\",\"items\":{\"enum\":[1,12]}}", {"[1,12,1]", 1}, {"[1 ,12]", 1}, {"[13]", 0});
  DOCS("{\"const\":\"get_weather\"}", {"\"get_weather\"", 1}, {"\"get_weathe\"", 0}, {"\"get_weather2\"", 0});
  DOCS("{\"const\":{\"k\":[true,\"a\\nb\"]}}", {"{\"k\":[true,\"a\\nb\"]}", 1}, {"{\"k\":[true]}", 0});
  DOCS("{\"type\":\"string\",\"enum\":[\"a\",1,\"bcd\"],\"maxLength\":2}", {"\"a\"", 1}, {"1", 0}, {"\"bcd\"", 0});
  DOCS("{\"enum\":[1,2],\"const\":2}", {"2", 1}, {"1", 0});
  DOCS("{\"enum\":[\"a\"],\"nullable\":true}", {"null", 1}, {"\"a\"", 1}, {"\"b\"", 0});
  DOCS("{\"enum\":[0.1,-2.5e-7,1e300]}", {"0.1", 1}, {"-2.5e-07", 1}, {"1e+300", 1}, {"0.10000000000000001", 0});
  // literal values checked against a base that itself holds a literal
  DOCS("{\"properties\":{\"a\":{\"type\":\"string\",\"enum\":[\"x\",1]}},\"enum\":[{\"a\":1},{\"a\":\"x\"}]}",
       {"{\"a\":\"x\"}", 1}, {"{\"a\":1}", 0});
}

static void test_composition(void) {
  DOCS("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", {"1", 1}, {"\"a\"", 1},
       {"\"ab\"", 0}, {"1.5", 0});
  DOCS("{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},\"required\":[\"x\"]},"
       "{\"type\":\"object\",\"properties\":{\"y\":{\"type\":\"string\"}},\"required\":[\"y\"]}]}",
       {"{\"x\":1}", 1}, {"{\"y\":\"a\"}", 1}, {"{\"x\":\"a\"}", 0}, {"{}", 0}, {"{\"x\":1,\"y\":\"a\"}", 0});
  DOCS("{\"allOf\":[{\"type\":\"boolean\"}],\"description\":\"d\"}", {"true", 1}, {"1", 0});
  DOCS("{\"$defs\":{\"pos\":{\"type\":\"integer\"}},\"type\":\"object\",\"properties\":{\"n\":{\"$ref\":\"#/$defs/"
       "pos\"}}}",
       {"{\"n\":3}", 1}, {"{\"n\":\"3\"}", 0});
  DOCS("{\"definitions\":{\"s\":{\"type\":\"string\"}},\"$ref\":\"#/definitions/s\"}", {"\"x\"", 1}, {"1", 0});
  DOCS("{\"$defs\":{\"a b\":{\"type\":\"null\"},\"c/d\":{\"const\":1}},\"prefixItems\":[{\"$ref\":\"#/$defs/a%20b\"},"
       "{\"$ref\":\"#/$defs/c~1d\"},{\"$ref\":\"#/prefixItems/0\"}]}",
       {"[null,1,null]", 1}, {"[null,2]", 0});
  const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"value\":{\"type\":\"integer\"},"
                     "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"value\"]"
                     "}},\"$ref\":\"#/$defs/node\"}";
  DOCS(tree, {"{\"value\":1,\"children\":[{\"value\":2},{\"value\":3,\"children\":[]}]}", 1}, {"{\"value\":1}", 1},
       {"{\"value\":1,\"children\":[{}]}", 0}, {"{\"children\":[]}", 0});
  DOCS("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", {"[[],[[]]]", 1}, {"[1]", 0});
  DOCS("{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"null\"}]}", {"null", 1}, {"1", 0});
  DOCS("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}],\"nullable\":true,\"title\":\"t\"}", {"null", 1},
       {"\"a\"", 1});
  DOCS("{\"type\":\"object\",\"properties\":{\"v\":{\"anyOf\":[{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},"
       "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}]}}}",
       {"{\"v\":[1,2]}", 1}, {"{\"v\":[\"a\",\"b\"]}", 1}, {"{\"v\":[]}", 1}, {"{\"v\":[1,\"b\"]}", 0});
}

static void repeat(char *out, const char *open, int n, const char *mid, const char *close) {
  out[0] = 0;
  for (int i = 0; i < n; i++) strcat(out, open);
  strcat(out, mid);
  for (int i = 0; i < n; i++) strcat(out, close);
}

static void test_limits(void) {
  char err[256], doc[4096];
  jsm_schema *s = compile_text("{}", err, sizeof err);
  char ws[64];
  memset(ws, ' ', sizeof ws);
  snprintf(doc, sizeof doc, "[\n%.*s1\n%.*s]\n%.*s", JSM_MAX_INDENT, ws, JSM_MAX_INDENT, ws, JSM_MAX_INDENT, ws);
  CHECK(accepts(s, doc, strlen(doc), 1));
  snprintf(doc, sizeof doc, "[\n%.*s1]", JSM_MAX_INDENT + 1, ws);
  CHECK(!accepts(s, doc, strlen(doc), 1));
  snprintf(doc, sizeof doc, "\n%.*s1", JSM_MAX_INDENT + 1, ws);
  CHECK(!accepts(s, doc, strlen(doc), 0));
  CHECK(!accepts(s, "[ \n1]", 6, 1));
  repeat(doc, "[", JSM_MAX_DEPTH, "", "]");
  CHECK(accepts(s, doc, strlen(doc), 1));
  repeat(doc, "[", JSM_MAX_DEPTH + 1, "", "]");
  CHECK(!accepts(s, doc, strlen(doc), 1));
  repeat(doc, "{\"a\":", JSM_MAX_DEPTH - 1, "1", "}");
  CHECK(accepts(s, doc, strlen(doc), 0));
  repeat(doc, "{\"a\":", JSM_MAX_DEPTH - 1, "[]", "}");
  CHECK(accepts(s, doc, strlen(doc), 0));
  repeat(doc, "{\"a\":", JSM_MAX_DEPTH - 1, "[[]]", "}");
  CHECK(!accepts(s, doc, strlen(doc), 0));
  repeat(doc, "{\"a\":", JSM_MAX_DEPTH, "1", "}");
  CHECK(!accepts(s, doc, strlen(doc), 0));
  jsm_schema_free(s);
  // an optional recursive property stops being offered where it cannot fit
  s = compile_text("{\"$defs\":{\"a\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/a\"}}}},"
                   "\"$ref\":\"#/$defs/a\"}",
                   err, sizeof err);
  CHECK_MSG(s != NULL, "%s", err);
  repeat(doc, "{\"x\":", JSM_MAX_DEPTH - 1, "{}", "}");
  CHECK(s && accepts(s, doc, strlen(doc), 0));
  repeat(doc, "{\"x\":", JSM_MAX_DEPTH - 1, "{\"", "");
  CHECK(s && !accepts(s, doc, strlen(doc), 0));
  jsm_schema_free(s);
  // a required chain deeper than the limit is still usable where optional
  s = compile_text("{\"$defs\":{\"d\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":\"#/$defs/d\"}}},"
                   "\"anyOf\":[{\"$ref\":\"#/$defs/d\"},{\"type\":\"null\"}]}",
                   err, sizeof err);
  CHECK_MSG(s != NULL, "%s", err);
  CHECK(s && accepts(s, "null", 4, 0));
  CHECK(s && !accepts(s, "[", 1, 0));
  jsm_schema_free(s);
}

static void test_state(void) {
  char err[256];
  jsm_schema *s = compile_text(
      "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}", err, sizeof err);
  jsm_state *st = jsm_state_new(s), *cp = jsm_state_new(s);
  CHECK(!jsm_complete(st));
  CHECK(jsm_feed(st, "{\"a\":1", 6));
  CHECK(!jsm_complete(st));
  CHECK(!jsm_feed(st, "x", 1));   // rejected: unchanged
  CHECK(!jsm_feed(st, "2x", 2));  // a good byte then a bad one: unchanged too
  CHECK(jsm_state_copy(cp, st));
  CHECK(jsm_feed(st, "2}", 2));
  CHECK(jsm_complete(st));
  CHECK(jsm_feed(st, "\n  ", 3));
  CHECK(jsm_complete(st));
  CHECK(!jsm_feed(st, "x", 1));
  CHECK(jsm_feed(cp, "}", 1));  // the copy is at "{"a":1
  CHECK(jsm_complete(cp));
  CHECK(jsm_feed(st, "", 0));
  jsm_state_reset(st);
  CHECK(!jsm_complete(st) && jsm_feed(st, "{\"a\":3}", 7) && jsm_complete(st));
  jsm_state_free(st);
  jsm_state_free(cp);
  jsm_schema_free(s);
  s = jsm_compile(NULL, err, sizeof err);  // NULL: any value
  st = jsm_state_new(s);
  CHECK(jsm_feed(st, "12", 2) && jsm_complete(st));  // a number at the top can end anywhere
  CHECK(jsm_feed(st, "3", 1) && jsm_complete(st));
  CHECK(jsm_feed(st, ".", 1) && !jsm_complete(st));
  jsm_state_free(st);
  jsm_schema_free(s);
  // \u escapes: a digit that leaves no valid completion is refused at once
  s = compile_text("{\"type\":\"string\"}", err, sizeof err);
  st = jsm_state_new(s);
  CHECK(jsm_feed(st, "\"\\ud", 4));
  CHECK(!jsm_feed(st, "c", 1) && !jsm_feed(st, "F", 1) && jsm_feed(st, "b", 1));
  CHECK(jsm_feed(st, "ff", 2) && !jsm_feed(st, "\"", 1) && jsm_feed(st, "\\u", 2));
  CHECK(!jsm_feed(st, "e", 1) && jsm_feed(st, "d", 1) && !jsm_feed(st, "b", 1) && jsm_feed(st, "fff\"", 4));
  CHECK(jsm_complete(st));
  jsm_state_free(st);
  jsm_schema_free(s);
  s = compile_text("{\"enum\":[\"ab\",1]}", err, sizeof err);
  st = jsm_state_new(s);
  CHECK(jsm_feed(st, "\"ab", 3) && !jsm_complete(st) && jsm_feed(st, "\"", 1) && jsm_complete(st));
  jsm_state_free(st);
  jsm_schema_free(s);
}

// ---- compile errors

static void check_error(const char *schema, const char *want) {
  char err[256] = "";
  jsm_schema *s = compile_text(schema, err, sizeof err);
  CHECK_MSG(s == NULL && strstr(err, want), "schema %s: want error containing \"%s\", got \"%s\"", schema, want, err);
  CHECK_MSG(!strchr(err, '\n'), "one line: %s", err);
  jsm_schema_free(s);
}

static void test_errors(void) {
  check_error("{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\",\"multipleOf\":2}}}",
              "schema at /properties/age: unsupported keyword 'multipleOf'");
  check_error("{\"pattern\":\"x\"}", "schema at /: unsupported keyword 'pattern'");
  check_error("{\"type\":\"string\",\"minimum\":1}", "unsupported keyword 'minimum'");
  check_error("{\"items\":{\"maximum\":1}}", "schema at /items: unsupported keyword 'maximum'");
  check_error("{\"prefixItems\":[{},{\"format\":\"x\",\"exclusiveMinimum\":0}]}",
              "schema at /prefixItems/1: unsupported keyword 'exclusiveMinimum'");
  check_error("{\"properties\":{\"a/b~\":{\"uniqueItems\":true}}}",
              "schema at /properties/a~1b~0: unsupported keyword 'uniqueItems'");
  check_error("{\"anyOf\":[{},{\"not\":{}}]}", "schema at /anyOf/1: unsupported keyword 'not'");
  check_error("{\"$defs\":{\"x\":{\"minProperties\":1}},\"properties\":{\"a\":{\"$ref\":\"#/$defs/x\"}}}",
              "schema at /$defs/x: unsupported keyword 'minProperties'");
  check_error("{\"additionalProperties\":{\"patternProperties\":{}}}",
              "schema at /additionalProperties: unsupported keyword 'patternProperties'");
  check_error("{\"type\":\"strin\"}", "schema at /type: unknown type 'strin'");
  check_error("{\"type\":[\"string\",3]}", "schema at /type: unknown type");
  check_error("{\"type\":[]}", "schema at /type: expected a type name");
  check_error("{\"allOf\":[{},{}]}", "schema at /allOf: allOf with 2 entries is not supported");
  check_error("{\"anyOf\":[]}", "schema at /anyOf: expected a non-empty array");
  check_error("{\"anyOf\":[{}],\"oneOf\":[{}]}", "'anyOf' together with 'oneOf'");
  check_error("{\"anyOf\":[{\"type\":\"string\"}],\"type\":\"string\"}", "schema at /: 'type' next to 'anyOf'");
  check_error("{\"$ref\":\"#/$defs/a\",\"properties\":{}}", "'properties' next to '$ref'");
  check_error("{\"$ref\":\"http://example.com/s.json\"}",
              "schema at /$ref: 'http://example.com/s.json' is not supported");
  check_error("{\"$ref\":\"#anchor\"}", "schema at /$ref: '#anchor' is not supported");
  check_error("{\"$ref\":\"#/$defs/nope\"}", "schema at /$ref: '#/$defs/nope' does not resolve");
  check_error("{\"$ref\":5}", "schema at /$ref: expected a string");
  check_error("{\"$ref\":\"#\"}", "no JSON value satisfies it");
  check_error("{\"anyOf\":[{\"$ref\":\"#\"}]}", "no JSON value satisfies it");
  check_error("{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", "no JSON value satisfies it");
  check_error("{\"enum\":[\"a\"],\"type\":\"integer\"}", "no JSON value satisfies it");
  check_error("{\"enum\":[]}", "no JSON value satisfies it");
  check_error("{\"type\":\"array\",\"minItems\":3,\"maxItems\":1}", "no JSON value satisfies it");
  check_error("{\"prefixItems\":[{}],\"minItems\":2}", "no JSON value satisfies it");
  check_error("false", "no JSON value satisfies it");
  check_error("{\"properties\":{\"a\":false},\"required\":[\"a\"]}", "no JSON value satisfies it");
  check_error("{\"$defs\":{\"a\":{\"type\":\"object\",\"properties\":{\"x\":{\"$ref\":\"#/$defs/a\"}},\"required\":"
              "[\"x\"]}},\"$ref\":\"#/$defs/a\"}",
              "no JSON value satisfies it within 64 levels");
  check_error("{\"minItems\":-1}", "schema at /: 'minItems' must be a non-negative integer");
  check_error("{\"maxLength\":1.5}", "'maxLength' must be a non-negative integer");
  check_error("{\"properties\":[]}", "schema at /properties: expected an object");
  check_error("{\"required\":\"a\"}", "schema at /required: expected an array");
  check_error("{\"required\":[1]}", "schema at /required/0: expected a property name");
  check_error("{\"additionalProperties\":1}", "schema at /additionalProperties: expected a schema");
  check_error("[1]", "schema at /: expected a schema");
  check_error("{\"properties\":{\"a\":7}}", "schema at /properties/a: expected a schema");
  check_error("{\"items\":{\"prefixItems\":5}}", "schema at /items/prefixItems: expected an array");
  check_error("{\"prefixItems\":[{}],\"items\":[{}]}", "schema at /items: an array next to prefixItems");
  check_error("{\"enum\":3}", "schema at /enum: expected an array");
  check_error("{\"nullable\":1}", "schema at /nullable: expected true or false");
}

// Hostile schemas: an error or a schema, quickly, never a crash.
static void test_hostile(void) {
  char err[256];
  // nested far deeper than the parser would allow, built directly
  json_t *deep = json_object(), *cur = deep;
  for (int i = 0; i < 5000; i++) {
    json_t *in = json_object();
    json_object_set_new(cur, "items", in);
    cur = in;
  }
  jsm_schema *s = jsm_compile(deep, err, sizeof err);
  CHECK_MSG(!s && strstr(err, "nested more than"), "%s", err);
  json_decref(deep);
  // a huge enum works
  json_t *en = json_array();
  for (int i = 0; i < 100000; i++) json_array_append_new(en, json_sprintf("v%d", i * 7));
  json_t *sch = json_pack("{s:o}", "enum", en);
  double t0 = now_ms();
  s = jsm_compile(sch, err, sizeof err);
  printf("enum of 100000 strings compiles in %.1f ms\n", now_ms() - t0);
  CHECK_MSG(s != NULL, "%s", err);
  CHECK(s && accepts(s, "\"v69993\"", 8, 0) && !accepts(s, "\"v69994\"", 8, 0));
  jsm_schema_free(s);
  json_decref(sch);
  // too many alternatives
  json_t *alts = json_array();
  for (int i = 0; i < 2000; i++) json_array_append_new(alts, json_pack("{s:i}", "const", i));
  sch = json_pack("{s:o}", "anyOf", alts);
  s = jsm_compile(sch, err, sizeof err);
  CHECK_MSG(!s && strstr(err, "more than 1024 alternatives"), "%s", err);
  json_decref(sch);
  // more live alternatives than JSM_MAX_CONFIGS: the first ones stay usable
  alts = json_array();
  for (int i = 0; i < 600; i++) {
    char name[16];
    snprintf(name, sizeof name, "t%d", i);
    json_array_append_new(alts, json_pack("{s:s,s:{s:{s:s}},s:[s]}", "type", "object", "properties", "name", "const",
                                          name, "required", "name"));
  }
  sch = json_pack("{s:o}", "anyOf", alts);
  s = jsm_compile(sch, err, sizeof err);
  CHECK_MSG(s != NULL, "%s", err);
  static const char *const t1 = "{\"name\":\"t1\"}", *t255 = "{\"name\":\"t255\"}", *t1x = "{\"name\":\"t1x\"}";
  CHECK(s && accepts(s, t1, strlen(t1), 1) && accepts(s, t255, strlen(t255), 0) && !accepts(s, t1x, strlen(t1x), 0));
  jsm_schema_free(s);
  json_decref(sch);
  // mutually recursive refs without progress, and with it
  check_error("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"}]}},"
              "\"$ref\":\"#/$defs/a\"}",
              "no JSON value satisfies it");
  s = compile_text("{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/b\"},{\"type\":\"null\"}]},\"b\":{\"type\":\"array\","
                   "\"items\":{\"$ref\":\"#/$defs/a\"}}},\"$ref\":\"#/$defs/a\"}",
                   err, sizeof err);
  CHECK_MSG(s != NULL, "%s", err);
  CHECK(s && accepts(s, "[null,[[]],[null]]", 18, 1));
  jsm_schema_free(s);
  // a $ref chain longer than the nesting limit
  char *chain = malloc(200 * 40 + 100);
  strcpy(chain, "{\"$defs\":{");
  for (int i = 0; i < 200; i++)
    sprintf(chain + strlen(chain), "\"d%d\":{\"$ref\":\"#/$defs/d%d\"},", i, i + 1);
  strcat(chain, "\"d200\":{\"type\":\"null\"}},\"$ref\":\"#/$defs/d0\"}");
  s = compile_text(chain, err, sizeof err);
  CHECK_MSG(!s && strstr(err, "nested more than"), "%s", err);
  free(chain);
}

// ---- masks

// Allowed tokens by feeding each one to a copy of the state.
static void oracle(const jsm_state *st, const char *const *pieces, const size_t *lens, int n, uint8_t *ok) {
  jsm_state *cp = jsm_state_new(jsm_state_schema(st));
  for (int i = 0; i < n; i++) {
    jsm_state_copy(cp, st);
    ok[i] = lens[i] > 0 && jsm_feed(cp, pieces[i], lens[i]);
  }
  jsm_state_free(cp);
}

// Checks jsm_mask and the full walk against the oracle; returns how many are allowed.
static int check_mask(const jsm_state *st, const jsm_vocab *v, const char *const *pieces, const size_t *lens, int n,
                      uint8_t *ok_out, const char *what) {
  float *a = calloc((size_t)n, sizeof *a), *b = calloc((size_t)n, sizeof *b);
  uint8_t *want = malloc((size_t)n);
  oracle(st, pieces, lens, n, want);
  jsm_mask(st, v, a);
  jsm_mask_walk_all(st, v, b);
  int allowed = 0, bad = 0;
  for (int i = 0; i < n; i++) {
    bool ma = !isinf(a[i]), mb = !isinf(b[i]);
    if ((ma != want[i] || mb != want[i]) && bad++ < 5)
      fprintf(stderr, "%s: token %d '%.*s': mask %d, walk %d, feed %d\n", what, i, (int)lens[i], pieces[i], ma, mb,
              want[i]);
    allowed += want[i];
    if (ok_out) ok_out[i] = want[i];
  }
  CHECK_MSG(bad == 0, "%s: %d tokens differ from feeding them", what, bad);
  free(a);
  free(b);
  free(want);
  return allowed;
}

static const char *const small_pieces[] = {
    "{",   "}",   "\"",   "a",   "\"a\"", "\":",      ":",  "1",       "12",    " ",   "true", "tr", "x", "",
    ",",   "[",   "]",    "\"name\"", "\"n", "\xc3\xa9", "\xc3", "\xa9", "null", "\"}", "ame\"", "\\", "\\n", "\t"};

static void expect_allowed(const char *schema, const char *prefix, const char *const *want, int n_want) {
  char err[256];
  int n = (int)(sizeof small_pieces / sizeof small_pieces[0]);
  size_t lens[64];
  for (int i = 0; i < n; i++) lens[i] = strlen(small_pieces[i]);
  jsm_vocab *v = jsm_vocab_new(small_pieces, lens, n);
  jsm_schema *s = compile_text(schema, err, sizeof err);
  jsm_state *st = jsm_state_new(s);
  CHECK(jsm_feed(st, prefix, strlen(prefix)));
  float logits[64] = {0};
  jsm_mask(st, v, logits);
  uint8_t ok[64];
  check_mask(st, v, small_pieces, lens, n, ok, prefix);
  for (int i = 0; i < n; i++) {
    bool listed = false;
    for (int k = 0; k < n_want; k++) listed |= !strcmp(small_pieces[i], want[k]);
    CHECK_MSG(listed == !isinf(logits[i]), "%s after '%s': token '%s' %s", schema, prefix, small_pieces[i],
              listed ? "should be allowed" : "should be banned");
    CHECK(logits[i] == 0 || isinf(logits[i]));  // allowed logits untouched
  }
  jsm_state_free(st);
  jsm_schema_free(s);
  jsm_vocab_free(v);
}

#define ALLOWED(schema, prefix, ...)                                              \
  do {                                                                            \
    static const char *const w_[] = {__VA_ARGS__};                               \
    expect_allowed(schema, prefix, w_, (int)(sizeof w_ / sizeof w_[0]));          \
  } while (0)

static void test_mask_small(void) {
  const char *obj = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":4}},"
                    "\"required\":[\"name\"]}";
  ALLOWED(obj, "", "{", " ", "\t");
  ALLOWED(obj, "{", "\"", "\"name\"", "\"n", " ", "\t");
  ALLOWED(obj, "{\"n", "ame\"", "a");
  ALLOWED(obj, "{\"name\"", ":", " ", "\t");
  // inside the string value (maxLength 4): plain tokens by length, quotes and escapes walked
  ALLOWED(obj, "{\"name\":\"", "{", "}", "\"", "a", ":", "1", "12", " ", "true", "tr", "x", ",", "[", "]",
          "\xc3\xa9", "\xc3", "null", "\"}", "\\", "\\n", "ame\"");
  ALLOWED(obj, "{\"name\":\"ab", "{", "}", "\"", "a", ":", "1", "12", " ", "tr", "x", ",", "[", "]", "\xc3\xa9",
          "\xc3", "\"}", "\\", "\\n");
  ALLOWED(obj, "{\"name\":\"abcd", "\"", "\"}");
  ALLOWED(obj, "{\"name\":\"ab\xc3", "\xa9");
  // after a backslash: escapes, then up to 4 characters in all
  ALLOWED(obj, "{\"name\":\"ab\\", "\"", "\\", "\\n", "\"}", "\"a\"", "\":", "\"n", "tr");
  ALLOWED(obj, "{\"name\":\"\"", "}", " ", "\t");
  ALLOWED(obj, "{\"name\":\"\"}", " ", "\t");
  ALLOWED("{\"enum\":[1,12,true]}", "", "1", "12", "true", "tr", " ", "\t");
  ALLOWED("{\"enum\":[1,12,true]}", "1", " ", "\t");
  ALLOWED("{\"type\":\"array\",\"items\":{\"enum\":[1,12]}}", "[1", "]", ",", " ", "\t");
  ALLOWED("{\"type\":\"array\",\"items\":{\"type\":\"boolean\"}}", "[", "]", "true", "tr", " ", "\t");
}

// ---- random walks

static const char *const walk_extra[] = {
    "{\"",  "\":", "\",\"", "true", "false", "null", "\\u00", "\\ud83d\\ude00", "\xc3\xa9", "\xf0\x9f\x98\x80",
    "\xf0\x9f", "\x98\x80", "[]", "{}", "\":\"", "\"}", "\"]", "12", "-0.5", "e+1", "  ", ",\n  ", "\"name\"",
    "\"get_weather\"", "\"arguments\"", "get_", "weather", "\"value\"", "\"children\"", "\"city\"", "Paris",
    "\"unit\"", "celsius", "\"c\"", "\"}}", "]}", "\\\"", "\\n", "0", "1", "a", "\"", "}", "]", ",", ":", "[", "{"};
static const char *const closers[] = {"\"", "}", "]", "0", "null", "a", "\"}", "]}", "1", ","};

typedef struct {
  const char **pieces;
  size_t *lens;
  int n;
  jsm_vocab *v;
} vocab_t;

static vocab_t walk_vocab(void) {
  vocab_t w;
  int n_extra = (int)(sizeof walk_extra / sizeof walk_extra[0]);
  w.n = 256 + n_extra + 1;
  w.pieces = malloc((size_t)w.n * sizeof *w.pieces);
  w.lens = malloc((size_t)w.n * sizeof *w.lens);
  static char bytes[256];
  for (int i = 0; i < 256; i++) {
    bytes[i] = (char)i;
    w.pieces[i] = &bytes[i];
    w.lens[i] = 1;
  }
  for (int i = 0; i < n_extra; i++) w.pieces[256 + i] = walk_extra[i], w.lens[256 + i] = strlen(walk_extra[i]);
  w.pieces[w.n - 1] = "";  // a control token
  w.lens[w.n - 1] = 0;
  w.v = jsm_vocab_new(w.pieces, w.lens, w.n);
  return w;
}

// The independent validator: the schema's meaning as this module promises
// to generate it (declared order, no undeclared keys unless allowed).
static const json_t *resolve(const json_t *root, const char *ref) {
  if (!strcmp(ref, "#")) return root;
  const char *slash = strrchr(ref, '/');
  if (!strncmp(ref, "#/$defs/", 8)) return json_object_get(json_object_get(root, "$defs"), slash + 1);
  if (!strncmp(ref, "#/definitions/", 14)) return json_object_get(json_object_get(root, "definitions"), slash + 1);
  return NULL;
}

static size_t utf8_chars(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += ((uint8_t)s[i] & 0xC0) != 0x80;
  return c;
}

static bool type_ok(const json_t *v, const char *t) {
  return !strcmp(t, "object") ? json_is_object(v) : !strcmp(t, "array") ? json_is_array(v)
       : !strcmp(t, "string") ? json_is_string(v) : !strcmp(t, "integer") ? json_is_integer(v)
       : !strcmp(t, "number") ? json_is_number(v) : !strcmp(t, "boolean") ? json_is_boolean(v)
       : !strcmp(t, "null") ? json_is_null(v) : false;
}

static bool valid(const json_t *v, const json_t *sch, const json_t *root);

static bool object_valid(const json_t *v, const json_t *sch, const json_t *root) {
  const json_t *props = json_object_get(sch, "properties"), *req = json_object_get(sch, "required");
  const json_t *add = json_object_get(sch, "additionalProperties");
  for (size_t i = 0; i < json_array_size(req); i++)
    if (!json_object_get(v, json_string_value(json_array_get(req, i)))) return false;
  const char *k;
  json_t *x;
  long last = -1;
  bool extras_seen = false;
  json_object_foreach((json_t *)v, k, x) {
    long idx = -1, i = 0;
    const char *pk;
    json_t *ps;
    json_object_foreach((json_t *)props, pk, ps) {
      if (!strcmp(pk, k)) idx = i;
      i++;
    }
    bool in_req = false;
    for (size_t r = 0; r < json_array_size(req); r++) in_req |= !strcmp(json_string_value(json_array_get(req, r)), k);
    if (idx >= 0) {
      if (idx <= last || extras_seen || !valid(x, json_object_get(props, k), root)) return false;
      last = idx;
    } else if (in_req) {
      extras_seen = true;  // required-only names come after the declared ones
    } else {
      if (props && !add) return false;  // only the declared properties
      if (json_is_false(add) || (add && !valid(x, add, root))) return false;
      extras_seen = true;
    }
  }
  return true;
}

static bool array_valid(const json_t *v, const json_t *sch, const json_t *root) {
  const json_t *pre = json_object_get(sch, "prefixItems"), *items = json_object_get(sch, "items");
  if (json_is_array(items)) pre = items, items = NULL;
  size_t n = json_array_size(v);
  const json_t *mn = json_object_get(sch, "minItems"), *mx = json_object_get(sch, "maxItems");
  if ((mn && n < (size_t)json_integer_value(mn)) || (mx && n > (size_t)json_integer_value(mx))) return false;
  for (size_t i = 0; i < n; i++) {
    const json_t *it = i < json_array_size(pre) ? json_array_get(pre, i) : items;
    if (!it && pre) return false;
    if (it && !valid(json_array_get(v, i), it, root)) return false;
  }
  return true;
}

static bool valid(const json_t *v, const json_t *sch, const json_t *root) {
  if (json_is_boolean(sch)) return json_is_true(sch);
  const json_t *x;
  if ((x = json_object_get(sch, "$ref"))) return valid(v, resolve(root, json_string_value(x)), root);
  if (json_is_true(json_object_get(sch, "nullable")) && json_is_null(v)) return true;
  if ((x = json_object_get(sch, "anyOf")) || (x = json_object_get(sch, "oneOf"))) {
    for (size_t i = 0; i < json_array_size(x); i++)
      if (valid(v, json_array_get(x, i), root)) return true;
    return false;
  }
  if ((x = json_object_get(sch, "allOf"))) return valid(v, json_array_get(x, 0), root);
  if ((x = json_object_get(sch, "const")) && !json_equal(x, (json_t *)v)) return false;
  if ((x = json_object_get(sch, "enum"))) {
    bool any = false;
    for (size_t i = 0; i < json_array_size(x); i++) any |= json_equal(json_array_get(x, i), (json_t *)v);
    if (!any) return false;
  }
  if ((x = json_object_get(sch, "type"))) {
    bool any = false;
    if (json_is_string(x)) any = type_ok(v, json_string_value(x));
    for (size_t i = 0; i < json_array_size(x); i++) any |= type_ok(v, json_string_value(json_array_get(x, i)));
    if (!any) return false;
  }
  if (json_is_string(v)) {
    size_t n = utf8_chars(json_string_value(v), json_string_length(v));
    const json_t *mn = json_object_get(sch, "minLength"), *mx = json_object_get(sch, "maxLength");
    if ((mn && n < (size_t)json_integer_value(mn)) || (mx && n > (size_t)json_integer_value(mx))) return false;
  }
  if (json_is_object(v) && !json_object_get(sch, "const") && !json_object_get(sch, "enum")) {
    if (!json_object_get(sch, "type") && !json_object_get(sch, "properties") && !json_object_get(sch, "required") &&
        !json_object_get(sch, "additionalProperties"))
      return true;  // any value: any object
    return object_valid(v, sch, root);
  }
  if (json_is_array(v)) return array_valid(v, sch, root);
  return true;
}

static int pick(const uint8_t *ok, const vocab_t *w, int step, int budget) {
  int allowed[1024], n = 0;
  for (int i = 0; i < w->n; i++)
    if (ok[i]) allowed[n++] = i;
  if (n == 0) return -1;
  if (step > budget && rnd() % 10 < 8) {  // steer towards an end
    int c[64], m = 0;
    for (int i = 0; i < n; i++)
      for (size_t k = 0; k < sizeof closers / sizeof closers[0]; k++)
        if (w->lens[allowed[i]] == strlen(closers[k]) && !memcmp(w->pieces[allowed[i]], closers[k], strlen(closers[k])))
          c[m++] = allowed[i];
    if (m) return c[rnd() % (uint64_t)m];
  }
  return allowed[rnd() % (uint64_t)n];
}

static void random_walks(const char *schema_text, int seeds, const vocab_t *w) {
  char err[256];
  json_t *sch = json_loads(schema_text, JSON_DECODE_ANY, NULL);
  jsm_schema *s = jsm_compile(sch, err, sizeof err);
  CHECK_MSG(s != NULL, "%s: %s", schema_text, err);
  if (!s) {
    json_decref(sch);
    return;
  }
  uint8_t *ok = malloc((size_t)w->n);
  size_t cap = 1 << 16;
  char *out = malloc(cap);
  int done = 0, total_len = 0;
  for (int seed = 0; seed < seeds; seed++) {
    rng_state = 1000003u * (uint64_t)seed + 17;
    jsm_state *st = jsm_state_new(s);
    size_t len = 0;
    char what[64];
    for (int step = 0;; step++) {
      bool complete = jsm_complete(st);
      if (complete && (rnd() % 8 == 0 || step > 200)) break;
      snprintf(what, sizeof what, "walk seed %d step %d", seed, step);
      int allowed = check_mask(st, w->v, w->pieces, w->lens, w->n, ok, what);
      CHECK_MSG(allowed > 0 || complete, "%s: dead end after '%.*s'", what, (int)len, out);
      if (!allowed || step > 5000 || len + 64 > cap) break;
      int t = pick(ok, w, step, 60);
      CHECK(jsm_feed(st, w->pieces[t], w->lens[t]));
      memcpy(out + len, w->pieces[t], w->lens[t]);
      len += w->lens[t];
    }
    CHECK_MSG(jsm_complete(st), "%s seed %d: never completed: '%.*s'", schema_text, seed, (int)len, out);
    json_error_t jerr;
    json_t *doc = json_loadb(out, len, JSON_DECODE_ANY, &jerr);
    CHECK_MSG(doc != NULL, "seed %d: output does not parse (%s): '%.*s'", seed, jerr.text, (int)len, out);
    CHECK_MSG(!doc || valid(doc, sch, sch), "seed %d: output does not validate against %s: '%.*s'", seed, schema_text,
              (int)len, out);
    done += doc != NULL;
    total_len += (int)len;
    json_decref(doc);
    jsm_state_free(st);
  }
  printf("random walks: %3d documents, %6d bytes: %.60s\n", done, total_len, schema_text);
  free(ok);
  free(out);
  jsm_schema_free(s);
  json_decref(sch);
}

static const char *const tool_schema =
    "{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"get_weather\"},\"arguments\":{\"type\":"
    "\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":20},\"unit\":{\"enum\":[\"celsius\","
    "\"fahrenheit\"]},\"days\":{\"type\":\"integer\"}},\"required\":[\"city\"]}},\"required\":[\"name\",\"arguments\"]},"
    "{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"get_time\"},\"arguments\":{\"type\":\"object\","
    "\"properties\":{\"zone\":{\"type\":[\"string\",\"null\"]}},\"additionalProperties\":false}},\"required\":[\"name\","
    "\"arguments\"]},{\"type\":\"object\",\"properties\":{\"name\":{\"const\":\"search\"},\"arguments\":{\"type\":"
    "\"object\",\"properties\":{\"q\":{\"type\":\"string\",\"minLength\":1},\"tags\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"string\"},\"maxItems\":3}},\"required\":[\"q\"],\"additionalProperties\":{\"type\":\"number\"}}},"
    "\"required\":[\"name\",\"arguments\"]}]}";

static const char *const tree_schema =
    "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"value\":{\"type\":\"integer\"},\"children\":{\"type\":"
    "\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":3}},\"required\":[\"value\"]}},\"$ref\":\"#/$defs/"
    "node\"}";

static void test_random_walks(void) {
  vocab_t w = walk_vocab();
  random_walks("{}", 80, &w);
  random_walks(tool_schema, 80, &w);
  random_walks(tree_schema, 60, &w);
  random_walks("{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\","
               "\"items\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5},\"minItems\":1}},"
               "\"additionalProperties\":{\"type\":[\"boolean\",\"null\"]}}",
               60, &w);
  random_walks("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"number\"},{\"enum\":[\"a\",\"ab\",1,[1,2]]}],"
               "\"items\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"object\",\"additionalProperties\":true}]}}",
               60, &w);
  random_walks("{\"type\":\"string\",\"minLength\":3,\"maxLength\":8}", 60, &w);
  random_walks("{\"type\":[\"integer\",\"null\"]}", 50, &w);
  random_walks("{\"type\":\"object\",\"properties\":{\"a\":{},\"ab\":{},\"abc\":{\"type\":\"null\"}},"
               "\"required\":[\"abc\"],\"additionalProperties\":{\"const\":0}}",
               60, &w);
  jsm_vocab_free(w.v);
  free(w.pieces);
  free(w.lens);
}

// ---- the real Llama 3 vocabulary

static void time_mask(const jsm_state *st, const jsm_vocab *v, float *logits, const char *what) {
  int n = jsm_vocab_size(v), allowed = 0;
  double best = 1e9, best_full = 1e9;
  for (int r = 0; r < 3; r++) {  // the best of three; the full walk (no string fast path) once
    memset(logits, 0, (size_t)n * sizeof *logits);
    double t0 = now_ms();
    if (r == 0) jsm_mask_walk_all(st, v, logits);
    double t1 = now_ms();
    jsm_mask(st, v, logits);
    double t2 = now_ms();
    if (r == 0) best_full = t1 - t0;
    if (t2 - t1 < best) best = t2 - t1;
  }
  for (int i = 0; i < n; i++) allowed += !isinf(logits[i]);
  printf("jsm_mask %-34s %7.3f ms (full walk %7.3f ms), %6d of %d tokens allowed\n", what, best, best_full, allowed,
         n);
}

// Each token's bytes as the model emits them (control tokens: empty).
static jsm_vocab *vocab_of(const tokenizer *tok, const char *name, char ***pieces_out, size_t **lens_out) {
  int n = tokenizer_n_vocab(tok);
  char **pieces = malloc((size_t)n * sizeof *pieces);
  size_t *lens = malloc((size_t)n * sizeof *lens);
  for (int i = 0; i < n; i++) {
    char buf[1024];
    int l = tokenizer_token_to_piece(tok, i, buf, sizeof buf, false);
    if (l < 0) l = 0;
    pieces[i] = malloc((size_t)l + 1);
    memcpy(pieces[i], buf, (size_t)l);
    lens[i] = (size_t)l;
  }
  double t0 = now_ms();
  jsm_vocab *v = jsm_vocab_new((const char *const *)pieces, lens, n);
  printf("%s vocabulary: %d tokens, tries built in %.1f ms\n", name, n, now_ms() - t0);
  CHECK(v && jsm_vocab_size(v) == n);
  *pieces_out = pieces;
  *lens_out = lens;
  return v;
}

static void free_pieces(char **pieces, size_t *lens, int n) {
  for (int i = 0; i < n; i++) free(pieces[i]);
  free(pieces);
  free(lens);
}

// Vocabularies from GGUF files (SentencePiece with byte tokens, a 100k BPE):
// the string fast path agrees with the full walk, and the time it takes.
static void test_gguf_vocabs(void) {
  static const char *const names[] = {"llama-spm", "deepseek-llm"};
  char err[256];
  jsm_schema *s = compile_text(tool_schema, err, sizeof err);
  for (int k = 0; k < 2 && s; k++) {
    char path[256];
    snprintf(path, sizeof path, "models/vocab/ggml-vocab-%s.gguf", names[k]);
    gguf_file *f = gguf_open(tu_shared(path));
    tokenizer *tok = f ? tokenizer_from_gguf(f) : NULL;
    gguf_close(f);
    CHECK_MSG(tok != NULL, "%s does not load", path);
    if (!tok) continue;
    char **pieces;
    size_t *lens;
    jsm_vocab *v = vocab_of(tok, names[k], &pieces, &lens);
    int n = tokenizer_n_vocab(tok);
    float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
    static const char *const prefixes[] = {"", "{\"name\":\"search\",\"arguments\":{\"q\":\"x",
                                           "{\"name\":\"search\",\"arguments\":{\"q\":\"x\",\"t"};
    for (int p = 0; p < 3; p++) {
      jsm_state *st = jsm_state_new(s);
      CHECK(jsm_feed(st, prefixes[p], strlen(prefixes[p])));
      memset(a, 0, (size_t)n * sizeof *a);
      memset(b, 0, (size_t)n * sizeof *b);
      double t0 = now_ms();
      jsm_mask(st, v, a);
      double t1 = now_ms();
      jsm_mask_walk_all(st, v, b);
      int differ = 0, allowed = 0;
      for (int i = 0; i < n; i++) differ += isinf(a[i]) != isinf(b[i]), allowed += !isinf(a[i]);
      CHECK_MSG(differ == 0, "%s after '%s': %d tokens differ from the full walk", names[k], prefixes[p], differ);
      printf("jsm_mask %-12s after %-44s %7.3f ms, %6d of %d allowed\n", names[k], prefixes[p], t1 - t0, allowed, n);
      jsm_state_free(st);
    }
    free(a);
    free(b);
    jsm_vocab_free(v);
    free_pieces(pieces, lens, n);
    tokenizer_free(tok);
  }
  jsm_schema_free(s);
}

static void test_real_vocab(void) {
  const char *enc = tu_shared("models/tokenizers/llama3.2-bpe/encoder.json");
  const char *merges = tu_shared("models/tokenizers/llama3.2-bpe/vocab.bpe");
  tokenizer *tok = tokenizer_from_bpe_files(enc, merges, "llama-bpe");
  CHECK_MSG(tok != NULL, "llama3.2-bpe tokenizer does not load");
  if (!tok) return;
  int n = tokenizer_n_vocab(tok);
  char **pieces;
  size_t *lens;
  jsm_vocab *v = vocab_of(tok, "llama3", &pieces, &lens);
  float *logits = malloc((size_t)n * sizeof *logits);
  char err[256];
  static const struct {
    const char *schema, *prefix, *what;
  } cases[] = {
      {"{}", "", "any: document start"},
      {"{}", "{\"", "any: in an object key"},
      {"{}", "{\"text\": \"Once upon", "any: in a string"},
      {"{}", "[1, 2.5", "any: in a number"},
      {NULL, "", "tool call: start"},
      {NULL, "{\"name\":\"get_", "tool call: in a const"},
      {NULL, "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Par", "tool call: in a maxLength string"},
      {NULL, "{\"name\":\"search\",\"arguments\":{\"q\":\"x\",", "tool call: key or extra key"},
      {NULL, "{\"name\":\"search\",\"arguments\":{\"q\":\"x\",\"ab", "tool call: in an extra key"},
      {"{\"type\":\"object\"}", "{", "json_object: after {"},
      {"{\"anyOf\":[{\"type\":\"string\"},{\"enum\":[\"abc\",\"abd\"]}]}", "\"ab", "a string beside an enum"},
      {"{\"properties\":{\"name\":{}},\"additionalProperties\":true}", "{\"na", "a declared key beside an extra"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    jsm_schema *s = compile_text(cases[c].schema ? cases[c].schema : tool_schema, err, sizeof err);
    CHECK_MSG(s != NULL, "%s", err);
    if (!s) continue;
    jsm_state *st = jsm_state_new(s);
    CHECK_MSG(jsm_feed(st, cases[c].prefix, strlen(cases[c].prefix)), "%s", cases[c].what);
    check_mask(st, v, (const char *const *)pieces, lens, n, NULL, cases[c].what);
    time_mask(st, v, logits, cases[c].what);
    jsm_state_free(st);
    jsm_schema_free(s);
  }
  // a few generations with random allowed tokens, checked like the small walks
  json_t *sch = json_loads(tool_schema, 0, NULL);
  jsm_schema *s = jsm_compile(sch, err, sizeof err);
  double mask_ms = 0;
  int masks = 0, *ids = malloc((size_t)n * sizeof *ids);
  for (int seed = 0; seed < 8 && s; seed++) {
    rng_state = (uint64_t)seed * 7919 + 5;
    jsm_state *st = jsm_state_new(s);
    char out[8192];
    size_t len = 0;
    for (int step = 0; step < 400 && len + 1100 < sizeof out; step++) {
      if (jsm_complete(st) && (step > 40 || rnd() % 6 == 0)) break;
      memset(logits, 0, (size_t)n * sizeof *logits);
      double t = now_ms();
      jsm_mask(st, v, logits);
      mask_ms += now_ms() - t;
      masks++;
      int k = 0;
      for (int i = 0; i < n; i++)
        if (!isinf(logits[i])) ids[k++] = i;
      // A complete document whose last gap is full takes nothing more; anything else must go on.
      CHECK_MSG(k > 0 || jsm_complete(st), "real vocab seed %d: dead end after '%.*s'", seed, (int)len, out);
      if (!k) break;
      int pick_id = ids[rnd() % (uint64_t)k];
      for (const char *c = "\"}]0"; step > 30 && *c; c++) {  // steer to an end
        int id = tokenizer_find(tok, (char[]){*c, 0});
        if (id >= 0 && !isinf(logits[id])) {
          pick_id = id;
          break;
        }
      }
      CHECK(jsm_feed(st, pieces[pick_id], lens[pick_id]));
      memcpy(out + len, pieces[pick_id], lens[pick_id]);
      len += lens[pick_id];
    }
    json_t *doc = json_loadb(out, len, 0, NULL);
    CHECK_MSG(jsm_complete(st) && doc && valid(doc, sch, sch), "real vocab seed %d: '%.*s'", seed, (int)len, out);
    char *compact = doc && seed < 3 ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (compact) printf("  generated: %s\n", compact);
    free(compact);
    json_decref(doc);
    jsm_state_free(st);
  }
  free(ids);
  if (masks) printf("tool-call generations: %d masks, %.3f ms each on average\n", masks, mask_ms / masks);
  jsm_schema_free(s);
  json_decref(sch);
  free(logits);
  jsm_vocab_free(v);
  free_pieces(pieces, lens, n);
  tokenizer_free(tok);
}

int main(void) {
  rng_state = 42;
  test_any();
  test_scalars();
  test_objects();
  test_arrays();
  test_literals();
  test_composition();
  test_limits();
  test_state();
  test_errors();
  test_hostile();
  test_mask_small();
  test_random_walks();
  test_real_vocab();
  test_gguf_vocabs();
  return tu_finish();
}
