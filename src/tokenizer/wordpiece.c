// wordpiece: BERT's WordPiece (tokenizer.ggml.model "bert"), as the reference
// runs it on GGUF vocabularies, where word-initial pieces carry a leading
// U+2581 and continuation pieces are bare (the converter rewrote "##x" -> "x").
// Pre-processing, per code point: canonical decomposition keeping only the
// first code point (which strips accents from precomposed letters), drop NUL,
// U+FFFD and control characters, lowercase, split at white space, and make
// every punctuation mark, ASCII symbol and CJK ideograph a word of its own.
// Each word then takes the longest matching piece from the left, repeatedly;
// a word with a position no piece matches becomes [UNK].
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

static bool is_ws(int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// CJK Unified Ideographs blocks, as BERT defines "Chinese character".
static bool is_cjk(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int32_t first_of_nfd(int32_t c) {
  utf8proc_int32_t d[8];
  int last = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(c, d, 8, UTF8PROC_DECOMPOSE, &last);
  return n >= 1 ? d[0] : c;
}

typedef struct {
  const tokenizer *t;
  ivec *out;
  char *w;  // current word, after a leading U+2581
  size_t n, cap;
} wpm_state;

static bool word_add(wpm_state *st, int32_t c) {
  if (st->n + 4 > st->cap) {
    size_t cap = st->cap * 2;
    char *w = realloc(st->w, cap);
    if (!w) return false;
    st->w = w;
    st->cap = cap;
  }
  st->n += (size_t)tok_utf8_put((uint32_t)c, st->w + st->n);
  return true;
}

// Greedy longest match over the word, then reset it.
static void word_flush(wpm_state *st) {
  if (st->n == 3) return;  // only the U+2581
  const tokenizer *t = st->t;
  size_t start = st->out->n, n = st->n, maxl = (size_t)t->max_token_len;
  for (size_t i = 0; i < n;) {
    size_t j = i + maxl + 1 < n ? i + maxl + 1 : n;
    int32_t id = -1;
    for (; j > i; j--)
      if ((id = strmap_get(&t->vocab, st->w + i, j - i)) >= 0) break;
    if (id < 0) {
      st->out->n = start;  // discard the whole word
      break;
    }
    ivec_push(st->out, id);
    i = j;
  }
  if (st->out->n == start && t->unk >= 0) ivec_push(st->out, t->unk);
  st->n = 3;
}

bool tok_wpm_encode(const tokenizer *t, const char *text, size_t len, ivec *out) {
  wpm_state st = {t, out, malloc(64), 3, 64};
  if (!st.w) goto oom;
  memcpy(st.w, "\xe2\x96\x81", 3);
  for (size_t i = 0; i < len;) {
    int32_t c = tok_utf8_next(text, len, &i);
    if (c < 0) continue;  // U+FFFD: dropped
    c = first_of_nfd(c);
    if (is_ws(c)) {
      word_flush(&st);
      continue;
    }
    utf8proc_category_t cat = utf8proc_category(c);
    if (c == 0 || c == 0xFFFD || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
        cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS)
      continue;
    bool punct = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
    bool sym = c < 0x7F && cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
    int32_t lc = utf8proc_tolower(c);
    if (punct || sym || is_cjk(c)) {
      word_flush(&st);
      if (!word_add(&st, lc)) goto oom;
      word_flush(&st);
    } else if (!word_add(&st, lc)) {
      goto oom;
    }
  }
  word_flush(&st);
  free(st.w);
  return !out->oom;
oom:
  free(st.w);
  err_set("tokenizer: out of memory");
  return false;
}
