// libFuzzer target: the GGUF reader on arbitrary bytes. Whatever the input,
// gguf_open_memory either succeeds with a consistent structure or fails with
// a message; it never crashes, leaks or reads out of bounds.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A private copy, so reads past the input are caught by ASan.
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  gguf_file *f = gguf_open_memory(buf, size, "fuzz.gguf");
  if (f) {
    // Touch everything the reader promised is in bounds.
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
      const gguf_tensor *t = &f->tensors[i];
      if (t->nbytes) sink ^= ((const uint8_t *)t->data)[t->nbytes - 1];
      (void)gguf_find_tensor(f, t->name);
    }
    for (uint64_t i = 0; i < f->n_kv; i++) {
      const gguf_kv *kv = &f->kv[i];
      (void)gguf_find(f, kv->key);
      if (kv->type == GGUF_STRING && kv->v.str.n) sink ^= (uint8_t)kv->v.str.s[kv->v.str.n - 1];
      if (kv->type == GGUF_ARRAY && kv->v.arr.n) {
        if (kv->v.arr.type == GGUF_STRING) sink ^= (uint8_t)kv->v.arr.strs[kv->v.arr.n - 1].n;
        else sink ^= (uint8_t)gguf_arr_int(&kv->v.arr, kv->v.arr.n - 1);
      }
    }
    (void)sink;
    gguf_close(f);
  } else if (!strstr(err_get(), "fuzz.gguf")) {
    abort();  // every failure names the file
  }
  free(buf);
  return 0;
}
