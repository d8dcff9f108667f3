// json_schema_compile: reading a JSON Schema (a jansson value) into nodes:
// keywords, types, $ref resolution. Entry point jsm_compile; the graph
// passes that finish the schema, and the serialization of values, are in
// json_schema.c.
//
// Every schema object compiles to one anyOf node (made before its children,
// so a $ref back to it finds it), whose alternatives are the concrete nodes
// of its types. Errors name the JSON pointer of the schema object.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json_schema_internal.h"

#define MAX_SCHEMA_DEPTH 128  // nested schema objects while compiling (C stack)
#define PATH_MAX_LEN 256

// ---- the compiler

typedef struct {
  jsm_schema *s;
  const json_t *doc;
  char *err;
  size_t err_size;
  bool failed;
  int depth;
  int32_t any, null_node, bool_node;  // shared nodes, made on first use (-1)
  const json_t **memo_key;            // open addressing: schema object -> node
  int32_t *memo_val;
  int32_t memo_cap, memo_n;
  jsm_litset *lits;
  int32_t n_lits, cap_lits;
} cc;

static int32_t fail(cc *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int32_t fail(cc *c, const char *path, const char *fmt, ...) {
  if (c->failed) return -1;
  c->failed = true;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t n = strlen(path);  // a long path keeps its end: the keyword must fit in the message
  if (c->err && c->err_size)
    snprintf(c->err, c->err_size, "schema at %s%s: %s", n > 100 ? "..." : "", n ? path + (n > 100 ? n - 100 : 0) : "/",
             msg);
  return -1;
}

static int32_t oom(cc *c) { return fail(c, "", "out of memory"); }

static int32_t new_node(cc *c, jsm_node nd) {
  jsm_schema *s = c->s;
  if (c->failed) return -1;
  if (!jsm_grow(&s->nodes, &s->cap_nodes, (int64_t)s->n_nodes + 1, sizeof *s->nodes)) return oom(c);
  nd.mindepth = JSM_INF;
  s->nodes[s->n_nodes] = nd;
  return s->n_nodes++;
}

// Appends k ints to the pool; returns their offset.
static int32_t put_ints(cc *c, const int32_t *v, int32_t k) {
  jsm_schema *s = c->s;
  if (c->failed) return -1;
  if (!jsm_grow(&s->ints, &s->cap_ints, (int64_t)s->n_ints + k, sizeof *s->ints)) return oom(c);
  if (k) memcpy(s->ints + s->n_ints, v, (size_t)k * sizeof *v);
  s->n_ints += k;
  return s->n_ints - k;
}

// Fills node `at` (made earlier as a placeholder) as an anyOf of alts.
static void set_anyof(cc *c, int32_t at, const int32_t *alts, int32_t k) {
  int32_t first = put_ints(c, alts, k);
  if (!c->failed) c->s->nodes[at] = (jsm_node){.kind = N_ANYOF, .mindepth = JSM_INF, .first = first, .n = k};
}

// A LITERAL node over serialized values (taken over), checked against base.
static int32_t new_literal(cc *c, char **vals, size_t *lens, int32_t k, int32_t base) {
  if (!c->failed && jsm_grow(&c->lits, &c->cap_lits, (int64_t)c->n_lits + 1, sizeof *c->lits)) {
    int32_t node = new_node(c, (jsm_node){.kind = N_LITERAL, .trie = -1});
    if (node >= 0) {
      c->lits[c->n_lits++] = (jsm_litset){node, base, vals, lens, k};
      return node;
    }
  } else if (!c->failed) {
    oom(c);
  }
  for (int32_t i = 0; i < k; i++) free(vals[i]);
  free(vals);
  free(lens);
  return -1;
}

// A LITERAL node over fixed words (true, false, null).
static int32_t words_literal(cc *c, const char *const *words, int32_t k) {
  char **vals = calloc((size_t)k, sizeof *vals);
  size_t *lens = calloc((size_t)k, sizeof *lens);
  bool ok = vals && lens;
  for (int32_t i = 0; ok && i < k; i++) {
    ok = (vals[i] = strdup(words[i])) != NULL;
    if (ok) lens[i] = strlen(words[i]);
  }
  if (!ok) {
    for (int32_t i = 0; vals && i < k; i++) free(vals[i]);
    free(vals);
    free(lens);
    return oom(c);
  }
  return new_literal(c, vals, lens, k, -1);
}

static int32_t null_node(cc *c) {
  if (c->null_node < 0) c->null_node = words_literal(c, (const char *const[]){"null"}, 1);
  return c->null_node;
}

static int32_t bool_node(cc *c) {
  if (c->bool_node < 0) c->bool_node = words_literal(c, (const char *const[]){"true", "false"}, 2);
  return c->bool_node;
}

static int32_t string_node(cc *c, int32_t lo, int32_t hi, int32_t excl) {
  return new_node(c, (jsm_node){.kind = N_STRING, .trie = excl, .child = -1, .lo = lo, .hi = hi});
}

// Any JSON value: anyOf an open object, an open array, string, number, and
// true/false/null as one literal node.
static int32_t any_node(cc *c) {
  if (c->any >= 0) return c->any;
  int32_t any = c->any = new_node(c, (jsm_node){.kind = N_ANYOF});
  int32_t zero = put_ints(c, (int32_t[]){0}, 1);  // req_next of an object without properties
  int32_t key = string_node(c, 0, -1, -1);
  int32_t alts[5];
  alts[0] = new_node(c, (jsm_node){.kind = N_OBJECT, .trie = -1, .child = any, .aux = zero, .key = key});
  alts[1] = new_node(c, (jsm_node){.kind = N_ARRAY, .trie = -1, .child = any, .hi = -1});
  alts[2] = string_node(c, 0, -1, -1);
  alts[3] = new_node(c, (jsm_node){.kind = N_NUMBER, .trie = -1, .child = -1});
  alts[4] = c->failed ? -1 : words_literal(c, (const char *const[]){"true", "false", "null"}, 3);
  if (c->failed) return -1;
  set_anyof(c, any, alts, 5);
  return any;
}

// ---- memo: schema object -> node

static size_t ptr_hash(const json_t *p) { return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull); }

static int32_t memo_get(cc *c, const json_t *k) {
  if (!c->memo_cap) return -1;
  for (size_t i = ptr_hash(k) & (size_t)(c->memo_cap - 1);; i = (i + 1) & (size_t)(c->memo_cap - 1)) {
    if (!c->memo_key[i]) return -1;
    if (c->memo_key[i] == k) return c->memo_val[i];
  }
}

static bool memo_put(cc *c, const json_t *k, int32_t v) {
  if (2 * (c->memo_n + 1) > c->memo_cap) {
    int32_t cap = c->memo_cap ? 2 * c->memo_cap : 64;
    const json_t **keys = calloc((size_t)cap, sizeof *keys);
    int32_t *vals = malloc((size_t)cap * sizeof *vals);
    if (!keys || !vals) {
      free(keys);
      free(vals);
      return false;
    }
    for (int32_t i = 0; i < c->memo_cap; i++) {
      if (!c->memo_key[i]) continue;
      size_t j = ptr_hash(c->memo_key[i]) & (size_t)(cap - 1);
      while (keys[j]) j = (j + 1) & (size_t)(cap - 1);
      keys[j] = c->memo_key[i];
      vals[j] = c->memo_val[i];
    }
    free(c->memo_key);
    free(c->memo_val);
    c->memo_key = keys;
    c->memo_val = vals;
    c->memo_cap = cap;
  }
  size_t j = ptr_hash(k) & (size_t)(c->memo_cap - 1);
  while (c->memo_key[j]) j = (j + 1) & (size_t)(c->memo_cap - 1);
  c->memo_key[j] = k;
  c->memo_val[j] = v;
  c->memo_n++;
  return true;
}

// ---- keywords

static const char *const annotations[] = {"title",     "description", "default",  "examples", "$schema",
                                          "$id",       "$comment",    "format",   "strict",   "deprecated",
                                          "readOnly",  "writeOnly",   "$defs",    "definitions", NULL};
static const char *const compositions[] = {"$ref", "anyOf", "oneOf", "allOf", NULL};
static const char *const value_words[] = {"type",     "properties", "required",  "additionalProperties",
                                          "items",    "prefixItems", "minItems", "maxItems",
                                          "minLength", "maxLength", "enum",      "const", NULL};

static bool in_list(const char *const *list, const char *k) {
  for (; *list; list++)
    if (!strcmp(*list, k)) return true;
  return false;
}

// path + "/" + seg (JSON pointer escaped) [+ "/" + index].
static void path_add(char *out, const char *path, const char *seg, long index) {
  size_t n = (size_t)snprintf(out, PATH_MAX_LEN, "%s/", path);
  for (const char *p = seg; *p && n + 3 < PATH_MAX_LEN; p++) {
    if (*p == '~' || *p == '/') {
      out[n++] = '~';
      out[n++] = *p == '~' ? '0' : '1';
    } else {
      out[n++] = *p;
    }
  }
  if (n >= PATH_MAX_LEN) n = PATH_MAX_LEN - 1;
  out[n] = 0;
  if (index >= 0 && n < PATH_MAX_LEN) snprintf(out + n, PATH_MAX_LEN - n, "/%ld", index);
}

// A non-negative integer keyword (an integral real such as 2.0 counts), or def when absent.
static int32_t get_count(cc *c, const json_t *sch, const char *k, const char *path, int32_t def) {
  const json_t *v = json_object_get(sch, k);
  if (!v) return def;
  double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : -1;
  if (d < 0 || d != floor(d)) {
    fail(c, path, "'%s' must be a non-negative integer", k);
    return 0;
  }
  return d > INT32_MAX / 2 ? INT32_MAX / 2 : (int32_t)d;
}

static int32_t compile(cc *c, const json_t *sch, const char *path);

enum { T_OBJECT = 1, T_ARRAY = 2, T_STRING = 4, T_NUMBER = 8, T_INTEGER = 16, T_BOOLEAN = 32, T_NULL = 64 };
#define T_ALL 127

static int type_bit(const char *name) {
  static const char *const names[] = {"object", "array", "string", "number", "integer", "boolean", "null"};
  for (int i = 0; i < 7; i++)
    if (!strcmp(name, names[i])) return 1 << i;
  return 0;
}

static int schema_types(cc *c, const json_t *sch, const char *path) {
  const json_t *t = json_object_get(sch, "type");
  char sub[PATH_MAX_LEN];
  path_add(sub, path, "type", -1);
  if (!t) {
    int m = 0;
    if (json_object_get(sch, "properties") || json_object_get(sch, "required") ||
        json_object_get(sch, "additionalProperties"))
      m |= T_OBJECT;
    if (json_object_get(sch, "items") || json_object_get(sch, "prefixItems") || json_object_get(sch, "minItems") ||
        json_object_get(sch, "maxItems"))
      m |= T_ARRAY;
    if (json_object_get(sch, "minLength") || json_object_get(sch, "maxLength")) m |= T_STRING;
    return m ? m : T_ALL;
  }
  if (json_is_string(t)) {
    int b = type_bit(json_string_value(t));
    if (!b) fail(c, sub, "unknown type '%.64s'", json_string_value(t));
    return b;
  }
  if (!json_is_array(t) || json_array_size(t) == 0) {
    fail(c, sub, "expected a type name or a list of them");
    return 0;
  }
  int m = 0;
  for (size_t i = 0; i < json_array_size(t); i++) {
    const json_t *e = json_array_get(t, i);
    int b = json_is_string(e) ? type_bit(json_string_value(e)) : 0;
    if (!b) {
      fail(c, sub, "unknown type %s'%.64s'", json_is_string(e) ? "" : "(not a string) ",
           json_is_string(e) ? json_string_value(e) : "");
      return 0;
    }
    m |= b;
  }
  return m;
}

static int32_t compile_object(cc *c, const json_t *sch, const char *path);
static int32_t compile_array(cc *c, const json_t *sch, const char *path);

// enum/const: the values as a LITERAL node, checked against `base`.
static int32_t compile_literal(cc *c, const json_t *sch, const char *path, int32_t base) {
  const json_t *en = json_object_get(sch, "enum"), *cst = json_object_get(sch, "const");
  char sub[PATH_MAX_LEN];
  path_add(sub, path, en ? "enum" : "const", -1);
  if (en && !json_is_array(en)) return fail(c, sub, "expected an array");
  size_t k = en ? json_array_size(en) : 1;
  char **vals = calloc(k ? k : 1, sizeof *vals);
  size_t *lens = calloc(k ? k : 1, sizeof *lens);
  int32_t n = 0;
  if (!vals || !lens) goto nomem;
  for (size_t i = 0; i < k; i++) {
    const json_t *v = en ? json_array_get(en, i) : cst;
    if (en && cst && !json_equal((json_t *)v, (json_t *)cst)) continue;  // both: the values equal to const
    bool deep = false;
    if (k > INT32_MAX / 2 || !(vals[n] = jsm_serialize(v, &lens[n], &deep))) {
      if (!deep) goto nomem;
      for (int32_t j = 0; j < n; j++) free(vals[j]);
      free(vals);
      free(lens);
      return fail(c, sub, "value nested too deeply");
    }
    n++;
  }
  return new_literal(c, vals, lens, n, base);
nomem:
  for (int32_t j = 0; j < n; j++) free(vals[j]);
  free(vals);
  free(lens);
  return oom(c);
}

// type (given or inferred) and the keywords of each type; with_literal adds enum/const.
static void compile_typed(cc *c, const json_t *sch, const char *path, int32_t at, bool with_literal) {
  int types = schema_types(c, sch, path);
  if (c->failed) return;
  if (with_literal && (json_object_get(sch, "enum") || json_object_get(sch, "const"))) {
    int32_t base = -1;
    bool constrained = false;
    for (const char *const *w = value_words; *w; w++)
      if (strcmp(*w, "enum") && strcmp(*w, "const") && json_object_get(sch, *w)) constrained = true;
    if (constrained) {
      base = new_node(c, (jsm_node){.kind = N_ANYOF});
      if (base >= 0) compile_typed(c, sch, path, base, false);
    }
    int32_t lit = compile_literal(c, sch, path, base);
    if (lit >= 0) set_anyof(c, at, &lit, 1);
    return;
  }
  if (types == T_ALL) {
    int32_t any = any_node(c);
    if (any >= 0) set_anyof(c, at, &any, 1);
    return;
  }
  if (types & T_NUMBER) types &= ~T_INTEGER;
  int32_t alts[7], k = 0;
  if (types & T_OBJECT) alts[k++] = compile_object(c, sch, path);
  if (types & T_ARRAY) alts[k++] = compile_array(c, sch, path);
  if (types & T_STRING) {
    int32_t lo = get_count(c, sch, "minLength", path, 0), hi = get_count(c, sch, "maxLength", path, -1);
    alts[k++] = string_node(c, lo, hi, -1);
  }
  if (types & T_NUMBER) alts[k++] = new_node(c, (jsm_node){.kind = N_NUMBER, .trie = -1, .child = -1});
  if (types & T_INTEGER) alts[k++] = new_node(c, (jsm_node){.kind = N_INTEGER, .trie = -1, .child = -1});
  if (types & T_BOOLEAN) alts[k++] = bool_node(c);
  if (types & T_NULL) alts[k++] = null_node(c);
  if (!c->failed) set_anyof(c, at, alts, k);
}

// "#" or "#/a/b" (JSON pointer, ~0 ~1 and %XX decoded) within the document.
static int32_t compile_ref(cc *c, const json_t *ref, const char *path) {
  char sub[PATH_MAX_LEN], tok[PATH_MAX_LEN], tpath[PATH_MAX_LEN] = "";
  path_add(sub, path, "$ref", -1);
  if (!json_is_string(ref)) return fail(c, sub, "expected a string");
  const char *r = json_string_value(ref), *p = r + 1;
  if (r[0] != '#' || (*p && *p != '/'))
    return fail(c, sub, "'%.100s' is not supported (only '#' and '#/...' pointers into this schema)", r);
  const json_t *t = c->doc;
  while (*p == '/') {
    size_t n = 0;
    for (p++; *p && *p != '/' && n + 1 < sizeof tok; p++) {
      int hi = *p == '%' ? jsm_hexval((uint8_t)p[1]) : -1, lo = hi >= 0 ? jsm_hexval((uint8_t)p[2]) : -1;
      if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
        tok[n++] = *++p == '0' ? '~' : '/';
      } else if (lo >= 0 && hi * 16 + lo > 0) {  // %XX, as in a URI fragment
        tok[n++] = (char)(hi * 16 + lo);
        p += 2;
      } else {
        tok[n++] = *p;
      }
    }
    tok[n] = 0;
    char *end;
    long idx = strtol(tok, &end, 10);
    if (json_is_object(t)) t = json_object_get(t, tok);
    else if (json_is_array(t) && *tok && !*end && idx >= 0) t = json_array_get(t, (size_t)idx);
    else t = NULL;
    if (!t) return fail(c, sub, "'%.100s' does not resolve", r);
    char joined[PATH_MAX_LEN];
    path_add(joined, tpath, tok, -1);
    memcpy(tpath, joined, sizeof tpath);
  }
  return compile(c, t, tpath);
}

// The schema object's keywords into node `at` (made by compile as a placeholder).
static void compile_body(cc *c, const json_t *sch, const char *path, int32_t at) {
  const char *k, *comp = NULL, *val = NULL;
  json_t *v;
  json_object_foreach((json_t *)sch, k, v) {
    if (in_list(compositions, k)) {
      if (comp) {
        fail(c, path, "'%s' together with '%s' is not supported", comp, k);
        return;
      }
      comp = k;
    } else if (in_list(value_words, k)) {
      if (!val) val = k;
    } else if (strcmp(k, "nullable") && !in_list(annotations, k)) {
      fail(c, path, "unsupported keyword '%.64s'", k);
      return;
    }
  }
  if (comp && val) {
    fail(c, path, "'%s' next to '%s' is not supported (put it inside)", val, comp);
    return;
  }
  const json_t *nl = json_object_get(sch, "nullable");
  if (nl && !json_is_boolean(nl)) {
    char sub[PATH_MAX_LEN];
    path_add(sub, path, "nullable", -1);
    fail(c, sub, "expected true or false");
    return;
  }
  int32_t inner = at;
  if (json_is_true(nl)) {  // anyOf(the rest, null)
    inner = new_node(c, (jsm_node){.kind = N_ANYOF});
    int32_t alts[2] = {inner, null_node(c)};
    if (c->failed) return;
    set_anyof(c, at, alts, 2);
  }
  if (!comp) {
    compile_typed(c, sch, path, inner, true);
    return;
  }
  const json_t *list = json_object_get(sch, comp);
  char sub[PATH_MAX_LEN];
  path_add(sub, path, comp, -1);
  if (!strcmp(comp, "$ref")) {
    int32_t t = compile_ref(c, list, path);
    if (t >= 0) set_anyof(c, inner, &t, 1);
    return;
  }
  if (!json_is_array(list) || json_array_size(list) == 0) {
    fail(c, sub, "expected a non-empty array of schemas");
    return;
  }
  if (!strcmp(comp, "allOf") && json_array_size(list) != 1) {
    fail(c, sub, "allOf with %zu entries is not supported (only one)", json_array_size(list));
    return;
  }
  size_t n = json_array_size(list);
  int32_t *alts = malloc(n * sizeof *alts);
  if (!alts) {
    oom(c);
    return;
  }
  for (size_t i = 0; i < n && !c->failed; i++) {
    char item[PATH_MAX_LEN];
    path_add(item, path, comp, (long)i);
    alts[i] = compile(c, json_array_get(list, i), item);
  }
  if (!c->failed) set_anyof(c, inner, alts, (int32_t)n);
  free(alts);
}

static int32_t compile(cc *c, const json_t *sch, const char *path) {
  if (c->failed) return -1;
  if (json_is_true(sch)) return any_node(c);
  if (json_is_false(sch)) {  // nothing satisfies it
    int32_t node = new_node(c, (jsm_node){.kind = N_ANYOF});
    if (node >= 0) set_anyof(c, node, NULL, 0);
    return node;
  }
  if (!json_is_object(sch)) return fail(c, path, "expected a schema (an object or a boolean)");
  int32_t node = memo_get(c, sch);
  if (node >= 0) return node;
  if (c->depth >= MAX_SCHEMA_DEPTH) return fail(c, path, "schemas nested more than %d deep", MAX_SCHEMA_DEPTH);
  node = new_node(c, (jsm_node){.kind = N_ANYOF});
  if (node < 0) return -1;
  set_anyof(c, node, NULL, 0);
  if (!memo_put(c, sch, node)) return oom(c);
  c->depth++;
  compile_body(c, sch, path, node);
  c->depth--;
  return c->failed ? -1 : node;
}

static int32_t compile_object(cc *c, const json_t *sch, const char *path) {
  const json_t *props = json_object_get(sch, "properties"), *req = json_object_get(sch, "required");
  const json_t *add = json_object_get(sch, "additionalProperties");
  char sub[PATH_MAX_LEN], item[PATH_MAX_LEN];
  if (props && !json_is_object(props)) {
    path_add(sub, path, "properties", -1);
    return fail(c, sub, "expected an object");
  }
  if (req && !json_is_array(req)) {
    path_add(sub, path, "required", -1);
    return fail(c, sub, "expected an array of names");
  }
  size_t cap = json_object_size(props) + json_array_size(req) + 1;
  const char **names = malloc(cap * sizeof *names);
  jsm_prop *pr = malloc(cap * sizeof *pr);
  char **quoted = calloc(cap, sizeof *quoted);
  size_t *qlen = malloc(cap * sizeof *qlen), *nlen = malloc(cap * sizeof *nlen);
  int32_t *req_next = malloc(cap * sizeof *req_next), n = 0, node = -1;
  if (!names || !pr || !quoted || !qlen || !nlen || !req_next) {
    oom(c);
    goto done;
  }
  const char *k;
  json_t *v;
  path_add(sub, path, "properties", -1);
  if (props) json_object_foreach((json_t *)props, k, v) {
      path_add(item, sub, k, -1);
      names[n] = k;
      pr[n++] = (jsm_prop){compile(c, v, item), 0};
      if (c->failed) goto done;
    }
  for (size_t i = 0; i < json_array_size(req); i++) {
    const json_t *r = json_array_get(req, i);
    path_add(item, path, "required", (long)i);
    if (!json_is_string(r)) {
      fail(c, item, "expected a property name");
      goto done;
    }
    int32_t j = 0;
    while (j < n && strcmp(names[j], json_string_value(r))) j++;
    if (j == n) {  // required but not among properties: any value, after the declared ones
      names[n] = json_string_value(r);
      pr[n++] = (jsm_prop){any_node(c), 0};
    }
    pr[j].required = 1;
  }
  int32_t child = -1;
  path_add(sub, path, "additionalProperties", -1);
  // Absent: only the declared properties, unless none are declared (json_object
  // mode's {"type":"object"}): then any keys.
  if (json_is_true(add) || (json_is_object(add) && json_object_size(add) == 0) || (!add && !props)) child = any_node(c);
  else if (json_is_object(add)) child = compile(c, add, sub);
  else if (add && !json_is_false(add)) fail(c, sub, "expected a schema (an object or a boolean)");
  for (int32_t i = 0; i < n && !c->failed; i++) {
    nlen[i] = strlen(names[i]);
    if (!(quoted[i] = jsm_quote(names[i], nlen[i], &qlen[i]))) oom(c);
  }
  req_next[n] = n;
  for (int32_t i = n - 1; i >= 0; i--) req_next[i] = pr[i].required ? i : req_next[i + 1];
  if (c->failed) goto done;
  int32_t trie = n ? jsm_trie_build(c->s, (const char *const *)quoted, qlen, n, true) : -1;
  int32_t excl = child >= 0 && n ? jsm_trie_build(c->s, names, nlen, n, false) : -1;
  if ((n && trie < 0) || (child >= 0 && n && excl < 0)) {
    oom(c);
    goto done;
  }
  int32_t key = child >= 0 ? string_node(c, 0, -1, excl) : -1;
  int32_t aux = put_ints(c, req_next, n + 1);
  if (c->failed || !jsm_grow(&c->s->props, &c->s->cap_props, (int64_t)c->s->n_props + n, sizeof *pr)) {
    oom(c);
    goto done;
  }
  if (n) memcpy(c->s->props + c->s->n_props, pr, (size_t)n * sizeof *pr);
  c->s->n_props += n;
  node = new_node(c, (jsm_node){.kind = N_OBJECT, .first = c->s->n_props - n, .n = n, .trie = trie, .child = child,
                                .aux = aux, .key = key});
done:
  for (size_t i = 0; quoted && i < cap; i++) free(quoted[i]);
  free(names);
  free(pr);
  free(quoted);
  free(qlen);
  free(nlen);
  free(req_next);
  return c->failed ? -1 : node;
}

static int32_t compile_array(cc *c, const json_t *sch, const char *path) {
  const json_t *pre = json_object_get(sch, "prefixItems"), *items = json_object_get(sch, "items");
  char sub[PATH_MAX_LEN];
  if (pre && !json_is_array(pre)) {
    path_add(sub, path, "prefixItems", -1);
    return fail(c, sub, "expected an array of schemas");
  }
  if (pre && json_is_array(items)) {
    path_add(sub, path, "items", -1);
    return fail(c, sub, "an array next to prefixItems");
  }
  const json_t *tuple = pre ? pre : json_is_array(items) ? items : NULL;  // items as an array: the older prefixItems
  size_t k = json_array_size(tuple);
  int32_t *pi = malloc((k + 1) * sizeof *pi), child = -1, node = -1;
  if (!pi) return oom(c);
  for (size_t i = 0; i < k && !c->failed; i++) {
    path_add(sub, path, pre ? "prefixItems" : "items", (long)i);
    pi[i] = compile(c, json_array_get(tuple, i), sub);
  }
  path_add(sub, path, "items", -1);
  if (!items || json_is_array(items)) child = tuple ? -1 : any_node(c);
  else if (!json_is_false(items)) child = compile(c, items, sub);
  int32_t lo = get_count(c, sch, "minItems", path, 0), hi = get_count(c, sch, "maxItems", path, -1);
  int32_t first = put_ints(c, pi, (int32_t)k);
  if (!c->failed) node = new_node(c, (jsm_node){.kind = N_ARRAY, .first = first, .n = (int32_t)k, .trie = -1,
                                               .child = child, .lo = lo, .hi = hi});
  free(pi);
  return node;
}

jsm_schema *jsm_compile(const json_t *schema, char *err, size_t err_size) {
  if (err && err_size) err[0] = 0;
  cc c = {.doc = schema, .err = err, .err_size = err_size, .any = -1, .null_node = -1, .bool_node = -1};
  c.s = calloc(1, sizeof *c.s);
  bool ok = false;
  if (!c.s) {
    if (err && err_size) snprintf(err, err_size, "schema at /: out of memory");
    return NULL;
  }
  int32_t root = schema ? compile(&c, schema, "") : any_node(&c);
  if (root >= 0 && !c.failed) {
    c.s->root = root;
    ok = jsm_link(c.s, c.lits, c.n_lits, err, err_size);
  }
  for (int32_t i = 0; i < c.n_lits; i++) {
    for (int32_t j = 0; j < c.lits[i].n; j++) free(c.lits[i].vals[j]);
    free(c.lits[i].vals);
    free(c.lits[i].lens);
  }
  free(c.lits);
  free(c.memo_key);
  free(c.memo_val);
  if (ok) return c.s;
  jsm_schema_free(c.s);
  return NULL;
}
