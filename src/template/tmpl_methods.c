// tmpl_methods: Python methods of strings, dicts and lists that templates
// call (message.content.split('</think>'), tool.items(), ns.list.append(x)),
// and the global functions: range, namespace, dict, raise_exception,
// strftime_now. Strings are UTF-8 and handled by code point: case mapping
// through utf8proc, whitespace as Python's str.isspace().
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "template/tmpl_internal.h"

// ---- string helpers
bool tmpl_is_space(uint32_t cp) {
  if (cp <= 0x20) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Decodes the code point at s[*i] (our strings are valid UTF-8) and advances.
static uint32_t utf8_next(const char *s, size_t n, size_t *i) {
  utf8proc_int32_t cp;
  utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i, (utf8proc_ssize_t)(n - *i), &cp);
  if (k <= 0) {  // not expected: count the byte as itself
    (*i)++;
    return (unsigned char)s[*i - 1];
  }
  *i += (size_t)k;
  return (uint32_t)cp;
}

static int put_cp(trt *rt, const tnode *at, tbuf *b, uint32_t cp) {
  utf8proc_uint8_t enc[4];
  utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)cp, enc);
  return tbuf_put(rt, at, b, (const char *)enc, (size_t)k);
}

static bool in_chars(uint32_t cp, tval chars) {
  if (chars.kind != TV_STR) return tmpl_is_space(cp);
  for (size_t i = 0; i < chars.u.s->len;)
    if (utf8_next(chars.u.s->s, chars.u.s->len, &i) == cp) return true;
  return false;
}

int tmpl_str_strip(trt *rt, const tnode *at, tval s, tval chars, int sides, tval *out) {
  if (chars.kind != TV_UNDEF && chars.kind != TV_NONE && chars.kind != TV_STR)
    return tmpl_fail(rt, at, "strip characters must be a string");
  const char *p = s.u.s->s;
  size_t lo = 0, hi = s.u.s->len;
  while ((sides & 1) && lo < hi) {
    size_t i = lo;
    if (!in_chars(utf8_next(p, hi, &i), chars)) break;
    lo = i;
  }
  while ((sides & 2) && hi > lo) {
    size_t start = hi - 1;
    while (start > lo && ((unsigned char)p[start] & 0xC0) == 0x80) start--;
    size_t i = start;
    if (!in_chars(utf8_next(p, hi, &i), chars)) break;
    hi = start;
  }
  *out = tv_str(rt, at, p + lo, hi - lo);
  return tv_ok(rt) ? 0 : -1;
}

int tmpl_str_replace(trt *rt, const tnode *at, tval s, tval old, tval rep, tval count, tval *out) {
  if (old.kind != TV_STR || rep.kind != TV_STR) return tmpl_fail(rt, at, "replace needs two strings");
  int64_t left = count.kind == TV_INT && count.u.i >= 0 ? count.u.i : INT64_MAX;
  const char *p = s.u.s->s, *end = p + s.u.s->len;
  tbuf b = {0};
  int r = 0;
  if (old.u.s->len == 0) {  // Python: the replacement goes between every character
    for (size_t i = 0; !r && i <= s.u.s->len;) {
      if (left-- > 0) r = tbuf_put(rt, at, &b, rep.u.s->s, rep.u.s->len);
      size_t j = i;
      if (i < s.u.s->len) utf8_next(p, s.u.s->len, &j);
      if (!r) r = tbuf_put(rt, at, &b, p + i, j - i);
      i = j > i ? j : i + 1;
    }
  } else {
    while (!r && p < end) {
      const char *hit = left > 0 ? memmem(p, (size_t)(end - p), old.u.s->s, old.u.s->len) : NULL;
      if (!hit) {
        r = tbuf_put(rt, at, &b, p, (size_t)(end - p));
        break;
      }
      r = tbuf_put(rt, at, &b, p, (size_t)(hit - p));
      if (!r) r = tbuf_put(rt, at, &b, rep.u.s->s, rep.u.s->len);
      p = hit + old.u.s->len;
      left--;
    }
  }
  if (r) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

static bool is_cased(uint32_t cp) {
  utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

// mode 0 lower, 1 upper, 2 capitalize, 3 title (Jinja's filter: words start
// after whitespace and -([{<), 4 title (Python's str.title: after any
// non-letter).
int tmpl_case_map(trt *rt, const tnode *at, tval s, int mode, tval *out) {
  tbuf b = {0};
  bool word_start = true, first = true;
  int r = 0;
  for (size_t i = 0; !r && i < s.u.s->len;) {
    uint32_t cp = utf8_next(s.u.s->s, s.u.s->len, &i);
    bool up = mode == 1 || (mode == 2 && first) || (mode >= 3 && word_start);
    uint32_t m = (uint32_t)(up ? utf8proc_toupper((utf8proc_int32_t)cp) : utf8proc_tolower((utf8proc_int32_t)cp));
    if (mode == 3) word_start = tmpl_is_space(cp) || (cp < 0x80 && strchr("-([{<", (int)cp));
    if (mode == 4) word_start = !is_cased(cp);
    first = false;
    r = put_cp(rt, at, &b, m);
  }
  if (r) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

// ---- string methods
#define BIND(...)                                                  \
  static const char *const params[] = {__VA_ARGS__, NULL};         \
  tval p[sizeof params / sizeof params[0]];                        \
  if (targs_bind(rt, at, a, params, p)) return -1

static int no_args(trt *rt, const tnode *at, const targs *a) {
  if (a->npos || a->nkw) return tmpl_fail(rt, at, "this method takes no arguments");
  return 0;
}

static int m_strip(trt *rt, const tnode *at, tval s, const targs *a, tval *out, int sides) {
  BIND("chars");
  return tmpl_str_strip(rt, at, s, p[0], sides, out);
}
static int m_strip3(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_strip(rt, at, s, a, out, 3); }
static int m_lstrip(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_strip(rt, at, s, a, out, 1); }
static int m_rstrip(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_strip(rt, at, s, a, out, 2); }

static int m_case(trt *rt, const tnode *at, tval s, const targs *a, tval *out, int mode) {
  return no_args(rt, at, a) ? -1 : tmpl_case_map(rt, at, s, mode, out);
}
static int m_lower(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_case(rt, at, s, a, out, 0); }
static int m_upper(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_case(rt, at, s, a, out, 1); }
static int m_capitalize(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_case(rt, at, s, a, out, 2); }
static int m_title(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_case(rt, at, s, a, out, 4); }

static int push_piece(trt *rt, const tnode *at, tlist *l, const char *p, size_t n) {
  tval v = tv_str(rt, at, p, n);
  return tv_ok(rt) ? tv_list_push(rt, at, l, v) : -1;
}

// Python str.split: no separator splits on whitespace runs, dropping empties.
static int m_split(trt *rt, const tnode *at, tval s, const targs *a, tval *out) {
  BIND("sep", "maxsplit");
  int64_t max = p[1].kind == TV_INT ? p[1].u.i : -1;
  if (p[0].kind == TV_STR && p[0].u.s->len == 0) return tmpl_fail(rt, at, "split: empty separator");
  *out = tv_list_new(rt, at, 0);
  if (out->kind != TV_LIST) return -1;
  const char *str = s.u.s->s;
  size_t n = s.u.s->len, i = 0;
  int r = 0;
  if (p[0].kind == TV_STR) {
    const tstr *sep = p[0].u.s;
    for (;;) {
      const char *hit = max != 0 ? memmem(str + i, n - i, sep->s, sep->len) : NULL;
      if (!hit) break;
      if ((r = push_piece(rt, at, out->u.l, str + i, (size_t)(hit - str) - i))) break;
      i = (size_t)(hit - str) + sep->len;
      max--;
    }
    if (!r) r = push_piece(rt, at, out->u.l, str + i, n - i);
  } else {
    while (!r) {
      size_t j = i, start;
      while (i < n && tmpl_is_space(utf8_next(str, n, &j))) i = j;
      if (i >= n) break;
      start = i;
      if (max == 0) {  // the rest, trailing whitespace removed
        size_t e = n;
        while (e > start && tmpl_is_space((unsigned char)str[e - 1])) e--;
        r = push_piece(rt, at, out->u.l, str + start, e - start);
        break;
      }
      j = i;
      while (i < n && !tmpl_is_space(utf8_next(str, n, &j))) i = j;
      r = push_piece(rt, at, out->u.l, str + start, i - start);
      max--;
    }
  }
  if (r) tv_decref(*out), *out = tv_undef();
  return r;
}

static bool affix_match(tval s, tval x, bool end) {
  if (x.kind != TV_STR || x.u.s->len > s.u.s->len) return false;
  const char *p = s.u.s->s + (end ? s.u.s->len - x.u.s->len : 0);
  return memcmp(p, x.u.s->s, x.u.s->len) == 0;
}

static int m_affix(trt *rt, const tnode *at, tval s, const targs *a, tval *out, bool end) {
  BIND("prefix");
  bool hit = false;
  if (p[0].kind == TV_LIST)
    for (size_t i = 0; i < p[0].u.l->n && !hit; i++) hit = affix_match(s, p[0].u.l->v[i], end);
  else if (p[0].kind == TV_STR) hit = affix_match(s, p[0], end);
  else return tmpl_fail(rt, at, "%s needs a string or a tuple of strings", end ? "endswith" : "startswith");
  *out = tv_bool(hit);
  return 0;
}
static int m_startswith(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_affix(rt, at, s, a, out, false); }
static int m_endswith(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_affix(rt, at, s, a, out, true); }

static int m_replace(trt *rt, const tnode *at, tval s, const targs *a, tval *out) {
  BIND("old", "new", "count");
  return tmpl_str_replace(rt, at, s, p[0], p[1], p[2], out);
}

static int m_find_count(trt *rt, const tnode *at, tval s, const targs *a, tval *out, bool count) {
  BIND("sub");
  if (p[0].kind != TV_STR) return tmpl_fail(rt, at, "%s needs a string", count ? "count" : "find");
  const tstr *sub = p[0].u.s;
  int64_t k = 0;
  for (size_t i = 0; i <= s.u.s->len;) {
    const char *hit = memmem(s.u.s->s + i, s.u.s->len - i, sub->s, sub->len);
    if (!hit) break;
    if (!count) return *out = tv_int(tv_utf8_len(s.u.s->s, (size_t)(hit - s.u.s->s))), 0;
    k++;
    i = (size_t)(hit - s.u.s->s) + (sub->len ? sub->len : 1);
  }
  *out = tv_int(count ? k : -1);
  return 0;
}
static int m_find(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_find_count(rt, at, s, a, out, false); }
static int m_count_str(trt *rt, const tnode *at, tval s, const targs *a, tval *out) { return m_find_count(rt, at, s, a, out, true); }

static int m_join(trt *rt, const tnode *at, tval s, const targs *a, tval *out) {
  BIND("iterable");
  tval items;
  if (tmpl_iter_list(rt, at, p[0], &items)) return -1;
  tbuf b = {0};
  int r = 0;
  for (size_t i = 0; !r && i < items.u.l->n; i++) {
    if (i) r = tbuf_put(rt, at, &b, s.u.s->s, s.u.s->len);
    if (!r) r = tv_print(rt, at, &b, items.u.l->v[i]);
  }
  tv_decref(items);
  if (r) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

// str.format with {} / {0} / {name} fields; no format specs.
static int format_field(trt *rt, const tnode *at, const targs *a, const char *f, size_t n, int *auto_idx, tbuf *b) {
  if (memchr(f, ':', n) || memchr(f, '!', n)) return tmpl_fail(rt, at, "format specs are not supported");
  if (n == 0 || (f[0] >= '0' && f[0] <= '9')) {
    int idx = n ? atoi(f) : (*auto_idx)++;
    if (idx >= a->npos) return tmpl_fail(rt, at, "format: no argument %d", idx);
    return tv_print(rt, at, b, a->pos[idx]);
  }
  for (int i = 0; i < a->nkw; i++)
    if (strlen(a->kwn[i]) == n && !memcmp(a->kwn[i], f, n)) return tv_print(rt, at, b, a->kwv[i]);
  return tmpl_fail(rt, at, "format: no argument '%.*s'", (int)n, f);
}

static int m_format(trt *rt, const tnode *at, tval s, const targs *a, tval *out) {
  const char *p = s.u.s->s, *end = p + s.u.s->len;
  tbuf b = {0};
  int auto_idx = 0, r = 0;
  while (!r && p < end) {
    if ((*p == '{' || *p == '}') && p + 1 < end && p[1] == *p) {
      r = tbuf_put(rt, at, &b, p, 1);
      p += 2;
    } else if (*p == '{') {
      const char *close = memchr(p, '}', (size_t)(end - p));
      if (!close) r = tmpl_fail(rt, at, "format: unmatched '{'");
      else r = format_field(rt, at, a, p + 1, (size_t)(close - p - 1), &auto_idx, &b), p = close + 1;
    } else {
      r = tbuf_put(rt, at, &b, p++, 1);
    }
  }
  if (r) return tbuf_free(&b), -1;
  *out = tv_str_take_buf(rt, at, &b);
  return tv_ok(rt) ? 0 : -1;
}

static int m_isdigit(trt *rt, const tnode *at, tval s, const targs *a, tval *out) {
  if (no_args(rt, at, a)) return -1;
  bool all = s.u.s->len > 0;
  for (size_t i = 0; i < s.u.s->len; i++) all &= s.u.s->s[i] >= '0' && s.u.s->s[i] <= '9';
  *out = tv_bool(all);
  return 0;
}

// ---- dict methods
static int m_items(trt *rt, const tnode *at, tval d, const targs *a, tval *out) {
  return tmpl_filter_call(rt, at, tmpl_filter_find("items"), d, a, out);
}

static int dict_column(trt *rt, const tnode *at, tval d, const targs *a, tval *out, bool keys) {
  if (no_args(rt, at, a)) return -1;
  *out = tv_list_new(rt, at, d.u.d->n);
  for (size_t i = 0; out->kind == TV_LIST && i < d.u.d->n; i++)
    out->u.l->v[out->u.l->n++] = keys ? tv_incref((tval){.kind = TV_STR, .u.s = d.u.d->k[i]}) : tv_incref(d.u.d->v[i]);
  return tv_ok(rt) ? 0 : -1;
}
static int m_keys(trt *rt, const tnode *at, tval d, const targs *a, tval *out) { return dict_column(rt, at, d, a, out, true); }
static int m_values(trt *rt, const tnode *at, tval d, const targs *a, tval *out) { return dict_column(rt, at, d, a, out, false); }

static int m_get(trt *rt, const tnode *at, tval d, const targs *a, tval *out) {
  BIND("key", "default");
  tval *v = p[0].kind == TV_STR ? tv_dict_get(d.u.d, p[0].u.s->s, p[0].u.s->len) : NULL;
  *out = tv_incref(v ? *v : p[1].kind == TV_UNDEF ? tv_none() : p[1]);
  return 0;
}

static int m_update(trt *rt, const tnode *at, tval d, const targs *a, tval *out) {
  if (a->npos > 1) return tmpl_fail(rt, at, "update takes at most one dict");
  if (a->npos && a->pos[0].kind != TV_DICT) return tmpl_fail(rt, at, "update needs a dict");
  for (size_t i = 0; a->npos && i < a->pos[0].u.d->n; i++)
    if (tv_dict_set(rt, at, d.u.d, a->pos[0].u.d->k[i], tv_incref(a->pos[0].u.d->v[i]))) return -1;
  for (int i = 0; i < a->nkw; i++)
    if (tv_dict_setc(rt, at, d.u.d, a->kwn[i], tv_incref(a->kwv[i]))) return -1;
  *out = tv_none();
  return 0;
}

// ---- list methods
static int m_append(trt *rt, const tnode *at, tval l, const targs *a, tval *out) {
  BIND("item");
  *out = tv_none();
  return tv_list_push(rt, at, l.u.l, tv_incref(p[0]));
}

static int m_extend(trt *rt, const tnode *at, tval l, const targs *a, tval *out) {
  BIND("iterable");
  tval items;
  *out = tv_none();
  if (tmpl_iter_list(rt, at, p[0], &items)) return -1;
  int r = 0;
  for (size_t i = 0; !r && i < items.u.l->n; i++) r = tv_list_push(rt, at, l.u.l, tv_incref(items.u.l->v[i]));
  tv_decref(items);
  return r;
}

static int m_pop(trt *rt, const tnode *at, tval l, const targs *a, tval *out) {
  BIND("index");
  tlist *x = l.u.l;
  int64_t i = p[0].kind == TV_INT ? p[0].u.i : -1;
  if (i < 0) i += (int64_t)x->n;
  if (i < 0 || i >= (int64_t)x->n) return tmpl_fail(rt, at, "pop index out of range");
  *out = x->v[i];
  memmove(x->v + i, x->v + i + 1, (x->n - (size_t)i - 1) * sizeof *x->v);
  x->n--;
  return 0;
}

static int m_insert(trt *rt, const tnode *at, tval l, const targs *a, tval *out) {
  BIND("index", "item");
  tlist *x = l.u.l;
  if (p[0].kind != TV_INT) return tmpl_fail(rt, at, "insert index must be an integer");
  if (tv_list_push(rt, at, x, tv_incref(p[1]))) return -1;
  int64_t n = (int64_t)x->n - 1, i = p[0].u.i < 0 ? p[0].u.i + n : p[0].u.i;
  i = i < 0 ? 0 : i > n ? n : i;
  tval v = x->v[n];
  memmove(x->v + i + 1, x->v + i, (size_t)(n - i) * sizeof *x->v);
  x->v[i] = v;
  *out = tv_none();
  return 0;
}

static int m_index_count(trt *rt, const tnode *at, tval l, const targs *a, tval *out, bool count) {
  BIND("value");
  int64_t k = 0;
  for (size_t i = 0; i < l.u.l->n; i++)
    if (tv_equal(l.u.l->v[i], p[0], 0)) {
      if (!count) return *out = tv_int((int64_t)i), 0;
      k++;
    }
  if (!count) return tmpl_fail(rt, at, "index: value not in list");
  *out = tv_int(k);
  return 0;
}
static int m_index(trt *rt, const tnode *at, tval l, const targs *a, tval *out) { return m_index_count(rt, at, l, a, out, false); }
static int m_count_list(trt *rt, const tnode *at, tval l, const targs *a, tval *out) { return m_index_count(rt, at, l, a, out, true); }

enum { ON_STR = 1, ON_DICT = 2, ON_LIST = 4 };

static const struct {
  const char *name;
  int on;
  tmpl_method_fn fn;
} methods[] = {
    {"strip", ON_STR, m_strip3},     {"lstrip", ON_STR, m_lstrip},       {"rstrip", ON_STR, m_rstrip},
    {"lower", ON_STR, m_lower},      {"upper", ON_STR, m_upper},         {"capitalize", ON_STR, m_capitalize},
    {"title", ON_STR, m_title},      {"split", ON_STR, m_split},         {"startswith", ON_STR, m_startswith},
    {"endswith", ON_STR, m_endswith}, {"replace", ON_STR, m_replace},    {"find", ON_STR, m_find},
    {"count", ON_STR, m_count_str},  {"join", ON_STR, m_join},           {"format", ON_STR, m_format},
    {"isdigit", ON_STR, m_isdigit},  {"items", ON_DICT, m_items},        {"keys", ON_DICT, m_keys},
    {"values", ON_DICT, m_values},   {"get", ON_DICT, m_get},            {"update", ON_DICT, m_update},
    {"append", ON_LIST, m_append},   {"extend", ON_LIST, m_extend},      {"pop", ON_LIST, m_pop},
    {"insert", ON_LIST, m_insert},   {"index", ON_LIST, m_index},        {"count", ON_LIST, m_count_list},
};

int tmpl_method_known(const char *name) {
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (!strcmp(methods[i].name, name)) return (int)i;
  return -1;
}

int tmpl_method_call(trt *rt, const tnode *at, const char *name, tval self, const targs *a, tval *out) {
  *out = tv_undef();
  int on = self.kind == TV_STR ? ON_STR : self.kind == TV_DICT || self.kind == TV_NS ? ON_DICT
         : self.kind == TV_LIST ? ON_LIST : 0;
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if ((methods[i].on & on) && !strcmp(methods[i].name, name)) {
      if (tmpl_charge(rt, at, 1)) return -1;
      return methods[i].fn(rt, at, self, a, out);
    }
  if (self.kind == TV_UNDEF) return tmpl_fail(rt, at, "cannot call %s() on an undefined value", name);
  return tmpl_fail(rt, at, "a %s has no method %s()", tv_kind_name(self), name);
}

// ---- globals
static int g_range(trt *rt, const tnode *at, const targs *a, tval *out) {
  int64_t v[3] = {0, 0, 1};
  if (a->nkw || a->npos < 1 || a->npos > 3) return tmpl_fail(rt, at, "range takes 1 to 3 integers");
  for (int i = 0; i < a->npos; i++)
    if (a->pos[i].kind != TV_INT) return tmpl_fail(rt, at, "range arguments must be integers");
  if (a->npos == 1) v[1] = a->pos[0].u.i;
  else for (int i = 0; i < a->npos; i++) v[i] = a->pos[i].u.i;
  if (v[2] == 0) return tmpl_fail(rt, at, "range step cannot be zero");
  double count = v[2] > 0 ? ((double)v[1] - (double)v[0]) / (double)v[2] : ((double)v[0] - (double)v[1]) / -(double)v[2];
  if (count > 1000000) return tmpl_fail(rt, at, "range of more than 1000000 numbers");
  *out = tv_list_new(rt, at, count > 0 ? (size_t)count + 1 : 0);
  for (int64_t x = v[0]; out->kind == TV_LIST && (v[2] > 0 ? x < v[1] : x > v[1]); x += v[2])
    if (tv_list_push(rt, at, out->u.l, tv_int(x))) return tv_decref(*out), -1;
  return tv_ok(rt) ? 0 : -1;
}

// namespace(a=1) / namespace({'a': 1}) / dict(a=1): a fresh mutable object.
static int make_dict(trt *rt, const tnode *at, const targs *a, tval *out, bool ns) {
  if (a->npos > 1 || (a->npos == 1 && a->pos[0].kind != TV_DICT && a->pos[0].kind != TV_NS))
    return tmpl_fail(rt, at, "%s takes keyword arguments or one dict", ns ? "namespace" : "dict");
  *out = tv_dict_new(rt, at, ns);
  if (!tv_ok(rt)) return -1;
  for (size_t i = 0; a->npos && i < a->pos[0].u.d->n; i++)
    if (tv_dict_set(rt, at, out->u.d, a->pos[0].u.d->k[i], tv_incref(a->pos[0].u.d->v[i]))) return tv_decref(*out), -1;
  for (int i = 0; i < a->nkw; i++)
    if (tv_dict_setc(rt, at, out->u.d, a->kwn[i], tv_incref(a->kwv[i]))) return tv_decref(*out), -1;
  return 0;
}
static int g_namespace(trt *rt, const tnode *at, const targs *a, tval *out) { return make_dict(rt, at, a, out, true); }
static int g_dict(trt *rt, const tnode *at, const targs *a, tval *out) { return make_dict(rt, at, a, out, false); }

static int g_raise_exception(trt *rt, const tnode *at, const targs *a, tval *out) {
  *out = tv_undef();
  tval msg = a->npos ? a->pos[0] : tv_undef();
  tbuf b = {0};
  if (tv_print(rt, at, &b, msg)) return tbuf_free(&b), -1;
  int r = tmpl_fail(rt, at, "raise_exception: %s", b.p ? b.p : "");
  tbuf_free(&b);
  return r;
}

static int g_strftime_now(trt *rt, const tnode *at, const targs *a, tval *out) {
  if (a->npos != 1 || a->pos[0].kind != TV_STR) return tmpl_fail(rt, at, "strftime_now takes one format string");
  time_t now = time(NULL);
  struct tm tm;
  char buf[256];
  localtime_r(&now, &tm);
  size_t n = strftime(buf, sizeof buf, a->pos[0].u.s->s, &tm);
  *out = tv_str(rt, at, buf, n);
  return tv_ok(rt) ? 0 : -1;
}

static const struct {
  const char *name;
  tmpl_global_fn fn;
} globals[] = {
    {"range", g_range},   {"namespace", g_namespace}, {"dict", g_dict}, {"raise_exception", g_raise_exception},
    {"strftime_now", g_strftime_now},
};

int tmpl_global_find(const char *name) {
  for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
    if (!strcmp(globals[i].name, name)) return (int)i;
  return -1;
}

int tmpl_global_call(trt *rt, const tnode *at, int fn, const targs *a, tval *out) {
  *out = tv_undef();
  if (tmpl_charge(rt, at, 1)) return -1;
  return globals[fn].fn(rt, at, a, out);
}
