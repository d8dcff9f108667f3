// Reads real GGUF files, round-trips the writer, and checks that hostile files
// give one clear error each.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "ops/types.h"
#include "testutil.h"

static void test_stories(void) {
  gguf_file *f = gguf_open(tu_shared("models/stories260K.gguf"));
  CHECK_MSG(f != NULL, "%s", err_get());
  if (!f) return;
  char arch[32];
  CHECK(gguf_get_cstr(f, "general.architecture", arch, sizeof arch) && !strcmp(arch, "llama"));
  int64_t n_layer = 0;
  CHECK(gguf_get_int(f, "llama.block_count", &n_layer) && n_layer == 5);
  const gguf_arr *tokens = gguf_get_arr(f, "tokenizer.ggml.tokens");
  CHECK(tokens && tokens->type == GGUF_STRING && tokens->n == 512);
  const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
  CHECK(t && t->type == T_F32 && t->ne[0] == 64 && t->ne[1] == 512);
  CHECK(gguf_find_tensor(f, "no.such.tensor") == NULL);
  gguf_close(f);
}

static void test_roundtrip(void) {
  gguf_writer *w = gguf_writer_new();
  gguf_writer_set_str(w, "general.architecture", "llama");
  gguf_writer_set_u32(w, "llama.block_count", 3);
  gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
  gguf_writer_set_bool(w, "flag", true);
  const char *strs[] = {"a", "bc", "\xe2\x96\x81x"};
  gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, 3);
  float scores[] = {1.5f, -2.0f, 0.25f};
  gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, 3);
  float data[2 * 32];
  for (int i = 0; i < 64; i++) data[i] = (float)i * 0.5f;
  int64_t ne[2] = {32, 2};
  gguf_writer_add_tensor(w, "w", T_F32, 2, ne, data);
  gguf_writer_add_tensor(w, "v", T_F32, 1, ne, data);
  const char *path = tu_tmp_path(".gguf");
  CHECK(gguf_writer_write(w, path) == 0);
  gguf_writer_free(w);

  gguf_file *f = gguf_open(path);
  CHECK_MSG(f != NULL, "%s", err_get());
  if (!f) return;
  int64_t n;
  double fb;
  bool flag;
  CHECK(gguf_get_int(f, "llama.block_count", &n) && n == 3);
  CHECK(gguf_get_float(f, "llama.rope.freq_base", &fb) && fb == 10000.0);
  CHECK(gguf_get_bool(f, "flag", &flag) && flag);
  const gguf_arr *a = gguf_get_arr(f, "tokenizer.ggml.tokens");
  CHECK(a && a->n == 3 && a->strs[1].n == 2 && !memcmp(a->strs[1].s, "bc", 2));
  const gguf_arr *s = gguf_get_arr(f, "tokenizer.ggml.scores");
  CHECK(s && gguf_arr_float(s, 1) == -2.0);
  const gguf_tensor *t = gguf_find_tensor(f, "w");
  CHECK(t && t->nbytes == sizeof data && !memcmp(t->data, data, sizeof data));
  const gguf_tensor *v = gguf_find_tensor(f, "v");
  CHECK(v && v->nbytes == 32 * 4 && ((uintptr_t)v->data % 32) == 0);
  gguf_close(f);
  remove(path);
}

// Float array elements read as integers: truncated toward zero, NaN as 0,
// saturated beyond int64 (7e31 was an undefined conversion, found by fuzz_gguf).
static void test_float_elements_as_int(void) {
  const float f32[] = {7e31f, -7e31f, NAN, 3.9f, -2.5f};
  const double f64[] = {1e300, -1e300, NAN, 0x1p63, -0x1p63};
  gguf_writer *w = gguf_writer_new();
  gguf_writer_set_str(w, "general.architecture", "llama");
  gguf_writer_set_arr(w, "a32", GGUF_F32, f32, 5);
  gguf_writer_set_arr(w, "a64", GGUF_F64, f64, 5);
  const char *path = tu_tmp_path(".gguf");
  CHECK(gguf_writer_write(w, path) == 0);
  gguf_writer_free(w);
  gguf_file *f = gguf_open(path);
  CHECK_MSG(f != NULL, "%s", err_get());
  if (!f) return;
  const gguf_arr *a = gguf_get_arr(f, "a32"), *b = gguf_get_arr(f, "a64");
  CHECK(a && b);
  if (a && b) {
    CHECK(gguf_arr_int(a, 0) == INT64_MAX && gguf_arr_int(a, 1) == INT64_MIN && gguf_arr_int(a, 2) == 0);
    CHECK(gguf_arr_int(a, 3) == 3 && gguf_arr_int(a, 4) == -2);
    CHECK(gguf_arr_int(b, 0) == INT64_MAX && gguf_arr_int(b, 1) == INT64_MIN && gguf_arr_int(b, 2) == 0);
    CHECK(gguf_arr_int(b, 3) == INT64_MAX && gguf_arr_int(b, 4) == INT64_MIN);  // 2^63 and -2^63 exactly
  }
  gguf_close(f);
  remove(path);
}

// ---- hostile files: each must fail with a message naming the problem.
typedef struct {
  uint8_t *p;
  size_t n, cap;
} bytes;

static void b_put(bytes *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}
static void b_u32(bytes *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(bytes *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(bytes *b, const char *s) {
  b_u64(b, strlen(s));
  b_put(b, s, strlen(s));
}

static void expect_error(bytes *b, const char *needle) {
  err_clear();
  gguf_file *f = gguf_open_memory(b->p, b->n, "hostile.gguf");
  CHECK_MSG(f == NULL, "accepted a file that should fail with '%s'", needle);
  if (f) gguf_close(f);
  CHECK_MSG(strstr(err_get(), needle) != NULL, "error '%s' does not mention '%s'", err_get(), needle);
  CHECK_MSG(strstr(err_get(), "hostile.gguf: offset") != NULL, "error '%s' does not name file and offset", err_get());
  free(b->p);
  memset(b, 0, sizeof *b);
}

static void header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
  b_put(b, "GGUF", 4);
  b_u32(b, version);
  b_u64(b, n_tensors);
  b_u64(b, n_kv);
}

// One valid tensor of 32 f32 in a file with alignment 32, with overridable fields.
static void one_tensor(bytes *b, uint32_t n_dims, uint64_t ne0, uint32_t type, uint64_t offset, size_t data_bytes) {
  header(b, 3, 1, 0);
  b_str(b, "t");
  b_u32(b, n_dims);
  for (uint32_t d = 0; d < n_dims && d < 8; d++) b_u64(b, d == 0 ? ne0 : 1);
  b_u32(b, type);
  b_u64(b, offset);
  while (b->n % 32) b_put(b, "", 1);
  uint8_t zero[256] = {0};
  b_put(b, zero, data_bytes);
}

static void test_hostile(void) {
  bytes b = {0};
  b_put(&b, "GGU", 3);
  expect_error(&b, "truncated");
  b_put(&b, "GGML", 4);
  b_u32(&b, 3);
  b_u64(&b, 0);
  b_u64(&b, 0);
  expect_error(&b, "bad magic");
  header(&b, 1, 0, 0);
  expect_error(&b, "version");
  header(&b, 3, 0, 1ull << 60);
  expect_error(&b, "key-value count");
  header(&b, 3, 1ull << 40, 0);
  expect_error(&b, "tensor count");
  header(&b, 3, 0, 1);
  b_u64(&b, 1ull << 62);
  b_put(&b, "abcdefghijklmnop", 16);
  expect_error(&b, "string length");
  header(&b, 3, 0, 1);
  b_str(&b, "k\xff\xfe");
  b_u32(&b, GGUF_U8);
  b_put(&b, "x", 1);
  expect_error(&b, "UTF-8");
  header(&b, 3, 0, 1);
  b_str(&b, "k");
  b_u32(&b, 99);
  b_put(&b, "xxxxxxxxxxxxxxxx", 16);
  expect_error(&b, "unknown value type");
  header(&b, 3, 0, 1);
  b_str(&b, "k");
  b_u32(&b, GGUF_ARRAY);
  b_u32(&b, GGUF_U32);
  b_u64(&b, 1ull << 61);
  b_put(&b, "xxxxxxxxxxxxxxxx", 16);
  expect_error(&b, "runs past the end");
  header(&b, 3, 0, 2);
  b_str(&b, "k");
  b_u32(&b, GGUF_U8);
  b_put(&b, "x", 1);
  b_str(&b, "k");
  b_u32(&b, GGUF_U8);
  b_put(&b, "x", 1);
  expect_error(&b, "appears twice");
  header(&b, 3, 0, 1);
  b_str(&b, "general.alignment");
  b_u32(&b, GGUF_U32);
  b_u32(&b, 3);
  b_put(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 34);
  expect_error(&b, "power of two");
  one_tensor(&b, 5, 32, T_F32, 0, 128);
  expect_error(&b, "dimensions");
  one_tensor(&b, 1, 0, T_F32, 0, 128);
  expect_error(&b, "dimension 0");
  one_tensor(&b, 1, 32, 77, 0, 128);
  expect_error(&b, "unknown tensor type");
  one_tensor(&b, 1, 33, T_Q4_0, 0, 128);
  expect_error(&b, "block size");
  one_tensor(&b, 1, 32, T_F32, 64, 128);
  expect_error(&b, "runs past the end");
  one_tensor(&b, 1, 32, T_F32, 3, 128);
  expect_error(&b, "alignment");
  one_tensor(&b, 1, 32, T_F32, 0, 100);
  expect_error(&b, "runs past the end");
  // A good file truncated at every length must fail cleanly, never crash.
  one_tensor(&b, 1, 32, T_F32, 0, 128);
  for (size_t n = 0; n < b.n; n++) {
    gguf_file *f = gguf_open_memory(b.p, n, "cut.gguf");
    CHECK_MSG(f == NULL, "truncated to %zu bytes accepted", n);
    if (f) gguf_close(f);
  }
  gguf_file *f = gguf_open_memory(b.p, b.n, "whole.gguf");
  CHECK_MSG(f != NULL, "%s", err_get());
  gguf_close(f);
  free(b.p);
}

int main(void) {
  test_stories();
  test_roundtrip();
  test_float_elements_as_int();
  test_hostile();
  return tu_finish();
}
