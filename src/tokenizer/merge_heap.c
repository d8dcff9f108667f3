// merge_heap: the priority queue of merge candidates shared by SPM and BPE.
// Order: higher score first; on ties the leftmost pair, as the reference.
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

static bool before(const tok_bigram *a, const tok_bigram *b) {
  return a->score > b->score || (a->score == b->score && a->left < b->left);
}

bool tok_heap_push(tok_heap *h, tok_bigram x) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    tok_bigram *v = realloc(h->v, cap * sizeof *v);
    if (!v) return false;
    h->v = v;
    h->cap = cap;
  }
  size_t i = h->n++;
  while (i > 0 && before(&x, &h->v[(i - 1) / 2])) {
    h->v[i] = h->v[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h->v[i] = x;
  return true;
}

tok_bigram tok_heap_pop(tok_heap *h) {
  tok_bigram top = h->v[0], x = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
    if (!before(&h->v[c], &x)) break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n) h->v[i] = x;
  return top;
}
