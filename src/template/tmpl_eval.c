// tmpl_eval: rendering a parsed template. Statements write into rt->out;
// expressions produce tvals the caller owns (one reference each).
//
// Scopes follow Jinja: the context and top-level {% set %} share the root
// scope; each {% for %} opens one scope for all its iterations (a set inside
// a loop is seen by later iterations but not after the loop: namespace()
// is how templates carry values out); a macro call opens a scope under the
// root. Errors unwind by returning -1; the first one (with line:column) is
// kept in err_get(). Every node evaluated and every 32 bytes built count as
// work, capped at TMPL_MAX_WORK, so no template runs for long.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "template/tmpl_internal.h"

static int eval(trt *rt, const tnode *n, tval *out);
static int exec_body(trt *rt, tnode *const *body, uint32_t n);

int tmpl_fail(trt *rt, const tnode *at, const char *fmt, ...) {
  if (rt->failed) return -1;
  rt->failed = true;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!at) {
    err_set("chat template: %s", msg);
    return -1;
  }
  int line, col;
  tmpl_linecol(rt->t->src, rt->t->len, at->off, &line, &col);
  err_set("chat template: %d:%d: %s", line, col, msg);
  return -1;
}

int tmpl_charge(trt *rt, const tnode *at, uint64_t units) {
  if (rt->failed) return -1;
  rt->work += units;
  if (rt->work <= TMPL_MAX_WORK) return 0;
  return tmpl_fail(rt, at, "rendering takes more than %d steps (a huge loop or string?)", TMPL_MAX_WORK);
}

// ---- scopes
static tval *scope_find(const trt *rt, const char *name) {
  size_t n = strlen(name);
  for (const tscope *s = rt->scope; s; s = s->parent) {
    tval *v = tv_dict_get(s->vars, name, n);
    if (v) return v;
  }
  return NULL;
}

static int scope_set(trt *rt, const tnode *at, const char *name, tval v) {
  return tv_dict_setc(rt, at, rt->scope->vars, name, v);
}

static int scope_push(trt *rt, const tnode *at, tscope *s, tscope *parent) {
  tval d = tv_dict_new(rt, at, false);
  if (d.kind != TV_DICT) return -1;
  s->vars = d.u.d;
  s->parent = parent;
  return 0;
}

static void scope_pop(trt *rt, tscope *s, tscope *restore) {
  tv_decref((tval){.kind = TV_DICT, .u.d = s->vars});
  rt->scope = restore;
}

// ---- helpers shared with filters and methods
int tmpl_iter_list(trt *rt, const tnode *at, tval v, tval *out) {
  size_t n = v.kind == TV_LIST ? v.u.l->n : (v.kind == TV_DICT || v.kind == TV_NS) ? v.u.d->n : 0;
  if (v.kind == TV_STR) n = (size_t)tv_utf8_len(v.u.s->s, v.u.s->len);
  if (v.kind != TV_LIST && v.kind != TV_DICT && v.kind != TV_NS && v.kind != TV_STR && v.kind != TV_UNDEF &&
      v.kind != TV_NONE)
    return tmpl_fail(rt, at, "cannot iterate over a %s", tv_kind_name(v));
  *out = tv_list_new(rt, at, n);
  if (out->kind != TV_LIST) return -1;
  tlist *l = out->u.l;
  if (v.kind == TV_LIST)
    for (size_t i = 0; i < n; i++) l->v[l->n++] = tv_incref(v.u.l->v[i]);
  else if (v.kind == TV_DICT || v.kind == TV_NS)
    for (size_t i = 0; i < n; i++) l->v[l->n++] = tv_incref((tval){.kind = TV_STR, .u.s = v.u.d->k[i]});
  else if (v.kind == TV_STR)
    for (size_t i = 0; i < v.u.s->len;) {  // one string per character
      size_t k = 1;
      while (i + k < v.u.s->len && ((unsigned char)v.u.s->s[i + k] & 0xC0) == 0x80) k++;
      tval c = tv_str(rt, at, v.u.s->s + i, k);
      if (!tv_ok(rt)) return tv_decref(*out), -1;
      l->v[l->n++] = c;
      i += k;
    }
  return 0;
}

int tmpl_getattr(trt *rt, const tnode *at, tval obj, const char *name, size_t n, tval *out) {
  (void)rt, (void)at;
  *out = tv_undef();
  if (obj.kind == TV_DICT || obj.kind == TV_NS) {
    tval *v = tv_dict_get(obj.u.d, name, n);
    if (v) *out = tv_incref(*v);
  }
  return 0;
}

// ---- expressions
static int eval_args(trt *rt, const tnode *n, targs *a) {
  a->npos = a->nkw = 0;
  for (uint32_t i = 0; i < n->nv; i++) {
    if (eval(rt, n->v[i], &a->pos[i])) return targs_free(a), -1;
    a->npos++;
  }
  for (uint32_t i = 0; i < n->nw; i++) {
    if (eval(rt, n->w[i], &a->kwv[i])) return targs_free(a), -1;
    a->kwn[i] = n->names[i];
    a->nkw++;
  }
  return 0;
}

static int eval_name(trt *rt, const tnode *n, tval *out) {
  tval *v = scope_find(rt, n->name);
  if (v) {
    *out = tv_incref(*v);
    return 0;
  }
  int fn = tmpl_global_find(n->name);
  *out = fn >= 0 ? (tval){.kind = TV_FUNC, .u.fn = fn} : tv_undef();
  return 0;
}

static int eval_list(trt *rt, const tnode *n, tval *out) {
  *out = tv_list_new(rt, n, n->nv);
  if (out->kind != TV_LIST) return -1;
  for (uint32_t i = 0; i < n->nv; i++) {
    tval v;
    if (eval(rt, n->v[i], &v) || tv_list_push(rt, n, out->u.l, v)) return tv_decref(*out), -1;
  }
  return 0;
}

static int eval_dict(trt *rt, const tnode *n, tval *out) {
  *out = tv_dict_new(rt, n, false);
  if (out->kind != TV_DICT) return -1;
  for (uint32_t i = 0; i < n->nv; i++) {
    tval k, v;
    if (eval(rt, n->v[i], &k)) goto fail;
    if (k.kind != TV_STR) {
      tmpl_fail(rt, n->v[i], "dict keys must be strings, not %s", tv_kind_name(k));
      tv_decref(k);
      goto fail;
    }
    int r = eval(rt, n->w[i], &v) ? -1 : tv_dict_set(rt, n, out->u.d, k.u.s, v);
    tv_decref(k);
    if (r) goto fail;
  }
  return 0;
fail:
  tv_decref(*out);
  return -1;
}

// Byte offset of code point i in s (i within [0, len in code points]).
static size_t utf8_offset(const tstr *s, int64_t i) {
  size_t o = 0;
  for (; o < s->len && i > 0; i--) {
    o++;
    while (o < s->len && ((unsigned char)s->s[o] & 0xC0) == 0x80) o++;
  }
  return o;
}

static int index_value(trt *rt, const tnode *at, tval obj, tval key, tval *out) {
  *out = tv_undef();
  if (obj.kind == TV_DICT || obj.kind == TV_NS) {
    if (key.kind != TV_STR) return 0;
    return tmpl_getattr(rt, at, obj, key.u.s->s, key.u.s->len, out);
  }
  if (obj.kind == TV_UNDEF || obj.kind == TV_NONE) return 0;
  if (obj.kind != TV_LIST && obj.kind != TV_STR) return tmpl_fail(rt, at, "cannot index a %s", tv_kind_name(obj));
  if (key.kind != TV_INT) return tmpl_fail(rt, at, "%s indices must be integers, not %s", tv_kind_name(obj), tv_kind_name(key));
  int64_t n = obj.kind == TV_LIST ? (int64_t)obj.u.l->n : tv_utf8_len(obj.u.s->s, obj.u.s->len);
  int64_t i = key.u.i < 0 ? key.u.i + n : key.u.i;
  if (i < 0 || i >= n) return 0;  // out of range: undefined, as Jinja
  if (obj.kind == TV_LIST) {
    *out = tv_incref(obj.u.l->v[i]);
    return 0;
  }
  size_t a = utf8_offset(obj.u.s, i), b = utf8_offset(obj.u.s, i + 1);
  *out = tv_str(rt, at, obj.u.s->s + a, b - a);
  return tv_ok(rt) ? 0 : -1;
}

static int slice_bound(trt *rt, const tnode *at, tval v, int64_t n, int64_t step, bool lo, int64_t *out) {
  if (v.kind == TV_UNDEF || v.kind == TV_NONE) {
    *out = step > 0 ? (lo ? 0 : n) : (lo ? n - 1 : -1);
    return 0;
  }
  if (v.kind != TV_INT) return tmpl_fail(rt, at, "slice bounds must be integers, not %s", tv_kind_name(v));
  int64_t x = v.u.i < 0 ? v.u.i + n : v.u.i;
  if (step > 0) *out = x < 0 ? 0 : x > n ? n : x;
  else *out = x < 0 ? -1 : x >= n ? n - 1 : x;
  return 0;
}

// Python slicing: obj[start:stop:step] with negative indices and steps.
static int slice_value(trt *rt, const tnode *n, tval obj, tval *bounds, tval *out) {
  if (obj.kind == TV_UNDEF || obj.kind == TV_NONE) return *out = tv_undef(), 0;
  if (obj.kind != TV_LIST && obj.kind != TV_STR) return tmpl_fail(rt, n, "cannot slice a %s", tv_kind_name(obj));
  int64_t step = 1, lo, hi, len = obj.kind == TV_LIST ? (int64_t)obj.u.l->n : tv_utf8_len(obj.u.s->s, obj.u.s->len);
  if (bounds[2].kind == TV_INT) step = bounds[2].u.i;
  else if (bounds[2].kind != TV_UNDEF && bounds[2].kind != TV_NONE) return tmpl_fail(rt, n, "slice step must be an integer");
  if (step == 0) return tmpl_fail(rt, n, "slice step cannot be zero");
  if (slice_bound(rt, n, bounds[0], len, step, true, &lo) || slice_bound(rt, n, bounds[1], len, step, false, &hi)) return -1;
  if (obj.kind == TV_LIST) {
    *out = tv_list_new(rt, n, 0);
    for (int64_t i = lo; out->kind == TV_LIST && (step > 0 ? i < hi : i > hi); i += step)
      if (tv_list_push(rt, n, out->u.l, tv_incref(obj.u.l->v[i]))) return tv_decref(*out), -1;
    return tv_ok(rt) ? 0 : -1;
  }
  tbuf b = {0};
  for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) {
    size_t a = utf8_offset(obj.u.s, i), e = utf8_offset(obj.u.s, i + 1);
    if (tbuf_put(rt, n, &b, obj.u.s->s + a, e - a) || tmpl_charge(rt, n, 1)) return tbuf_free(&b), -1;
  }
  *out = tv_str_take_buf(rt, n, &b);
  return tv_ok(rt) ? 0 : -1;
}

static int eval_slice(trt *rt, const tnode *n, tval *out) {
  tval obj, b[3] = {tv_undef(), tv_undef(), tv_undef()};
  const tnode *parts[3] = {n->b, n->c, n->d};
  if (eval(rt, n->a, &obj)) return -1;
  int r = 0;
  for (int i = 0; i < 3 && !r; i++)
    if (parts[i]) r = eval(rt, parts[i], &b[i]);
  if (!r) r = slice_value(rt, n, obj, b, out);
  for (int i = 0; i < 3; i++) tv_decref(b[i]);
  tv_decref(obj);
  return r;
}

static int eval_index(trt *rt, const tnode *n, tval *out) {
  tval obj, key;
  if (eval(rt, n->a, &obj)) return -1;
  if (eval(rt, n->b, &key)) return tv_decref(obj), -1;
  int r = index_value(rt, n, obj, key, out);
  tv_decref(obj);
  tv_decref(key);
  return r;
}

static int eval_attr(trt *rt, const tnode *n, tval *out) {
  tval obj;
  if (eval(rt, n->a, &obj)) return -1;
  int r = tmpl_getattr(rt, n, obj, n->name, strlen(n->name), out);
  tv_decref(obj);
  return r;
}

static int eval_call(trt *rt, const tnode *n, tval *out) {
  tval callee = tv_undef();
  if (n->fn >= 0) callee = (tval){.kind = TV_FUNC, .u.fn = n->fn};
  else if (eval(rt, n->a, &callee)) return -1;
  if (callee.kind != TV_FUNC && callee.kind != TV_MACRO) {
    const char *name = n->a->kind == N_NAME ? n->a->name : "value";
    int r = tmpl_fail(rt, n, "'%s' is %s, not a function", name,
                      callee.kind == TV_UNDEF ? "undefined" : tv_kind_name(callee));
    tv_decref(callee);
    return r;
  }
  targs a;
  if (eval_args(rt, n, &a)) return -1;
  int r = callee.kind == TV_FUNC ? tmpl_global_call(rt, n, callee.u.fn, &a, out)
                                 : tmpl_call_macro(rt, n, callee.u.m, &a, out);
  targs_free(&a);
  return r;
}

static int eval_method(trt *rt, const tnode *n, tval *out) {
  tval self;
  targs a;
  if (eval(rt, n->a, &self)) return -1;
  if (eval_args(rt, n, &a)) return tv_decref(self), -1;
  int r = tmpl_method_call(rt, n, n->name, self, &a, out);
  targs_free(&a);
  tv_decref(self);
  return r;
}

static int apply_filter(trt *rt, const tnode *f, tval in, tval *out) {
  targs a;
  if (eval_args(rt, f, &a)) return -1;
  int r = tmpl_filter_call(rt, f, f->fn, in, &a, out);
  targs_free(&a);
  return r;
}

static int eval_filter(trt *rt, const tnode *n, tval *out) {
  tval in;
  if (eval(rt, n->a, &in)) return -1;
  int r = apply_filter(rt, n, in, out);
  tv_decref(in);
  return r;
}

static int eval_test(trt *rt, const tnode *n, tval *out) {
  tval in;
  targs a;
  bool res = false;
  if (eval(rt, n->a, &in)) return -1;
  if (eval_args(rt, n, &a)) return tv_decref(in), -1;
  int r = tmpl_test_call(rt, n, n->fn, in, &a, &res);
  targs_free(&a);
  tv_decref(in);
  *out = tv_bool(n->neg ? !res : res);
  return r;
}

static int eval_logic(trt *rt, const tnode *n, tval *out) {
  if (eval(rt, n->a, out)) return -1;
  bool t = tv_truthy(*out);
  if (n->kind == N_AND ? !t : t) return 0;  // Python: the deciding operand itself
  tv_decref(*out);
  return eval(rt, n->b, out);
}

static int eval_cond(trt *rt, const tnode *n, tval *out) {
  tval c;
  if (eval(rt, n->b, &c)) return -1;
  bool t = tv_truthy(c);
  tv_decref(c);
  if (t) return eval(rt, n->a, out);
  if (n->c) return eval(rt, n->c, out);
  *out = tv_undef();
  return 0;
}

static int eval_unary(trt *rt, const tnode *n, tval *out) {
  tval x;
  if (eval(rt, n->a, &x)) return -1;
  if (n->kind == N_NOT) {
    *out = tv_bool(!tv_truthy(x));
    tv_decref(x);
    return 0;
  }
  if (x.kind == TV_INT && !(n->kind == N_NEG && x.u.i == INT64_MIN)) *out = tv_int(n->kind == N_NEG ? -x.u.i : x.u.i);
  else if (x.kind == TV_FLOAT) *out = tv_float(n->kind == N_NEG ? -x.u.f : x.u.f);
  else {
    int r = tmpl_fail(rt, n, "bad operand for unary %s: %s", n->kind == N_NEG ? "-" : "+", tv_kind_name(x));
    tv_decref(x);
    return r;
  }
  return 0;
}

static int eval_binop(trt *rt, const tnode *n, tval *out) {
  tval a, b;
  if (eval(rt, n->a, &a)) return -1;
  if (eval(rt, n->b, &b)) return tv_decref(a), -1;
  int r = tmpl_binop(rt, n, n->op, a, b, out);
  tv_decref(a);
  tv_decref(b);
  return r;
}

static int eval(trt *rt, const tnode *n, tval *out) {
  *out = tv_undef();
  if (tmpl_charge(rt, n, 1)) return -1;
  switch (n->kind) {
  case N_LIT: *out = tv_incref(n->lit); return 0;
  case N_NAME: return eval_name(rt, n, out);
  case N_LIST: return eval_list(rt, n, out);
  case N_DICT: return eval_dict(rt, n, out);
  case N_ATTR: return eval_attr(rt, n, out);
  case N_INDEX: return eval_index(rt, n, out);
  case N_SLICE: return eval_slice(rt, n, out);
  case N_CALL: return eval_call(rt, n, out);
  case N_METHOD: return eval_method(rt, n, out);
  case N_FILTER: return eval_filter(rt, n, out);
  case N_TEST: return eval_test(rt, n, out);
  case N_NEG:
  case N_POS:
  case N_NOT: return eval_unary(rt, n, out);
  case N_AND:
  case N_OR: return eval_logic(rt, n, out);
  case N_BINOP: return eval_binop(rt, n, out);
  case N_COND: return eval_cond(rt, n, out);
  default: return tmpl_fail(rt, n, "internal error: statement used as expression");
  }
}

// ---- statements
static int render_to_str(trt *rt, const tnode *at, tnode *const *body, uint32_t n, tval *out) {
  tbuf tmp = {0}, *saved = rt->out;
  rt->out = &tmp;
  int r = exec_body(rt, body, n);
  rt->out = saved;
  if (r) return tbuf_free(&tmp), -1;
  *out = tv_str_take_buf(rt, at, &tmp);
  return tv_ok(rt) ? 0 : -1;
}

// Filters of {% filter %} and {% set x | f %}, applied in order; takes v.
static int filter_chain(trt *rt, tnode *const *fs, uint32_t n, tval *v) {
  for (uint32_t i = 0; i < n; i++) {
    tval next;
    int r = apply_filter(rt, fs[i], *v, &next);
    tv_decref(*v);
    *v = r ? tv_undef() : next;
    if (r) return -1;
  }
  return 0;
}

// Binds for/set targets to v (unpacking when there are several); takes v.
static int bind_targets(trt *rt, const tnode *at, const char *const *names, uint32_t n, tval v) {
  if (n == 1) return scope_set(rt, at, names[0], v);
  tval items;
  int r = tmpl_iter_list(rt, at, v, &items);
  tv_decref(v);
  if (r) return -1;
  if (items.u.l->n != n) {
    r = tmpl_fail(rt, at, "cannot unpack %zu values into %u names", items.u.l->n, n);
    tv_decref(items);
    return r;
  }
  for (uint32_t i = 0; i < n && !r; i++) r = scope_set(rt, at, names[i], tv_incref(items.u.l->v[i]));
  tv_decref(items);
  return r;
}

static int set_loop_info(trt *rt, const tnode *at, tdict *loop, const tlist *items, size_t i) {
  int64_t n = (int64_t)items->n, k = (int64_t)i;
  struct {
    const char *k;
    tval v;
  } kv[] = {
      {"index", tv_int(k + 1)},           {"index0", tv_int(k)},      {"revindex", tv_int(n - k)},
      {"revindex0", tv_int(n - k - 1)},   {"first", tv_bool(k == 0)}, {"last", tv_bool(k == n - 1)},
      {"length", tv_int(n)},              {"depth", tv_int(1)},       {"depth0", tv_int(0)},
      {"previtem", k > 0 ? tv_incref(items->v[i - 1]) : tv_undef()},
      {"nextitem", k + 1 < n ? tv_incref(items->v[i + 1]) : tv_undef()},
  };
  int r = 0;
  for (size_t j = 0; j < sizeof kv / sizeof kv[0]; j++) {
    if (r) tv_decref(kv[j].v);
    else r = tv_dict_setc(rt, at, loop, kv[j].k, kv[j].v);
  }
  return r;
}

// The items a loop runs over: all of them, or those passing its `if`.
static int loop_items(trt *rt, const tnode *n, tval *items) {
  tval it;
  if (eval(rt, n->a, &it)) return -1;
  int r = tmpl_iter_list(rt, n->a, it, items);
  tv_decref(it);
  if (r || !n->b) return r;
  tval kept = tv_list_new(rt, n, 0);
  for (size_t i = 0; kept.kind == TV_LIST && i < items->u.l->n; i++) {
    tval c;
    if (bind_targets(rt, n, n->names, n->nnames, tv_incref(items->u.l->v[i])) || eval(rt, n->b, &c)) goto fail;
    bool t = tv_truthy(c);
    tv_decref(c);
    if (t && tv_list_push(rt, n, kept.u.l, tv_incref(items->u.l->v[i]))) goto fail;
  }
  tv_decref(*items);
  *items = kept;
  return tv_ok(rt) ? 0 : -1;
fail:
  tv_decref(kept);
  tv_decref(*items);
  *items = tv_undef();
  return -1;
}

static int exec_for(trt *rt, const tnode *n) {
  tscope sc, *outer = rt->scope;
  tval items = tv_undef(), loop = tv_undef();
  if (scope_push(rt, n, &sc, outer)) return -1;
  rt->scope = &sc;
  int r = loop_items(rt, n, &items);
  if (!r) loop = tv_dict_new(rt, n, false);
  if (!r && loop.kind == TV_DICT) r = scope_set(rt, n, "loop", tv_incref(loop));
  else r = -1;
  for (size_t i = 0; !r && i < items.u.l->n; i++) {
    if ((r = tmpl_charge(rt, n, 1)) || (r = set_loop_info(rt, n, loop.u.d, items.u.l, i)) ||
        (r = bind_targets(rt, n, n->names, n->nnames, tv_incref(items.u.l->v[i]))) ||
        (r = exec_body(rt, n->v, n->nv)))
      break;
    int ctl = rt->loop_ctl;
    rt->loop_ctl = 0;
    if (ctl == 1) break;
  }
  if (!r && items.u.l->n == 0) r = exec_body(rt, n->w, n->nw);
  tv_decref(loop);
  tv_decref(items);
  scope_pop(rt, &sc, outer);
  return r;
}

static int exec_set_attr(trt *rt, const tnode *n) {
  tval *ns = scope_find(rt, n->name);
  if (!ns || ns->kind != TV_NS)
    return tmpl_fail(rt, n, "cannot set attribute '%s' of %s: only namespace() objects can be assigned to", n->names[0],
                     ns ? tv_kind_name(*ns) : "an undefined name");
  tval v;
  if (eval(rt, n->a, &v)) return -1;
  tdict *d = ns->u.d;
  return tv_dict_setc(rt, n, d, n->names[0], v);
}

static int exec_stmt(trt *rt, const tnode *n) {
  tval v;
  if (tmpl_charge(rt, n, 1)) return -1;
  switch (n->kind) {
  case N_TEXT: return tbuf_put(rt, n, rt->out, n->lit.u.s->s, n->lit.u.s->len);
  case N_OUTPUT: {
    if (eval(rt, n->a, &v)) return -1;
    int r = tv_print(rt, n, rt->out, v);
    tv_decref(v);
    return r;
  }
  case N_IF:
    if (eval(rt, n->a, &v)) return -1;
    bool t = tv_truthy(v);
    tv_decref(v);
    return t ? exec_body(rt, n->v, n->nv) : exec_body(rt, n->w, n->nw);
  case N_FOR: return exec_for(rt, n);
  case N_SET: return eval(rt, n->a, &v) ? -1 : bind_targets(rt, n, n->names, n->nnames, v);
  case N_SET_ATTR: return exec_set_attr(rt, n);
  case N_SET_BLOCK:
    if (render_to_str(rt, n, n->v, n->nv, &v) || filter_chain(rt, n->w, n->nw, &v)) return -1;
    return scope_set(rt, n, n->names[0], v);
  case N_MACRO: return scope_set(rt, n, n->name, (tval){.kind = TV_MACRO, .u.m = n});
  case N_FILTER_BLOCK: {
    if (render_to_str(rt, n, n->v, n->nv, &v) || filter_chain(rt, n->w, n->nw, &v)) return -1;
    int r = tv_print(rt, n, rt->out, v);
    tv_decref(v);
    return r;
  }
  case N_BREAK: rt->loop_ctl = 1; return 0;
  case N_CONTINUE: rt->loop_ctl = 2; return 0;
  case N_DO:
    if (eval(rt, n->a, &v)) return -1;
    tv_decref(v);
    return 0;
  case N_GENERATION: return exec_body(rt, n->v, n->nv);
  default: return tmpl_fail(rt, n, "internal error: expression used as statement");
  }
}

static int exec_body(trt *rt, tnode *const *body, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    if (exec_stmt(rt, body[i])) return -1;
    if (rt->loop_ctl) return 0;  // break/continue: unwind to the loop
  }
  return 0;
}

// ---- macros
int tmpl_call_macro(trt *rt, const tnode *at, const tnode *m, const targs *a, tval *out) {
  if (rt->call_depth >= TMPL_MAX_CALL_DEPTH)
    return tmpl_fail(rt, at, "macro calls nested deeper than %d (endless recursion?)", TMPL_MAX_CALL_DEPTH);
  const char *params[TMPL_MAX_ARGS + 1];
  tval slots[TMPL_MAX_ARGS];
  for (uint32_t i = 0; i < m->nnames; i++) params[i] = m->names[i];
  params[m->nnames] = NULL;
  if (targs_bind(rt, at, a, params, slots)) return -1;
  tscope sc, *outer = rt->scope;
  if (scope_push(rt, at, &sc, rt->root)) return -1;
  rt->scope = &sc;
  rt->call_depth++;
  int r = 0;
  for (uint32_t i = 0; i < m->nnames && !r; i++) {
    tval v = tv_incref(slots[i]);
    if (slots[i].kind == TV_UNDEF && (r = eval(rt, m->w[i], &v))) break;  // defaults see earlier params
    r = scope_set(rt, at, m->names[i], v);
  }
  if (!r) r = render_to_str(rt, at, m->v, m->nv, out);
  rt->call_depth--;
  scope_pop(rt, &sc, outer);
  return r;
}

// ---- entry point
int tmpl_render(const tmpl *t, const json_t *context, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (!t || !json_is_object(context)) {
    err_set("chat template: the context must be a JSON object");
    return -1;
  }
  tbuf buf = {0};
  trt rt = {.t = t, .out = &buf};
  rt.live.next = rt.live.prev = &rt.live;
  tval ctx = tv_from_json(&rt, context, 0);
  tscope root = {.vars = ctx.kind == TV_DICT ? ctx.u.d : NULL};
  rt.root = rt.scope = &root;
  int r = root.vars ? exec_body(&rt, t->body, t->nbody) : -1;
  tv_decref(ctx);
  tv_free_live(&rt);
  if (r || rt.failed) {
    tbuf_free(&buf);
    return -1;
  }
  if (!buf.p && !(buf.p = calloc(1, 1))) {
    err_set("chat template: out of memory");
    return -1;
  }
  *out = buf.p;
  if (out_len) *out_len = buf.n;
  return 0;
}
