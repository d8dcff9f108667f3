// json_schema_mask: a model's vocabulary as byte tries, and masking logits
// with a matcher state.
//
// The trie is stored flat in depth-first order (byte, depth, end of subtree
// per node), so a mask is one pass over an array: at each node the matcher
// set of its parent (kept per depth) consumes the node's byte; an empty
// result skips the whole subtree. The states per depth are allocated per
// call and grow to their working size within it.
//
// Inside a string, between characters, almost every token is allowed and a
// walk would visit most of the trie. So each token whose piece is only plain
// string characters (complete UTF-8, no '"', '\\' or control byte) carries
// its character count, and for the configurations that are there those
// tokens are decided by comparing it with the room the string has left
// (maxLength); only the other tokens (a second, small trie) are walked with
// them. The other configurations (a declared key beside an extra one, say)
// walk the whole trie, which their narrow choices prune early. A plain
// piece changes nothing else in a string frame that the next token could
// depend on (the exclusion trie of extra keys only decides at the closing
// quote), so the two ways agree; the unit test and the fuzzer check them
// against each other and against feeding every token.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/json_schema_internal.h"

#define MAX_PIECE 4096

typedef struct {
  int32_t n;         // nodes; the root is implicit
  uint8_t *byte;     // (n) the byte into the node
  uint16_t *depth;   // (n) 1 for the root's children
  int32_t *skip;     // (n) the first node after this one's subtree
  int32_t *tok_off;  // (n+1) tokens ending at node i: toks[tok_off[i] .. tok_off[i+1])
  int32_t *toks;
  int32_t max_depth;
} vtrie;

struct jsm_vocab {
  int32_t n_vocab;
  int32_t *plain;  // (n_vocab) characters of a piece of plain string characters, else -1 (0: empty)
  vtrie all;       // every non-empty piece
  vtrie rest;      // the pieces that are not plain
};

typedef struct {
  const uint8_t *p;
  size_t len;
  int32_t id;
} piece;

static int piece_cmp(const void *x, const void *y) {
  const piece *a = x, *b = y;
  int r = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
  if (r) return r;
  if (a->len != b->len) return a->len < b->len ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

static void vtrie_free(vtrie *t) {
  free(t->byte);
  free(t->depth);
  free(t->skip);
  free(t->tok_off);
  free(t->toks);
}

// Sorted, the pieces list the trie in depth-first order: each new piece
// leaves the path of the previous one where they stop sharing a prefix.
static bool vtrie_build(vtrie *t, piece *v, int32_t k) {
  size_t total = 0;
  for (int32_t i = 0; i < k; i++) total += v[i].len;
  qsort(v, (size_t)k, sizeof *v, piece_cmp);
  t->byte = malloc(total + 1);
  t->depth = malloc((total + 1) * sizeof *t->depth);
  t->skip = malloc((total + 1) * sizeof *t->skip);
  t->tok_off = malloc((total + 1) * sizeof *t->tok_off);
  t->toks = malloc(((size_t)k + 1) * sizeof *t->toks);
  if (!t->byte || !t->depth || !t->skip || !t->tok_off || !t->toks || total > INT32_MAX / 2) return false;
  int32_t stack[MAX_PIECE + 1], d = 0, n = 0, nt = 0;  // stack[1..d]: the path of the previous piece
  for (int32_t i = 0; i < k; i++) {
    size_t l = 0;
    if (i > 0)
      while (l < v[i].len && l < v[i - 1].len && v[i].p[l] == v[i - 1].p[l]) l++;
    for (; d > (int32_t)l; d--) t->skip[stack[d]] = n;
    for (size_t pos = l; pos < v[i].len; pos++) {
      t->byte[n] = v[i].p[pos];
      t->depth[n] = (uint16_t)(pos + 1);
      t->tok_off[n] = nt;
      stack[++d] = n++;
    }
    if ((int32_t)v[i].len > t->max_depth) t->max_depth = (int32_t)v[i].len;
    t->toks[nt++] = v[i].id;
  }
  for (; d > 0; d--) t->skip[stack[d]] = n;
  t->tok_off[n] = nt;
  t->n = n;
  return true;
}

static int32_t plain_chars(const uint8_t *p, size_t n) {
  int32_t chars = 0;
  for (size_t i = 0; i < n; chars++) {
    uint8_t c = p[i], need;
    uint16_t range;
    if (c < 0x80) {
      if (c < 0x20 || c == '"' || c == '\\') return -1;
      i++;
      continue;
    }
    if (!jsm_utf8_lead(c, &need, &range) || n - i - 1 < need) return -1;
    if (p[i + 1] < (range & 0xFF) || p[i + 1] > range >> 8) return -1;
    for (size_t k = 2; k <= need; k++)
      if ((p[i + k] & 0xC0) != 0x80) return -1;
    i += 1 + (size_t)need;
  }
  return chars;
}

jsm_vocab *jsm_vocab_new(const char *const *pieces, const size_t *lens, int n_vocab) {
  jsm_vocab *v = calloc(1, sizeof *v);
  piece *all = malloc(((size_t)(n_vocab > 0 ? n_vocab : 0) + 1) * sizeof *all);
  piece *rest = malloc(((size_t)(n_vocab > 0 ? n_vocab : 0) + 1) * sizeof *rest);
  if (!v || !all || !rest || n_vocab < 0) goto fail;
  v->n_vocab = n_vocab;
  v->plain = malloc(((size_t)n_vocab + 1) * sizeof *v->plain);
  if (!v->plain) goto fail;
  int32_t na = 0, nr = 0;
  for (int32_t i = 0; i < n_vocab; i++) {
    size_t len = lens[i];
    v->plain[i] = len > MAX_PIECE ? -1 : plain_chars((const uint8_t *)pieces[i], len);
    if (len == 0 || len > MAX_PIECE) continue;  // never allowed
    all[na++] = (piece){(const uint8_t *)pieces[i], len, i};
    if (v->plain[i] < 0) rest[nr++] = all[na - 1];
  }
  if (!vtrie_build(&v->all, all, na) || !vtrie_build(&v->rest, rest, nr)) goto fail;
  free(all);
  free(rest);
  return v;
fail:
  free(all);
  free(rest);
  jsm_vocab_free(v);
  return NULL;
}

void jsm_vocab_free(jsm_vocab *v) {
  if (!v) return;
  free(v->plain);
  vtrie_free(&v->all);
  vtrie_free(&v->rest);
  free(v);
}

int jsm_vocab_size(const jsm_vocab *v) { return v->n_vocab; }

// Marks in ok[] every token of trie t whose bytes `start` accepts.
static void walk(const jsm_schema *s, const jsm_cfgset *start, const vtrie *t, uint8_t *ok) {
  jsm_cfgset *sets = calloc((size_t)t->max_depth + 1, sizeof *sets);  // sets[d]: after the node at depth d
  if (!sets) return;
  for (int32_t i = 0; i < t->n;) {
    int32_t d = t->depth[i];
    jsm_cfgset_step(s, d == 1 ? start : &sets[d - 1], t->byte[i], &sets[d]);
    if (!sets[d].n) {
      i = t->skip[i];
      continue;
    }
    for (int32_t k = t->tok_off[i]; k < t->tok_off[i + 1]; k++) ok[t->toks[k]] = 1;
    i++;
  }
  for (int32_t d = 0; d <= t->max_depth; d++) jsm_cfgset_free(&sets[d]);
  free(sets);
}

static void mask(const jsm_state *st, const jsm_vocab *v, float *logits, bool fast) {
  const jsm_schema *s = jsm_state_schema(st);
  const jsm_cfgset *cur = jsm_state_cfgs(st);
  uint8_t *ok = calloc((size_t)v->n_vocab + 1, 1);  // out of memory: every token banned
  jsm_cfgset str = {0}, other = {0};
  if (ok && !fast) walk(s, cur, &v->all, ok);
  if (ok && fast) {  // a token is allowed if any configuration takes it: the two groups apart
    int32_t room = jsm_cfgset_split(s, cur, &str, &other);
    if (room >= 0) {
      for (int32_t i = 0; i < v->n_vocab; i++) ok[i] = v->plain[i] > 0 && v->plain[i] <= room;
      walk(s, &str, &v->rest, ok);
    }
    if (other.n) walk(s, &other, &v->all, ok);
  }
  jsm_cfgset_free(&str);
  jsm_cfgset_free(&other);
  for (int32_t i = 0; i < v->n_vocab; i++)
    if (!ok || !ok[i]) logits[i] = -INFINITY;
  free(ok);
}

void jsm_mask(const jsm_state *st, const jsm_vocab *v, float *logits) { mask(st, v, logits, true); }

void jsm_mask_walk_all(const jsm_state *st, const jsm_vocab *v, float *logits) { mask(st, v, logits, false); }
