// tmpl_filters: Jinja's filters (x|name(args)) and tests (x is name(args))
// that chat templates use, with Jinja's parameter names so keyword calls
// work (tojson(indent=4), default('', true), map(attribute='name')).
// Where Jinja2 and @huggingface/jinja agree we follow both; the tables at
// the end are what tmpl_parse accepts, so a name missing here is a load
// error, never a silent empty string.
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl_internal.h"

#define BIND(...)                                                  \
  static const char *const params[] = {__VA_ARGS__, NULL};         \
  tval p[sizeof params / sizeof params[0]];                        \
  if (targs_bind(rt, at, a, params, p)) return -1

static int no_args(trt *rt, const tnode *at, const targs *a) {
  if (a->npos || a->nkw) return tmpl_fail(rt, at, "this filter takes no arguments");
  return 0;
}

static bool opt_bool(tval v, bool dflt) { return v.kind == TV_UNDEF ? dflt : tv_truthy(v); }

static int opt_int(trt *rt, const tnode *at, tval v, int64_t dflt, int64_t *out) {
  if (v.kind == TV_UNDEF || v.kind == TV_NONE) *out = dflt;
  else if (v.kind == TV_INT) *out = v.u.i;
  else if (v.kind == TV_BOOL) *out = v.u.b;
  else return tmpl_fail(rt, at, "expected an integer argument, got %s", tv_kind_name(v));
  return 0;
}

static int need_str(trt *rt, const tnode *at, tval v, const char *what) {
  if (v.kind == TV_STR) return 0;
  return tmpl_fail(rt, at, "%s must be a string, not %s", what, tv_kind_name(v));
}

// ---- attribute paths: "a.b.0"
int tmpl_getpath(trt *rt, const tnode *at, tval obj, const char *path, tval *out) {
  tval cur = tv_incref(obj);
  while (*path) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    tval next = tv_undef();
    bool digits = n > 0;
    for (size_t i = 0; i < n; i++) digits &= isdigit((unsigned char)path[i]) != 0;
    if (digits && cur.kind == TV_LIST) {
      int64_t i = strtoll(path, NULL, 10);
      if (i < (int64_t)cur.u.l->n) next = tv_incref(cur.u.l->v[i]);
    } else if (tmpl_getattr(rt, at, cur, path, n, &next)) {
      return tv_decref(cur), -1;
    }
    tv_decref(cur);
    cur = next;
    path += n + (dot != NULL);
  }
  *out = cur;
  return 0;
}

// ---- sorting (stable merge sort on precomputed keys)
typedef struct {
  tval key, item;
} sortent;

static int sort_less(trt *rt, const tnode *at, const sortent *x, const sortent *y, bool reverse, bool *less) {
  int c;
  if (tv_compare(rt, at, x->key, y->key, &c)) return -1;
  *less = reverse ? c > 0 : c < 0;
  return 0;
}

static int merge_sort(trt *rt, const tnode *at, sortent *v, sortent *tmp, size_t n, bool reverse) {
  if (n < 2) return 0;
  size_t h = n / 2;
  if (merge_sort(rt, at, v, tmp, h, reverse) || merge_sort(rt, at, v + h, tmp, n - h, reverse)) return -1;
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) {
    bool less;
    if (sort_less(rt, at, &v[j], &v[i], reverse, &less)) return -1;
    tmp[k++] = less ? v[j++] : v[i++];
  }
  while (i < h) tmp[k++] = v[i++];
  while (j < n) tmp[k++] = v[j++];
  memcpy(v, tmp, n * sizeof *v);
  return 0;
}

// The key a value sorts and compares by: its attribute, lowercased unless
// case-sensitive (Jinja's sort/unique/min/max default to case-insensitive).
static int sort_key(trt *rt, const tnode *at, tval item, tval attr, bool case_sensitive, tval *key) {
  tval k = tv_incref(item);
  if (attr.kind == TV_STR) {
    tv_decref(k);
    if (tmpl_getpath(rt, at, item, attr.u.s->s, &k)) return -1;
  }
  if (k.kind == TV_STR && !case_sensitive) {
    tval low;
    int r = tmpl_case_map(rt, at, k, 0, &low);
    tv_decref(k);
    if (r) return -1;
    k = low;
  }
  *key = k;
  return 0;
}

static void sortents_free(sortent *v, size_t n) {
  for (size_t i = 0; i < n; i++) tv_decref(v[i].key), tv_decref(v[i].item);
  free(v);
}

// Items of `in` with their keys, in order; *n items.
static int sortents_make(trt *rt, const tnode *at, tval in, tval attr, bool cs, sortent **out, size_t *n) {
  tval items;
  if (tmpl_iter_list(rt, at, in, &items)) return -1;
  *n = items.u.l->n;
  *out = calloc(*n ? *n * 2 : 1, sizeof **out);  // second half: merge scratch
  int r = *out ? 0 : tmpl_fail(rt, at, "out of memory");
  for (size_t i = 0; !r && i < *n; i++) {
    (*out)[i].item = tv_incref(items.u.l->v[i]);
    r = sort_key(rt, at, items.u.l->v[i], attr, cs, &(*out)[i].key);
  }
  tv_decref(items);
  if (r && *out) sortents_free(*out, *n), *out = NULL;
  return r;
}

static int sortents_list(trt *rt, const tnode *at, sortent *v, size_t n, tval *out) {
  *out = tv_list_new(rt, at, n);
  for (size_t i = 0; out->kind == TV_LIST && i < n; i++) out->u.l->v[out->u.l->n++] = tv_incref(v[i].item);
  sortents_free(v, n);
  return tv_ok(rt) ? 0 : -1;
}

// ---- filters
static int f_trim(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("chars");
  tval s;
  if (tv_to_str(rt, at, in, &s)) return -1;
  int r = tmpl_str_strip(rt, at, s, p[0], 3, out);
  tv_decref(s);
  return r;
}

static int f_length(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  if (no_args(rt, at, a)) return -1;
  switch (in.kind) {
  case TV_STR: *out = tv_int(tv_utf8_len(in.u.s->s, in.u.s->len)); return 0;
  case TV_LIST: *out = tv_int((int64_t)in.u.l->n); return 0;
  case TV_DICT:
  case TV_NS: *out = tv_int((int64_t)in.u.d->n); return 0;
  case TV_UNDEF: *out = tv_int(0); return 0;
  default: return tmpl_fail(rt, at, "a %s has no length", tv_kind_name(in));
  }
}

// ensure_ascii: non-ASCII characters as \uXXXX (surrogate pairs past the BMP).
static int ascii_escape(trt *rt, const tnode *at, const tbuf *in, tbuf *out) {
  for (size_t i = 0; i < in->n;) {
    unsigned char c = (unsigned char)in->p[i];
    if (c < 0x80) {
      if (tbuf_put(rt, at, out, in->p + i++, 1)) return -1;
      continue;
    }
    int k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    uint32_t cp = c & (0x3Fu >> k);
    for (int j = 1; j <= k && i + (size_t)j < in->n; j++) cp = cp << 6 | (in->p[i + (size_t)j] & 0x3Fu);
    i += (size_t)k + 1;
    char esc[16];
    if (cp >= 0x10000) snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + (cp & 0x3FF));
    else snprintf(esc, sizeof esc, "\\u%04x", cp);
    if (tbuf_puts(rt, at, out, esc)) return -1;
  }
  return 0;
}

static int f_tojson(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("indent", "ensure_ascii", "separators", "sort_keys");
  int64_t indent = -1;
  if (opt_int(rt, at, p[0], -1, &indent)) return -1;
  if (indent > 32) return tmpl_fail(rt, at, "tojson indent too large");
  if (p[2].kind != TV_UNDEF && p[2].kind != TV_NONE) return tmpl_fail(rt, at, "tojson(separators=...) is not supported");
  if (opt_bool(p[3], false)) return tmpl_fail(rt, at, "tojson(sort_keys=true) is not supported");
  tbuf b = {0}, esc = {0};
  if (tv_tojson(rt, at, &b, in, (int)indent, 0)) return tbuf_free(&b), -1;
  if (opt_bool(p[1], false)) {
    int r = ascii_escape(rt, at, &b, &esc);
    tbuf_free(&b);
    if (r) return tbuf_free(&esc), -1;
    b = esc;
  }
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

static int f_string(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  return no_args(rt, at, a) ? -1 : tv_to_str(rt, at, in, out);
}

static int case_filter(trt *rt, const tnode *at, tval in, const targs *a, int mode, tval *out) {
  tval s;
  if (no_args(rt, at, a) || tv_to_str(rt, at, in, &s)) return -1;
  int r = tmpl_case_map(rt, at, s, mode, out);
  tv_decref(s);
  return r;
}
static int f_lower(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return case_filter(rt, at, in, a, 0, out); }
static int f_upper(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return case_filter(rt, at, in, a, 1, out); }
static int f_capitalize(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return case_filter(rt, at, in, a, 2, out); }
static int f_title(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return case_filter(rt, at, in, a, 3, out); }

static int f_join(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("d", "attribute");
  tval items;
  if ((p[0].kind != TV_UNDEF && need_str(rt, at, p[0], "join separator")) || tmpl_iter_list(rt, at, in, &items)) return -1;
  tbuf b = {0};
  int r = 0;
  for (size_t i = 0; !r && i < items.u.l->n; i++) {
    tval v = tv_incref(items.u.l->v[i]);
    if (p[1].kind == TV_STR) tv_decref(v), r = tmpl_getpath(rt, at, items.u.l->v[i], p[1].u.s->s, &v);
    if (!r && i && p[0].kind == TV_STR) r = tbuf_put(rt, at, &b, p[0].u.s->s, p[0].u.s->len);
    if (!r) r = tv_print(rt, at, &b, v);
    tv_decref(v);
  }
  tv_decref(items);
  if (r) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

static int first_last(trt *rt, const tnode *at, tval in, const targs *a, bool last, tval *out) {
  tval items;
  if (no_args(rt, at, a) || tmpl_iter_list(rt, at, in, &items)) return -1;
  size_t n = items.u.l->n;
  *out = n ? tv_incref(items.u.l->v[last ? n - 1 : 0]) : tv_undef();
  tv_decref(items);
  return 0;
}
static int f_first(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return first_last(rt, at, in, a, false, out); }
static int f_last(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return first_last(rt, at, in, a, true, out); }

static int f_default(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("default_value", "boolean");
  bool use = in.kind == TV_UNDEF || (opt_bool(p[1], false) && !tv_truthy(in));
  if (!use) *out = tv_incref(in);
  else if (p[0].kind == TV_UNDEF) *out = tv_str(rt, at, "", 0);
  else *out = tv_incref(p[0]);
  return tv_ok(rt) ? 0 : -1;
}

static int f_items(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  if (no_args(rt, at, a)) return -1;
  if (in.kind == TV_UNDEF || in.kind == TV_NONE) {
    *out = tv_list_new(rt, at, 0);
    return tv_ok(rt) ? 0 : -1;
  }
  if (in.kind != TV_DICT && in.kind != TV_NS) return tmpl_fail(rt, at, "items() of a %s: not a dict", tv_kind_name(in));
  *out = tv_list_new(rt, at, in.u.d->n);
  for (size_t i = 0; out->kind == TV_LIST && i < in.u.d->n; i++) {
    tval pair = tv_list_new(rt, at, 2);
    if (pair.kind != TV_LIST) break;
    pair.u.l->v[0] = tv_incref((tval){.kind = TV_STR, .u.s = in.u.d->k[i]});
    pair.u.l->v[1] = tv_incref(in.u.d->v[i]);
    pair.u.l->n = 2;
    if (tv_list_push(rt, at, out->u.l, pair)) break;
  }
  if (!tv_ok(rt)) return tv_decref(*out), -1;
  return 0;
}

static int f_list(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  return no_args(rt, at, a) ? -1 : tmpl_iter_list(rt, at, in, out);
}

// select/reject/selectattr/rejectattr: keep items whose value (or attribute)
// passes the named test, or is truthy when no test is named.
static int select_items(trt *rt, const tnode *at, tval in, const targs *a, bool by_attr, bool keep, tval *out) {
  int first = by_attr ? 1 : 0;
  if (a->nkw) return tmpl_fail(rt, at, "select filters take no keyword arguments");
  if (by_attr && (a->npos < 1 || need_str(rt, at, a->pos[0], "attribute"))) return a->npos < 1 ? tmpl_fail(rt, at, "missing attribute name") : -1;
  int test = -1;
  if (a->npos > first) {
    if (need_str(rt, at, a->pos[first], "test name")) return -1;
    if ((test = tmpl_test_find(a->pos[first].u.s->s)) < 0) return tmpl_fail(rt, at, "unknown test '%s'", a->pos[first].u.s->s);
  }
  targs targ = {.npos = 0};
  for (int i = first + 1; i < a->npos; i++) targ.pos[targ.npos++] = a->pos[i];
  tval items;
  if (tmpl_iter_list(rt, at, in, &items)) return -1;
  *out = tv_list_new(rt, at, 0);
  int r = out->kind == TV_LIST ? 0 : -1;
  for (size_t i = 0; !r && i < items.u.l->n; i++) {
    tval v = tv_incref(items.u.l->v[i]);
    bool pass;
    if (by_attr) tv_decref(v), r = tmpl_getpath(rt, at, items.u.l->v[i], a->pos[0].u.s->s, &v);
    if (!r) r = test >= 0 ? tmpl_test_call(rt, at, test, v, &targ, &pass) : (pass = tv_truthy(v), 0);
    tv_decref(v);
    if (!r && pass == keep) r = tv_list_push(rt, at, out->u.l, tv_incref(items.u.l->v[i]));
  }
  tv_decref(items);
  if (r) tv_decref(*out), *out = tv_undef();
  return r;
}
static int f_select(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return select_items(rt, at, in, a, false, true, out); }
static int f_reject(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return select_items(rt, at, in, a, false, false, out); }
static int f_selectattr(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return select_items(rt, at, in, a, true, true, out); }
static int f_rejectattr(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return select_items(rt, at, in, a, true, false, out); }

static int f_map(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  tval attr = tv_undef(), dflt = tv_undef();
  for (int i = 0; i < a->nkw; i++) {
    if (!strcmp(a->kwn[i], "attribute")) attr = a->kwv[i];
    else if (!strcmp(a->kwn[i], "default")) dflt = a->kwv[i];
    else return tmpl_fail(rt, at, "map: unexpected keyword argument '%s'", a->kwn[i]);
  }
  int filter = -1;
  targs fargs = {.npos = 0};
  if (attr.kind == TV_UNDEF) {
    if (a->npos < 1 || need_str(rt, at, a->pos[0], "map filter name")) return a->npos < 1 ? tmpl_fail(rt, at, "map needs a filter name or attribute=") : -1;
    if ((filter = tmpl_filter_find(a->pos[0].u.s->s)) < 0) return tmpl_fail(rt, at, "unknown filter '%s'", a->pos[0].u.s->s);
    for (int i = 1; i < a->npos; i++) fargs.pos[fargs.npos++] = a->pos[i];
  } else if (need_str(rt, at, attr, "map attribute")) {
    return -1;
  }
  tval items;
  if (tmpl_iter_list(rt, at, in, &items)) return -1;
  *out = tv_list_new(rt, at, items.u.l->n);
  int r = out->kind == TV_LIST ? 0 : -1;
  for (size_t i = 0; !r && i < items.u.l->n; i++) {
    tval v;
    if (filter >= 0) r = tmpl_filter_call(rt, at, filter, items.u.l->v[i], &fargs, &v);
    else if (!(r = tmpl_getpath(rt, at, items.u.l->v[i], attr.u.s->s, &v)) && v.kind == TV_UNDEF && dflt.kind != TV_UNDEF)
      v = tv_incref(dflt);
    if (!r) r = tv_list_push(rt, at, out->u.l, v);
  }
  tv_decref(items);
  if (r) tv_decref(*out), *out = tv_undef();
  return r;
}

static int f_replace(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("old", "new", "count");
  tval s;
  if (tv_to_str(rt, at, in, &s)) return -1;
  int r = tmpl_str_replace(rt, at, s, p[0], p[1], p[2], out);
  tv_decref(s);
  return r;
}

static int f_round(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("precision", "method");
  int64_t prec = 0;
  if (!tv_is_num(in)) return tmpl_fail(rt, at, "round needs a number, not %s", tv_kind_name(in));
  if (opt_int(rt, at, p[0], 0, &prec)) return -1;
  const char *method = p[1].kind == TV_STR ? p[1].u.s->s : "common";
  double scale = pow(10.0, (double)prec), x = tv_num(in) * scale;
  if (!strcmp(method, "common")) x = nearbyint(x);  // Python's round: halves to even
  else if (!strcmp(method, "floor")) x = floor(x);
  else if (!strcmp(method, "ceil")) x = ceil(x);
  else return tmpl_fail(rt, at, "round method must be common, floor or ceil");
  *out = tv_float(x / scale);
  return 0;
}

static int f_int(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("default", "base");
  *out = p[0].kind == TV_UNDEF ? tv_int(0) : tv_incref(p[0]);
  if (in.kind == TV_INT || in.kind == TV_BOOL) tv_decref(*out), *out = tv_int(in.kind == TV_INT ? in.u.i : in.u.b);
  else if (in.kind == TV_FLOAT && isfinite(in.u.f) && fabs(in.u.f) < 9.2e18) tv_decref(*out), *out = tv_int((int64_t)in.u.f);
  else if (in.kind == TV_STR) {
    char *end;
    long long v = strtoll(in.u.s->s, &end, p[1].kind == TV_INT ? (int)p[1].u.i : 10);
    while (*end && isspace((unsigned char)*end)) end++;
    if (end != in.u.s->s && !*end) tv_decref(*out), *out = tv_int(v);
    else {
      double d = strtod(in.u.s->s, &end);
      if (end != in.u.s->s && !*end && isfinite(d) && fabs(d) < 9.2e18) tv_decref(*out), *out = tv_int((int64_t)d);
    }
  }
  return 0;
}

static int f_float(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("default");
  *out = p[0].kind == TV_UNDEF ? tv_float(0) : tv_incref(p[0]);
  if (tv_is_num(in)) tv_decref(*out), *out = tv_float(tv_num(in));
  else if (in.kind == TV_STR) {
    char *end;
    double d = strtod(in.u.s->s, &end);
    while (*end && isspace((unsigned char)*end)) end++;
    if (end != in.u.s->s && !*end) tv_decref(*out), *out = tv_float(d);
  }
  return 0;
}

static int f_safe(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  if (no_args(rt, at, a)) return -1;
  *out = tv_incref(in);
  return 0;
}

static int f_escape(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  tval s;
  if (no_args(rt, at, a) || tv_to_str(rt, at, in, &s)) return -1;
  tbuf b = {0};
  int r = 0;
  for (size_t i = 0; !r && i < s.u.s->len; i++) {
    char c = s.u.s->s[i];
    const char *e = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&#34;" : c == '\'' ? "&#39;" : NULL;
    r = e ? tbuf_puts(rt, at, &b, e) : tbuf_put(rt, at, &b, &c, 1);
  }
  tv_decref(s);
  if (r) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

static int f_unique(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("case_sensitive", "attribute");
  sortent *v;
  size_t n, kept = 0;
  if (sortents_make(rt, at, in, p[1], opt_bool(p[0], false), &v, &n)) return -1;
  for (size_t i = 0; i < n; i++) {
    size_t k = 0;
    while (k < kept && !tv_equal(v[k].key, v[i].key, 0)) k++;
    if (k < kept) {
      tv_decref(v[i].key), tv_decref(v[i].item);
      continue;
    }
    v[kept++] = v[i];
  }
  return sortents_list(rt, at, v, kept, out);
}

static int f_sort(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("reverse", "case_sensitive", "attribute");
  sortent *v;
  size_t n;
  if (sortents_make(rt, at, in, p[2], opt_bool(p[1], false), &v, &n)) return -1;
  if (merge_sort(rt, at, v, v + n, n, opt_bool(p[0], false))) return sortents_free(v, n), -1;
  return sortents_list(rt, at, v, n, out);
}

static int min_max(trt *rt, const tnode *at, tval in, const targs *a, bool max, tval *out) {
  BIND("case_sensitive", "attribute");
  sortent *v;
  size_t n, best = 0;
  if (sortents_make(rt, at, in, p[1], opt_bool(p[0], false), &v, &n)) return -1;
  for (size_t i = 1; i < n; i++) {
    bool less;
    if (sort_less(rt, at, &v[i], &v[best], max, &less)) return sortents_free(v, n), -1;
    if (less) best = i;
  }
  *out = n ? tv_incref(v[best].item) : tv_undef();
  sortents_free(v, n);
  return 0;
}
static int f_min(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return min_max(rt, at, in, a, false, out); }
static int f_max(trt *rt, const tnode *at, tval in, const targs *a, tval *out) { return min_max(rt, at, in, a, true, out); }

static int f_dictsort(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("case_sensitive", "by", "reverse");
  tval pairs, attr;
  targs none = {.npos = 0};
  if (f_items(rt, at, in, &none, &pairs)) return -1;
  bool by_value = p[1].kind == TV_STR && !strcmp(p[1].u.s->s, "value");
  attr = tv_str(rt, at, by_value ? "1" : "0", 1);
  sortent *v = NULL;
  size_t n = 0;
  int r = tv_ok(rt) ? sortents_make(rt, at, pairs, attr, opt_bool(p[0], false), &v, &n) : -1;
  tv_decref(attr);
  tv_decref(pairs);
  if (r) return -1;
  if (merge_sort(rt, at, v, v + n, n, opt_bool(p[2], false))) return sortents_free(v, n), -1;
  return sortents_list(rt, at, v, n, out);
}

static int f_reverse(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  tval items;
  if (no_args(rt, at, a) || tmpl_iter_list(rt, at, in, &items)) return -1;
  tlist *l = items.u.l;
  for (size_t i = 0; i < l->n / 2; i++) {
    tval t = l->v[i];
    l->v[i] = l->v[l->n - 1 - i];
    l->v[l->n - 1 - i] = t;
  }
  if (in.kind != TV_STR) return *out = items, 0;
  targs none = {.npos = 0};
  int r = f_join(rt, at, items, &none, out);
  tv_decref(items);
  return r;
}

static int f_abs(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  if (no_args(rt, at, a)) return -1;
  if (in.kind == TV_INT && in.u.i != INT64_MIN) *out = tv_int(in.u.i < 0 ? -in.u.i : in.u.i);
  else if (in.kind == TV_FLOAT) *out = tv_float(fabs(in.u.f));
  else return tmpl_fail(rt, at, "abs needs a number, not %s", tv_kind_name(in));
  return 0;
}

static int f_sum(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("attribute", "start");
  tval items, acc = p[1].kind == TV_UNDEF ? tv_int(0) : tv_incref(p[1]);
  if (tmpl_iter_list(rt, at, in, &items)) return tv_decref(acc), -1;
  int r = 0;
  for (size_t i = 0; !r && i < items.u.l->n; i++) {
    tval v = tv_incref(items.u.l->v[i]), next;
    if (p[0].kind == TV_STR) tv_decref(v), r = tmpl_getpath(rt, at, items.u.l->v[i], p[0].u.s->s, &v);
    if (!r && !(r = tmpl_binop(rt, at, OP_ADD, acc, v, &next))) tv_decref(acc), acc = next;
    tv_decref(v);
  }
  tv_decref(items);
  if (r) return tv_decref(acc), -1;
  *out = acc;
  return 0;
}

// Python's "fmt" % args for %s %d %i %f %r %% (the `format` filter).
static int f_format(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  if (need_str(rt, at, in, "format string") || a->nkw) return a->nkw ? tmpl_fail(rt, at, "format takes no keyword arguments") : -1;
  tbuf b = {0};
  int next = 0, r = 0;
  for (size_t i = 0; !r && i < in.u.s->len; i++) {
    char c = in.u.s->s[i], spec = i + 1 < in.u.s->len ? in.u.s->s[i + 1] : 0;
    if (c != '%') { r = tbuf_put(rt, at, &b, &c, 1); continue; }
    i++;
    if (spec == '%') { r = tbuf_put(rt, at, &b, "%", 1); continue; }
    if (!strchr("sdifr", spec) || !spec) { r = tmpl_fail(rt, at, "format: unsupported conversion '%%%c'", spec ? spec : ' '); break; }
    if (next >= a->npos) { r = tmpl_fail(rt, at, "format: not enough arguments"); break; }
    tval v = a->pos[next++];
    char num[48];
    if ((spec == 'd' || spec == 'i') && tv_is_num(v)) snprintf(num, sizeof num, "%lld", (long long)tv_num(v)), r = tbuf_puts(rt, at, &b, num);
    else if (spec == 'f' && tv_is_num(v)) snprintf(num, sizeof num, "%f", tv_num(v)), r = tbuf_puts(rt, at, &b, num);
    else if (spec == 's' || spec == 'r') r = tv_print(rt, at, &b, v);
    else r = tmpl_fail(rt, at, "format: %%%c needs a number", spec);
  }
  if (r) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

static int f_attr(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("name");
  if (need_str(rt, at, p[0], "attribute name")) return -1;
  return tmpl_getattr(rt, at, in, p[0].u.s->s, p[0].u.s->len, out);
}

static int f_indent(trt *rt, const tnode *at, tval in, const targs *a, tval *out) {
  BIND("width", "first", "blank");
  tval s, pad = tv_undef();
  int64_t w = 4;
  if (p[0].kind == TV_STR) pad = tv_incref(p[0]);
  else if (opt_int(rt, at, p[0], 4, &w)) return -1;
  if (pad.kind == TV_UNDEF) {
    if (w < 0 || w > 1024) return tmpl_fail(rt, at, "indent width out of range");
    char spaces[1025];
    memset(spaces, ' ', (size_t)w);
    pad = tv_str(rt, at, spaces, (size_t)w);
  }
  if (!tv_ok(rt) || tv_to_str(rt, at, in, &s)) return tv_decref(pad), -1;
  bool first = opt_bool(p[1], false), blank = opt_bool(p[2], false);
  tbuf b = {0};
  const char *t = s.u.s->s, *end = t + s.u.s->len;
  int r = first ? tbuf_put(rt, at, &b, pad.u.s->s, pad.u.s->len) : 0;
  while (!r && t < end) {  // Jinja splits on lines; line 1 is indented only with first=True
    const char *nl = memchr(t, '\n', (size_t)(end - t));
    size_t n = nl ? (size_t)(nl - t) : (size_t)(end - t);
    r = tbuf_put(rt, at, &b, t, n);
    if (!r && nl) {
      r = tbuf_put(rt, at, &b, "\n", 1);
      const char *next = nl + 1;
      bool empty = next >= end || *next == '\n' || (*next == '\r' && next + 1 < end && next[1] == '\n');
      if (!r && next < end && (blank || !empty)) r = tbuf_put(rt, at, &b, pad.u.s->s, pad.u.s->len);
    }
    t += n + (nl != NULL);
  }
  tv_decref(s);
  tv_decref(pad);
  if (r) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

static const struct {
  const char *name;
  tmpl_filter_fn fn;
} filters[] = {
    {"abs", f_abs},         {"attr", f_attr},         {"capitalize", f_capitalize}, {"count", f_length},
    {"d", f_default},       {"default", f_default},   {"dictsort", f_dictsort},     {"e", f_escape},
    {"escape", f_escape},   {"first", f_first},       {"float", f_float},           {"format", f_format},
    {"indent", f_indent},   {"int", f_int},           {"items", f_items},           {"join", f_join},
    {"last", f_last},       {"length", f_length},     {"list", f_list},             {"lower", f_lower},
    {"map", f_map},         {"max", f_max},           {"min", f_min},               {"reject", f_reject},
    {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},   {"round", f_round},
    {"safe", f_safe},       {"select", f_select},     {"selectattr", f_selectattr}, {"sort", f_sort},
    {"string", f_string},   {"sum", f_sum},           {"title", f_title},           {"tojson", f_tojson},
    {"trim", f_trim},       {"unique", f_unique},     {"upper", f_upper},
};

int tmpl_filter_find(const char *name) {
  for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
    if (!strcmp(filters[i].name, name)) return (int)i;
  return -1;
}

int tmpl_filter_call(trt *rt, const tnode *at, int fn, tval in, const targs *a, tval *out) {
  *out = tv_undef();
  if (tmpl_charge(rt, at, 1)) return -1;
  return filters[fn].fn(rt, at, in, a, out);
}

// ---- tests
static int one_arg(trt *rt, const tnode *at, const targs *a, tval *arg) {
  if (a->npos + a->nkw != 1) return tmpl_fail(rt, at, "this test takes one argument");
  *arg = a->npos ? a->pos[0] : a->kwv[0];
  return 0;
}

static bool all_cased(tval v, bool upper) {
  if (v.kind != TV_STR) return false;
  bool any = false;
  for (size_t i = 0; i < v.u.s->len; i++) {
    char c = v.u.s->s[i];
    if (upper ? islower((unsigned char)c) : isupper((unsigned char)c)) return false;
    any |= isalpha((unsigned char)c) != 0;
  }
  return any;
}

enum { T_DEFINED, T_UNDEFINED, T_NONE, T_STRING, T_MAPPING, T_ITERABLE, T_SEQUENCE, T_NUMBER, T_INTEGER, T_FLOAT,
       T_BOOLEAN, T_TRUE, T_FALSE, T_CALLABLE, T_ODD, T_EVEN, T_LOWER, T_UPPER, T_EQ, T_NE, T_LT, T_GT, T_LE, T_GE,
       T_IN, T_DIVISIBLEBY, T_SAMEAS };

static const struct {
  const char *name;
  int id;
} tests[] = {
    {"defined", T_DEFINED}, {"undefined", T_UNDEFINED}, {"none", T_NONE}, {"string", T_STRING},
    {"mapping", T_MAPPING}, {"iterable", T_ITERABLE}, {"sequence", T_SEQUENCE}, {"number", T_NUMBER},
    {"integer", T_INTEGER}, {"float", T_FLOAT}, {"boolean", T_BOOLEAN}, {"true", T_TRUE}, {"false", T_FALSE},
    {"callable", T_CALLABLE}, {"odd", T_ODD}, {"even", T_EVEN}, {"lower", T_LOWER}, {"upper", T_UPPER},
    {"equalto", T_EQ}, {"eq", T_EQ}, {"ne", T_NE}, {"lt", T_LT}, {"lessthan", T_LT}, {"gt", T_GT},
    {"greaterthan", T_GT}, {"le", T_LE}, {"ge", T_GE}, {"in", T_IN}, {"divisibleby", T_DIVISIBLEBY},
    {"sameas", T_SAMEAS},
};

int tmpl_test_find(const char *name) {
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
    if (!strcmp(tests[i].name, name)) return (int)i;
  return -1;
}

static bool test_unary(int id, tval v) {
  switch (id) {
  case T_DEFINED: return v.kind != TV_UNDEF;
  case T_UNDEFINED: return v.kind == TV_UNDEF;
  case T_NONE: return v.kind == TV_NONE;
  case T_STRING: return v.kind == TV_STR;
  case T_MAPPING: return v.kind == TV_DICT;
  case T_ITERABLE:
  case T_SEQUENCE: return v.kind == TV_STR || v.kind == TV_LIST || v.kind == TV_DICT;
  case T_NUMBER: return tv_is_num(v);
  case T_INTEGER: return v.kind == TV_INT;
  case T_FLOAT: return v.kind == TV_FLOAT;
  case T_BOOLEAN: return v.kind == TV_BOOL;
  case T_TRUE: return v.kind == TV_BOOL && v.u.b;
  case T_FALSE: return v.kind == TV_BOOL && !v.u.b;
  case T_CALLABLE: return v.kind == TV_FUNC || v.kind == TV_MACRO;
  case T_ODD: return v.kind == TV_INT && (v.u.i & 1);
  case T_EVEN: return v.kind == TV_INT && !(v.u.i & 1);
  case T_LOWER: return all_cased(v, false);
  case T_UPPER: return all_cased(v, true);
  default: return false;
  }
}

int tmpl_test_call(trt *rt, const tnode *at, int fn, tval in, const targs *a, bool *out) {
  int id = tests[fn].id, c;
  tval arg, res;
  *out = false;
  if (id < T_EQ) {
    if (a->npos || a->nkw) return tmpl_fail(rt, at, "test '%s' takes no arguments", tests[fn].name);
    if ((id == T_ODD || id == T_EVEN) && in.kind != TV_INT) return tmpl_fail(rt, at, "odd/even need an integer, not %s", tv_kind_name(in));
    *out = test_unary(id, in);
    return 0;
  }
  if (one_arg(rt, at, a, &arg)) return -1;
  switch (id) {
  case T_EQ: *out = tv_equal(in, arg, 0); return 0;
  case T_NE: *out = !tv_equal(in, arg, 0); return 0;
  case T_LT:
  case T_GT:
  case T_LE:
  case T_GE:
    if (tv_compare(rt, at, in, arg, &c)) return -1;
    *out = id == T_LT ? c < 0 : id == T_GT ? c > 0 : id == T_LE ? c <= 0 : c >= 0;
    return 0;
  case T_IN:
    if (tmpl_binop(rt, at, OP_IN, in, arg, &res)) return -1;
    *out = res.u.b;
    return 0;
  case T_DIVISIBLEBY:
    if (in.kind != TV_INT || arg.kind != TV_INT || arg.u.i == 0) return tmpl_fail(rt, at, "divisibleby needs non-zero integers");
    *out = arg.u.i == -1 || in.u.i % arg.u.i == 0;
    return 0;
  default:  // sameas: identity for containers, equality of the same kind otherwise
    if (in.kind != arg.kind) return 0;
    if (in.kind == TV_LIST) *out = in.u.l == arg.u.l;
    else if (in.kind == TV_DICT || in.kind == TV_NS) *out = in.u.d == arg.u.d;
    else if (in.kind == TV_STR) *out = in.u.s == arg.u.s;
    else *out = tv_equal(in, arg, 0);
    return 0;
  }
}
