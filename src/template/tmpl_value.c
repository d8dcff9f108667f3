// tmpl_value: the values a template computes with. Numbers, booleans, none
// and undefined live inside the tval; strings are immutable and refcounted;
// lists, dicts and namespaces are refcounted and linked into the render's
// live list. Freeing is iterative (a worklist through the freed objects'
// own links), so a list nested a million deep frees without deep recursion;
// what a cycle keeps alive is freed by tv_free_live when the render ends.
// Printing, JSON output and comparison recurse, so they stop at
// TMPL_MAX_DATA_DEPTH with an error.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl_internal.h"

enum { OBJ_LIST = 1, OBJ_DICT = 2 };

// ---- buffers
int tbuf_put(trt *rt, const tnode *at, tbuf *b, const char *s, size_t n) {
  if (n == 0) return 0;
  if (b->n + n > TMPL_MAX_OUTPUT) return tmpl_fail(rt, at, "text longer than %u bytes", TMPL_MAX_OUTPUT);
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return tmpl_fail(rt, at, "out of memory");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

void tbuf_free(tbuf *b) {
  free(b->p);
  *b = (tbuf){0};
}

// ---- strings
static tstr *str_alloc(const char *s, size_t n) {
  tstr *t = malloc(sizeof *t + n + 1);
  if (!t) return NULL;
  t->rc = 1;
  t->len = n;
  if (n) memcpy(t->s, s, n);
  t->s[n] = 0;
  return t;
}

tval tv_str(trt *rt, const tnode *at, const char *s, size_t n) {
  if (n > TMPL_MAX_OUTPUT) return tmpl_fail(rt, at, "string longer than %u bytes", TMPL_MAX_OUTPUT), tv_undef();
  if (tmpl_charge(rt, at, 1 + n / 32)) return tv_undef();
  tstr *t = str_alloc(s, n);
  if (!t) return tmpl_fail(rt, at, "out of memory"), tv_undef();
  return (tval){.kind = TV_STR, .u.s = t};
}

tval tv_str_take_buf(trt *rt, const tnode *at, tbuf *b) {
  tval v = tv_str(rt, at, b->p ? b->p : "", b->n);
  tbuf_free(b);
  return v;
}

tstr *tv_str_immortal(tmpl *t, const char *s, size_t n) {
  tstr *x = tmpl_arena_alloc(t, sizeof *x + n + 1);
  if (!x) return NULL;
  x->rc = TV_IMMORTAL;
  x->len = n;
  if (n) memcpy(x->s, s, n);
  x->s[n] = 0;
  return x;
}

// ---- containers
// A list or dict is allocated behind a 16-byte prefix whose first byte says
// which it is, so the free path can tell them apart from the tobj alone
// (the prefix keeps the payload 16-byte aligned).
static uint8_t container_kind(const tobj *o) { return ((const uint8_t *)o)[-16]; }

static void *container_alloc(size_t size, uint8_t kind) {
  unsigned char *p = calloc(1, 16 + size);
  if (!p) return NULL;
  p[0] = kind;
  return p + 16;
}

static void container_dealloc(void *o) { free((unsigned char *)o - 16); }

static void live_link(trt *rt, tobj *o) {
  o->next = rt->live.next;
  o->prev = &rt->live;
  rt->live.next->prev = o;
  rt->live.next = o;
}

static void live_unlink(tobj *o) {
  o->prev->next = o->next;
  o->next->prev = o->prev;
}

tval tv_list_new(trt *rt, const tnode *at, size_t cap) {
  if (tmpl_charge(rt, at, 1 + cap)) return tv_undef();
  tlist *l = container_alloc(sizeof *l, OBJ_LIST);
  if (!l || (cap && !(l->v = malloc(cap * sizeof *l->v)))) {
    if (l) container_dealloc(l);
    return tmpl_fail(rt, at, "out of memory"), tv_undef();
  }
  l->h.rc = 1;
  l->cap = cap;
  live_link(rt, &l->h);
  return (tval){.kind = TV_LIST, .u.l = l};
}

int tv_list_push(trt *rt, const tnode *at, tlist *l, tval v) {
  if (tmpl_charge(rt, at, 1)) goto fail;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    tval *nv = realloc(l->v, cap * sizeof *nv);
    if (!nv) {
      tmpl_fail(rt, at, "out of memory");
      goto fail;
    }
    l->v = nv;
    l->cap = cap;
  }
  l->v[l->n++] = v;
  return 0;
fail:
  tv_decref(v);
  return -1;
}

tval tv_dict_new(trt *rt, const tnode *at, bool ns) {
  if (tmpl_charge(rt, at, 1)) return tv_undef();
  tdict *d = container_alloc(sizeof *d, OBJ_DICT);
  if (!d) return tmpl_fail(rt, at, "out of memory"), tv_undef();
  d->h.rc = 1;
  live_link(rt, &d->h);
  return (tval){.kind = ns ? TV_NS : TV_DICT, .u.d = d};
}

tval *tv_dict_get(const tdict *d, const char *k, size_t n) {
  for (size_t i = 0; i < d->n; i++)
    if (d->k[i]->len == n && memcmp(d->k[i]->s, k, n) == 0) return &d->v[i];
  return NULL;
}

int tv_dict_set(trt *rt, const tnode *at, tdict *d, tstr *k, tval v) {
  tval *old = tv_dict_get(d, k->s, k->len);
  if (old) {
    tv_decref(*old);
    *old = v;
    return 0;
  }
  if (tmpl_charge(rt, at, 1)) goto fail;
  if (d->n == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 4;
    tstr **nk = realloc(d->k, cap * sizeof *nk);
    if (nk) d->k = nk;
    tval *nv = nk ? realloc(d->v, cap * sizeof *nv) : NULL;
    if (!nv) {
      tmpl_fail(rt, at, "out of memory");
      goto fail;
    }
    d->v = nv;
    d->cap = cap;
  }
  if (k->rc >= 0) k->rc++;
  d->k[d->n] = k;
  d->v[d->n++] = v;
  return 0;
fail:
  tv_decref(v);
  return -1;
}

int tv_dict_setc(trt *rt, const tnode *at, tdict *d, const char *k, tval v) {
  tval key = tv_str(rt, at, k, strlen(k));
  if (key.kind != TV_STR) return tv_decref(v), -1;
  int r = tv_dict_set(rt, at, d, key.u.s, v);
  tv_decref(key);
  return r;
}

// ---- refcounts
static tobj *obj_of(tval v) {
  if (v.kind == TV_LIST) return &v.u.l->h;
  if (v.kind == TV_DICT || v.kind == TV_NS) return &v.u.d->h;
  return NULL;
}

tval tv_incref(tval v) {
  if (v.kind == TV_STR && v.u.s->rc >= 0) v.u.s->rc++;
  tobj *o = obj_of(v);
  if (o) o->rc++;
  return v;
}

static void str_decref(tstr *s) {
  if (s->rc > 0 && --s->rc == 0) free(s);
}

// Drops one reference of a child; a container reaching zero joins the
// worklist instead of being freed recursively.
static void child_release(tval v, tobj **work) {
  if (v.kind == TV_STR) return str_decref(v.u.s);
  tobj *o = obj_of(v);
  if (o && --o->rc == 0) {
    live_unlink(o);
    o->next = *work;
    *work = o;
  }
}

static void container_free(tobj *o, tobj **work) {
  if (container_kind(o) == OBJ_LIST) {
    tlist *l = (tlist *)o;
    for (size_t i = 0; i < l->n; i++) child_release(l->v[i], work);
    free(l->v);
  } else {
    tdict *d = (tdict *)o;
    for (size_t i = 0; i < d->n; i++) {
      str_decref(d->k[i]);
      child_release(d->v[i], work);
    }
    free(d->k);
    free(d->v);
  }
  container_dealloc(o);
}

void tv_decref(tval v) {
  tobj *work = NULL;
  child_release(v, &work);
  while (work) {
    tobj *o = work;
    work = o->next;
    container_free(o, &work);
  }
}

// Whatever is still linked is held only by cycles (every scope and
// temporary has been released): drop the strings they hold, then free them
// all without following container references.
void tv_free_live(trt *rt) {
  tobj *h = &rt->live;
  for (tobj *o = h->next; o != h; o = o->next) {
    if (container_kind(o) == OBJ_LIST) {
      tlist *l = (tlist *)o;
      for (size_t i = 0; i < l->n; i++)
        if (l->v[i].kind == TV_STR) str_decref(l->v[i].u.s);
      free(l->v);
    } else {
      tdict *d = (tdict *)o;
      for (size_t i = 0; i < d->n; i++) {
        str_decref(d->k[i]);
        if (d->v[i].kind == TV_STR) str_decref(d->v[i].u.s);
      }
      free(d->k);
      free(d->v);
    }
  }
  while (h->next != h) {
    tobj *o = h->next;
    live_unlink(o);
    container_dealloc(o);
  }
}

const char *tv_kind_name(tval v) {
  static const char *const names[] = {"undefined", "none", "boolean", "integer", "float", "string",
                                      "list", "dict", "namespace", "function", "macro"};
  return names[v.kind];
}

// ---- JSON in
static tval from_json_object(trt *rt, const json_t *j, int depth) {
  tval d = tv_dict_new(rt, NULL, false);
  const char *k;
  json_t *x;
  if (d.kind != TV_DICT) return d;
  json_object_foreach((json_t *)j, k, x) {
    tval v = tv_from_json(rt, x, depth + 1);
    if (!tv_ok(rt) || tv_dict_setc(rt, NULL, d.u.d, k, v)) return tv_decref(d), tv_undef();
  }
  return d;
}

tval tv_from_json(trt *rt, const json_t *j, int depth) {
  if (depth > TMPL_MAX_DATA_DEPTH)
    return tmpl_fail(rt, NULL, "context nested deeper than %d levels", TMPL_MAX_DATA_DEPTH), tv_undef();
  switch (json_typeof(j)) {
  case JSON_OBJECT: return from_json_object(rt, j, depth);
  case JSON_ARRAY: {
    tval l = tv_list_new(rt, NULL, json_array_size(j));
    for (size_t i = 0; l.kind == TV_LIST && i < json_array_size(j); i++) {
      tval v = tv_from_json(rt, json_array_get(j, i), depth + 1);
      if (!tv_ok(rt) || tv_list_push(rt, NULL, l.u.l, v)) return tv_decref(l), tv_undef();
    }
    return l;
  }
  case JSON_STRING: return tv_str(rt, NULL, json_string_value(j), json_string_length(j));
  case JSON_INTEGER: return tv_int(json_integer_value(j));
  case JSON_REAL: return tv_float(json_real_value(j));
  case JSON_TRUE: return tv_bool(true);
  case JSON_FALSE: return tv_bool(false);
  default: return tv_none();
  }
}

// ---- truth, equality, order
bool tv_truthy(tval v) {
  switch (v.kind) {
  case TV_UNDEF:
  case TV_NONE: return false;
  case TV_BOOL: return v.u.b;
  case TV_INT: return v.u.i != 0;
  case TV_FLOAT: return v.u.f != 0;
  case TV_STR: return v.u.s->len > 0;
  case TV_LIST: return v.u.l->n > 0;
  case TV_DICT: return v.u.d->n > 0;
  default: return true;
  }
}

static bool dict_equal(const tdict *a, const tdict *b, int depth) {
  if (a->n != b->n) return false;
  for (size_t i = 0; i < a->n; i++) {
    tval *o = tv_dict_get(b, a->k[i]->s, a->k[i]->len);
    if (!o || !tv_equal(a->v[i], *o, depth + 1)) return false;
  }
  return true;
}

bool tv_equal(tval a, tval b, int depth) {
  if (depth > TMPL_MAX_DATA_DEPTH) return false;
  if (tv_is_num(a) && tv_is_num(b)) {
    if (a.kind == TV_INT && b.kind == TV_INT) return a.u.i == b.u.i;
    return tv_num(a) == tv_num(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
  case TV_UNDEF:
  case TV_NONE: return true;
  case TV_BOOL: return a.u.b == b.u.b;
  case TV_STR: return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
  case TV_LIST:
    if (a.u.l->n != b.u.l->n) return false;
    for (size_t i = 0; i < a.u.l->n; i++)
      if (!tv_equal(a.u.l->v[i], b.u.l->v[i], depth + 1)) return false;
    return true;
  case TV_DICT: return dict_equal(a.u.d, b.u.d, depth);
  case TV_NS: return a.u.d == b.u.d;
  case TV_FUNC: return a.u.fn == b.u.fn;
  case TV_MACRO: return a.u.m == b.u.m;
  default: return false;
  }
}

static int compare_depth(trt *rt, const tnode *at, tval a, tval b, int *cmp, int depth) {
  if (depth > TMPL_MAX_DATA_DEPTH) return tmpl_fail(rt, at, "values nested too deep to compare");
  if (tv_is_num(a) && tv_is_num(b)) {
    if (a.kind == TV_INT && b.kind == TV_INT) *cmp = (a.u.i > b.u.i) - (a.u.i < b.u.i);
    else *cmp = (tv_num(a) > tv_num(b)) - (tv_num(a) < tv_num(b));
    return 0;
  }
  if (a.kind == TV_STR && b.kind == TV_STR) {
    size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
    int c = memcmp(a.u.s->s, b.u.s->s, n);
    *cmp = c ? (c > 0) - (c < 0) : (a.u.s->len > b.u.s->len) - (a.u.s->len < b.u.s->len);
    return 0;
  }
  if (a.kind == TV_LIST && b.kind == TV_LIST) {
    for (size_t i = 0; i < a.u.l->n && i < b.u.l->n; i++) {
      if (compare_depth(rt, at, a.u.l->v[i], b.u.l->v[i], cmp, depth + 1)) return -1;
      if (*cmp) return 0;
    }
    *cmp = (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
    return 0;
  }
  if (a.kind == TV_BOOL && b.kind == TV_BOOL) {
    *cmp = a.u.b - b.u.b;
    return 0;
  }
  return tmpl_fail(rt, at, "cannot compare %s with %s", tv_kind_name(a), tv_kind_name(b));
}

int tv_compare(trt *rt, const tnode *at, tval a, tval b, int *cmp) { return compare_depth(rt, at, a, b, cmp, 0); }

// ---- text out
void tv_fmt_float(char *out, size_t size, double f) {
  if (isnan(f)) return (void)snprintf(out, size, "nan");
  if (isinf(f)) return (void)snprintf(out, size, f < 0 ? "-inf" : "inf");
  char buf[40];
  int prec = 1;
  for (; prec < 17; prec++) {  // the shortest digits that read back exactly
    snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
    if (strtod(buf, NULL) == f) break;
  }
  snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
  const char *p = buf, *e = strchr(buf, 'e');
  char digits[20];
  int nd = 0, exp = atoi(e + 1);
  bool neg = *p == '-';
  for (p += neg; p < e; p++)
    if (*p != '.') digits[nd++] = *p;
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  char *o = out, *end = out + size - 1;
#define PUT(c) (o < end ? (void)(*o++ = (c)) : (void)0)
  if (neg) PUT('-');
  if (exp >= -4 && exp < 16) {  // Python's repr switches to exponents outside this
    if (exp < 0) {
      PUT('0'), PUT('.');
      for (int i = -1; i > exp; i--) PUT('0');
      for (int i = 0; i < nd; i++) PUT(digits[i]);
    } else {
      for (int i = 0; i <= exp; i++) PUT(i < nd ? digits[i] : '0');
      PUT('.');
      if (nd <= exp + 1) PUT('0');
      for (int i = exp + 1; i < nd; i++) PUT(digits[i]);
    }
    *o = 0;
  } else {
    PUT(digits[0]);
    if (nd > 1) PUT('.');
    for (int i = 1; i < nd; i++) PUT(digits[i]);
    *o = 0;
    snprintf(o, (size_t)(end - o) + 1, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  }
#undef PUT
}

static int json_str_out(trt *rt, const tnode *at, tbuf *b, const char *s, size_t n) {
  if (tbuf_put(rt, at, b, "\"", 1)) return -1;
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    if (tbuf_put(rt, at, b, s + run, i - run)) return -1;
    char esc[8];
    const char *m = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                  : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
    if (!m) snprintf(esc, sizeof esc, "\\u%04x", c), m = esc;
    if (tbuf_puts(rt, at, b, m)) return -1;
    run = i + 1;
  }
  if (tbuf_put(rt, at, b, s + run, n - run)) return -1;
  return tbuf_put(rt, at, b, "\"", 1);
}

static int json_nl_out(trt *rt, const tnode *at, tbuf *b, int indent, int depth) {
  if (indent < 0) return 0;
  if (tbuf_put(rt, at, b, "\n", 1)) return -1;
  for (int i = 0; i < indent * depth; i++)
    if (tbuf_put(rt, at, b, " ", 1)) return -1;
  return 0;
}

static int json_items(trt *rt, const tnode *at, tbuf *b, tval v, int indent, int depth) {
  bool list = v.kind == TV_LIST;
  size_t n = list ? v.u.l->n : v.u.d->n;
  if (tbuf_put(rt, at, b, list ? "[" : "{", 1)) return -1;
  for (size_t i = 0; i < n; i++) {
    if (i && tbuf_puts(rt, at, b, indent < 0 ? ", " : ",")) return -1;
    if (json_nl_out(rt, at, b, indent, depth + 1)) return -1;
    if (!list && (json_str_out(rt, at, b, v.u.d->k[i]->s, v.u.d->k[i]->len) || tbuf_put(rt, at, b, ": ", 2)))
      return -1;
    if (tv_tojson(rt, at, b, list ? v.u.l->v[i] : v.u.d->v[i], indent, depth + 1)) return -1;
  }
  if (n && json_nl_out(rt, at, b, indent, depth)) return -1;
  return tbuf_put(rt, at, b, list ? "]" : "}", 1);
}

int tv_tojson(trt *rt, const tnode *at, tbuf *b, tval v, int indent, int depth) {
  if (depth > TMPL_MAX_DATA_DEPTH) return tmpl_fail(rt, at, "value nested deeper than %d levels (a cycle?)", TMPL_MAX_DATA_DEPTH);
  if (tmpl_charge(rt, at, 1)) return -1;
  char num[40];
  switch (v.kind) {
  case TV_UNDEF:
  case TV_NONE: return tbuf_puts(rt, at, b, "null");
  case TV_BOOL: return tbuf_puts(rt, at, b, v.u.b ? "true" : "false");
  case TV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return tbuf_puts(rt, at, b, num);
  case TV_FLOAT:
    if (isnan(v.u.f)) return tbuf_puts(rt, at, b, "NaN");
    if (isinf(v.u.f)) return tbuf_puts(rt, at, b, v.u.f < 0 ? "-Infinity" : "Infinity");
    tv_fmt_float(num, sizeof num, v.u.f);
    return tbuf_puts(rt, at, b, num);
  case TV_STR: return json_str_out(rt, at, b, v.u.s->s, v.u.s->len);
  case TV_LIST:
  case TV_DICT:
  case TV_NS: return json_items(rt, at, b, v, indent, depth);
  default: return tmpl_fail(rt, at, "cannot convert a %s to JSON", tv_kind_name(v));
  }
}

int tv_print(trt *rt, const tnode *at, tbuf *b, tval v) {
  char num[40];
  switch (v.kind) {
  case TV_UNDEF:
  case TV_NONE: return 0;
  case TV_BOOL: return tbuf_puts(rt, at, b, v.u.b ? "true" : "false");
  case TV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return tbuf_puts(rt, at, b, num);
  case TV_FLOAT: tv_fmt_float(num, sizeof num, v.u.f); return tbuf_puts(rt, at, b, num);
  case TV_STR: return tbuf_put(rt, at, b, v.u.s->s, v.u.s->len);
  case TV_LIST:
  case TV_DICT:
  case TV_NS: return tv_tojson(rt, at, b, v, -1, 0);
  case TV_FUNC: return tbuf_puts(rt, at, b, "<function>");
  default: return tbuf_puts(rt, at, b, "<macro>");
  }
}

int tv_to_str(trt *rt, const tnode *at, tval v, tval *out) {
  if (v.kind == TV_STR) {
    *out = tv_incref(v);
    return 0;
  }
  tbuf b = {0};
  if (tv_print(rt, at, &b, v)) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

int64_t tv_utf8_len(const char *s, size_t n) {
  int64_t k = 0;
  for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
  return k;
}

// ---- arguments
void targs_free(targs *a) {
  for (int i = 0; i < a->npos; i++) tv_decref(a->pos[i]);
  for (int i = 0; i < a->nkw; i++) tv_decref(a->kwv[i]);
  a->npos = a->nkw = 0;
}

int targs_bind(trt *rt, const tnode *at, const targs *a, const char *const *params, tval *slots) {
  int np = 0;
  while (params[np]) slots[np] = tv_undef(), np++;
  if (a->npos > np) return tmpl_fail(rt, at, "too many arguments (%d, at most %d)", a->npos, np);
  for (int i = 0; i < a->npos; i++) slots[i] = a->pos[i];
  for (int i = 0; i < a->nkw; i++) {
    int k = 0;
    while (k < np && strcmp(params[k], a->kwn[i]) != 0) k++;
    if (k == np) return tmpl_fail(rt, at, "unexpected keyword argument '%s'", a->kwn[i]);
    if (k < a->npos) return tmpl_fail(rt, at, "argument '%s' given twice", a->kwn[i]);
    slots[k] = a->kwv[i];
  }
  return 0;
}
