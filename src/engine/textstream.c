// textstream: see textstream.h.
#include "engine/textstream.h"

#include <stdlib.h>
#include <string.h>

void textstream_init(textstream *ts, const char *const *stop, int n_stop, llmux_text_fn emit, void *user) {
  memset(ts, 0, sizeof *ts);
  ts->stop = stop;
  ts->n_stop = n_stop;
  ts->emit = emit;
  ts->user = user;
}

void textstream_free(textstream *ts) { free(ts->buf); }

static void emit(textstream *ts, size_t n) {
  if (n == 0) return;
  if (ts->emit && !ts->emit(ts->buf, n, ts->user)) ts->stopped = true;
  memmove(ts->buf, ts->buf + n, ts->len - n);
  ts->len -= n;
}

// Length of the longest tail of buf that is a proper prefix of a stop string.
static size_t stop_prefix_tail(const textstream *ts) {
  size_t best = 0;
  for (int i = 0; i < ts->n_stop; i++) {
    size_t sl = strlen(ts->stop[i]);
    if (sl == 0) continue;
    for (size_t k = sl > ts->len ? ts->len : sl - 1; k > best; k--)
      if (!memcmp(ts->buf + ts->len - k, ts->stop[i], k)) {
        best = k;
        break;
      }
  }
  return best;
}

// Bytes at the end of buf that start an incomplete UTF-8 character.
static size_t utf8_incomplete_tail(const char *s, size_t n) {
  for (size_t back = 1; back <= 4 && back <= n; back++) {
    unsigned char c = (unsigned char)s[n - back];
    if ((c & 0xc0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

bool textstream_push(textstream *ts, const char *piece, size_t len) {
  if (ts->stopped) return false;
  if (ts->len + len + 1 > ts->cap) {
    size_t cap = ts->cap ? ts->cap : 256;
    while (cap < ts->len + len + 1) cap *= 2;
    char *nb = realloc(ts->buf, cap);
    if (!nb) return !(ts->stopped = true);
    ts->buf = nb;
    ts->cap = cap;
  }
  memcpy(ts->buf + ts->len, piece, len);
  ts->len += len;
  ts->buf[ts->len] = 0;
  size_t cut = ts->len;
  for (int i = 0; i < ts->n_stop; i++) {
    if (!ts->stop[i][0]) continue;
    char *hit = memmem(ts->buf, ts->len, ts->stop[i], strlen(ts->stop[i]));
    if (hit && (size_t)(hit - ts->buf) < cut) cut = (size_t)(hit - ts->buf);
  }
  if (cut < ts->len) {
    ts->len = cut;
    emit(ts, cut);
    ts->stopped = true;
    return false;
  }
  size_t hold = stop_prefix_tail(ts), utf = utf8_incomplete_tail(ts->buf, ts->len);
  emit(ts, ts->len - (hold > utf ? hold : utf));
  return !ts->stopped;
}

void textstream_finish(textstream *ts) {
  if (!ts->stopped) emit(ts, ts->len);
}

int textstream_piece(const llmux_model *m, bool after_lone_bos, llmux_token t, char *buf, int size, bool special) {
  if (after_lone_bos) {
    llmux_token pair[2] = {llmux_token_bos(m), t};
    return llmux_detokenize(m, pair, 2, buf, size, false);
  }
  return llmux_token_to_piece(m, t, buf, size, special);
}
