// spm: SentencePiece-style BPE over token scores (tokenizer.ggml.model "llama").
// The text, with spaces written as U+2581, starts as one symbol per UTF-8
// character. Every adjacent pair whose concatenation is a token is a candidate;
// the candidate with the highest score (then the leftmost) merges first, and
// new candidates form with the neighbours: O(n log n) with a binary heap.
// Final symbols that are not tokens fall back to <0xNN> byte tokens.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

typedef struct {
  int prev, next;  // linked list of live symbols; -1 at the ends
  uint32_t off, n; // bytes in the escaped text; n == 0 once merged away
} symbol;

typedef struct {
  const tokenizer *t;
  const char *s;
  symbol *sym;
  tok_heap h;
} spm_state;

static bool try_pair(spm_state *st, int left, int right) {
  if (left < 0 || right < 0) return true;
  const symbol *l = &st->sym[left], *r = &st->sym[right];
  int32_t id = strmap_get(&st->t->vocab, st->s + l->off, l->n + r->n);
  if (id < 0) return true;
  return tok_heap_push(&st->h, (tok_bigram){st->t->scores ? st->t->scores[id] : 0.0f, left, right, l->n + r->n});
}

// Space -> U+2581, with an optional leading one.
static char *escape(const char *text, size_t len, bool prefix, size_t *out_len) {
  size_t spaces = prefix;
  for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
  if (len > (UINT32_MAX - 3 * spaces) || spaces > UINT32_MAX / 4) return NULL;
  char *o = malloc(len + 2 * spaces + 1), *p = o;
  if (!o) return NULL;
  if (prefix) memcpy(p, "\xe2\x96\x81", 3), p += 3;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == ' ') memcpy(p, "\xe2\x96\x81", 3), p += 3;
    else *p++ = text[i];
  }
  *out_len = (size_t)(p - o);
  return o;
}

static void emit(const spm_state *st, const symbol *s, ivec *out) {
  int32_t id = strmap_get(&st->t->vocab, st->s + s->off, s->n);
  if (id >= 0) {
    ivec_push(out, id);
    return;
  }
  for (uint32_t j = 0; j < s->n; j++) {
    int32_t b = st->t->byte_tok[(uint8_t)st->s[s->off + j]];
    if (b < 0) b = st->t->unk;  // the reference would throw here
    if (b >= 0) ivec_push(out, b);
  }
}

bool tok_spm_encode(const tokenizer *t, const char *text, size_t len, bool prefix_space, ivec *out) {
  size_t n;
  spm_state st = {t, NULL, NULL, {0}};
  char *s = escape(text, len, prefix_space, &n);
  if (!s) goto oom;
  st.s = s;
  st.sym = malloc((n + 1) * sizeof *st.sym);
  if (!st.sym) goto oom;
  int count = 0;
  for (size_t off = 0; off < n; count++) {
    size_t cl = (size_t)tok_utf8_len((uint8_t)s[off]);
    if (cl > n - off) cl = n - off;
    st.sym[count] = (symbol){count - 1, off + cl == n ? -1 : count + 1, (uint32_t)off, (uint32_t)cl};
    off += cl;
  }
  for (int i = 1; i < count; i++)
    if (!try_pair(&st, i - 1, i)) goto oom;
  while (st.h.n) {
    tok_bigram b = tok_heap_pop(&st.h);
    symbol *l = &st.sym[b.left], *r = &st.sym[b.right];
    if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;  // stale
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0) st.sym[r->next].prev = b.left;
    if (!try_pair(&st, l->prev, b.left) || !try_pair(&st, b.left, l->next)) goto oom;
  }
  for (int i = 0; i < count && i >= 0; i = st.sym[i].next) emit(&st, &st.sym[i], out);
  free(st.h.v);
  free(st.sym);
  free(s);
  return !out->oom;
oom:
  free(st.h.v);
  free(st.sym);
  free(s);
  err_set("tokenizer: out of memory");
  return false;
}
