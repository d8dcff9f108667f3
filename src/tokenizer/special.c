// special: splits input text around the texts of special tokens, as the
// reference does: special tokens are tried longest first (then lowest id);
// each one splits every remaining raw fragment at all its non-overlapping
// occurrences, left to right. Control and unknown tokens take part only when
// parse_special is set; user-defined tokens always do. A token with LSTRIP /
// RSTRIP also eats the whitespace beside it.
//
// Rather than searching the text once per special token (thousands of them in
// some vocabularies), one pass over a byte trie finds every occurrence of
// every special text; the tokens are then applied in priority order to the
// occurrences found, which gives the same fragments.
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

typedef struct {
  int32_t prio;  // the token's rank in t->special
  uint32_t pad;
  size_t pos;
} occurrence;

static int cmp_occ(const void *a, const void *b) {
  const occurrence *x = a, *y = b;
  if (x->prio != y->prio) return x->prio < y->prio ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static bool eligible(const tokenizer *t, int32_t id, bool parse_special) {
  return parse_special || !(t->attr[id] & (TA_CONTROL | TA_UNKNOWN));
}

// Every (token, position) where an eligible special text starts.
static bool scan(const tokenizer *t, const char *text, size_t len, bool parse_special,
                 occurrence **out, size_t *n_out) {
  size_t n = 0, cap = 0;
  occurrence *occ = NULL;
  for (size_t p = 0; p < len; p++) {
    int32_t node = 0;
    for (size_t q = p; q < len; q++) {
      char key[5];
      memcpy(key, &node, 4);
      key[4] = text[q];
      node = strmap_get(&t->trie, key, 5);
      if (node < 0) break;
      int32_t id = t->node_tok[node];
      if (id < 0 || !eligible(t, id, parse_special)) continue;
      if (n == cap) {
        cap = cap ? cap * 2 : 16;
        occurrence *o = realloc(occ, cap * sizeof *o);
        if (!o) {
          free(occ);
          return false;
        }
        occ = o;
      }
      occ[n++] = (occurrence){t->prio[id], 0, p};
    }
  }
  *out = occ;
  *n_out = n;
  return true;
}

typedef struct {
  tok_frag *v;
  size_t n, cap;
} fragvec;

static bool frag_push(fragvec *f, int32_t tok, size_t off, size_t len) {
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 16;
    tok_frag *v = realloc(f->v, cap * sizeof *v);
    if (!v) return false;
    f->v = v;
    f->cap = cap;
  }
  f->v[f->n++] = (tok_frag){tok, off, len};
  return true;
}

static bool is_space(char c) { return isspace((unsigned char)c) != 0; }

// Splits every raw fragment of `in` at the occurrences occ[0..n) of token id.
static bool apply_token(const tokenizer *t, const char *text, int32_t id, const occurrence *occ,
                        size_t n, const fragvec *in, fragvec *out) {
  size_t tl = t->text_len[id], k = 0;
  uint16_t attr = t->attr[id];
  out->n = 0;
  for (size_t f = 0; f < in->n; f++) {
    tok_frag fr = in->v[f];
    if (fr.tok >= 0) {
      if (!frag_push(out, fr.tok, fr.off, fr.len)) return false;
      continue;
    }
    size_t cur = fr.off, end = fr.off + fr.len;
    while (k < n && occ[k].pos < cur) k++;
    while (k < n && occ[k].pos + tl <= end) {
      size_t m = occ[k].pos;
      if (m < cur) {  // overlaps the previous match
        k++;
        continue;
      }
      size_t left = m - cur;
      if (attr & TA_LSTRIP)
        while (left > 0 && is_space(text[cur + left - 1])) left--;
      if (left > 0 && !frag_push(out, -1, cur, left)) return false;
      if (!frag_push(out, id, m, tl)) return false;
      cur = m + tl;
      if (attr & TA_RSTRIP)
        while (cur < end && is_space(text[cur])) cur++;
      k++;
    }
    if (cur < end && !frag_push(out, -1, cur, end - cur)) return false;
  }
  return true;
}

bool tok_partition(const tokenizer *t, const char *text, size_t len, bool parse_special,
                   tok_frag **out, size_t *n_out) {
  occurrence *occ = NULL;
  size_t n_occ = 0;
  fragvec a = {0}, b = {0};
  if (!scan(t, text, len, parse_special, &occ, &n_occ)) goto oom;
  if (len > 0 && !frag_push(&a, -1, 0, len)) goto oom;
  if (n_occ) qsort(occ, n_occ, sizeof *occ, cmp_occ);
  for (size_t i = 0; i < n_occ;) {
    size_t j = i;
    while (j < n_occ && occ[j].prio == occ[i].prio) j++;
    if (!apply_token(t, text, t->special[occ[i].prio], occ + i, j - i, &a, &b)) goto oom;
    fragvec tmp = a;
    a = b;
    b = tmp;
    i = j;
  }
  free(occ);
  free(b.v);
  *out = a.v;
  *n_out = a.n;
  return true;
oom:
  free(occ);
  free(a.v);
  free(b.v);
  err_set("tokenizer: out of memory");
  return false;
}
