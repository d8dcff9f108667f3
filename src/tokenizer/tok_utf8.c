// tok_utf8: UTF-8 decoding with the reference tokenizer's rules for bad input.
// A lead byte announces 1-4 bytes by its top bits; the sequence is valid when
// that many bytes remain and every continuation byte is 10xxxxxx. Overlong
// forms and surrogates are accepted (as the reference does); anything else is
// one invalid byte, which BPE and WordPiece see as U+FFFD.
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int tok_utf8_len(uint8_t c) {
  static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lens[c >> 4];
}

int32_t tok_utf8_next(const char *s, size_t n, size_t *i) {
  const uint8_t *u = (const uint8_t *)s + *i;
  size_t left = n - *i;
  uint8_t c = u[0];
  int len;
  uint32_t cp;
  if (c < 0x80) {
    *i += 1;
    return c;
  }
  if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
  else goto bad;
  if ((size_t)len > left) goto bad;
  for (int k = 1; k < len; k++) {
    if ((u[k] & 0xC0) != 0x80) goto bad;
    cp = (cp << 6) | (u[k] & 0x3F);
  }
  if (cp > 0x10FFFF) goto bad;
  *i += (size_t)len;
  return (int32_t)cp;
bad:
  *i += 1;
  return -1;
}

int tok_utf8_put(uint32_t cp, char *out) {
  uint8_t *o = (uint8_t *)out;
  if (cp < 0x80) {
    o[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (uint8_t)(0xC0 | (cp >> 6));
    o[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (uint8_t)(0xE0 | (cp >> 12));
    o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (uint8_t)(0xF0 | ((cp >> 18) & 0x07));
  o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

char *tok_utf8_sanitize(const char *s, size_t n, size_t *out_len, bool *had_surrogate) {
  // Each bad byte grows into 3 bytes (EF BF BD) at most.
  if (n > (SIZE_MAX - 1) / 3) return NULL;
  char *o = malloc(n * 3 + 1);
  if (!o) return NULL;
  size_t i = 0, k = 0;
  *had_surrogate = false;
  while (i < n) {
    int32_t cp = tok_utf8_next(s, n, &i);
    if (cp < 0) cp = 0xFFFD;
    if (cp >= 0xD800 && cp <= 0xDFFF) *had_surrogate = true;
    k += (size_t)tok_utf8_put((uint32_t)cp, o + k);  // re-encoded: overlong forms shrink
  }
  o[k] = 0;
  *out_len = k;
  return o;
}

void tok_utf8_mask_surrogates(char *s, size_t n) {
  uint8_t *u = (uint8_t *)s;
  for (size_t i = 0; i + 2 < n; i++) {
    if (u[i] == 0xED && u[i + 1] >= 0xA0 && u[i + 1] <= 0xBF) {
      u[i] = 0xEF, u[i + 1] = 0xBF, u[i + 2] = 0xBD;
      i += 2;
    }
  }
}
