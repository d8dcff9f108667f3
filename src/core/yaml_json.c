// yaml_json: see yaml_json.h. libyaml's document API loads the whole file
// into a node table; we walk it from the root into jansson values. Aliases
// point back into the table, so the walk is bounded by depth and by a node
// budget: a "billion laughs" document is refused, not expanded.
#include "core/yaml_json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_NODES 100000  // values produced, aliases counted each time they are used

typedef struct {
  yaml_document_t *doc;
  long nodes;
  char *err;
  size_t err_size;
} walk;

static bool is_plain(const yaml_node_t *n) { return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE; }

// A plain scalar as YAML 1.2's core schema reads it: null, bool, int, float, else string.
static json_t *plain_scalar(const char *s, size_t len) {
  if (len == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")) return json_null();
  if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return json_true();
  if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return json_false();
  char *end;
  errno = 0;
  long long i = strtoll(s, &end, 10);
  if (*end == 0 && errno == 0 && end != s) return json_integer(i);
  double d = strtod(s, &end);
  if (*end == 0 && end != s && strspn(s, "+-0123456789.eE") == len) return json_real(d);
  return json_stringn(s, len);
}

static json_t *convert(walk *w, yaml_node_t *n, int depth);

static json_t *mapping(walk *w, yaml_node_t *n, int depth) {
  json_t *obj = json_object();
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(w->doc, p->key), *v = yaml_document_get_node(w->doc, p->value);
    if (!k || k->type != YAML_SCALAR_NODE) {
      snprintf(w->err, w->err_size, "line %lu: mapping keys must be plain strings", (unsigned long)n->start_mark.line + 1);
      json_decref(obj);
      return NULL;
    }
    json_t *val = v ? convert(w, v, depth + 1) : json_null();
    if (!val) {
      json_decref(obj);
      return NULL;
    }
    json_object_set_new(obj, (const char *)k->data.scalar.value, val);
  }
  return obj;
}

static json_t *sequence(walk *w, yaml_node_t *n, int depth) {
  json_t *arr = json_array();
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    yaml_node_t *v = yaml_document_get_node(w->doc, *it);
    json_t *val = v ? convert(w, v, depth + 1) : json_null();
    if (!val) {
      json_decref(arr);
      return NULL;
    }
    json_array_append_new(arr, val);
  }
  return arr;
}

static json_t *convert(walk *w, yaml_node_t *n, int depth) {
  if (depth > MAX_DEPTH || ++w->nodes > MAX_NODES) {
    snprintf(w->err, w->err_size, "line %lu: the document nests or repeats too much (at most %d levels, %d values)",
             (unsigned long)n->start_mark.line + 1, MAX_DEPTH, MAX_NODES);
    return NULL;
  }
  switch (n->type) {
    case YAML_SCALAR_NODE: {
      const char *s = (const char *)n->data.scalar.value;
      json_t *v = is_plain(n) ? plain_scalar(s, n->data.scalar.length) : json_stringn(s, n->data.scalar.length);
      if (!v) snprintf(w->err, w->err_size, "line %lu: a string that is not valid UTF-8", (unsigned long)n->start_mark.line + 1);
      return v;
    }
    case YAML_MAPPING_NODE: return mapping(w, n, depth);
    case YAML_SEQUENCE_NODE: return sequence(w, n, depth);
    default: return json_null();
  }
}

json_t *yaml_to_json(const char *text, size_t len, char *err, size_t err_size) {
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) {
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    snprintf(err, err_size, "line %lu, column %lu: %s", (unsigned long)parser.problem_mark.line + 1,
             (unsigned long)parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid YAML");
    yaml_parser_delete(&parser);
    return NULL;
  }
  walk w = {.doc = &doc, .err = err, .err_size = err_size};
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  json_t *out = root ? convert(&w, root, 0) : json_object();
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return out;
}
