// tmpl_ops: the binary operators. Arithmetic is Python's (// floors, % takes
// the divisor's sign, / always gives a float, int overflow is an error since
// we have no big integers); + also joins strings and lists, and like
// @huggingface/jinja joins a string with a number as text; ~ prints both
// sides; `in` searches strings, lists and dict keys.
#include <math.h>
#include <string.h>

#include "template/tmpl_internal.h"

static int concat_printed(trt *rt, const tnode *at, tval a, tval b, tval *out) {
  tbuf buf = {0};
  if (tv_print(rt, at, &buf, a) || tv_print(rt, at, &buf, b)) return tbuf_free(&buf), -1;
  *out = tv_str_take_buf(rt, at, &buf);
  return tv_ok(rt) ? 0 : -1;
}

static int list_concat(trt *rt, const tnode *at, const tlist *a, const tlist *b, tval *out) {
  *out = tv_list_new(rt, at, a->n + b->n);
  if (out->kind != TV_LIST) return -1;
  for (size_t i = 0; i < a->n; i++) out->u.l->v[out->u.l->n++] = tv_incref(a->v[i]);
  for (size_t i = 0; i < b->n; i++) out->u.l->v[out->u.l->n++] = tv_incref(b->v[i]);
  return 0;
}

// "ab" * 3, [1] * 3
static int repeat(trt *rt, const tnode *at, tval seq, int64_t times, tval *out) {
  if (times < 0) times = 0;
  size_t unit = seq.kind == TV_STR ? seq.u.s->len : seq.u.l->n;
  if (unit && (uint64_t)times > TMPL_MAX_OUTPUT / unit) return tmpl_fail(rt, at, "repetition too large");
  if (seq.kind == TV_STR) {  // the string's bytes are charged when it is made
    tbuf b = {0};
    for (int64_t i = 0; i < times; i++)
      if (tbuf_put(rt, at, &b, seq.u.s->s, unit)) return tbuf_free(&b), -1;
    *out = tv_str_take_buf(rt, at, &b);
    return tv_ok(rt) ? 0 : -1;
  }
  if (tmpl_charge(rt, at, (uint64_t)times * unit)) return -1;
  *out = tv_list_new(rt, at, unit * (size_t)times);
  for (int64_t i = 0; out->kind == TV_LIST && i < times; i++)
    for (size_t k = 0; k < unit; k++) out->u.l->v[out->u.l->n++] = tv_incref(seq.u.l->v[k]);
  return tv_ok(rt) ? 0 : -1;
}

static int int_arith(trt *rt, const tnode *at, int op, int64_t a, int64_t b, tval *out) {
  int64_t r = 0;
  bool ovf = false;
  switch (op) {
  case OP_ADD: ovf = __builtin_add_overflow(a, b, &r); break;
  case OP_SUB: ovf = __builtin_sub_overflow(a, b, &r); break;
  case OP_MUL: ovf = __builtin_mul_overflow(a, b, &r); break;
  case OP_FLOORDIV:
  case OP_MOD:
    if (b == 0) return tmpl_fail(rt, at, "division by zero");
    if (a == INT64_MIN && b == -1) {
      ovf = op == OP_FLOORDIV;
      break;
    }
    r = op == OP_FLOORDIV ? a / b - ((a % b != 0) && ((a < 0) != (b < 0))) : a % b;
    if (op == OP_MOD && r != 0 && ((r < 0) != (b < 0))) r += b;
    break;
  case OP_POW:
    if (b < 0) {
      *out = tv_float(pow((double)a, (double)b));
      return 0;
    }
    r = 1;
    for (int64_t base = a, e = b; e > 0 && !ovf; e >>= 1) {
      if (e & 1) ovf = __builtin_mul_overflow(r, base, &r);
      if (e > 1 && !ovf) ovf = __builtin_mul_overflow(base, base, &base);
    }
    break;
  }
  if (ovf) return tmpl_fail(rt, at, "integer overflow");
  *out = tv_int(r);
  return 0;
}

static int float_arith(trt *rt, const tnode *at, int op, double a, double b, tval *out) {
  double r = 0;
  switch (op) {
  case OP_ADD: r = a + b; break;
  case OP_SUB: r = a - b; break;
  case OP_MUL: r = a * b; break;
  case OP_DIV:
  case OP_FLOORDIV:
  case OP_MOD:
    if (b == 0) return tmpl_fail(rt, at, "division by zero");
    r = op == OP_DIV ? a / b : op == OP_FLOORDIV ? floor(a / b) : a - floor(a / b) * b;
    break;
  case OP_POW: r = pow(a, b); break;
  }
  *out = tv_float(r);
  return 0;
}

static int arith(trt *rt, const tnode *at, int op, tval a, tval b, tval *out) {
  if (op == OP_ADD) {
    if (a.kind == TV_STR && b.kind == TV_STR) return concat_printed(rt, at, a, b, out);
    if (a.kind == TV_LIST && b.kind == TV_LIST) return list_concat(rt, at, a.u.l, b.u.l, out);
    if ((a.kind == TV_STR && tv_is_num(b)) || (tv_is_num(a) && b.kind == TV_STR)) return concat_printed(rt, at, a, b, out);
  }
  if (op == OP_MUL && (a.kind == TV_STR || a.kind == TV_LIST) && b.kind == TV_INT) return repeat(rt, at, a, b.u.i, out);
  if (op == OP_MUL && a.kind == TV_INT && (b.kind == TV_STR || b.kind == TV_LIST)) return repeat(rt, at, b, a.u.i, out);
  if (!tv_is_num(a) || !tv_is_num(b)) {
    static const char *const sym[] = {[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/",
                                      [OP_FLOORDIV] = "//", [OP_MOD] = "%", [OP_POW] = "**"};
    return tmpl_fail(rt, at, "unsupported operands for %s: %s and %s", sym[op], tv_kind_name(a), tv_kind_name(b));
  }
  if (a.kind == TV_INT && b.kind == TV_INT && op != OP_DIV) return int_arith(rt, at, op, a.u.i, b.u.i, out);
  return float_arith(rt, at, op, tv_num(a), tv_num(b), out);
}

static int contains(trt *rt, const tnode *at, tval hay, tval needle, bool *out) {
  *out = false;
  switch (hay.kind) {
  case TV_STR:
    if (needle.kind != TV_STR) return tmpl_fail(rt, at, "'in <string>' needs a string on the left, not %s", tv_kind_name(needle));
    *out = needle.u.s->len == 0 || memmem(hay.u.s->s, hay.u.s->len, needle.u.s->s, needle.u.s->len) != NULL;
    return 0;
  case TV_LIST:
    for (size_t i = 0; i < hay.u.l->n && !*out; i++) *out = tv_equal(hay.u.l->v[i], needle, 0);
    return 0;
  case TV_DICT:
  case TV_NS: *out = needle.kind == TV_STR && tv_dict_get(hay.u.d, needle.u.s->s, needle.u.s->len); return 0;
  case TV_UNDEF:
  case TV_NONE: return 0;
  default: return tmpl_fail(rt, at, "argument of type %s is not iterable", tv_kind_name(hay));
  }
}

int tmpl_binop(trt *rt, const tnode *at, int op, tval a, tval b, tval *out) {
  int cmp;
  bool in;
  switch (op) {
  case OP_TILDE: return concat_printed(rt, at, a, b, out);
  case OP_EQ: *out = tv_bool(tv_equal(a, b, 0)); return 0;
  case OP_NE: *out = tv_bool(!tv_equal(a, b, 0)); return 0;
  case OP_LT:
  case OP_GT:
  case OP_LE:
  case OP_GE:
    if (tv_compare(rt, at, a, b, &cmp)) return -1;
    *out = tv_bool(op == OP_LT ? cmp < 0 : op == OP_GT ? cmp > 0 : op == OP_LE ? cmp <= 0 : cmp >= 0);
    return 0;
  case OP_IN:
  case OP_NOTIN:
    if (contains(rt, at, b, a, &in)) return -1;
    *out = tv_bool(op == OP_IN ? in : !in);
    return 0;
  default: return arith(rt, at, op, a, b, out);
  }
}
