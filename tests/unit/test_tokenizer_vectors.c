// The reference's tokenizer conformance vectors (models/vocab/): every
// vocabulary with a GGUF and .inp/.out vectors must reproduce every line
// exactly (no BOS, special tokens not parsed), and decode back to the input
// where the tokenizer is lossless. Vocabularies without vectors must load and
// round-trip text.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"
#include "test_tokenizer_vectors.h"

static tokenizer *load_vocab(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "models/vocab/ggml-vocab-%s.gguf", name);
  gguf_file *f = gguf_open(tu_shared(path));
  CHECK_MSG(f != NULL, "%s: %s", name, err_get());
  if (!f) return NULL;
  tokenizer *t = tokenizer_from_gguf(f);
  gguf_close(f);  // the tokenizer keeps its own copy
  CHECK_MSG(t != NULL, "%s: %s", name, err_get());
  return t;
}

static void test_gguf_vectors(void) {
  static const struct {
    const char *name;
    bool lossless;
  } vocabs[] = {
      {"llama-spm", true},  {"phi-3", true},          {"bert-bge", false},
      {"gpt-2", true},      {"falcon", true},         {"deepseek-llm", true},
      {"deepseek-coder", true}, {"refact", true},     {"starcoder", true},
      {"mpt", true},
  };
  for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
    tokenizer *t = load_vocab(vocabs[i].name);
    if (!t) continue;
    check_vectors(t, vocabs[i].name, vocabs[i].name, vocabs[i].lossless);
    tokenizer_free(t);
  }
}

// Vocabularies without vectors: they load, and text survives a round trip.
static void test_no_vectors(void) {
  static const char *const names[] = {"baichuan", "gpt-neox"};
  static const char *const texts[] = {"Hello world", " Hello, y'all! How are you?\n\n  ok",
                                      "\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8 apple 1314151",
                                      "tab\tand\r\nnewline"};
  for (int i = 0; i < 2; i++) {
    tokenizer *t = load_vocab(names[i]);
    if (!t) continue;
    for (int k = 0; k < 4; k++) {
      int32_t ids[256];
      char dec[512];
      int n = tokenizer_encode(t, texts[k], strlen(texts[k]), false, false, ids, 256);
      CHECK_MSG(n > 0, "%s: encode \"%s\" -> %d", names[i], texts[k], n);
      int m = tokenizer_decode(t, ids, n > 0 ? n : 0, dec, sizeof dec, false);
      CHECK_MSG(m == (int)strlen(texts[k]) && !memcmp(dec, texts[k], (size_t)m),
                "%s: round trip \"%s\" -> \"%.*s\"", names[i], texts[k], m > 0 ? m : 0, dec);
    }
    printf("%-40s loads, round trip checked\n", names[i]);
    tokenizer_free(t);
  }
}

int main(void) {
  test_gguf_vectors();
  test_no_vectors();
  return tu_finish();
}
