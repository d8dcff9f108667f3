// gguf_write: builds GGUF v3 files (see gguf.h). Key-values are serialized as
// they are set; tensors are copied and laid out at write time.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "ops/types.h"

typedef struct {
  uint8_t *p;
  size_t n, cap;
} buf;

typedef struct {
  char *name;
  uint32_t type, n_dims;
  int64_t ne[GGUF_MAX_DIMS];
  void *data;
  size_t nbytes;
} wtensor;

struct gguf_writer {
  buf kv;
  uint64_t n_kv;
  wtensor *tensors;
  uint64_t n_tensors, cap_tensors;
  bool oom;
};

static void put(gguf_writer *w, buf *b, const void *p, size_t n) {
  if (w->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (!np) {
      w->oom = true;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void put_u32(gguf_writer *w, buf *b, uint32_t v) { put(w, b, &v, 4); }
static void put_u64(gguf_writer *w, buf *b, uint64_t v) { put(w, b, &v, 8); }
static void put_str(gguf_writer *w, buf *b, const char *s) {
  uint64_t n = strlen(s);
  put_u64(w, b, n);
  put(w, b, s, n);
}

static void put_key(gguf_writer *w, const char *key, uint32_t type) {
  put_str(w, &w->kv, key);
  put_u32(w, &w->kv, type);
  w->n_kv++;
}

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
  if (!w) return;
  for (uint64_t i = 0; i < w->n_tensors; i++) {
    free(w->tensors[i].name);
    free(w->tensors[i].data);
  }
  free(w->tensors);
  free(w->kv.p);
  free(w);
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
  put_key(w, key, GGUF_U32);
  put_u32(w, &w->kv, v);
}

void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
  put_key(w, key, GGUF_I32);
  put(w, &w->kv, &v, 4);
}

void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
  put_key(w, key, GGUF_F32);
  put(w, &w->kv, &v, 4);
}

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
  uint8_t b = v;
  put_key(w, key, GGUF_BOOL);
  put(w, &w->kv, &b, 1);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
  put_key(w, key, GGUF_STRING);
  put_str(w, &w->kv, v);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t type, const void *data, uint64_t n) {
  put_key(w, key, GGUF_ARRAY);
  put_u32(w, &w->kv, type);
  put_u64(w, &w->kv, n);
  put(w, &w->kv, data, (size_t)n * gguf_vtype_size(type));
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
  put_key(w, key, GGUF_ARRAY);
  put_u32(w, &w->kv, GGUF_STRING);
  put_u64(w, &w->kv, n);
  for (uint64_t i = 0; i < n; i++) put_str(w, &w->kv, strs[i]);
}

void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                            const void *data) {
  if (w->oom) return;
  if (w->n_tensors == w->cap_tensors) {
    uint64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 16;
    wtensor *nt = realloc(w->tensors, (size_t)cap * sizeof *nt);
    if (!nt) {
      w->oom = true;
      return;
    }
    w->tensors = nt;
    w->cap_tensors = cap;
  }
  wtensor *t = &w->tensors[w->n_tensors];
  memset(t, 0, sizeof *t);
  int64_t n = 1;
  for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
    t->ne[d] = d < n_dims ? ne[d] : 1;
    n *= t->ne[d];
  }
  t->type = type;
  t->n_dims = n_dims;
  t->nbytes = type_row_bytes(type, t->ne[0]) * (size_t)(n / t->ne[0]);
  t->name = strdup(name);
  t->data = malloc(t->nbytes ? t->nbytes : 1);
  if (!t->name || !t->data) {
    free(t->name);
    free(t->data);
    w->oom = true;
    return;
  }
  memcpy(t->data, data, t->nbytes);
  w->n_tensors++;
}

static size_t pad_to(size_t n, size_t a) { return (n + a - 1) / a * a; }

int gguf_writer_write(gguf_writer *w, const char *path) {
  buf head = {0};
  put(w, &head, "GGUF", 4);
  put_u32(w, &head, 3);
  put_u64(w, &head, w->n_tensors);
  put_u64(w, &head, w->n_kv);
  put(w, &head, w->kv.p, w->kv.n);
  size_t off = 0;
  for (uint64_t i = 0; i < w->n_tensors; i++) {
    wtensor *t = &w->tensors[i];
    put_str(w, &head, t->name);
    put_u32(w, &head, t->n_dims);
    for (uint32_t d = 0; d < t->n_dims; d++) put_u64(w, &head, (uint64_t)t->ne[d]);
    put_u32(w, &head, t->type);
    put_u64(w, &head, off);
    off = pad_to(off + t->nbytes, GGUF_DEFAULT_ALIGNMENT);
  }
  static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT];
  put(w, &head, zeros, pad_to(head.n, GGUF_DEFAULT_ALIGNMENT) - head.n);
  if (w->oom) {
    free(head.p);
    err_set("%s: out of memory while building the GGUF file", path);
    return -1;
  }
  FILE *fp = fopen(path, "wb");
  if (!fp) {
    free(head.p);
    err_set("%s: cannot create: %s", path, strerror(errno));
    return -1;
  }
  bool ok = fwrite(head.p, 1, head.n, fp) == head.n;
  for (uint64_t i = 0; ok && i < w->n_tensors; i++) {
    wtensor *t = &w->tensors[i];
    ok = fwrite(t->data, 1, t->nbytes, fp) == t->nbytes;
    size_t pad = pad_to(t->nbytes, GGUF_DEFAULT_ALIGNMENT) - t->nbytes;
    if (ok && i + 1 < w->n_tensors) ok = fwrite(zeros, 1, pad, fp) == pad;
  }
  free(head.p);
  if (fclose(fp) != 0 || !ok) {
    err_set("%s: write failed: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}
