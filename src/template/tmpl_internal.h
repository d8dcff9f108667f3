// tmpl_internal: the template module's private structures, shared by the
// files of src/template/ only (the contract for everyone else is template.h).
//   tmpl_lex.c      source -> tokens, with whitespace control applied
//   tmpl_parse.c    tokens -> tree; names of filters/tests/methods checked here
//   tmpl_value.c    values: refcounted strings, lists, dicts; JSON in and out
//   tmpl_eval.c     rendering: statements, expressions, scopes, limits
//   tmpl_filters.c  filters and tests
//   tmpl_methods.c  methods of strings, lists and dicts; global functions
//   tmpl_builtin.c  the named templates and --chat-template lookup
#ifndef LLMUX_TMPL_INTERNAL_H
#define LLMUX_TMPL_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "template/template.h"

// ---- limits (each one, when hit, is an error naming it)
#define TMPL_MAX_SOURCE (1u << 20)     // template bytes
#define TMPL_MAX_DEPTH 100             // nesting of blocks and expressions in the source
#define TMPL_MAX_ARGS 16               // arguments of one call
#define TMPL_MAX_CALL_DEPTH 50         // macro calls in progress
#define TMPL_MAX_DATA_DEPTH 200        // nesting of lists/dicts printed, compared or read from JSON
#define TMPL_MAX_OUTPUT (32u << 20)    // bytes of output, and of any one string
#define TMPL_MAX_WORK 4000000          // evaluation steps (+ 1 per 32 bytes built)

// ---- tokens
enum tk_kind { TK_EOF, TK_TEXT, TK_EXPR_OPEN, TK_EXPR_CLOSE, TK_STMT_OPEN, TK_STMT_CLOSE,
               TK_NAME, TK_INT, TK_FLOAT, TK_STRING, TK_OP };

enum tk_op {
  OP_NONE, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_TILDE,
  OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_IN, OP_NOTIN,
  OP_ASSIGN, OP_LPAREN, OP_RPAREN, OP_LBRACK, OP_RBRACK, OP_LBRACE, OP_RBRACE,
  OP_COMMA, OP_DOT, OP_COLON, OP_PIPE,
};

typedef struct {
  uint8_t kind, op;
  uint32_t off;   // source offset of the token (for line:column)
  const char *p;  // its bytes (for TK_TEXT after whitespace control)
  size_t n;
} tk;

// Tokenizes src. Returns a malloc'd array ending with TK_EOF, or NULL with
// err_set() (unterminated tags, strings or comments, bad characters).
tk *tmpl_lex(const char *src, size_t len, size_t *ntk);
// 1-based line and column of a source offset.
void tmpl_linecol(const char *src, size_t len, size_t off, int *line, int *col);

// ---- values
typedef enum { TV_UNDEF, TV_NONE, TV_BOOL, TV_INT, TV_FLOAT, TV_STR, TV_LIST, TV_DICT, TV_NS, TV_FUNC,
               TV_MACRO } tv_kind;

#define TV_IMMORTAL INT32_MIN  // refcount of strings owned by the tree: never freed

typedef struct tstr {
  int32_t rc;
  size_t len;
  char s[];  // len bytes + NUL
} tstr;

// Lists, dicts and namespaces are linked into their render's list of live
// containers, so that containers kept alive only by a cycle (x.append(x))
// are still freed when the render ends.
typedef struct tobj {
  int32_t rc;
  struct tobj *prev, *next;
} tobj;

typedef struct tval tval;
typedef struct tnode tnode;

typedef struct tlist {
  tobj h;
  size_t n, cap;
  tval *v;
} tlist;

typedef struct tdict {  // insertion-ordered; keys are strings
  tobj h;
  size_t n, cap;
  tstr **k;
  tval *v;
} tdict;

struct tval {
  uint8_t kind;
  union {
    bool b;
    int64_t i;
    double f;
    tstr *s;
    tlist *l;
    tdict *d;           // TV_DICT and TV_NS
    int fn;             // TV_FUNC: index into the globals table
    const tnode *m;     // TV_MACRO: its definition
  } u;
};

// ---- tree
enum tnode_kind {
  // expressions
  N_LIT, N_NAME, N_LIST, N_DICT, N_ATTR, N_INDEX, N_SLICE, N_CALL, N_METHOD, N_FILTER, N_TEST,
  N_NEG, N_POS, N_NOT, N_AND, N_OR, N_BINOP, N_COND,
  // statements
  N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_ATTR, N_SET_BLOCK, N_MACRO, N_FILTER_BLOCK, N_BREAK,
  N_CONTINUE, N_DO, N_GENERATION,
};

struct tnode {
  uint8_t kind, op;
  bool neg;                // N_TEST: `is not`
  int fn;                  // N_FILTER/N_TEST/N_METHOD/N_CALL(global): table index
  uint32_t off;            // source offset
  const char *name;        // N_NAME, N_ATTR, N_METHOD, N_SET_ATTR attribute, macro name
  tval lit;                // N_LIT (strings immortal), N_TEXT
  tnode *a, *b, *c, *d;    // operands; N_IF: a cond; N_FOR: a iter, b filter
  tnode **v;               // items / positional args / body
  uint32_t nv;
  tnode **w;               // dict values / keyword arg values / else body / defaults
  uint32_t nw;
  const char **names;      // keyword arg names / for and set targets / macro params
  uint32_t nnames;
};

struct tmpl {
  char *src;
  size_t len;
  tnode **body;
  uint32_t nbody;
  struct tarena *arena;
};

// Arena of the tree; everything in it lives as long as the tmpl.
void *tmpl_arena_alloc(tmpl *t, size_t n);

// ---- render state
typedef struct tbuf {
  char *p;
  size_t n, cap;
} tbuf;

typedef struct tscope {
  struct tscope *parent;
  tdict *vars;
} tscope;

typedef struct trt {
  const tmpl *t;
  tobj live;             // sentinel of the live container list
  tbuf *out;             // where text goes (macros and block sets swap it)
  tscope *root;          // the template's top scope (macros run under it)
  tscope *scope;         // innermost scope
  uint64_t work;
  int call_depth;
  int loop_ctl;          // 1: break, 2: continue pending
  bool failed;           // an error was set: unwind without overwriting it
} trt;

// Sets the render's error once, prefixed with the node's line:column.
int tmpl_fail(trt *rt, const tnode *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// Counts work; fails the render when the budget is spent.
int tmpl_charge(trt *rt, const tnode *at, uint64_t units);

// ---- values (tmpl_value.c)
static inline tval tv_undef(void) { return (tval){.kind = TV_UNDEF}; }
static inline tval tv_none(void) { return (tval){.kind = TV_NONE}; }
static inline tval tv_bool(bool b) { return (tval){.kind = TV_BOOL, .u.b = b}; }
static inline tval tv_int(int64_t i) { return (tval){.kind = TV_INT, .u.i = i}; }
static inline tval tv_float(double f) { return (tval){.kind = TV_FLOAT, .u.f = f}; }
static inline bool tv_is_str(tval v) { return v.kind == TV_STR; }
static inline bool tv_is_num(tval v) { return v.kind == TV_INT || v.kind == TV_FLOAT; }
static inline double tv_num(tval v) { return v.kind == TV_INT ? (double)v.u.i : v.u.f; }

tval tv_incref(tval v);
void tv_decref(tval v);
const char *tv_kind_name(tval v);

// Constructors fail (kind TV_UNDEF, error set) only on allocation failure
// or when a limit is hit; callers check with tv_ok().
static inline bool tv_ok(const trt *rt) { return !rt->failed; }
tval tv_str(trt *rt, const tnode *at, const char *s, size_t n);
tval tv_str_take_buf(trt *rt, const tnode *at, tbuf *b);  // consumes b
tstr *tv_str_immortal(tmpl *t, const char *s, size_t n);
tval tv_list_new(trt *rt, const tnode *at, size_t cap);
int tv_list_push(trt *rt, const tnode *at, tlist *l, tval v);  // takes v
tval tv_dict_new(trt *rt, const tnode *at, bool ns);
int tv_dict_set(trt *rt, const tnode *at, tdict *d, tstr *k, tval v);  // takes v, borrows k
int tv_dict_setc(trt *rt, const tnode *at, tdict *d, const char *k, tval v);  // takes v
tval *tv_dict_get(const tdict *d, const char *k, size_t n);  // borrowed or NULL
// Frees containers still alive at the end of a render (cycles).
void tv_free_live(trt *rt);

tval tv_from_json(trt *rt, const json_t *j, int depth);

bool tv_truthy(tval v);
// Python-style equality and ordering; tv_compare fails on unordered kinds.
bool tv_equal(tval a, tval b, int depth);
int tv_compare(trt *rt, const tnode *at, tval a, tval b, int *cmp);

// Text of a value as {{ }} prints it, appended to b.
int tv_print(trt *rt, const tnode *at, tbuf *b, tval v);
// The value as a string (a new reference): strings as they are, others printed.
int tv_to_str(trt *rt, const tnode *at, tval v, tval *out);
// JSON text (tojson): indent < 0 for one line with ", " and ": ".
int tv_tojson(trt *rt, const tnode *at, tbuf *b, tval v, int indent, int depth);
// Python repr of a double ("1.0", "0.1", "1e+20").
void tv_fmt_float(char *out, size_t size, double f);
// Length in code points (strings), items (lists, dicts).
int64_t tv_utf8_len(const char *s, size_t n);

// ---- buffers
int tbuf_put(trt *rt, const tnode *at, tbuf *b, const char *s, size_t n);
static inline int tbuf_puts(trt *rt, const tnode *at, tbuf *b, const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return tbuf_put(rt, at, b, s, n);
}
void tbuf_free(tbuf *b);

// ---- call arguments
typedef struct {
  tval pos[TMPL_MAX_ARGS];
  int npos;
  const char *kwn[TMPL_MAX_ARGS];
  tval kwv[TMPL_MAX_ARGS];
  int nkw;
} targs;
void targs_free(targs *a);
// Maps positional and keyword arguments onto named parameters (borrowed
// values, TV_UNDEF where absent). Fails on unknown or duplicate names.
int targs_bind(trt *rt, const tnode *at, const targs *a, const char *const *params, tval *slots);

// ---- filters, tests, methods, globals (names resolved at parse time)
typedef int (*tmpl_filter_fn)(trt *rt, const tnode *at, tval in, const targs *a, tval *out);
typedef int (*tmpl_test_fn)(trt *rt, const tnode *at, tval in, const targs *a, bool *out);
typedef int (*tmpl_method_fn)(trt *rt, const tnode *at, tval self, const targs *a, tval *out);
typedef int (*tmpl_global_fn)(trt *rt, const tnode *at, const targs *a, tval *out);

int tmpl_filter_find(const char *name);
int tmpl_test_find(const char *name);
int tmpl_method_known(const char *name);   // any type has it
int tmpl_global_find(const char *name);
int tmpl_filter_call(trt *rt, const tnode *at, int fn, tval in, const targs *a, tval *out);
int tmpl_test_call(trt *rt, const tnode *at, int fn, tval in, const targs *a, bool *out);
int tmpl_method_call(trt *rt, const tnode *at, const char *name, tval self, const targs *a, tval *out);
int tmpl_global_call(trt *rt, const tnode *at, int fn, const targs *a, tval *out);

// Helpers shared by filters and methods.
// Binary operators (tmpl_ops.c): arithmetic, comparison, ~, in / not in.
int tmpl_binop(trt *rt, const tnode *at, int op, tval a, tval b, tval *out);
// Attribute path "a.b.0" of a value (map/selectattr/sort/join attribute=).
int tmpl_getpath(trt *rt, const tnode *at, tval obj, const char *path, tval *out);
// Strings: Python whitespace, case mapping by code point.
bool tmpl_is_space(uint32_t cp);
int tmpl_str_strip(trt *rt, const tnode *at, tval s, tval chars, int sides, tval *out);  // 1 left 2 right 3 both
int tmpl_str_replace(trt *rt, const tnode *at, tval s, tval old, tval rep, tval count, tval *out);
int tmpl_case_map(trt *rt, const tnode *at, tval s, int mode, tval *out);  // 0 lower 1 upper 2 capitalize 3 title
int tmpl_iter_list(trt *rt, const tnode *at, tval v, tval *out_list);  // list of items
int tmpl_getattr(trt *rt, const tnode *at, tval obj, const char *name, size_t n, tval *out);
int tmpl_call_macro(trt *rt, const tnode *at, const tnode *macro, const targs *a, tval *out);

#endif
