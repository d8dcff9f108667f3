// decode: ids back to bytes. SPM and WordPiece pieces turn U+2581 into a
// space and <0xNN> tokens into their byte; BPE pieces map the byte-level
// alphabet back to bytes. Control and unknown tokens print only when asked;
// user-defined tokens always print their text as is.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/tok_internal.h"

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Writes the piece into `o` (room for text_len bytes: a piece never grows).
static size_t piece(const tokenizer *t, int32_t id, bool special, char *o) {
  uint16_t a = t->attr[id];
  uint32_t n;
  const char *s = tok_text(t, id, &n);
  if ((a & (TA_UNKNOWN | TA_CONTROL)) && !special) return 0;
  if (a & (TA_UNKNOWN | TA_CONTROL | TA_USER_DEFINED)) {
    memcpy(o, s, n);
    return n;
  }
  if (t->kind == TOK_BPE) {
    if (!(a & TA_NORMAL)) return 0;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
      size_t at = i;
      int32_t cp = tok_utf8_next(s, n, &i);
      int b = cp >= 0 ? tok_unicode_to_byte((uint32_t)cp) : -1;
      if (b >= 0) o[k++] = (char)b;
      else memcpy(o + k, s + at, i - at), k += i - at;  // not byte-level text: keep it
    }
    return k;
  }
  if (a & TA_BYTE) {
    if (n == 6 && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
      o[0] = (char)(hexval(s[3]) * 16 + hexval(s[4]));
      return 1;
    }
    memcpy(o, s, n);
    return n;
  }
  if (!(a & TA_NORMAL)) return 0;
  size_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (i + 2 < n && !memcmp(s + i, "\xe2\x96\x81", 3)) o[k++] = ' ', i += 2;
    else o[k++] = s[i];
  }
  return k;
}

// Piece with up to `lstrip` leading spaces dropped, copied if it fits.
static int put_piece(const tokenizer *t, int32_t id, char *buf, int size, bool special, int lstrip) {
  if (id < 0 || id >= t->n_vocab) return 0;
  char stack[256];
  uint32_t n = t->text_len[id];
  char *tmp = n <= sizeof stack ? stack : malloc(n);
  if (!tmp) return 0;
  size_t len = piece(t, id, special, tmp);
  const char *p = tmp;
  for (int i = 0; i < lstrip && len && *p == ' '; i++) p++, len--;
  int r = (int)len;
  if (len > (size_t)(size > 0 ? size : 0)) r = -(int)len;
  else if (len) memcpy(buf, p, len);
  if (tmp != stack) free(tmp);
  return r;
}

int tokenizer_token_to_piece(const tokenizer *t, int32_t id, char *buf, int size, bool special) {
  return put_piece(t, id, buf, size, special, 0);
}

// WordPiece output reads as text: no space before . , ! ? or 's 'm 're 've.
static int clean_spaces(char *s, int n) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] == ' ' && i + 1 < n) {
      char x = s[i + 1], y = i + 2 < n ? s[i + 2] : 0, z = i + 3 < n ? s[i + 3] : 0;
      if (x == '.' || x == ',' || x == '!' || x == '?') continue;
      if (x == '\'' && (y == 's' || y == 'm' || ((y == 'r' || y == 'v') && z == 'e'))) continue;
    }
    s[k++] = s[i];
  }
  return k;
}

int tokenizer_decode(const tokenizer *t, const int32_t *ids, int n, char *buf, int size,
                     bool special) {
  if (!t || (n > 0 && !ids) || (size > 0 && !buf)) {
    err_set("tokenizer_decode: invalid arguments");
    return 0;
  }
  // The space the encoder put before the text is not part of it.
  bool strip = t->add_space_prefix || t->kind == TOK_WPM;
  long total = 0;
  for (int i = 0; i < n; i++) {
    int avail = total < size ? (int)(size - total) : 0;
    int r = put_piece(t, ids[i], avail ? buf + total : NULL, avail, special, strip ? 1 : 0);
    if (!(ids[i] == t->bos && i == 0)) strip = false;
    total += r < 0 ? -r : r;
    if (total > INT32_MAX - 1) {
      err_set("tokenizer_decode: output too long");
      return 0;
    }
  }
  if (total > size) return -(int)total;
  if (t->kind == TOK_WPM) total = clean_spaces(buf, (int)total);
  if (total < size) buf[total] = 0;
  return (int)total;
}
