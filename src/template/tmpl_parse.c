// tmpl_parse: tokens -> tree, by recursive descent in Jinja's precedence
// order (lowest first):
//   x if c else y  /  or  /  and  /  not  /  == != < > <= >= in, not in
//   + -  /  ~  /  * / // %  /  **  /  unary - +, then primary with its
//   postfix (.attr  [index]  [a:b:c]  (call)) and its filters and tests
//   (x|f(args), x is t(args)), which bind tighter than any operator:
//   'a' + b | trim  is  'a' + (b | trim).
// Every filter, test and method name is checked against our tables here,
// and every called name against the globals and the template's macros, so
// a template we could not run fails at load with line:column.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "template/tmpl_internal.h"

// ---- arena
typedef struct tarena {
  struct tarena *next;
  size_t used, cap;
  _Alignas(16) unsigned char mem[];
} tarena;

void *tmpl_arena_alloc(tmpl *t, size_t n) {
  n = (n + 15) & ~(size_t)15;
  tarena *a = t->arena;
  if (!a || a->cap - a->used < n) {
    size_t cap = n > 16384 ? n : 16384;
    tarena *b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = a;
    b->used = 0;
    b->cap = cap;
    t->arena = a = b;
  }
  void *p = a->mem + a->used;
  a->used += n;
  memset(p, 0, n);
  return p;
}

static void arena_free(tarena *a) {
  while (a) {
    tarena *next = a->next;
    free(a);
    a = next;
  }
}

// ---- parser state
typedef struct {
  const char *name;
  uint32_t off;
} pcall;

typedef struct {
  tmpl *t;
  const tk *tk;
  size_t ntk, pos;
  int depth, loops;
  bool failed;
  pcall *calls;  // called names that are not globals: must be macros
  size_t ncalls, capcalls;
  const char **macros;
  size_t nmacros, capmacros;
} parser;

static void *p_fail(parser *p, uint32_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void *p_fail(parser *p, uint32_t off, const char *fmt, ...) {
  if (p->failed) return NULL;
  p->failed = true;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int line, col;
  tmpl_linecol(p->t->src, p->t->len, off, &line, &col);
  err_set("chat template: %d:%d: %s", line, col, msg);
  return NULL;
}

static const tk *peek(const parser *p) { return &p->tk[p->pos]; }
static const tk *next(parser *p) { return p->pos + 1 < p->ntk ? &p->tk[p->pos++] : &p->tk[p->pos]; }
static bool at_op(const parser *p, int op) { return peek(p)->kind == TK_OP && peek(p)->op == op; }
static bool tk_is_name(const tk *t, const char *s) {
  return t->kind == TK_NAME && t->n == strlen(s) && memcmp(t->p, s, t->n) == 0;
}
static bool at_name(const parser *p, const char *s) { return tk_is_name(peek(p), s); }

static bool skip_op(parser *p, int op) {
  if (!at_op(p, op)) return false;
  next(p);
  return true;
}

static bool skip_name(parser *p, const char *s) {
  if (!at_name(p, s)) return false;
  next(p);
  return true;
}

static const char *tk_desc(const tk *t) {
  switch (t->kind) {
  case TK_EOF: return "end of template";
  case TK_TEXT: return "text";
  case TK_EXPR_CLOSE: return "'}}'";
  case TK_STMT_CLOSE: return "'%}'";
  case TK_NAME: return "a name";
  case TK_STRING: return "a string";
  case TK_INT:
  case TK_FLOAT: return "a number";
  default: return "an operator";
  }
}

static bool expect_op(parser *p, int op, const char *what) {
  if (skip_op(p, op)) return true;
  p_fail(p, peek(p)->off, "expected '%s', found %s", what, tk_desc(peek(p)));
  return false;
}

static bool expect_close(parser *p, const char *tag) {
  if (peek(p)->kind == TK_STMT_CLOSE) {
    next(p);
    return true;
  }
  p_fail(p, peek(p)->off, "expected '%%}' to end {%% %s %%}, found %s", tag, tk_desc(peek(p)));
  return false;
}

static tnode *nd(parser *p, int kind, uint32_t off) {
  tnode *n = tmpl_arena_alloc(p->t, sizeof *n);
  if (!n) return p_fail(p, off, "out of memory");
  n->kind = (uint8_t)kind;
  n->off = off;
  return n;
}

static const char *p_strdup(parser *p, const char *s, size_t n) {
  char *d = tmpl_arena_alloc(p->t, n + 1);
  if (!d) return p_fail(p, 0, "out of memory");
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

// Growable arrays in the arena (a grown array leaves its old copy behind:
// at most as much again, freed with the template).
static bool grow(parser *p, void **v, uint32_t n, size_t elem) {
  bool full = n == 0 || (n >= 4 && (n & (n - 1)) == 0);  // capacity: 4, 8, 16, ...
  if (!full) return true;
  size_t cap = n ? (size_t)n * 2 : 4;
  void *nv = tmpl_arena_alloc(p->t, cap * elem);
  if (!nv) return p_fail(p, 0, "out of memory"), false;
  if (n) memcpy(nv, *v, n * elem);
  *v = nv;
  return true;
}

static bool push_node(parser *p, tnode ***v, uint32_t *n, tnode *x) {
  if (!x || !grow(p, (void **)v, *n, sizeof **v)) return false;
  (*v)[(*n)++] = x;
  return true;
}

static bool push_name(parser *p, const char ***v, uint32_t *n, const char *x) {
  if (!x || !grow(p, (void **)v, *n, sizeof **v)) return false;
  (*v)[(*n)++] = x;
  return true;
}

static bool enter(parser *p, uint32_t off) {
  if (++p->depth <= TMPL_MAX_DEPTH) return true;
  p_fail(p, off, "nesting deeper than %d levels", TMPL_MAX_DEPTH);
  return false;
}

// ---- literals
static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 63)), o[2] = (char)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 63));
  o[2] = (char)(0x80 | ((cp >> 6) & 63)), o[3] = (char)(0x80 | (cp & 63));
  return 4;
}

// Python string escapes; unknown ones stay as written (backslash kept).
static size_t decode_escape(const char *s, size_t i, size_t end, char *o, size_t *w) {
  static const char simple_in[] = "ntr\\'\"abfv0", simple_out[] = "\n\t\r\\'\"\a\b\f\v\0";
  char c = s[i + 1];
  const char *k = memchr(simple_in, c, sizeof simple_in - 1);
  if (k && c) {
    o[(*w)++] = simple_out[k - simple_in];
    return i + 2;
  }
  int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
  if (digits && i + 2 + (size_t)digits <= end) {
    uint32_t cp = 0;
    int d = 0;
    for (; d < digits && hexval(s[i + 2 + d]) >= 0; d++) cp = cp << 4 | (uint32_t)hexval(s[i + 2 + d]);
    if (d == digits && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF)) {
      *w += put_utf8(o + *w, cp);
      return i + 2 + (size_t)digits;
    }
  }
  o[(*w)++] = '\\';
  return i + 1;
}

static tstr *decode_string(parser *p, const tk *t) {
  char *o = malloc(t->n + 1);
  if (!o) return p_fail(p, t->off, "out of memory");
  size_t w = 0, end = t->n - 1;
  for (size_t i = 1; i < end;) {
    if (t->p[i] == '\\' && i + 1 < end) i = decode_escape(t->p, i, end, o, &w);
    else o[w++] = t->p[i++];
  }
  tstr *s = tv_str_immortal(p->t, o, w);
  free(o);
  if (!s) return p_fail(p, t->off, "out of memory");
  return s;
}

static tnode *lit_str(parser *p, uint32_t off, tstr *s) {
  tnode *n = s ? nd(p, N_LIT, off) : NULL;
  if (n) n->lit = (tval){.kind = TV_STR, .u.s = s};
  return n;
}

// Adjacent string literals concatenate, as in Python: "a" "b".
static tnode *parse_strings(parser *p) {
  uint32_t off = peek(p)->off;
  tstr *s = decode_string(p, next(p));
  while (s && peek(p)->kind == TK_STRING) {
    tstr *b = decode_string(p, next(p));
    if (!b) return NULL;
    char *cat = malloc(s->len + b->len + 1);
    if (!cat) return p_fail(p, off, "out of memory");
    memcpy(cat, s->s, s->len);
    memcpy(cat + s->len, b->s, b->len);
    s = tv_str_immortal(p->t, cat, s->len + b->len);
    free(cat);
  }
  return lit_str(p, off, s);
}

static tnode *parse_number(parser *p) {
  const tk *t = next(p);
  char buf[64];
  if (t->n >= sizeof buf) return p_fail(p, t->off, "number literal too long");
  memcpy(buf, t->p, t->n);
  buf[t->n] = 0;
  tnode *n = nd(p, N_LIT, t->off);
  if (!n) return NULL;
  if (t->kind == TK_FLOAT) {
    n->lit = tv_float(strtod(buf, NULL));
    return n;
  }
  int64_t v = 0;
  for (size_t i = 0; i < t->n; i++)
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, buf[i] - '0', &v))
      return p_fail(p, t->off, "integer literal too large");
  n->lit = tv_int(v);
  return n;
}

// ---- expressions
static tnode *parse_expr(parser *p);
static tnode *parse_or(parser *p);
static tnode *parse_unary(parser *p, bool with_filter);

// (args) of a call, filter or test: positional, then name=value.
static bool parse_args(parser *p, tnode *n) {
  if (!expect_op(p, OP_LPAREN, "(")) return false;
  while (!at_op(p, OP_RPAREN)) {
    const tk *t = peek(p);
    if (at_op(p, OP_MUL) || at_op(p, OP_POW)) return p_fail(p, t->off, "*args and **kwargs are not supported"), false;
    if (t->kind == TK_NAME && p->tk[p->pos + 1].kind == TK_OP && p->tk[p->pos + 1].op == OP_ASSIGN) {
      next(p), next(p);
      const char *kw = p_strdup(p, t->p, t->n);
      if (!push_name(p, &n->names, &n->nnames, kw) || !push_node(p, &n->w, &n->nw, parse_expr(p))) return false;
    } else {
      if (n->nw) return p_fail(p, t->off, "positional argument after keyword argument"), false;
      if (!push_node(p, &n->v, &n->nv, parse_expr(p))) return false;
    }
    if (n->nv + n->nw > TMPL_MAX_ARGS) return p_fail(p, t->off, "more than %d arguments", TMPL_MAX_ARGS), false;
    if (!skip_op(p, OP_COMMA)) break;
  }
  return expect_op(p, OP_RPAREN, ")");
}

static tnode *parse_seq(parser *p, int kind, int close, const char *closes, tnode *first) {
  tnode *n = nd(p, kind, first ? first->off : peek(p)->off);
  if (!n || (first && !push_node(p, &n->v, &n->nv, first))) return NULL;
  while (!at_op(p, close)) {
    if (n->nv && !expect_op(p, OP_COMMA, ",")) return NULL;
    if (at_op(p, close)) break;  // trailing comma
    if (!push_node(p, &n->v, &n->nv, parse_expr(p))) return NULL;
  }
  return expect_op(p, close, closes) ? n : NULL;
}

static tnode *parse_dict(parser *p) {
  tnode *n = nd(p, N_DICT, peek(p)->off);
  next(p);
  while (n && !at_op(p, OP_RBRACE)) {
    if (n->nv && !expect_op(p, OP_COMMA, ",")) return NULL;
    if (at_op(p, OP_RBRACE)) break;
    if (!push_node(p, &n->v, &n->nv, parse_expr(p)) || !expect_op(p, OP_COLON, ":") ||
        !push_node(p, &n->w, &n->nw, parse_expr(p)))
      return NULL;
  }
  return n && expect_op(p, OP_RBRACE, "}") ? n : NULL;
}

static tnode *parse_paren(parser *p) {
  uint32_t off = next(p)->off;
  if (skip_op(p, OP_RPAREN)) return nd(p, N_LIST, off);  // () is an empty tuple
  tnode *e = parse_expr(p);
  if (!e) return NULL;
  if (skip_op(p, OP_RPAREN)) return e;
  if (!at_op(p, OP_COMMA)) return p_fail(p, peek(p)->off, "expected ')' or ','");
  return parse_seq(p, N_LIST, OP_RPAREN, ")", e);  // a tuple: a list to us
}

static tnode *parse_name(parser *p) {
  const tk *t = next(p);
  static const char *const lits[] = {"true", "True", "false", "False", "none", "None"};
  for (int i = 0; i < 6; i++)
    if (tk_is_name(t, lits[i])) {
      tnode *n = nd(p, N_LIT, t->off);
      if (n) n->lit = i < 4 ? tv_bool(i < 2) : tv_none();
      return n;
    }
  tnode *n = nd(p, N_NAME, t->off);
  if (n && !(n->name = p_strdup(p, t->p, t->n))) return NULL;
  return n;
}

static tnode *parse_primary(parser *p) {
  const tk *t = peek(p);
  switch (t->kind) {
  case TK_NAME: return parse_name(p);
  case TK_STRING: return parse_strings(p);
  case TK_INT:
  case TK_FLOAT: return parse_number(p);
  case TK_OP:
    if (t->op == OP_LPAREN) return parse_paren(p);
    if (t->op == OP_LBRACK) return next(p), parse_seq(p, N_LIST, OP_RBRACK, "]", NULL);
    if (t->op == OP_LBRACE) return parse_dict(p);
    break;
  default: break;
  }
  return p_fail(p, t->off, "expected an expression, found %s", tk_desc(t));
}

static tnode *parse_subscript(parser *p, tnode *obj) {
  uint32_t off = next(p)->off;
  tnode *parts[3] = {NULL, NULL, NULL};
  int k = 0;
  bool slice = false;
  for (;;) {
    if (!at_op(p, OP_COLON) && !at_op(p, OP_RBRACK) && !(parts[k] = parse_expr(p))) return NULL;
    if (k < 2 && skip_op(p, OP_COLON)) {
      slice = true;
      k++;
      continue;
    }
    break;
  }
  if (!expect_op(p, OP_RBRACK, "]")) return NULL;
  if (!slice && !parts[0]) return p_fail(p, off, "empty subscript");
  tnode *n = nd(p, slice ? N_SLICE : N_INDEX, off);
  if (n) n->a = obj, n->b = parts[0], n->c = parts[1], n->d = parts[2];
  return n;
}

static bool note_call(parser *p, const char *name, uint32_t off) {
  if (p->ncalls == p->capcalls) {
    size_t cap = p->capcalls ? p->capcalls * 2 : 16;
    pcall *v = realloc(p->calls, cap * sizeof *v);
    if (!v) return p_fail(p, off, "out of memory"), false;
    p->calls = v;
    p->capcalls = cap;
  }
  p->calls[p->ncalls++] = (pcall){name, off};
  return true;
}

static tnode *parse_call(parser *p, tnode *callee) {
  tnode *n = nd(p, N_CALL, peek(p)->off);
  if (!n) return NULL;
  n->a = callee;
  n->fn = -1;
  if (callee->kind == N_NAME) {
    n->fn = tmpl_global_find(callee->name);
    if (n->fn < 0 && !note_call(p, callee->name, callee->off)) return NULL;
  }
  return parse_args(p, n) ? n : NULL;
}

static tnode *parse_attr(parser *p, tnode *obj) {
  next(p);
  const tk *t = next(p);
  if (t->kind == TK_INT) {  // x.0 is x[0]
    tnode *idx = nd(p, N_LIT, t->off), *n = nd(p, N_INDEX, t->off);
    if (!idx || !n) return NULL;
    idx->lit = tv_int(strtoll(t->p, NULL, 10));
    n->a = obj, n->b = idx;
    return n;
  }
  if (t->kind != TK_NAME) return p_fail(p, t->off, "expected an attribute name after '.'");
  const char *name = p_strdup(p, t->p, t->n);
  if (!name) return NULL;
  bool call = at_op(p, OP_LPAREN);
  if (call && tmpl_method_known(name) < 0) return p_fail(p, t->off, "unsupported method '%s'", name);
  tnode *n = nd(p, call ? N_METHOD : N_ATTR, t->off);
  if (!n) return NULL;
  n->a = obj;
  n->name = name;
  return !call || parse_args(p, n) ? n : NULL;
}

static tnode *parse_postfix(parser *p, tnode *n) {
  while (n) {
    if (at_op(p, OP_DOT)) n = parse_attr(p, n);
    else if (at_op(p, OP_LBRACK)) n = parse_subscript(p, n);
    else if (at_op(p, OP_LPAREN)) n = parse_call(p, n);
    else break;
  }
  return n;
}

// `| name(args)`: the operand is n->a (NULL in {% filter %} blocks).
static tnode *parse_filter(parser *p, tnode *operand) {
  const tk *t = next(p);
  if (t->kind != TK_NAME) return p_fail(p, t->off, "expected a filter name after '|'");
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)t->n, t->p);
  tnode *n = nd(p, N_FILTER, t->off);
  if (!n) return NULL;
  n->a = operand;
  if ((n->fn = tmpl_filter_find(name)) < 0) return p_fail(p, t->off, "unknown filter '%s'", name);
  n->name = p_strdup(p, t->p, t->n);
  if (at_op(p, OP_LPAREN) && !parse_args(p, n)) return NULL;
  return n;
}

static bool test_arg_follows(const parser *p) {
  const tk *t = peek(p);
  static const char *const stops[] = {"else", "or", "and", "if", "in", "is", "not"};
  if (t->kind == TK_NAME) {
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++)
      if (tk_is_name(t, stops[i])) return false;
    return true;
  }
  return t->kind == TK_STRING || t->kind == TK_INT || t->kind == TK_FLOAT ||
         (t->kind == TK_OP && (t->op == OP_LBRACK || t->op == OP_LBRACE));
}

static tnode *parse_test(parser *p, tnode *operand) {
  uint32_t off = next(p)->off;  // "is"
  bool neg = skip_name(p, "not");
  const tk *t = next(p);
  if (t->kind != TK_NAME) return p_fail(p, t->off, "expected a test name after 'is'");
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)t->n, t->p);
  tnode *n = nd(p, N_TEST, off);
  if (!n) return NULL;
  n->a = operand;
  n->neg = neg;
  if ((n->fn = tmpl_test_find(name)) < 0) return p_fail(p, t->off, "unknown test '%s'", name);
  n->name = p_strdup(p, t->p, t->n);
  if (at_op(p, OP_LPAREN)) return parse_args(p, n) ? n : NULL;
  if (test_arg_follows(p) && !push_node(p, &n->v, &n->nv, parse_postfix(p, parse_primary(p)))) return NULL;
  return n;
}

static tnode *parse_filter_expr(parser *p, tnode *n) {
  while (n) {
    if (skip_op(p, OP_PIPE)) n = parse_filter(p, n);
    else if (at_name(p, "is")) n = parse_test(p, n);
    else break;
  }
  return n;
}

static tnode *parse_unary(parser *p, bool with_filter) {
  uint32_t off = peek(p)->off;
  if (!enter(p, off)) return NULL;
  tnode *n;
  if (at_op(p, OP_SUB) || at_op(p, OP_ADD)) {
    int kind = next(p)->op == OP_SUB ? N_NEG : N_POS;
    tnode *x = parse_unary(p, false);
    if (!x || !(n = nd(p, kind, off))) return NULL;
    n->a = x;
  } else {
    n = parse_primary(p);
  }
  n = parse_postfix(p, n);
  if (with_filter) n = parse_filter_expr(p, n);
  p->depth--;
  return n;
}

static tnode *binop(parser *p, int op, tnode *a, tnode *b) {
  if (!a || !b) return NULL;
  tnode *n = nd(p, N_BINOP, a->off);
  if (n) n->op = (uint8_t)op, n->a = a, n->b = b;
  return n;
}

static tnode *parse_pow(parser *p) {
  tnode *n = parse_unary(p, true);
  while (n && skip_op(p, OP_POW)) n = binop(p, OP_POW, n, parse_unary(p, true));
  return n;
}

static tnode *parse_math2(parser *p) {
  tnode *n = parse_pow(p);
  while (n && (at_op(p, OP_MUL) || at_op(p, OP_DIV) || at_op(p, OP_FLOORDIV) || at_op(p, OP_MOD))) {
    int op = next(p)->op;
    n = binop(p, op, n, parse_pow(p));
  }
  return n;
}

static tnode *parse_concat(parser *p) {
  tnode *n = parse_math2(p);
  while (n && skip_op(p, OP_TILDE)) n = binop(p, OP_TILDE, n, parse_math2(p));
  return n;
}

static tnode *parse_math1(parser *p) {
  tnode *n = parse_concat(p);
  while (n && (at_op(p, OP_ADD) || at_op(p, OP_SUB))) {
    int op = next(p)->op;
    n = binop(p, op, n, parse_concat(p));
  }
  return n;
}

static int compare_op(parser *p) {
  const tk *t = peek(p);
  if (t->kind == TK_OP && t->op >= OP_EQ && t->op <= OP_GE) return next(p)->op;
  if (tk_is_name(t, "in")) return next(p), OP_IN;
  if (tk_is_name(t, "not") && tk_is_name(&p->tk[p->pos + 1], "in")) return next(p), next(p), OP_NOTIN;
  return 0;
}

// a < b < c means (a < b) and (b < c), as in Python.
static tnode *parse_compare(parser *p) {
  tnode *n = parse_math1(p), *last = NULL;
  int op;
  while (n && (op = compare_op(p))) {
    tnode *right = parse_math1(p);
    tnode *cmp = binop(p, op, last ? last->b : n, right);
    if (!last) {
      n = last = cmp;
      continue;
    }
    tnode *both = cmp ? nd(p, N_AND, cmp->off) : NULL;
    if (!both) return NULL;
    both->a = n, both->b = cmp;
    n = both;
    last = cmp;
  }
  return n;
}

static tnode *parse_not(parser *p) {
  if (!at_name(p, "not")) return parse_compare(p);
  uint32_t off = next(p)->off;
  if (!enter(p, off)) return NULL;
  tnode *x = parse_not(p), *n = x ? nd(p, N_NOT, off) : NULL;
  if (n) n->a = x;
  p->depth--;
  return n;
}

static tnode *logic(parser *p, int kind, tnode *a, tnode *b) {
  if (!a || !b) return NULL;
  tnode *n = nd(p, kind, a->off);
  if (n) n->a = a, n->b = b;
  return n;
}

static tnode *parse_and(parser *p) {
  tnode *n = parse_not(p);
  while (n && skip_name(p, "and")) n = logic(p, N_AND, n, parse_not(p));
  return n;
}

static tnode *parse_or(parser *p) {
  tnode *n = parse_and(p);
  while (n && skip_name(p, "or")) n = logic(p, N_OR, n, parse_and(p));
  return n;
}

static tnode *parse_expr(parser *p) {
  if (!enter(p, peek(p)->off)) return NULL;
  tnode *n = parse_or(p);
  while (n && at_name(p, "if")) {
    uint32_t off = next(p)->off;
    tnode *c = nd(p, N_COND, off);
    if (!c) return NULL;
    c->a = n;
    if (!(c->b = parse_or(p))) return NULL;
    if (skip_name(p, "else") && !(c->c = parse_expr(p))) return NULL;
    n = c;
  }
  p->depth--;
  return n;
}

// ---- statements
static bool parse_stmt(parser *p, tnode ***body, uint32_t *n);

// Statements until EOF or {% end %} for one of `ends`; returns the index of
// the end tag found (its name consumed), -1 at EOF, -2 on error.
static int parse_body(parser *p, const char *const *ends, tnode ***body, uint32_t *n, uint32_t open_off) {
  for (;;) {
    const tk *t = peek(p);
    if (t->kind == TK_EOF) {
      if (!ends) return -1;
      return p_fail(p, open_off, "unclosed block: missing {%% %s %%}", ends[0]), -2;
    }
    if (t->kind == TK_STMT_OPEN && ends) {
      const tk *name = &p->tk[p->pos + 1];
      for (int i = 0; ends[i]; i++)
        if (tk_is_name(name, ends[i])) {
          next(p), next(p);
          return i;
        }
    }
    if (!parse_stmt(p, body, n)) return -2;
  }
}

static bool parse_end(parser *p, const char *const *ends, tnode ***body, uint32_t *n, uint32_t off) {
  int e = parse_body(p, ends, body, n, off);
  return e >= 0 && expect_close(p, ends[e]);
}

static tnode *parse_if(parser *p, uint32_t off) {
  static const char *const ends[] = {"endif", "elif", "else", NULL}, *const end_only[] = {"endif", NULL};
  tnode *n = nd(p, N_IF, off);
  if (!n || !enter(p, off) || !(n->a = parse_expr(p)) || !expect_close(p, "if")) return NULL;
  int e = parse_body(p, ends, &n->v, &n->nv, off);
  if (e == 1) {
    if (!push_node(p, &n->w, &n->nw, parse_if(p, peek(p)->off))) return NULL;
  } else if (e == 2) {
    if (!expect_close(p, "else") || !parse_end(p, end_only, &n->w, &n->nw, off)) return NULL;
  } else if (e < 0 || !expect_close(p, "endif")) {
    return NULL;
  }
  p->depth--;
  return n;
}

static bool parse_targets(parser *p, tnode *n, const char *what) {
  bool paren = skip_op(p, OP_LPAREN);
  do {
    const tk *t = next(p);
    if (t->kind != TK_NAME) return p_fail(p, t->off, "expected a variable name in {%% %s %%}", what), false;
    if (!push_name(p, &n->names, &n->nnames, p_strdup(p, t->p, t->n))) return false;
  } while (skip_op(p, OP_COMMA));
  return !paren || expect_op(p, OP_RPAREN, ")");
}

static tnode *parse_for(parser *p, uint32_t off) {
  static const char *const ends[] = {"endfor", "else", NULL}, *const end_only[] = {"endfor", NULL};
  tnode *n = nd(p, N_FOR, off);
  if (!n || !enter(p, off) || !parse_targets(p, n, "for")) return NULL;
  if (!skip_name(p, "in")) return p_fail(p, peek(p)->off, "expected 'in' in {%% for %%}");
  if (!(n->a = parse_or(p))) return NULL;
  if (skip_name(p, "if") && !(n->b = parse_expr(p))) return NULL;
  if (at_name(p, "recursive")) return p_fail(p, peek(p)->off, "recursive loops are not supported");
  if (!expect_close(p, "for")) return NULL;
  p->loops++;
  int e = parse_body(p, ends, &n->v, &n->nv, off);
  p->loops--;
  if (e < 0) return NULL;
  if (e == 1 && (!expect_close(p, "else") || !parse_end(p, end_only, &n->w, &n->nw, off))) return NULL;
  if (e == 0 && !expect_close(p, "endfor")) return NULL;
  p->depth--;
  return n;
}

// {% set x | filter %}...{% endset %}
static tnode *parse_set_block(parser *p, tnode *n, uint32_t off) {
  static const char *const ends[] = {"endset", NULL};
  if (n->nnames != 1) return p_fail(p, off, "a block {%% set %%} takes one name");
  n->kind = N_SET_BLOCK;
  while (skip_op(p, OP_PIPE))
    if (!push_node(p, &n->w, &n->nw, parse_filter(p, NULL))) return NULL;
  if (!expect_close(p, "set") || !enter(p, off) || !parse_end(p, ends, &n->v, &n->nv, off)) return NULL;
  p->depth--;
  return n;
}

static tnode *parse_set(parser *p, uint32_t off) {
  tnode *n = nd(p, N_SET, off);
  if (!n) return NULL;
  const tk *t = peek(p);
  if (t->kind == TK_NAME && p->tk[p->pos + 1].kind == TK_OP && p->tk[p->pos + 1].op == OP_DOT) {
    next(p), next(p);
    const tk *attr = next(p);
    if (attr->kind != TK_NAME) return p_fail(p, attr->off, "expected an attribute name in {%% set %%}");
    n->kind = N_SET_ATTR;
    if (!(n->name = p_strdup(p, t->p, t->n)) || !push_name(p, &n->names, &n->nnames, p_strdup(p, attr->p, attr->n)))
      return NULL;
  } else if (!parse_targets(p, n, "set")) {
    return NULL;
  }
  if (!skip_op(p, OP_ASSIGN)) {
    if (n->kind == N_SET_ATTR) return p_fail(p, peek(p)->off, "expected '=' in {%% set %%}");
    return parse_set_block(p, n, off);
  }
  if (!(n->a = parse_expr(p))) return NULL;
  if (at_op(p, OP_COMMA)) {  // set a, b = 1, 2: the value is a tuple
    tnode *tuple = nd(p, N_LIST, n->a->off);
    if (!tuple || !push_node(p, &tuple->v, &tuple->nv, n->a)) return NULL;
    while (skip_op(p, OP_COMMA))
      if (!push_node(p, &tuple->v, &tuple->nv, parse_expr(p))) return NULL;
    n->a = tuple;
  }
  return expect_close(p, "set") ? n : NULL;
}

static bool note_macro(parser *p, const char *name) {
  if (p->nmacros == p->capmacros) {
    size_t cap = p->capmacros ? p->capmacros * 2 : 8;
    const char **v = realloc(p->macros, cap * sizeof *v);
    if (!v) return p_fail(p, 0, "out of memory"), false;
    p->macros = v;
    p->capmacros = cap;
  }
  p->macros[p->nmacros++] = name;
  return true;
}

static tnode *parse_macro(parser *p, uint32_t off) {
  static const char *const ends[] = {"endmacro", NULL};
  tnode *n = nd(p, N_MACRO, off);
  const tk *t = next(p);
  if (!n) return NULL;
  if (t->kind != TK_NAME) return p_fail(p, t->off, "expected a macro name");
  if (!(n->name = p_strdup(p, t->p, t->n)) || !note_macro(p, n->name) || !expect_op(p, OP_LPAREN, "(")) return NULL;
  while (!at_op(p, OP_RPAREN)) {
    const tk *a = next(p);
    if (a->kind != TK_NAME) return p_fail(p, a->off, "expected a parameter name");
    if (!push_name(p, &n->names, &n->nnames, p_strdup(p, a->p, a->n))) return NULL;
    tnode *dflt = NULL;
    if (skip_op(p, OP_ASSIGN) && !(dflt = parse_expr(p))) return NULL;
    if (!dflt && !(dflt = nd(p, N_LIT, a->off))) return NULL;  // TV_UNDEF: no default
    if (!push_node(p, &n->w, &n->nw, dflt)) return NULL;
    if (n->nnames > TMPL_MAX_ARGS) return p_fail(p, a->off, "more than %d parameters", TMPL_MAX_ARGS);
    if (!skip_op(p, OP_COMMA)) break;
  }
  if (!expect_op(p, OP_RPAREN, ")") || !expect_close(p, "macro") || !enter(p, off)) return NULL;
  int loops = p->loops;
  p->loops = 0;  // a loop around the definition is not the macro's loop
  bool ok = parse_end(p, ends, &n->v, &n->nv, off);
  p->loops = loops;
  p->depth--;
  return ok ? n : NULL;
}

static tnode *parse_filter_block(parser *p, uint32_t off) {
  static const char *const ends[] = {"endfilter", NULL};
  tnode *n = nd(p, N_FILTER_BLOCK, off);
  if (!n) return NULL;
  do
    if (!push_node(p, &n->w, &n->nw, parse_filter(p, NULL))) return NULL;
  while (skip_op(p, OP_PIPE));
  if (!expect_close(p, "filter") || !enter(p, off) || !parse_end(p, ends, &n->v, &n->nv, off)) return NULL;
  p->depth--;
  return n;
}

static tnode *parse_simple(parser *p, int kind, uint32_t off, const char *tag) {
  if ((kind == N_BREAK || kind == N_CONTINUE) && p->loops == 0)
    return p_fail(p, off, "{%% %s %%} outside of a loop", tag);
  tnode *n = nd(p, kind, off);
  if (n && kind == N_DO && !(n->a = parse_expr(p))) return NULL;
  if (n && kind == N_GENERATION) {
    static const char *const ends[] = {"endgeneration", NULL};
    if (!expect_close(p, tag) || !enter(p, off) || !parse_end(p, ends, &n->v, &n->nv, off)) return NULL;
    p->depth--;
    return n;
  }
  return n && expect_close(p, tag) ? n : NULL;
}

static tnode *parse_tag(parser *p) {
  uint32_t off = next(p)->off;  // {%
  const tk *t = next(p);
  if (t->kind != TK_NAME) return p_fail(p, t->off, "expected a tag name after '{%%'");
  char name[32];
  snprintf(name, sizeof name, "%.*s", (int)(t->n < 31 ? t->n : 31), t->p);
  if (!strcmp(name, "if")) return parse_if(p, off);
  if (!strcmp(name, "for")) return parse_for(p, off);
  if (!strcmp(name, "set")) return parse_set(p, off);
  if (!strcmp(name, "macro")) return parse_macro(p, off);
  if (!strcmp(name, "filter")) return parse_filter_block(p, off);
  if (!strcmp(name, "break")) return parse_simple(p, N_BREAK, off, name);
  if (!strcmp(name, "continue")) return parse_simple(p, N_CONTINUE, off, name);
  if (!strcmp(name, "do")) return parse_simple(p, N_DO, off, name);
  if (!strcmp(name, "generation")) return parse_simple(p, N_GENERATION, off, name);
  static const char *const unsupported[] = {"include", "extends", "block", "import", "from", "call",
                                            "with", "autoescape", "trans", NULL};
  for (int i = 0; unsupported[i]; i++)
    if (!strcmp(name, unsupported[i])) return p_fail(p, t->off, "{%% %s %%} is not supported", name);
  if (!strncmp(name, "end", 3) || !strcmp(name, "else") || !strcmp(name, "elif"))
    return p_fail(p, t->off, "unexpected {%% %s %%}", name);
  return p_fail(p, t->off, "unknown tag '%s'", name);
}

static bool parse_stmt(parser *p, tnode ***body, uint32_t *n) {
  const tk *t = peek(p);
  tnode *x = NULL;
  if (t->kind == TK_TEXT) {
    next(p);
    tstr *s = tv_str_immortal(p->t, t->p, t->n);
    if (!s) return p_fail(p, t->off, "out of memory"), false;
    if ((x = nd(p, N_TEXT, t->off))) x->lit = (tval){.kind = TV_STR, .u.s = s};
  } else if (t->kind == TK_EXPR_OPEN) {
    next(p);
    if ((x = nd(p, N_OUTPUT, t->off)) && !(x->a = parse_expr(p))) return false;
    if (peek(p)->kind != TK_EXPR_CLOSE)
      return p_fail(p, peek(p)->off, "expected '}}', found %s", tk_desc(peek(p))), false;
    next(p);
  } else if (t->kind == TK_STMT_OPEN) {
    x = parse_tag(p);
  } else {
    return p_fail(p, t->off, "unexpected %s", tk_desc(t)), false;
  }
  return push_node(p, body, n, x);
}

// Called names must be globals (checked when parsed) or macros.
static bool check_calls(parser *p) {
  for (size_t i = 0; i < p->ncalls; i++) {
    size_t k = 0;
    while (k < p->nmacros && strcmp(p->macros[k], p->calls[i].name) != 0) k++;
    if (k == p->nmacros) return p_fail(p, p->calls[i].off, "unknown function '%s'", p->calls[i].name), false;
  }
  return true;
}

// Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
// Returns the offset of the first bad byte, n if none.
static size_t utf8_invalid_at(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : 0;  // continuation bytes
    if (k == 0 || c > 0xF4 || k >= n - i) return i;
    uint32_t cp = c & (0x3Fu >> k);
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return i;
      cp = cp << 6 | (s[i + j] & 0x3Fu);
    }
    if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += k + 1;
  }
  return n;
}

void tmpl_free(tmpl *t) {
  if (!t) return;
  arena_free(t->arena);
  free(t->src);
  free(t);
}

tmpl *tmpl_parse(const char *source, size_t len) {
  if (!source) return err_set("chat template: no source"), NULL;
  if (len > TMPL_MAX_SOURCE) return err_set("chat template: %zu bytes, more than the %u allowed", len, TMPL_MAX_SOURCE), NULL;
  tmpl *t = calloc(1, sizeof *t);
  parser p = {.t = t};
  tk *toks = NULL;
  if (!t || !(t->src = malloc(len + 1))) goto oom;
  memcpy(t->src, source, len);
  t->src[len] = 0;
  t->len = len;
  size_t bad = utf8_invalid_at((const unsigned char *)source, len);
  if (bad < len) {
    p_fail(&p, (uint32_t)bad, "invalid UTF-8 (byte 0x%02x)", (unsigned char)source[bad]);
    goto fail;
  }
  if (memchr(source, 0, len)) {
    p_fail(&p, (uint32_t)((const char *)memchr(source, 0, len) - source), "NUL byte in template");
    goto fail;
  }
  if (!(toks = tmpl_lex(t->src, len, &p.ntk))) goto fail;
  p.tk = toks;
  if (parse_body(&p, NULL, &t->body, &t->nbody, 0) != -1 || !check_calls(&p)) goto fail;
  free(toks);
  free(p.calls);
  free(p.macros);
  return t;
oom:
  err_set("chat template: out of memory");
fail:
  free(toks);
  free(p.calls);
  free(p.macros);
  tmpl_free(t);
  return NULL;
}
