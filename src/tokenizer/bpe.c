// bpe: byte-level BPE (tokenizer.ggml.model "gpt2"). The text is made valid
// UTF-8 the reference's way (bad bytes -> U+FFFD), optionally NFC-normalized
// (tokenizer.json normalizer), split into words by the pre-tokenizer, and each
// word's bytes are written in the byte-level alphabet. Within a word, symbols
// start as single characters; the adjacent pair with the lowest merge rank
// (then the leftmost) merges first, through a heap: O(n log n) per word.
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

typedef struct {
  int prev, next;
  uint32_t off, n;  // bytes in the encoded word; n == 0 once merged away
} symbol;

typedef struct {
  const tokenizer *t;
  const char *ref;   // the text whose bytes are encoded (same offsets as the split text)
  const char *base;  // the text the pre-tokenizer split
  ivec *out;
  char *enc;  // encoded word
  size_t enc_cap;
  symbol *sym;
  size_t sym_cap;
  tok_heap h;
} bpe_state;

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap : 256;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return false;
  *p = q;
  *cap = c;
  return true;
}

static bool try_pair(bpe_state *st, int left, int right) {
  if (left < 0 || right < 0) return true;
  const symbol *l = &st->sym[left], *r = &st->sym[right];
  int32_t rank = strmap_get2(&st->t->merges, st->enc + l->off, l->n, 0xFF, st->enc + r->off, r->n);
  if (rank < 0) return true;
  return tok_heap_push(&st->h, (tok_bigram){-(float)rank, left, right, l->n + r->n});
}

static void emit(bpe_state *st, const symbol *s) {
  const char *p = st->enc + s->off;
  int32_t id = strmap_get(&st->t->vocab, p, s->n);
  if (id >= 0) {
    ivec_push(st->out, id);
    return;
  }
  // As the reference: fall back to tokens for the single raw bytes, if any.
  for (uint32_t j = 0; j < s->n; j++) {
    id = strmap_get(&st->t->vocab, p + j, 1);
    if (id >= 0) ivec_push(st->out, id);
  }
}

static bool merge_word(bpe_state *st, size_t n) {
  const tokenizer *t = st->t;
  if (t->ignore_merges) {
    int32_t id = strmap_get(&t->vocab, st->enc, n);
    if (id >= 0) {
      ivec_push(st->out, id);
      return true;
    }
  }
  if (!grow((void **)&st->sym, &st->sym_cap, n, sizeof *st->sym)) return false;
  int count = 0;
  for (size_t off = 0; off < n; count++) {
    size_t cl = (size_t)tok_utf8_len((uint8_t)st->enc[off]);
    if (cl > n - off) cl = n - off;
    st->sym[count] = (symbol){count - 1, off + cl == n ? -1 : count + 1, (uint32_t)off, (uint32_t)cl};
    off += cl;
  }
  st->h.n = 0;
  for (int i = 1; i < count; i++)
    if (!try_pair(st, i - 1, i)) return false;
  while (st->h.n) {
    tok_bigram b = tok_heap_pop(&st->h);
    symbol *l = &st->sym[b.left], *r = &st->sym[b.right];
    if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;  // stale
    l->n += r->n;
    r->n = 0;
    l->next = r->next;
    if (r->next >= 0) st->sym[r->next].prev = b.left;
    if (!try_pair(st, l->prev, b.left) || !try_pair(st, b.left, l->next)) return false;
  }
  for (int i = 0; i < count && i >= 0; i = st->sym[i].next) emit(st, &st->sym[i]);
  return !st->out->oom;
}

static bool on_word(const char *w, size_t n, void *ud) {
  bpe_state *st = ud;
  const uint8_t *src = (const uint8_t *)st->ref + (w - st->base);
  if (n > UINT32_MAX / 2 || !grow((void **)&st->enc, &st->enc_cap, 2 * n, 1)) goto oom;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) m += (size_t)tok_byte_to_unicode(src[i], st->enc + m);
  if (!merge_word(st, m)) goto oom;
  return true;
oom:
  err_set("tokenizer: out of memory");
  return false;
}

// NFC of valid UTF-8 (surrogates already masked); malloc'd, NULL on failure.
static char *nfc(const char *s, size_t n, size_t *out_len) {
  utf8proc_uint8_t *o = NULL;
  utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &o,
                                    UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (r < 0) return NULL;
  *out_len = (size_t)r;
  return (char *)o;
}

bool tok_bpe_encode(const tokenizer *t, const char *text, size_t len, ivec *out) {
  bool surr, ok = false;
  size_t n, n2;
  char *ref = tok_utf8_sanitize(text, len, &n, &surr), *split = ref, *norm = NULL;
  bpe_state st = {t, NULL, NULL, out, NULL, 0, NULL, 0, {0}};
  if (!ref) goto oom;
  if (surr || t->nfc) {
    if (!(split = malloc(n + 1))) goto oom;
    memcpy(split, ref, n + 1);
    tok_utf8_mask_surrogates(split, n);
  }
  if (t->nfc) {
    if (!(norm = nfc(split, n, &n2))) goto oom;
    free(split);
    free(ref);
    ref = split = norm;
    n = n2;
  }
  st.ref = ref;
  st.base = split;
  ok = tok_pre_split(t->pre, split, n, on_word, &st);
  goto done;
oom:
  err_set("tokenizer: out of memory");
done:
  if (split != ref) free(split);
  free(ref);
  free(st.enc);
  free(st.sym);
  free(st.h.v);
  return ok;
}
