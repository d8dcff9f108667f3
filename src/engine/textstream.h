// textstream: turns generated token pieces into text for the caller, holding
// back bytes that might still become a stop string or that end in the middle
// of a UTF-8 character, and cutting the text at the first stop string.
#ifndef LLMUX_TEXTSTREAM_H
#define LLMUX_TEXTSTREAM_H
#include <stdbool.h>
#include <stddef.h>

#include "llmux.h"

typedef struct {
  char *buf;
  size_t len, cap;
  const char *const *stop;
  int n_stop;
  llmux_text_fn emit;
  void *user;
  bool stopped;    // a stop string was seen, or the callback asked to stop
} textstream;

void textstream_init(textstream *ts, const char *const *stop, int n_stop, llmux_text_fn emit, void *user);
// Adds bytes; emits what is safe. Returns false once generation must stop.
bool textstream_push(textstream *ts, const char *piece, size_t len);
// Emits whatever is held back (end of generation).
void textstream_finish(textstream *ts);
void textstream_free(textstream *ts);

// Text of a generated token (control tokens only with special). Right after
// a lone BOS, decodes the pair so the tokenizer's rule for the first word
// (SentencePiece drops its space) applies.
int textstream_piece(const llmux_model *m, bool after_lone_bos, llmux_token t, char *buf, int size, bool special);

#endif
