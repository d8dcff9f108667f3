// gguf_read: the validating GGUF reader (see gguf.h).
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/filemap.h"
#include "gguf/gguf.h"
#include "ops/types.h"

// Longest key or tensor name we accept; real files use well under 256 bytes.
#define MAX_NAME_LEN 65535

typedef struct {
  const uint8_t *p;
  size_t size, pos;
  const char *name;
  bool failed;
} reader;

static void fail(reader *r, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(reader *r, size_t at, const char *fmt, ...) {
  if (r->failed) return;
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  err_set("%s: offset %zu: %s", r->name, at, msg);
  r->failed = true;
}

static bool take(reader *r, void *out, size_t n, const char *what) {
  if (r->failed) return false;
  if (r->size - r->pos < n) {
    fail(r, r->pos, "%s: file truncated (need %zu bytes, %zu left)", what, n, r->size - r->pos);
    return false;
  }
  memcpy(out, r->p + r->pos, n);
  r->pos += n;
  return true;
}

static bool take_u32(reader *r, uint32_t *v, const char *what) { return take(r, v, 4, what); }
static bool take_u64(reader *r, uint64_t *v, const char *what) { return take(r, v, 8, what); }

static bool utf8_valid(const uint8_t *s, uint64_t n) {
  uint64_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || i + (uint64_t)len > n) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
    for (int k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3fu);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += (uint64_t)len;
  }
  return true;
}

static bool take_str(reader *r, gguf_str *out, const char *what) {
  size_t at = r->pos;
  uint64_t n;
  if (!take_u64(r, &n, what)) return false;
  if (n > r->size - r->pos) {
    fail(r, at, "%s: string length %llu runs past the end of the file", what, (unsigned long long)n);
    return false;
  }
  out->s = (const char *)r->p + r->pos;
  out->n = n;
  r->pos += n;
  return true;
}

// A key or tensor name: bounded, valid UTF-8, copied with a NUL.
static char *take_name(reader *r, const char *what) {
  size_t at = r->pos;
  gguf_str s;
  if (!take_str(r, &s, what)) return NULL;
  if (s.n == 0 || s.n > MAX_NAME_LEN) {
    fail(r, at, "%s: length %llu is out of range (1..%d)", what, (unsigned long long)s.n, MAX_NAME_LEN);
    return NULL;
  }
  if (!utf8_valid((const uint8_t *)s.s, s.n) || memchr(s.s, 0, s.n)) {
    fail(r, at, "%s: not valid UTF-8", what);
    return NULL;
  }
  char *c = malloc(s.n + 1);
  if (!c) {
    fail(r, at, "%s: out of memory", what);
    return NULL;
  }
  memcpy(c, s.s, s.n);
  c[s.n] = 0;
  return c;
}

size_t gguf_vtype_size(uint32_t t) {
  static const size_t sizes[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  return t < GGUF_VTYPE_COUNT ? sizes[t] : 0;
}

const char *gguf_vtype_name(uint32_t t) {
  static const char *names[GGUF_VTYPE_COUNT] = {"u8",  "i8",     "u16",   "i16", "u32", "i32", "f32",
                                                "bool", "string", "array", "u64", "i64", "f64"};
  return t < GGUF_VTYPE_COUNT ? names[t] : "unknown";
}

static void read_scalar(reader *r, uint32_t type, gguf_kv *kv, const char *what) {
  uint8_t raw[8] = {0};
  size_t at = r->pos;
  if (!take(r, raw, gguf_vtype_size(type), what)) return;
  switch (type) {
  case GGUF_U8: kv->v.u = raw[0]; break;
  case GGUF_I8: kv->v.i = (int8_t)raw[0]; break;
  case GGUF_U16: { uint16_t x; memcpy(&x, raw, 2); kv->v.u = x; } break;
  case GGUF_I16: { int16_t x; memcpy(&x, raw, 2); kv->v.i = x; } break;
  case GGUF_U32: { uint32_t x; memcpy(&x, raw, 4); kv->v.u = x; } break;
  case GGUF_I32: { int32_t x; memcpy(&x, raw, 4); kv->v.i = x; } break;
  case GGUF_U64: memcpy(&kv->v.u, raw, 8); break;
  case GGUF_I64: memcpy(&kv->v.i, raw, 8); break;
  case GGUF_F32: { float x; memcpy(&x, raw, 4); kv->v.f = x; } break;
  case GGUF_F64: memcpy(&kv->v.f, raw, 8); break;
  case GGUF_BOOL:
    if (raw[0] > 1) fail(r, at, "%s: bool value %u is not 0 or 1", what, raw[0]);
    kv->v.b = raw[0] == 1;
    break;
  }
}

static void read_array(reader *r, gguf_kv *kv, const char *what) {
  gguf_arr *a = &kv->v.arr;
  size_t at = r->pos;
  if (!take_u32(r, &a->type, what) || !take_u64(r, &a->n, what)) return;
  if (a->type == GGUF_ARRAY) return fail(r, at, "%s: nested arrays are not supported", what);
  if (a->type >= GGUF_VTYPE_COUNT) return fail(r, at, "%s: unknown element type %u", what, a->type);
  if (a->type != GGUF_STRING) {
    size_t es = gguf_vtype_size(a->type);
    if (a->n > (r->size - r->pos) / es)
      return fail(r, at, "%s: array of %llu %s runs past the end of the file", what,
                  (unsigned long long)a->n, gguf_vtype_name(a->type));
    a->data = r->p + r->pos;
    r->pos += (size_t)a->n * es;
    return;
  }
  // Each string takes at least its 8-byte length.
  if (a->n > (r->size - r->pos) / 8)
    return fail(r, at, "%s: array of %llu strings runs past the end of the file", what, (unsigned long long)a->n);
  a->data = r->p + r->pos;
  a->strs = malloc((size_t)(a->n ? a->n : 1) * sizeof *a->strs);
  if (!a->strs) return fail(r, at, "%s: out of memory for %llu strings", what, (unsigned long long)a->n);
  for (uint64_t i = 0; i < a->n && !r->failed; i++) take_str(r, &a->strs[i], what);
}

static void read_kv(reader *r, gguf_kv *kv, uint64_t idx) {
  char what[96];
  snprintf(what, sizeof what, "key #%llu", (unsigned long long)idx);
  kv->key = take_name(r, what);
  if (!kv->key) return;
  snprintf(what, sizeof what, "value of '%.64s'", kv->key);
  size_t at = r->pos;
  if (!take_u32(r, &kv->type, what)) return;
  if (kv->type >= GGUF_VTYPE_COUNT) return fail(r, at, "%s: unknown value type %u", what, kv->type);
  if (kv->type == GGUF_STRING) take_str(r, &kv->v.str, what);
  else if (kv->type == GGUF_ARRAY) read_array(r, kv, what);
  else read_scalar(r, kv->type, kv, what);
}

static void read_tensor_info(reader *r, gguf_tensor *t, uint64_t idx) {
  char what[128];
  snprintf(what, sizeof what, "tensor #%llu name", (unsigned long long)idx);
  t->name = take_name(r, what);
  if (!t->name) return;
  snprintf(what, sizeof what, "tensor '%.64s'", t->name);
  size_t at = r->pos;
  if (!take_u32(r, &t->n_dims, what)) return;
  if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
    return fail(r, at, "%s: %u dimensions (1..%d allowed)", what, t->n_dims, GGUF_MAX_DIMS);
  for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
  for (uint32_t d = 0; d < t->n_dims; d++) {
    uint64_t ne;
    at = r->pos;
    if (!take_u64(r, &ne, what)) return;
    if (ne == 0 || ne > ((uint64_t)1 << 40)) return fail(r, at, "%s: dimension %u is %llu", what, d, (unsigned long long)ne);
    t->ne[d] = (int64_t)ne;
  }
  at = r->pos;
  if (!take_u32(r, &t->type, what)) return;
  if (!type_name(t->type)) return fail(r, at, "%s: unknown tensor type %u", what, t->type);
  take_u64(r, &t->offset, what);
}

// Element count and byte size, refusing overflow and rows that split a block.
static void size_tensor(reader *r, gguf_tensor *t, size_t at) {
  uint64_t n = 1;
  for (int d = 0; d < GGUF_MAX_DIMS; d++) {
    if (__builtin_mul_overflow(n, (uint64_t)t->ne[d], &n) || n > ((uint64_t)1 << 50))
      return fail(r, at, "tensor '%s': element count overflows", t->name);
  }
  int64_t bs = type_block_size(t->type);
  if (t->ne[0] % bs)
    return fail(r, at, "tensor '%s': row length %lld is not a multiple of the %s block size %lld", t->name,
                (long long)t->ne[0], type_name(t->type), (long long)bs);
  t->nbytes = (size_t)(n / (uint64_t)bs) * type_block_bytes(t->type);
}

static void place_tensors(reader *r, gguf_file *f, size_t infos_at) {
  uint64_t align = f->alignment;
  uint64_t data = (r->pos + align - 1) / align * align;
  if (data > r->size && f->n_tensors) return fail(r, r->pos, "data section starts past the end of the file");
  f->data_offset = data;
  for (uint64_t i = 0; i < f->n_tensors && !r->failed; i++) {
    gguf_tensor *t = &f->tensors[i];
    size_tensor(r, t, infos_at);
    if (r->failed) return;
    if (t->offset % align)
      return fail(r, infos_at, "tensor '%s': offset %llu is not a multiple of the alignment %llu", t->name,
                  (unsigned long long)t->offset, (unsigned long long)align);
    uint64_t room = r->size - data;
    if (t->offset > room || t->nbytes > room - t->offset)
      return fail(r, infos_at, "tensor '%s': data [%llu, +%zu) runs past the end of the file (%zu bytes)", t->name,
                  (unsigned long long)(data + t->offset), t->nbytes, r->size);
    t->data = r->p + data + t->offset;
  }
}

static void read_alignment(reader *r, gguf_file *f) {
  f->alignment = GGUF_DEFAULT_ALIGNMENT;
  const gguf_kv *kv = gguf_find(f, "general.alignment");
  if (!kv) return;
  if (kv->type != GGUF_U32) return fail(r, 0, "general.alignment has type %s, expected u32", gguf_vtype_name(kv->type));
  if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) || kv->v.u > 65536)
    return fail(r, 0, "general.alignment %llu is not a power of two up to 65536", (unsigned long long)kv->v.u);
  f->alignment = kv->v.u;
}

uint64_t gguf_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

// Builds an open-addressing index over n names; a repeated name is an error,
// since a lookup could not tell the two apart.
static uint64_t *build_index(reader *r, uint64_t n, const char *(*name_of)(gguf_file *, uint64_t), gguf_file *f,
                             uint64_t *mask, const char *what) {
  uint64_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  uint64_t *slots = calloc((size_t)cap, sizeof *slots);
  if (!slots) {
    fail(r, 0, "out of memory indexing %llu %ss", (unsigned long long)n, what);
    return NULL;
  }
  *mask = cap - 1;
  for (uint64_t i = 0; i < n; i++) {
    const char *name = name_of(f, i);
    uint64_t h = gguf_hash(name) & *mask;
    while (slots[h]) {
      if (!strcmp(name_of(f, slots[h] - 1), name)) {
        fail(r, 0, "%s '%s' appears twice", what, name);
        return slots;
      }
      h = (h + 1) & *mask;
    }
    slots[h] = i + 1;
  }
  return slots;
}

static const char *kv_name(gguf_file *f, uint64_t i) { return f->kv[i].key; }
static const char *tensor_name(gguf_file *f, uint64_t i) { return f->tensors[i].name; }

static void parse(reader *r, gguf_file *f) {
  char magic[4];
  if (!take(r, magic, 4, "magic")) return;
  if (memcmp(magic, "GGUF", 4)) return fail(r, 0, "magic: not a GGUF file (bad magic)");
  if (!take_u32(r, &f->version, "version")) return;
  if (f->version < 2 || f->version > 3) return fail(r, 4, "version: GGUF version %u is not supported (2 or 3)", f->version);
  if (!take_u64(r, &f->n_tensors, "tensor count") || !take_u64(r, &f->n_kv, "key-value count")) return;
  // Smallest key-value: 8 (key length) + 1 (key) + 4 (type) + 1 (u8) bytes; smallest tensor info: 8+1+4+8+4+8.
  if (f->n_kv > (r->size - r->pos) / 14) return fail(r, 16, "key-value count %llu is larger than the file could hold", (unsigned long long)f->n_kv);
  if (f->n_tensors > (r->size - r->pos) / 33) return fail(r, 8, "tensor count %llu is larger than the file could hold", (unsigned long long)f->n_tensors);
  f->kv = calloc((size_t)f->n_kv + 1, sizeof *f->kv);
  f->tensors = calloc((size_t)f->n_tensors + 1, sizeof *f->tensors);
  if (!f->kv || !f->tensors) return fail(r, 8, "out of memory");
  for (uint64_t i = 0; i < f->n_kv && !r->failed; i++) read_kv(r, &f->kv[i], i);
  if (r->failed) return;
  f->kv_slots = build_index(r, f->n_kv, kv_name, f, &f->kv_mask, "key");
  read_alignment(r, f);
  size_t infos_at = r->pos;
  for (uint64_t i = 0; i < f->n_tensors && !r->failed; i++) read_tensor_info(r, &f->tensors[i], i);
  if (r->failed) return;
  f->tensor_slots = build_index(r, f->n_tensors, tensor_name, f, &f->tensor_mask, "tensor");
  place_tensors(r, f, infos_at);
}

static gguf_file *parse_buffer(const uint8_t *buf, size_t size, const char *name) {
  gguf_file *f = calloc(1, sizeof *f);
  if (!f) {
    err_set("%s: out of memory", name);
    return NULL;
  }
  f->path = strdup(name);
  f->base = buf;
  f->size = size;
  reader r = {.p = buf, .size = size, .name = name};
  parse(&r, f);
  if (r.failed) {
    gguf_close(f);
    return NULL;
  }
  return f;
}

gguf_file *gguf_open_memory(const void *buf, size_t size, const char *name) {
  return parse_buffer(buf, size, name ? name : "<memory>");
}

gguf_file *gguf_open(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err_set("%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    err_set("%s: not a regular file", path);
    close(fd);
    return NULL;
  }
  size_t size = (size_t)st.st_size;
  if (size < 24) {
    close(fd);
    err_set("%s: offset 0: file truncated (%zu bytes is too small for a GGUF header)", path, size);
    return NULL;
  }
  void *map = filemap_map(fd, size);
  close(fd);
  if (!map) {
    err_set("%s: cannot map: %s", path, strerror(errno));
    return NULL;
  }
  gguf_file *f = parse_buffer(map, size, path);
  if (!f) {
    munmap(map, size);
    return NULL;
  }
  f->mapped = true;
  return f;
}

void gguf_close(gguf_file *f) {
  if (!f) return;
  for (uint64_t i = 0; f->kv && i < f->n_kv; i++) {
    free(f->kv[i].key);
    if (f->kv[i].type == GGUF_ARRAY) free(f->kv[i].v.arr.strs);
  }
  for (uint64_t i = 0; f->tensors && i < f->n_tensors; i++) free(f->tensors[i].name);
  free(f->kv);
  free(f->tensors);
  free(f->kv_slots);
  free(f->tensor_slots);
  if (f->mapped) munmap((void *)f->base, f->size);
  free(f->path);
  free(f);
}
