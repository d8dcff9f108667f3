// json_scan: a small in-place JSON scanner for the two big members of a
// tokenizer.json (model.vocab and model.merges: 150k entries each), which a
// general JSON library turns into a million heap objects. Strings are
// unescaped in place inside the caller's buffer, so the pointers it hands out
// stay valid as long as the buffer; the scanner never re-reads a string it
// has unescaped. Nesting is limited to 64 levels.
#include <stddef.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

void js_ws(jscan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

static int hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// \uXXXX (and a following low surrogate) at *in; writes UTF-8 at *out.
static bool unescape_u(char **in, const char *end, char **out) {
  if (end - *in < 5) return false;
  int cp = hex4(*in + 1);
  if (cp < 0) return false;
  *in += 5;
  if (cp >= 0xD800 && cp <= 0xDBFF && end - *in >= 6 && (*in)[0] == '\\' && (*in)[1] == 'u') {
    int lo = hex4(*in + 2);
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      *in += 6;
    }
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate
  *out += tok_utf8_put((uint32_t)cp, *out);
  return true;
}

bool js_string(jscan *s, const char **str, size_t *len) {
  js_ws(s);
  if (s->p >= s->end || *s->p != '"') return false;
  char *in = s->p + 1, *out = in;
  *str = in;
  while (in < s->end && *in != '"') {
    if ((unsigned char)*in < 0x20) return false;
    if (*in != '\\') {
      *out++ = *in++;
      continue;
    }
    if (s->end - in < 2) return false;
    char c = in[1];
    if (c == 'u') {
      in++;
      if (!unescape_u(&in, s->end, &out)) return false;
      continue;
    }
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *k = strchr(from, c);
    if (!c || !k) return false;
    *out++ = to[k - from];
    in += 2;
  }
  if (in >= s->end) return false;
  *len = (size_t)(out - *str);
  s->p = in + 1;
  return true;
}

bool js_int(jscan *s, int64_t *v) {
  js_ws(s);
  bool neg = s->p < s->end && *s->p == '-';
  const char *p = s->p + neg;
  int64_t x = 0;
  if (p >= s->end || *p < '0' || *p > '9') return false;
  while (p < s->end && *p >= '0' && *p <= '9') {
    if (x > (INT64_MAX - 9) / 10) return false;
    x = x * 10 + (*p++ - '0');
  }
  if (p < s->end && (*p == '.' || *p == 'e' || *p == 'E')) return false;
  s->p = (char *)p;
  *v = neg ? -x : x;
  return true;
}

bool js_lit(jscan *s, const char *word) {
  js_ws(s);
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n)) return false;
  s->p += n;
  return true;
}

// Skips a string without unescaping it.
static bool skip_string(jscan *s) {
  const char *p = s->p + 1;
  for (;;) {
    const char *q = memchr(p, '"', (size_t)(s->end - p));
    if (!q) return false;
    size_t bs = 0;  // an odd run of backslashes escapes the quote
    while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
    if (bs % 2 == 0) {
      s->p = (char *)q + 1;
      return true;
    }
    p = q + 1;
  }
}

static bool scalar_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
         c == 'E';
}

bool js_skip(jscan *s, int depth) {
  js_ws(s);
  if (s->p >= s->end || depth > 64) return false;
  char c = *s->p;
  if (c == '"') return skip_string(s);
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    s->p++;
    js_ws(s);
    if (s->p < s->end && *s->p == close) return s->p++, true;
    for (;;) {
      if (c == '{' && (!skip_string(s) || !js_expect(s, ':'))) return false;
      if (!js_skip(s, depth + 1)) return false;
      js_ws(s);
      if (s->p < s->end && *s->p == ',') {
        s->p++;
        js_ws(s);
        continue;
      }
      return js_expect(s, close);
    }
  }
  const char *p = s->p;
  while (p < s->end && scalar_char(*p)) p++;
  if (p == s->p) return false;
  s->p = (char *)p;
  return true;
}

bool js_expect(jscan *s, char c) {
  js_ws(s);
  if (s->p >= s->end || *s->p != c) return false;
  s->p++;
  return true;
}

int js_next(jscan *s, bool *first, char close) {
  js_ws(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    return 0;
  }
  if (!*first && !js_expect(s, ',')) return -1;
  *first = false;
  return 1;
}
