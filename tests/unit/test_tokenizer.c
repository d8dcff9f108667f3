// Tokenizer API: stories260K, pieces and decoding, special tokens, buffer
// contracts, every loader error a user can see, hostile input, and speed.
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

static tokenizer *load(const char *rel) {
  gguf_file *f = gguf_open(tu_shared(rel));
  CHECK_MSG(f != NULL, "%s: %s", rel, err_get());
  if (!f) return NULL;
  tokenizer *t = tokenizer_from_gguf(f);
  gguf_close(f);
  CHECK_MSG(t != NULL, "%s: %s", rel, err_get());
  return t;
}

static bool encodes_to(const tokenizer *t, const char *s, bool add_special, bool parse_special,
                       const int32_t *want, int n) {
  int32_t got[256];
  int m = tokenizer_encode(t, s, strlen(s), add_special, parse_special, got, 256);
  if (m == n && !memcmp(got, want, (size_t)n * sizeof *got)) return true;
  fprintf(stderr, "  \"%s\" ->", s);
  for (int i = 0; i < m; i++) fprintf(stderr, " %d", got[i]);
  fputc('\n', stderr);
  return false;
}

static void test_stories(void) {
  tokenizer *t = load("models/stories260K.gguf");
  if (!t) return;
  CHECK(tokenizer_n_vocab(t) == 512);
  CHECK(tokenizer_bos(t) == 1 && tokenizer_eos(t) == 2 && tokenizer_add_bos(t));
  CHECK(encodes_to(t, "Once upon a time", true, false, (const int32_t[]){1, 403, 407, 261, 378}, 5));
  CHECK(encodes_to(t, "Zoo", true, false, (const int32_t[]){1, 410, 469, 347}, 4));
  char buf[64];
  int32_t ids[] = {1, 403, 407, 261, 378};
  int n = tokenizer_decode(t, ids, 5, buf, sizeof buf, false);
  CHECK(n == 16 && !strcmp(buf, "Once upon a time"));
  n = tokenizer_decode(t, ids + 1, 4, buf, sizeof buf, false);  // no BOS: same text
  CHECK(n == 16 && !strcmp(buf, "Once upon a time"));
  CHECK(tokenizer_is_eog(t, 2) && !tokenizer_is_eog(t, 1) && tokenizer_is_control(t, 1));
  tokenizer_free(t);
}

static void test_spm_pieces(void) {
  tokenizer *t = load("models/vocab/ggml-vocab-llama-spm.gguf");
  if (!t) return;
  char buf[64];
  int32_t hello = tokenizer_find(t, "\xe2\x96\x81Hello");
  CHECK(hello == 15043);
  CHECK(tokenizer_token_to_piece(t, hello, buf, sizeof buf, false) == 6 && !memcmp(buf, " Hello", 6));
  CHECK(tokenizer_token_to_piece(t, hello, buf, 3, false) == -6);  // needs 6
  int32_t nl = tokenizer_find(t, "<0x0A>");
  CHECK(tokenizer_token_to_piece(t, nl, buf, sizeof buf, false) == 1 && buf[0] == '\n');
  CHECK(tokenizer_token_to_piece(t, 1, buf, sizeof buf, false) == 0);  // control hidden
  CHECK(tokenizer_token_to_piece(t, 1, buf, sizeof buf, true) == 3 && !memcmp(buf, "<s>", 3));
  CHECK(tokenizer_token_to_piece(t, -5, buf, sizeof buf, true) == 0);
  CHECK(tokenizer_token_to_piece(t, 1 << 30, buf, sizeof buf, true) == 0);
  CHECK(!strcmp(tokenizer_token_text(t, 2), "</s>") && tokenizer_token_text(t, 32000) == NULL);
  CHECK(tokenizer_find(t, "no such token text") == -1);

  // Special-token parsing: <s> in the text is BOS only when asked.
  CHECK(encodes_to(t, "<s>Hello", false, true, (const int32_t[]){1, hello}, 2));
  int32_t ids[32];
  int n = tokenizer_encode(t, "<s>Hello", 8, false, false, ids, 32);
  CHECK(n > 2 && ids[0] != 1);
  // Decoding: BOS hidden, the prefix space dropped; with special, shown.
  int32_t seq[] = {1, hello, 2};
  CHECK(tokenizer_decode(t, seq, 3, buf, sizeof buf, false) == 5 && !strcmp(buf, "Hello"));
  CHECK(tokenizer_decode(t, seq, 3, buf, sizeof buf, true) == 12 && !strcmp(buf, "<s>Hello</s>"));
  // Buffer contracts: -needed, nothing past size; NUL only when there is room.
  memset(buf, 'x', sizeof buf);
  CHECK(tokenizer_decode(t, seq, 3, buf, 4, false) == -5);
  CHECK(tokenizer_decode(t, seq, 3, buf, 5, false) == 5 && buf[5] == 'x');
  CHECK(tokenizer_encode(t, "Hello world", 11, true, false, ids, 2) == -3);
  CHECK(tokenizer_encode(t, "Hello world", 11, true, false, NULL, 0) == -3);
  CHECK(tokenizer_encode(t, "", 0, true, false, ids, 32) == 1 && ids[0] == 1);
  CHECK(tokenizer_encode(t, "", 0, false, false, ids, 32) == 0);
  CHECK(tokenizer_encode(t, NULL, 5, false, false, ids, 32) == INT32_MIN);
  tokenizer_free(t);
}

static void test_bert_special(void) {
  tokenizer *t = load("models/vocab/ggml-vocab-bert-bge.gguf");
  if (!t) return;
  // [CLS] hello world [SEP]
  CHECK(encodes_to(t, "Hello world", true, false, (const int32_t[]){101, 7592, 2088, 102}, 4));
  char buf[64];
  int32_t ids[] = {101, 7592, 1010, 2088, 999, 102};
  CHECK(tokenizer_decode(t, ids, 6, buf, sizeof buf, false) > 0 && !strcmp(buf, "hello, world!"));
  tokenizer_free(t);
}

static void test_bpe_special(void) {
  tokenizer *t = load("models/vocab/ggml-vocab-gpt-2.gguf");
  if (!t) return;
  const char *s = "a<|endoftext|>b";
  CHECK(encodes_to(t, s, false, true, (const int32_t[]){64, 50256, 65}, 3));
  CHECK(tokenizer_is_eog(t, 50256) && tokenizer_eos(t) == 50256 && !tokenizer_add_bos(t));
  char buf[64];
  int32_t ids[] = {64, 50256, 65};
  CHECK(tokenizer_decode(t, ids, 3, buf, sizeof buf, false) == 2 && !strcmp(buf, "ab"));
  CHECK(tokenizer_decode(t, ids, 3, buf, sizeof buf, true) == 15 && !strcmp(buf, s));
  // Invalid UTF-8 reads as U+FFFD, as in the reference.
  int32_t out[16];
  int n = tokenizer_encode(t, "\xff", 1, false, false, out, 16);
  CHECK(n > 0 && tokenizer_decode(t, out, n, buf, sizeof buf, false) == 3 && !strcmp(buf, "\xef\xbf\xbd"));
  tokenizer_free(t);
}

// ---- loader errors

static const char *write_vocab(const char *model, const char *pre, bool with_tokens, bool with_merges) {
  gguf_writer *w = gguf_writer_new();
  gguf_writer_set_str(w, "general.architecture", "llama");
  if (model) gguf_writer_set_str(w, "tokenizer.ggml.model", model);
  if (pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
  const char *toks[] = {"a", "b", "ab", "\xc4\xa0"};
  if (with_tokens) gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
  const char *merges[] = {"a b"};
  if (with_merges) gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 1);
  const char *path = tu_tmp_path(".gguf");
  CHECK(gguf_writer_write(w, path) == 0);
  gguf_writer_free(w);
  return path;
}

static void expect_error(const char *path, const char *needle) {
  gguf_file *f = gguf_open(path);
  CHECK_MSG(f != NULL, "%s", err_get());
  if (!f) return;
  tokenizer *t = tokenizer_from_gguf(f);
  CHECK_MSG(t == NULL && strstr(err_get(), needle), "want error with \"%s\", got \"%s\"", needle,
            t ? "(success)" : err_get());
  tokenizer_free(t);
  gguf_close(f);
  remove(path);
}

static void test_errors(void) {
  expect_error(write_vocab("t5", NULL, true, false), "T5");
  expect_error(write_vocab("none", NULL, true, false), "no vocabulary");
  expect_error(write_vocab("rwkv", NULL, true, false), "unsupported tokenizer.ggml.model \"rwkv\"");
  expect_error(write_vocab(NULL, NULL, true, false), "no tokenizer.ggml.model");
  expect_error(write_vocab("llama", NULL, false, false), "tokenizer.ggml.tokens is missing");
  expect_error(write_vocab("gpt2", "gpt-2", true, false), "without tokenizer.ggml.merges");
  expect_error(write_vocab("gpt2", "no-such-pre", true, true), "unknown pre-tokenizer type 'no-such-pre'");
  CHECK(tokenizer_from_gguf(NULL) == NULL);
  CHECK(tokenizer_from_hf_json("/nonexistent/tokenizer.json") == NULL && strstr(err_get(), "cannot open"));
  CHECK(tokenizer_from_bpe_files("/nonexistent/encoder.json", "/nonexistent/vocab.bpe", "gpt-2") == NULL);

  // A tiny BPE vocabulary built here works end to end.
  const char *path = write_vocab("gpt2", "gpt-2", true, true);
  gguf_file *f = gguf_open(path);
  tokenizer *t = f ? tokenizer_from_gguf(f) : NULL;
  CHECK_MSG(t != NULL, "%s", err_get());
  if (t) {
    CHECK(encodes_to(t, "ab a", false, false, (const int32_t[]){2, 3, 0}, 3));
    CHECK(tokenizer_bos(t) == -1 && tokenizer_eos(t) == -1);
  }
  tokenizer_free(t);
  gguf_close(f);
  remove(path);

  // Every pre-tokenizer name we know compiles and splits text.
  static const char *const pres[] = {
      "default", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
      "lfm2", "dbrx", "smaug-bpe", "chatglm-bpe", "glm4", "qwen2", "deepseek-r1-qwen", "megrez",
      "stablelm2", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
      "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "starcoder", "refact",
      "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "falcon", "deepseek-llm",
      "deepseek-coder", "deepseek-v3", "hunyuan-dense", "gpt-4o", "llama4", "tekken"};
  for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
    const char *p = write_vocab("gpt2", pres[i], true, true);
    gguf_file *g = gguf_open(p);
    tokenizer *tk = g ? tokenizer_from_gguf(g) : NULL;
    CHECK_MSG(tk != NULL, "pre \"%s\": %s", pres[i], err_get());
    int32_t ids[64];
    const char *text = "ab  Ab'S 123456 \xe4\xbd\xa0\xe5\xa5\xbd!?\n\n x";
    CHECK_MSG(!tk || tokenizer_encode(tk, text, strlen(text), false, false, ids, 64) > 0,
              "pre \"%s\" does not encode", pres[i]);
    tokenizer_free(tk);
    gguf_close(g);
    remove(p);
  }

  // tokenizer.json files we refuse, with a reason.
  const char *json = tu_tmp_path(".json");
  FILE *o = fopen(json, "w");
  fputs("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", o);
  fclose(o);
  CHECK(tokenizer_from_hf_json(json) == NULL && strstr(err_get(), "only BPE"));
  o = fopen(json, "w");
  fputs("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":"
        "{\"type\":\"Metaspace\"}}", o);
  fclose(o);
  CHECK(tokenizer_from_hf_json(json) == NULL && strstr(err_get(), "Metaspace"));
  o = fopen(json, "w");
  fputs("{\"model\":", o);
  fclose(o);
  CHECK(tokenizer_from_hf_json(json) == NULL && strstr(err_get(), json));
  remove(json);
}

// A hand-written tokenizer.json: escapes (\\u0120 is the byte-level space,
// a surrogate pair), both merge layouts, an added token, syntax errors.
static void write_file(const char *path, const char *text) {
  FILE *o = fopen(path, "w");
  fputs(text, o);
  fclose(o);
}

static void test_hf_small(void) {
  const char *path = tu_tmp_path(".json");
  write_file(path,
             "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 6, \"content\": \"<|x|>\", "
             "\"special\": true}],\n \"normalizer\": null,\n \"pre_tokenizer\": {\"type\": "
             "\"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},\n"
             " \"decoder\": {\"type\": \"ByteLevel\"},\n"
             " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"vocab\": {\"a\": 0, \"b\": 1, "
             "\"ab\": 2, \"\\u0120\": 3, \"\\u0120a\": 4, \"\\ud83d\\ude00\\\"\": 5},\n"
             "  \"merges\": [[\"a\", \"b\"], \"\\u0120 a\"]}}");
  tokenizer *t = tokenizer_from_hf_json(path);
  CHECK_MSG(t != NULL, "%s", err_get());
  if (t) {
    CHECK(tokenizer_n_vocab(t) == 7);
    CHECK(encodes_to(t, "ab a", false, false, (const int32_t[]){2, 4}, 2));
    CHECK(encodes_to(t, "a<|x|>b", false, true, (const int32_t[]){0, 6, 1}, 3));
    CHECK(tokenizer_find(t, "\xf0\x9f\x98\x80\"") == 5);
    CHECK(tokenizer_is_control(t, 6));
  }
  tokenizer_free(t);
  static const char *const bad[] = {
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,}, \"merges\": []}}",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0.5}, \"merges\": []}}",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\\x\": 0}, \"merges\": []}}",
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": [}",
      "[]", "", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[[[[[[[",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file(path, bad[i]);
    t = tokenizer_from_hf_json(path);
    CHECK_MSG(t == NULL && strstr(err_get(), path), "bad json %zu: %s", i, t ? "loaded" : err_get());
    tokenizer_free(t);
  }
  remove(path);
}

// ---- hostile input: never crash, always an answer

static void hammer(const tokenizer *t, const char *name) {
  size_t n = 100000;
  char *s = malloc(n);
  int32_t *ids = malloc((4 * n + 16) * sizeof *ids);
  char *dec = malloc(4 * n + 16);
  uint32_t x = 12345;
  for (int kind = 0; kind < 6; kind++) {
    for (size_t i = 0; i < n; i++) {
      x = x * 1103515245u + 12345u;
      switch (kind) {
      case 0: s[i] = (char)(x >> 16); break;                          // random bytes
      case 1: s[i] = 'a'; break;                                      // one long word
      case 2: s[i] = ' '; break;                                      // long white space
      case 3: s[i] = (x >> 16) & 1 ? '\0' : 'z'; break;               // NUL bytes
      case 4: s[i] = "\xe2\x96\x81\xf0\x9f\x98\x81"[i % 7]; break;    // multibyte runs
      default: s[i] = (char)(0x80 | ((x >> 16) & 0x3f)); break;      // stray continuation bytes
      }
    }
    int k = tokenizer_encode(t, s, n, true, true, ids, (int)(4 * n + 16));
    CHECK_MSG(k > 0, "%s: hostile input %d -> %d (%s)", name, kind, k, err_get());
    if (k <= 0) continue;
    int bad = 0;
    for (int i = 0; i < k; i++) bad += ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t);
    CHECK_MSG(bad == 0, "%s: %d ids out of range", name, bad);
    int m = tokenizer_decode(t, ids, k, dec, (int)(4 * n + 16), true);
    CHECK_MSG(m >= 0, "%s: decode of hostile input %d -> %d", name, kind, m);
    if (kind == 3 || kind == 1 || kind == 2) {  // valid UTF-8 (NUL included): lossless
      m = tokenizer_decode(t, ids, k, dec, (int)(4 * n + 16), false);
      bool bert = strstr(name, "bert") != NULL;
      CHECK_MSG(bert || (m == (int)n && !memcmp(dec, s, n)), "%s: round trip of input %d", name, kind);
    }
  }
  free(s);
  free(ids);
  free(dec);
}

static void test_hostile(void) {
  static const char *const names[] = {"llama-spm", "gpt-2", "bert-bge", "deepseek-llm", "falcon"};
  for (int i = 0; i < 5; i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", names[i]);
    tokenizer *t = load(rel);
    if (!t) continue;
    hammer(t, names[i]);
    tokenizer_free(t);
  }
}

// ---- speed: loading is hash-map work, encoding is O(n log n)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_speed(void) {
  gguf_file *f = gguf_open(tu_shared("models/vocab/ggml-vocab-deepseek-llm.gguf"));
  if (!f) return;
  double t0 = now();
  tokenizer *t = tokenizer_from_gguf(f);
  double load_ms = (now() - t0) * 1e3;
  gguf_close(f);
  if (!t) return;
  size_t n = 1 << 20;
  char *s = malloc(n);
  const char *base = "The quick brown fox jumps over the lazy dog 1234567. Hello, y'all! "
                     "\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8 \xd0\xbd\xd0\xb5\xd1\x89\xd0\xbe\n";
  size_t bl = strlen(base);
  for (size_t i = 0; i < n; i++) s[i] = base[i % bl];
  n -= n % bl;
  int32_t *ids = malloc(n * sizeof *ids);
  t0 = now();
  int k = tokenizer_encode(t, s, n, false, false, ids, (int)n);
  double enc_ms = (now() - t0) * 1e3;
  printf("deepseek-llm (102400 tokens, 99757 merges): load %.1f ms; encode %zu bytes -> %d tokens "
         "in %.1f ms (%.1f MB/s)\n", load_ms, n, k, enc_ms, (double)n / enc_ms / 1e3);
  // Generous bounds (sanitizer builds and busy machines run here too).
  CHECK_MSG(load_ms < 1000, "load took %.0f ms", load_ms);
  CHECK_MSG(enc_ms < 10000, "encode took %.0f ms", enc_ms);
  free(s);
  free(ids);
  tokenizer_free(t);
}

int main(void) {
  test_stories();
  test_spm_pieces();
  test_bert_special();
  test_bpe_special();
  test_errors();
  test_hf_small();
  test_hostile();
  test_speed();
  return tu_finish();
}
