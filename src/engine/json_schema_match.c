// json_schema_match: the matcher. A configuration is a stack of frames (the
// root frame, then one per open value); a state is a set of configurations,
// deduplicated, at most JSM_MAX_CONFIGS. Consuming a byte runs each
// configuration's top frame on it:
//   - OK: consumed, the value goes on; DONE: consumed and the value is
//     complete (closing quote, brace, bracket, last byte of a literal), so
//     the frame is popped; END: not consumed, but the value could end here
//     (a number, a literal that is a prefix of a longer one), so the frame is
//     popped and the byte goes to the parent; FAIL: the configuration dies.
//   - where a value starts, every alternative of its node whose mindepth fits
//     under JSM_MAX_FRAMES becomes its own configuration; at a '"' opening an
//     object key, a declared name (a walk of the object's key trie) and an
//     extra key (a string) are both tried.
// The per-byte work is a copy of each configuration into a stack buffer and
// back; nothing is allocated once the sets have grown to their working size.
//
// Frame fields by kind (see jsm_frame):
//   root    n whitespace run; b the document's node
//   object  n whitespace; a next declared property; b key trie node (O_KEY)
//           or the pending value's node (O_COLON, O_VALUE)
//   array   n whitespace; a items so far (capped once more cannot matter)
//   string  a characters so far (capped likewise); b exclusion trie node
//           (-1: none); c pending high surrogate; n/x \u digits or UTF-8
//   number  a digits in the current part
//   literal a trie node
#include <stdlib.h>
#include <string.h>

#include "engine/json_schema_internal.h"

enum { R_BEFORE, R_IN, R_AFTER };
enum { O_INIT, O_OPEN, O_COMMA, O_KEY, O_XKEY, O_COLON, O_VALUE, O_IN, O_AFTER };
enum { A_INIT, A_OPEN, A_COMMA, A_IN, A_AFTER };
enum { S_INIT, S_IN, S_ESC, S_U, S_LO_BS, S_LO_U, S_LO, S_UTF8 };
enum { M_INIT, M_MINUS, M_ZERO, M_INT, M_DOT, M_FRAC, M_EXP, M_ESIGN, M_EDIG };
enum { FAIL, OK, DONE, END, FORKED };

struct jsm_state {
  const jsm_schema *s;
  jsm_cfgset cur, tmp[2];
};

// ---- configuration sets

void jsm_cfgset_free(jsm_cfgset *c) {
  free(c->off);
  free(c->len);
  free(c->hash);
  free(c->fr);
  memset(c, 0, sizeof *c);
}

static bool reserve(jsm_cfgset *c, int32_t n, int32_t nf) {
  if (n > c->cap_n) {
    int32_t cap = c->cap_n;
    if (!jsm_grow(&c->off, &cap, n, sizeof *c->off)) return false;
    cap = c->cap_n;
    if (!jsm_grow(&c->len, &cap, n, sizeof *c->len)) return false;
    cap = c->cap_n;
    if (!jsm_grow(&c->hash, &cap, n, sizeof *c->hash)) return false;
    c->cap_n = cap;
  }
  return jsm_grow(&c->fr, &c->cap_f, nf, sizeof *c->fr);
}

bool jsm_cfgset_copy(jsm_cfgset *dst, const jsm_cfgset *src) {
  if (!reserve(dst, src->n, src->nf)) return false;
  dst->n = src->n;
  dst->nf = src->nf;
  if (!src->n) return true;
  memcpy(dst->off, src->off, (size_t)src->n * sizeof *src->off);
  memcpy(dst->len, src->len, (size_t)src->n * sizeof *src->len);
  memcpy(dst->hash, src->hash, (size_t)src->n * sizeof *src->hash);
  memcpy(dst->fr, src->fr, (size_t)src->nf * sizeof *src->fr);
  return true;
}

static uint64_t hash_frames(const jsm_frame *w, int32_t len) {
  uint64_t h = 0x9e3779b97f4a7c15ull * (uint64_t)(len + 1);
  for (int32_t i = 0; i < len; i++) {
    uint64_t v[3] = {(uint64_t)(uint32_t)w[i].node << 32 | (uint32_t)w[i].phase << 24 | (uint32_t)w[i].n << 16 | w[i].x,
                     (uint64_t)(uint32_t)w[i].a << 32 | (uint32_t)w[i].b, (uint32_t)w[i].c};
    for (int k = 0; k < 3; k++) {
      h ^= v[k];
      h *= 0xff51afd7ed558ccdull;
      h ^= h >> 29;
    }
  }
  return h;
}

// Adds a configuration unless an identical one is there. Past
// JSM_MAX_CONFIGS (or out of memory) it is dropped: the state gets narrower,
// never wrong.
static void emit(jsm_cfgset *out, const jsm_frame *w, int32_t len) {
  uint64_t h = hash_frames(w, len);
  for (int32_t i = 0; i < out->n; i++)
    if (out->hash[i] == h && out->len[i] == len && !memcmp(out->fr + out->off[i], w, (size_t)len * sizeof *w)) return;
  if (out->n >= JSM_MAX_CONFIGS || !reserve(out, out->n + 1, out->nf + len)) return;
  out->off[out->n] = out->nf;
  out->len[out->n] = len;
  out->hash[out->n++] = h;
  memcpy(out->fr + out->nf, w, (size_t)len * sizeof *w);
  out->nf += len;
}

bool jsm_cfgset_start(jsm_cfgset *c, int32_t node) {
  c->n = c->nf = 0;
  jsm_frame root = {.node = -1, .phase = R_BEFORE, .b = node};
  emit(c, &root, 1);
  return c->n == 1;
}

// ---- scalars

static bool is_ws(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// A gap between two JSON tokens is empty, one space or tab, or a newline
// and then at most JSM_MAX_INDENT spaces or tabs: pretty-printed output
// fits, and a model that favours whitespace still has to make progress.
// f->n: 0 nothing yet, 1 a space or tab (the gap is full), 2 + k a newline
// and k indentation bytes.
static int ws_step(jsm_frame *f, uint8_t c) {
  if (f->n == 0) {
    if (c == '\r') return FAIL;
    f->n = c == '\n' ? 2 : 1;
    return OK;
  }
  if (f->n == 1 || c == '\n' || c == '\r' || f->n >= 2 + JSM_MAX_INDENT) return FAIL;
  f->n++;
  return OK;
}

static void to(jsm_frame *f, int phase) {
  f->phase = (uint8_t)phase;
  f->n = 0;
}

static void excl_byte(const jsm_schema *s, jsm_frame *f, uint8_t c) {
  if (f->b >= 0) f->b = jsm_trie_next(s, f->b, c);
}

static void excl_cp(const jsm_schema *s, jsm_frame *f, uint32_t cp) {
  static const uint8_t lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
  uint8_t u[4];
  int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  for (int i = n - 1; i > 0; i--, cp >>= 6) u[i] = (uint8_t)(0x80 | (cp & 0x3F));
  u[0] = (uint8_t)(lead[n] | cp);
  for (int i = 0; i < n && f->b >= 0; i++) excl_byte(s, f, u[i]);
}

// A character starts: is there room, and count it (up to minLength when
// unbounded: beyond that the count no longer matters).
static bool str_char(const jsm_node *nd, jsm_frame *f) {
  if (nd->hi >= 0 && f->a >= nd->hi) return false;
  if (nd->hi >= 0 || f->a < nd->lo) f->a++;
  return true;
}

static int string_escape(const jsm_schema *s, jsm_frame *f, uint8_t c) {
  static const char from[] = "\"\\/bfnrt", to_[] = "\"\\/\b\f\n\r\t";
  if (c == 'u') {
    f->phase = S_U;
    return OK;
  }
  const char *p = c ? memchr(from, c, sizeof from - 1) : NULL;
  if (!p) return FAIL;
  excl_byte(s, f, (uint8_t)to_[p - from]);
  f->phase = S_IN;
  return OK;
}

// \uXXXX digits: no \u0000, surrogates only as a high-low pair, rejected at
// the first digit that makes them impossible so no prefix is a dead end.
static int string_hex(const jsm_schema *s, jsm_frame *f, uint8_t c) {
  int d = jsm_hexval(c);
  if (d < 0) return FAIL;
  uint32_t v = (uint32_t)f->x * 16 + (uint32_t)d;
  int n = ++f->n;
  if (f->phase == S_U && n == 2 && v >= 0xDC && v <= 0xDF) return FAIL;  // a lone low surrogate
  if (f->phase == S_LO && ((n == 1 && v != 0xD) || (n == 2 && v < 0xDC))) return FAIL;
  if (n < 4) {
    f->x = (uint16_t)v;
    return OK;
  }
  if (f->phase == S_U && v == 0) return FAIL;
  if (f->phase == S_U && v >= 0xD800 && v <= 0xDBFF) {
    f->c = (int32_t)v;
    f->x = 0;
    to(f, S_LO_BS);
    return OK;
  }
  excl_cp(s, f, f->phase == S_LO ? 0x10000 + (((uint32_t)f->c - 0xD800) << 10) + (v - 0xDC00) : v);
  f->x = 0;
  f->c = 0;
  to(f, S_IN);
  return OK;
}

static int string_byte(const jsm_schema *s, jsm_frame *f, uint8_t c) {
  const jsm_node *nd = &s->nodes[f->node];
  switch (f->phase) {
    case S_INIT:
      if (c != '"') return FAIL;
      f->phase = S_IN;
      return OK;
    case S_IN:
      if (c == '"') return f->a >= nd->lo && !(f->b >= 0 && s->tn[f->b].id >= 0) ? DONE : FAIL;
      if (c < 0x20 || !str_char(nd, f)) return FAIL;
      if (c == '\\') {
        f->phase = S_ESC;
        return OK;
      }
      if (c >= 0x80) {
        if (!jsm_utf8_lead(c, &f->n, &f->x)) return FAIL;
        f->phase = S_UTF8;
      }
      excl_byte(s, f, c);
      return OK;
    case S_UTF8:
      if (c < (f->x & 0xFF) || c > (f->x >> 8)) return FAIL;
      excl_byte(s, f, c);
      f->x = 0x80 | 0xBF << 8;
      if (--f->n == 0) f->phase = S_IN, f->x = 0;
      return OK;
    case S_ESC: return string_escape(s, f, c);
    case S_U:
    case S_LO: return string_hex(s, f, c);
    case S_LO_BS:
      if (c != '\\') return FAIL;
      f->phase = S_LO_U;
      return OK;
    case S_LO_U:
      if (c != 'u') return FAIL;
      f->phase = S_LO;
      return OK;
  }
  return FAIL;
}

static int number_byte(const jsm_schema *s, jsm_frame *f, uint8_t c) {
  bool digit = c >= '0' && c <= '9', real = s->nodes[f->node].kind == N_NUMBER, e = c == 'e' || c == 'E';
  int p = f->phase;
  if (p == M_INIT && c == '-') return f->phase = M_MINUS, OK;
  if (p == M_INIT || p == M_MINUS) {
    if (!digit) return FAIL;
    f->phase = c == '0' ? M_ZERO : M_INT;
    f->a = 1;
    return OK;
  }
  if (p == M_DOT || p == M_EXP || p == M_ESIGN) {
    if (p == M_EXP && (c == '+' || c == '-')) return f->phase = M_ESIGN, OK;
    if (!digit) return FAIL;
    f->phase = p == M_DOT ? M_FRAC : M_EDIG;
    f->a = 1;
    return OK;
  }
  // M_ZERO, M_INT, M_FRAC, M_EDIG: a complete number so far
  int max = p == M_INT ? JSM_MAX_INT_DIGITS : p == M_FRAC ? JSM_MAX_FRAC_DIGITS : p == M_EDIG ? JSM_MAX_EXP_DIGITS : 0;
  if (digit) return f->a < max ? (f->a++, OK) : FAIL;
  if (real && c == '.' && (p == M_ZERO || p == M_INT)) return f->phase = M_DOT, f->a = 0, OK;
  if (real && e && p != M_EDIG) return f->phase = M_EXP, f->a = 0, OK;
  return END;
}

static int literal_byte(const jsm_schema *s, jsm_frame *f, uint8_t c) {
  int32_t t = jsm_trie_next(s, f->a, c);
  if (t < 0) return s->tn[f->a].id >= 0 ? END : FAIL;
  f->a = t;
  return s->tn[t].id >= 0 && s->tn[t].n_edges == 0 ? DONE : OK;
}

// ---- containers

static void run(const jsm_schema *s, jsm_frame *w, int32_t len, uint8_t c, jsm_cfgset *out);

static void push(const jsm_schema *s, jsm_frame *w, int32_t len, int32_t node) {
  const jsm_node *nd = &s->nodes[node];
  w[len] = (jsm_frame){.node = node};
  if (nd->kind == N_STRING) w[len].b = nd->trie;
  if (nd->kind == N_LITERAL) w[len].a = nd->trie;
}

// Whether concrete node `node` can start with byte c (saves copying
// configurations that would die at once).
static bool can_start(const jsm_schema *s, int32_t node, uint8_t c) {
  const jsm_node *nd = &s->nodes[node];
  switch (nd->kind) {
    case N_OBJECT: return c == '{';
    case N_ARRAY: return c == '[';
    case N_STRING: return c == '"';
    case N_LITERAL: return jsm_trie_next(s, nd->trie, c) >= 0;
    default: return c == '-' || (c >= '0' && c <= '9');
  }
}

// A value of `node` starts with byte c above the len frames of w: one
// configuration per alternative that fits.
static void start_value(const jsm_schema *s, jsm_frame *w, int32_t len, int32_t node, uint8_t c, jsm_cfgset *out) {
  const jsm_node *nd = &s->nodes[node];
  int32_t budget = JSM_MAX_FRAMES - len, last = -1;
  if (nd->kind != N_ANYOF) {
    if (nd->mindepth <= budget && can_start(s, node, c)) push(s, w, len, node), run(s, w, len + 1, c, out);
    return;
  }
  for (int32_t k = 0; k < nd->n; k++) {
    int32_t alt = s->ints[nd->first + k];
    if (s->nodes[alt].mindepth > budget || !can_start(s, alt, c)) continue;
    if (last >= 0) {  // all but the last viable alternative run on a copy
      jsm_frame w2[JSM_MAX_FRAMES];
      memcpy(w2, w, (size_t)len * sizeof *w);
      push(s, w2, len, last);
      run(s, w2, len + 1, c, out);
    }
    last = alt;
  }
  if (last >= 0) push(s, w, len, last), run(s, w, len + 1, c, out);
}

static int32_t req_next(const jsm_schema *s, const jsm_node *nd, int32_t i) { return s->ints[nd->aux + i]; }

// Whether the key trie below node t holds a property the object may write
// next (index in [from, first required at or after from]) whose value fits
// in `budget` frames.
static bool key_alive(const jsm_schema *s, const jsm_node *nd, int32_t t, int32_t from, int32_t budget) {
  if (from >= nd->n) return false;
  int32_t hi = req_next(s, nd, from), lo = 0, end = s->tn[t].n_sub;
  const int32_t *ids = s->sub + s->tn[t].sub;
  while (lo < end) {
    int32_t m = (lo + end) / 2;
    if (ids[m] < from) lo = m + 1;
    else end = m;
  }
  for (; lo < s->tn[t].n_sub && ids[lo] <= hi; lo++)
    if (s->nodes[s->props[nd->first + ids[lo]].node].mindepth <= budget) return true;
  return false;
}

static bool extra_ok(const jsm_schema *s, const jsm_node *nd, int32_t from, int32_t budget) {
  return nd->child >= 0 && req_next(s, nd, from) == nd->n && s->nodes[nd->child].mindepth <= budget;
}

// '"' where a key starts: a declared name, or an extra key.
static void key_start(const jsm_schema *s, jsm_frame *w, int32_t len, jsm_cfgset *out) {
  jsm_frame *f = &w[len - 1], saved = *f;
  const jsm_node *nd = &s->nodes[f->node];
  int32_t budget = JSM_MAX_FRAMES - len, t = nd->trie >= 0 ? jsm_trie_next(s, nd->trie, '"') : -1;
  if (t >= 0 && key_alive(s, nd, t, f->a, budget)) {
    to(f, O_KEY);
    f->b = t;
    emit(out, w, len);
    *f = saved;
  }
  if (extra_ok(s, nd, f->a, budget)) {
    to(f, O_XKEY);
    f->a = nd->n;
    f->b = nd->child;
    push(s, w, len, nd->key);
    run(s, w, len + 1, '"', out);
  }
}

static int object_byte(const jsm_schema *s, jsm_frame *w, int32_t len, uint8_t c, jsm_cfgset *out) {
  jsm_frame *f = &w[len - 1];
  const jsm_node *nd = &s->nodes[f->node];
  int32_t budget = JSM_MAX_FRAMES - len;
  if (f->phase == O_INIT) return c == '{' ? (to(f, O_OPEN), OK) : FAIL;
  if (f->phase == O_KEY) {
    int32_t t = jsm_trie_next(s, f->b, c);
    if (t < 0 || !key_alive(s, nd, t, f->a, budget)) return FAIL;
    f->b = t;
    if (s->tn[t].id >= 0) {  // the closing quote of a declared name
      to(f, O_COLON);
      f->a = s->tn[t].id + 1;
      f->b = s->props[nd->first + s->tn[t].id].node;
    }
    return OK;
  }
  if (is_ws(c)) return ws_step(f, c);
  switch (f->phase) {
    case O_OPEN:
    case O_COMMA:
      if (c == '"') return key_start(s, w, len, out), FORKED;
      return c == '}' && f->phase == O_OPEN && req_next(s, nd, 0) == nd->n ? DONE : FAIL;
    case O_COLON: return c == ':' ? (to(f, O_VALUE), OK) : FAIL;
    case O_VALUE:
      to(f, O_IN);
      start_value(s, w, len, f->b, c, out);
      return FORKED;
    case O_AFTER:
      if (c == '}') return req_next(s, nd, f->a) == nd->n ? DONE : FAIL;
      if (c != ',') return FAIL;
      if (!(nd->trie >= 0 && key_alive(s, nd, nd->trie, f->a, budget)) && !extra_ok(s, nd, f->a, budget)) return FAIL;
      to(f, O_COMMA);
      return OK;
  }
  return FAIL;
}

static int32_t item_node(const jsm_schema *s, const jsm_node *nd, int32_t i) {
  return i < nd->n ? s->ints[nd->first + i] : nd->child;
}

static bool item_ok(const jsm_schema *s, const jsm_node *nd, int32_t i, int32_t budget) {
  int32_t it = item_node(s, nd, i);
  return (nd->hi < 0 || i < nd->hi) && it >= 0 && s->nodes[it].mindepth <= budget;
}

static int array_byte(const jsm_schema *s, jsm_frame *w, int32_t len, uint8_t c, jsm_cfgset *out) {
  jsm_frame *f = &w[len - 1];
  const jsm_node *nd = &s->nodes[f->node];
  int32_t budget = JSM_MAX_FRAMES - len;
  if (f->phase == A_INIT) return c == '[' ? (to(f, A_OPEN), OK) : FAIL;
  if (is_ws(c)) return ws_step(f, c);
  if (c == ']' && f->phase != A_COMMA) return f->a >= nd->lo ? DONE : FAIL;
  if (f->phase == A_AFTER) return c == ',' && item_ok(s, nd, f->a, budget) ? (to(f, A_COMMA), OK) : FAIL;
  if (!item_ok(s, nd, f->a, budget)) return FAIL;
  to(f, A_IN);
  start_value(s, w, len, item_node(s, nd, f->a), c, out);
  return FORKED;
}

static int root_byte(const jsm_schema *s, jsm_frame *w, int32_t len, uint8_t c, jsm_cfgset *out) {
  jsm_frame *f = &w[len - 1];
  if (is_ws(c)) return ws_step(f, c);
  if (f->phase != R_BEFORE) return FAIL;
  to(f, R_IN);
  start_value(s, w, len, f->b, c, out);
  return FORKED;
}

// The value above frame f is complete.
static void child_done(const jsm_schema *s, jsm_frame *f) {
  if (f->node < 0) {
    to(f, R_AFTER);
    return;
  }
  const jsm_node *nd = &s->nodes[f->node];
  if (nd->kind == N_OBJECT) {
    to(f, f->phase == O_XKEY ? O_COLON : O_AFTER);
    return;
  }
  to(f, A_AFTER);
  int32_t cap = nd->lo > nd->n ? nd->lo : nd->n;  // past both, every count behaves alike
  if (++f->a > cap && nd->hi < 0) f->a = cap;
}

// Consumes byte c in the configuration w (len frames, scratch the caller
// gives up), adding what it becomes to out.
static void run(const jsm_schema *s, jsm_frame *w, int32_t len, uint8_t c, jsm_cfgset *out) {
  for (;;) {
    jsm_frame *f = &w[len - 1];
    int r;
    if (f->node < 0) r = root_byte(s, w, len, c, out);
    else switch (s->nodes[f->node].kind) {
        case N_OBJECT: r = object_byte(s, w, len, c, out); break;
        case N_ARRAY: r = array_byte(s, w, len, c, out); break;
        case N_STRING: r = string_byte(s, f, c); break;
        case N_LITERAL: r = literal_byte(s, f, c); break;
        default: r = number_byte(s, f, c); break;
      }
    if (r == OK) emit(out, w, len);
    if (r != DONE && r != END) return;
    child_done(s, &w[--len - 1]);
    if (r == DONE) {
      emit(out, w, len);
      return;
    }
  }
}

void jsm_cfgset_step(const jsm_schema *s, const jsm_cfgset *in, uint8_t c, jsm_cfgset *out) {
  jsm_frame w[JSM_MAX_FRAMES];
  out->n = out->nf = 0;
  for (int32_t i = 0; i < in->n; i++) {
    memcpy(w, in->fr + in->off[i], (size_t)in->len[i] * sizeof *w);
    run(s, w, in->len[i], c, out);
  }
}

static bool can_end(const jsm_schema *s, const jsm_frame *f) {
  if (f->node < 0) return false;
  int k = s->nodes[f->node].kind;
  if (k == N_LITERAL) return s->tn[f->a].id >= 0;
  if (k == N_NUMBER || k == N_INTEGER)
    return f->phase == M_ZERO || f->phase == M_INT || f->phase == M_FRAC || f->phase == M_EDIG;
  return false;
}

bool jsm_cfgset_complete(const jsm_schema *s, const jsm_cfgset *c) {
  for (int32_t i = 0; i < c->n; i++) {
    const jsm_frame *w = c->fr + c->off[i];
    if ((c->len[i] == 1 && w[0].phase == R_AFTER) || (c->len[i] == 2 && can_end(s, &w[1]))) return true;
  }
  return false;
}

int32_t jsm_cfgset_split(const jsm_schema *s, const jsm_cfgset *in, jsm_cfgset *str, jsm_cfgset *other) {
  int32_t room = -1;
  str->n = str->nf = other->n = other->nf = 0;
  for (int32_t i = 0; i < in->n; i++) {
    const jsm_frame *w = in->fr + in->off[i], *f = &w[in->len[i] - 1];
    if (f->node >= 0 && s->nodes[f->node].kind == N_STRING && f->phase == S_IN) {
      const jsm_node *nd = &s->nodes[f->node];
      int32_t r = nd->hi < 0 ? INT32_MAX : nd->hi - f->a;
      if (r > room) room = r;
      emit(str, w, in->len[i]);
    } else {
      emit(other, w, in->len[i]);
    }
  }
  return room;
}

// ---- states

jsm_state *jsm_state_new(const jsm_schema *s) {
  jsm_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->s = s;
  if (!jsm_cfgset_start(&st->cur, s->root)) {
    jsm_state_free(st);
    return NULL;
  }
  return st;
}

void jsm_state_free(jsm_state *st) {
  if (!st) return;
  jsm_cfgset_free(&st->cur);
  jsm_cfgset_free(&st->tmp[0]);
  jsm_cfgset_free(&st->tmp[1]);
  free(st);
}

bool jsm_state_copy(jsm_state *dst, const jsm_state *src) {
  if (dst == src) return true;
  if (!jsm_cfgset_copy(&dst->cur, &src->cur)) return false;
  dst->s = src->s;
  return true;
}

void jsm_state_reset(jsm_state *st) { jsm_cfgset_start(&st->cur, st->s->root); }

bool jsm_feed(jsm_state *st, const char *bytes, size_t n) {
  jsm_cfgset *in = &st->cur;
  for (size_t i = 0; i < n; i++) {
    jsm_cfgset *out = &st->tmp[i & 1];
    jsm_cfgset_step(st->s, in, (uint8_t)bytes[i], out);
    if (!out->n) return false;
    in = out;
  }
  jsm_cfgset t = st->cur;  // the last set becomes the state, the old one scratch
  st->cur = *in;
  *in = t;
  return true;
}

bool jsm_complete(const jsm_state *st) { return jsm_cfgset_complete(st->s, &st->cur); }

const jsm_cfgset *jsm_state_cfgs(const jsm_state *st) { return &st->cur; }

const jsm_schema *jsm_state_schema(const jsm_state *st) { return st->s; }
