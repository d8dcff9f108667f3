// json_schema: the compiled schema's graph (json_schema_internal.h): its
// byte tries (enum/const values, property names), the compact serialization
// of those, the passes that finish the graph after json_schema_compile.c has
// read the keywords, and freeing it. The
// matcher is json_schema_match.c, masking json_schema_mask.c.
//
// The keyword pass is memoized per schema object so that $ref cycles close
// on themselves; then four passes over the graph: build literal tries, flatten anyOf chains into lists of concrete
// nodes, compute each node's mindepth (a fixpoint: the frames its shortest
// instance needs, JSM_INF when none exists within JSM_MAX_DEPTH), and drop
// enum/const values that contradict their schema's other keywords (checked
// with the matcher itself, repeated until nothing changes). The matcher never
// enters a node whose mindepth does not fit, which is what keeps every state
// completable.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "engine/json_schema_internal.h"

// ---- pools

bool jsm_grow(void *pp, int32_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return true;
  if (need > INT32_MAX / 2) return false;
  int32_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *p;
  memcpy(&p, pp, sizeof p);
  void *q = realloc(p, (size_t)c * elem);
  if (!q) return false;
  memcpy(pp, &q, sizeof q);
  *cap = c;
  return true;
}

void jsm_schema_free(jsm_schema *s) {
  if (!s) return;
  free(s->nodes);
  free(s->ints);
  free(s->props);
  free(s->tn);
  free(s->te_byte);
  free(s->te_child);
  free(s->sub);
  free(s);
}

// ---- byte tries

int32_t jsm_trie_next(const jsm_schema *s, int32_t node, uint8_t c) {
  const jsm_tnode *t = &s->tn[node];
  if (!t->n_edges) return -1;
  const uint8_t *b = s->te_byte + t->edges;
  int32_t lo = 0, hi = t->n_edges;
  while (hi - lo > 8) {
    int32_t m = (lo + hi) / 2;
    if (b[m] < c) lo = m + 1;
    else hi = m;
  }
  for (; lo < hi && b[lo] <= c; lo++)
    if (b[lo] == c) return s->te_child[t->edges + lo];
  return -1;
}

typedef struct {
  const char *p;
  size_t len;
  int32_t id;
} tstr;

static int tstr_cmp(const void *x, const void *y) {
  const tstr *a = x, *b = y;
  size_t n = a->len < b->len ? a->len : b->len;
  int r = memcmp(a->p, b->p, n);
  if (r) return r;
  if (a->len != b->len) return a->len < b->len ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

static int int_cmp(const void *x, const void *y) {
  int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
  return a < b ? -1 : a > b;
}

static int32_t new_tnode(jsm_schema *s) {
  if (!jsm_grow(&s->tn, &s->cap_tn, (int64_t)s->n_tn + 1, sizeof *s->tn)) return -1;
  s->tn[s->n_tn] = (jsm_tnode){.id = -1};
  return s->n_tn++;
}

// Edges of the nodes root..n_tn-1, made in preorder with parent[] and byte[]
// (indexed from root): children come out sorted because the strings were.
static bool trie_edges(jsm_schema *s, int32_t root, const int32_t *parent, const uint8_t *byte) {
  int32_t n = s->n_tn - root;
  for (int32_t i = 1; i < n; i++) s->tn[root + parent[i]].n_edges++;
  int64_t need = (int64_t)s->n_te + n - 1;
  if (!jsm_grow(&s->te_byte, &s->cap_te_byte, need, 1)) return false;
  if (!jsm_grow(&s->te_child, &s->cap_te_child, need, 4)) return false;
  int32_t e = s->n_te;
  for (int32_t i = 0; i < n; i++) {
    s->tn[root + i].edges = e;
    e += s->tn[root + i].n_edges;
    s->tn[root + i].n_edges = 0;
  }
  for (int32_t i = 1; i < n; i++) {
    jsm_tnode *p = &s->tn[root + parent[i]];
    s->te_byte[p->edges + p->n_edges] = byte[i];
    s->te_child[p->edges + p->n_edges++] = root + i;
  }
  s->n_te = e;
  return true;
}

// For key tries: every node lists the ids of the strings below it, sorted.
static bool trie_subs(jsm_schema *s, int32_t root, const tstr *v, int32_t k) {
  int64_t total = 0;
  for (int32_t i = 0; i < k; i++) total += (int64_t)v[i].len + 1;
  if (!jsm_grow(&s->sub, &s->cap_sub, s->n_sub + total, sizeof *s->sub)) return false;
  for (int32_t i = 0; i < k; i++)
    for (int32_t t = root, d = 0; t >= 0; t = d < (int32_t)v[i].len ? jsm_trie_next(s, t, (uint8_t)v[i].p[d]) : -1, d++)
      s->tn[t].n_sub++;
  for (int32_t t = root; t < s->n_tn; t++) {
    s->tn[t].sub = s->n_sub;
    s->n_sub += s->tn[t].n_sub;
    s->tn[t].n_sub = 0;
  }
  for (int32_t i = 0; i < k; i++)
    for (int32_t t = root, d = 0; t >= 0; t = d < (int32_t)v[i].len ? jsm_trie_next(s, t, (uint8_t)v[i].p[d]) : -1, d++)
      s->sub[s->tn[t].sub + s->tn[t].n_sub++] = v[i].id;
  for (int32_t t = root; t < s->n_tn; t++) qsort(s->sub + s->tn[t].sub, (size_t)s->tn[t].n_sub, 4, int_cmp);
  return true;
}

int32_t jsm_trie_build(jsm_schema *s, const char *const *str, const size_t *len, int32_t k, bool with_sub) {
  int64_t total = 1;
  for (int32_t i = 0; i < k; i++) total += (int64_t)len[i];
  if (total > INT32_MAX / 4) return -1;
  tstr *v = malloc((size_t)(k ? k : 1) * sizeof *v);
  int32_t *parent = malloc((size_t)total * sizeof *parent);
  uint8_t *byte = malloc((size_t)total);
  int32_t *stack = malloc((size_t)total * sizeof *stack);
  int32_t root = -1;
  if (!v || !parent || !byte || !stack) goto done;
  for (int32_t i = 0; i < k; i++) v[i] = (tstr){str[i], len[i], i};
  qsort(v, (size_t)k, sizeof *v, tstr_cmp);
  root = new_tnode(s);
  if (root < 0) goto done;
  parent[0] = -1;
  stack[0] = 0;
  int32_t depth = 0;  // stack[0..depth] is the path of the previous string
  for (int32_t i = 0; i < k; i++) {
    size_t l = 0;
    if (i > 0)
      while (l < v[i].len && l < v[i - 1].len && v[i].p[l] == v[i - 1].p[l]) l++;
    depth = (int32_t)l;
    for (size_t d = l; d < v[i].len; d++) {
      int32_t t = new_tnode(s);
      if (t < 0) goto oom;
      parent[t - root] = stack[depth];
      byte[t - root] = (uint8_t)v[i].p[d];
      stack[++depth] = t - root;
    }
    jsm_tnode *end = &s->tn[root + stack[depth]];
    if (end->id < 0) end->id = v[i].id;
  }
  if (!trie_edges(s, root, parent, byte) || (with_sub && !trie_subs(s, root, v, k))) goto oom;
  goto done;
oom:
  root = -1;
done:
  free(v);
  free(parent);
  free(byte);
  free(stack);
  return root;
}


// ---- compact serialization (enum/const values, property names)

#define MAX_VALUE_DEPTH 128


// A JSON string: quotes, backslash and control characters escaped, the rest raw.
static void sb_string(strbuf *b, const char *s, size_t n) {
  strbuf_puts(b, "\"");
  for (size_t i = 0; i < n; i++) {
    uint8_t c = (uint8_t)s[i];
    const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                    : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
    char u[8];
    if (!esc && c < 0x20) {
      snprintf(u, sizeof u, "\\u%04x", c);
      esc = u;
    }
    if (esc) strbuf_puts(b, esc);
    else strbuf_put(b, s + i, 1);
  }
  strbuf_puts(b, "\"");
}

static bool sb_value(strbuf *b, const json_t *v, int depth) {
  char num[64];
  if (depth > MAX_VALUE_DEPTH) return false;
  switch (json_typeof(v)) {
    case JSON_OBJECT: {
      const char *k;
      json_t *x;
      bool first = true, ok = true;
      strbuf_puts(b, "{");
      json_object_foreach((json_t *)v, k, x) {
        if (!first) strbuf_puts(b, ",");
        first = false;
        sb_string(b, k, strlen(k));
        strbuf_puts(b, ":");
        ok = ok && sb_value(b, x, depth + 1);
      }
      strbuf_puts(b, "}");
      return ok;
    }
    case JSON_ARRAY: {
      bool ok = true;
      strbuf_puts(b, "[");
      for (size_t i = 0; i < json_array_size(v); i++) {
        if (i) strbuf_puts(b, ",");
        ok = ok && sb_value(b, json_array_get(v, i), depth + 1);
      }
      strbuf_puts(b, "]");
      return ok;
    }
    case JSON_STRING: sb_string(b, json_string_value(v), json_string_length(v)); return true;
    case JSON_INTEGER: snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: {
      double d = json_real_value(v);
      for (int p = 1; p <= 17; p++) {  // the shortest text that reads back exactly
        snprintf(num, sizeof num, "%.*g", p, d);
        if (strtod(num, NULL) == d) break;
      }
      break;
    }
    case JSON_TRUE: snprintf(num, sizeof num, "true"); break;
    case JSON_FALSE: snprintf(num, sizeof num, "false"); break;
    default: snprintf(num, sizeof num, "null"); break;
  }
  strbuf_puts(b, num);
  return true;
}

char *jsm_quote(const char *s, size_t n, size_t *len) {
  strbuf b = {0};
  sb_string(&b, s, n);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  *len = b.len;
  return b.p;
}

char *jsm_serialize(const json_t *v, size_t *len, bool *too_deep) {
  strbuf b = {0};
  *too_deep = !sb_value(&b, v, 0);
  if (b.oom || *too_deep) {
    free(b.p);
    return NULL;
  }
  *len = b.len;
  return b.p;
}

// ---- graph passes

#define MAX_ALTERNATIVES 1024  // per anyOf after flattening; more could never stay alive anyway
#define MAX_FILTER_PASSES 16

static int32_t lit_trie(jsm_schema *s, const jsm_litset *l) {
  int32_t t = jsm_trie_build(s, (const char *const *)l->vals, l->lens, l->n, false);
  if (t >= 0) s->nodes[l->node].trie = t;
  return t;
}

// Every anyOf lists the concrete nodes it reaches through nested anyOfs
// ($ref, allOf, type lists), each once; loops contribute nothing.
static int flatten(jsm_schema *s) {
  int32_t n = s->n_nodes, *seen = calloc((size_t)n, sizeof *seen), *stack = malloc((size_t)n * sizeof *stack);
  int32_t *out = malloc((size_t)n * sizeof *out);
  int r = seen && stack && out ? 0 : -1;
  for (int32_t i = 0; i < n && r == 0; i++) {
    if (s->nodes[i].kind != N_ANYOF) continue;
    int32_t sp = 0, no = 0;
    stack[sp++] = i;
    seen[i] = i + 1;
    while (sp) {
      const jsm_node *nd = &s->nodes[stack[--sp]];
      if (nd->kind != N_ANYOF) {
        out[no++] = stack[sp];
        continue;
      }
      for (int32_t k = nd->n - 1; k >= 0; k--) {
        int32_t y = s->ints[nd->first + k];
        if (seen[y] != i + 1) seen[y] = i + 1, stack[sp++] = y;
      }
    }
    if (no > MAX_ALTERNATIVES) r = 1;
    else if (!jsm_grow(&s->ints, &s->cap_ints, (int64_t)s->n_ints + no, sizeof *s->ints)) r = -1;
    if (r) break;
    if (no) memcpy(s->ints + s->n_ints, out, (size_t)no * sizeof *out);
    s->nodes[i].first = s->n_ints;
    s->nodes[i].n = no;
    s->n_ints += no;
  }
  free(seen);
  free(stack);
  free(out);
  return r;
}

static int32_t node_depth(const jsm_schema *s, const jsm_node *nd) {
  int32_t m = 0;
  switch (nd->kind) {
    case N_ANYOF:
      m = JSM_INF;
      for (int32_t k = 0; k < nd->n; k++) {
        int32_t d = s->nodes[s->ints[nd->first + k]].mindepth;
        if (d < m) m = d;
      }
      return m;
    case N_STRING: return nd->hi >= 0 && nd->lo > nd->hi ? JSM_INF : 1;
    case N_LITERAL: return nd->trie >= 0 && s->tn[nd->trie].n_edges > 0 ? 1 : JSM_INF;
    case N_OBJECT:
      for (int32_t k = 0; k < nd->n; k++) {
        const jsm_prop *p = &s->props[nd->first + k];
        if (p->required && s->nodes[p->node].mindepth > m) m = s->nodes[p->node].mindepth;
      }
      break;
    case N_ARRAY:
      if (nd->hi >= 0 && nd->lo > nd->hi) return JSM_INF;
      for (int32_t k = 0; k < nd->lo && k <= nd->n; k++) {  // index n stands for every item past prefixItems
        int32_t it = k < nd->n ? s->ints[nd->first + k] : nd->child;
        if (it < 0) return JSM_INF;
        if (s->nodes[it].mindepth > m) m = s->nodes[it].mindepth;
      }
      break;
    default: return 1;
  }
  return m + 1 > JSM_MAX_DEPTH ? JSM_INF : m + 1;
}

// The least fixpoint from "nothing is satisfiable": a node's mindepth only
// drops, and only to values up to JSM_MAX_DEPTH, so this ends.
static void mindepth(jsm_schema *s) {
  for (int32_t i = 0; i < s->n_nodes; i++) s->nodes[i].mindepth = JSM_INF;
  for (bool changed = true; changed;) {
    changed = false;
    for (int32_t i = 0; i < s->n_nodes; i++) {
      int32_t d = node_depth(s, &s->nodes[i]);
      if (d < s->nodes[i].mindepth) s->nodes[i].mindepth = d, changed = true;
    }
  }
}

static bool literal_ok(const jsm_schema *s, int32_t base, const char *v, size_t n, jsm_cfgset *a, jsm_cfgset *b) {
  if (!jsm_cfgset_start(a, base)) return false;
  for (size_t i = 0; i < n; i++) {
    jsm_cfgset_step(s, a, (uint8_t)v[i], b);
    jsm_cfgset t = *a;
    *a = *b;
    *b = t;
    if (!a->n) return false;
  }
  return jsm_cfgset_complete(s, a);
}

// Drops the values the base schema rejects; 1 if any went, -1 out of memory.
static int lit_filter(jsm_schema *s, jsm_litset *l, jsm_cfgset *a, jsm_cfgset *b) {
  int32_t kept = 0;
  for (int32_t i = 0; i < l->n; i++) {
    if (literal_ok(s, l->base, l->vals[i], l->lens[i], a, b)) {
      l->vals[kept] = l->vals[i];
      l->lens[kept++] = l->lens[i];
    } else {
      free(l->vals[i]);
    }
  }
  if (kept == l->n) return 0;
  l->n = kept;
  return lit_trie(s, l) < 0 ? -1 : 1;
}

bool jsm_link(jsm_schema *s, jsm_litset *lits, int32_t n_lits, char *err, size_t err_size) {
  jsm_cfgset a = {0}, b = {0};
  int r = 0;
  for (int32_t i = 0; i < n_lits && r == 0; i++)
    if (lit_trie(s, &lits[i]) < 0) r = -1;
  if (r == 0) r = flatten(s);
  if (r == 0) mindepth(s);
  // Until no value goes: bases may hold other literal nodes. Each pass checks
  // every value again, so a chain of such dependencies deeper than any real
  // schema has is refused rather than run in quadratic time.
  int passes = 0;
  for (bool changed = r == 0; changed;) {
    if (++passes > MAX_FILTER_PASSES) {
      r = 2;
      break;
    }
    changed = false;
    for (int32_t i = 0; i < n_lits && r >= 0; i++) {
      if (lits[i].base < 0) continue;
      int f = lit_filter(s, &lits[i], &a, &b);
      if (f < 0) r = -1;
      if (f > 0) changed = true;
    }
    if (r < 0) break;
    if (changed) mindepth(s);
  }
  jsm_cfgset_free(&a);
  jsm_cfgset_free(&b);
  if (!err) err_size = 0;
  if (r == 0 && s->nodes[s->root].mindepth > JSM_MAX_DEPTH) r = 3;
  if (r < 0) snprintf(err, err_size, "schema at /: out of memory");
  if (r == 1)
    snprintf(err, err_size, "schema at /: an anyOf (or type list) reaches more than %d alternatives", MAX_ALTERNATIVES);
  if (r == 2)
    snprintf(err, err_size, "schema at /: enum/const values depend on each other more than %d deep", MAX_FILTER_PASSES);
  if (r == 3)
    snprintf(err, err_size, "schema at /: no JSON value satisfies it within %d levels of nesting", JSM_MAX_DEPTH);
  return r == 0;
}
