// strbuf: a growable, always NUL-terminated byte string for building text
// (metrics exposition, serialized JSON values). Running out of memory is
// sticky: later appends do nothing and `oom` says so, so a caller checks
// once at the end instead of after every append.
#ifndef LLMUX_STRBUF_H
#define LLMUX_STRBUF_H
#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char *p;  // NULL until the first append
  size_t len, cap;
  bool oom;
} strbuf;

void strbuf_put(strbuf *b, const char *s, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
