// gguf_get: lookups and typed getters over a parsed file (see gguf.h).
#include <math.h>
#include <string.h>

#include "gguf/gguf.h"

static uint64_t lookup(const uint64_t *slots, uint64_t mask, const char *name,
                       const char *(*name_of)(const gguf_file *, uint64_t), const gguf_file *f) {
  if (!slots) return 0;
  uint64_t h = gguf_hash(name) & mask;
  while (slots[h]) {
    if (!strcmp(name_of(f, slots[h] - 1), name)) return slots[h];
    h = (h + 1) & mask;
  }
  return 0;
}

static const char *kv_name(const gguf_file *f, uint64_t i) { return f->kv[i].key; }
static const char *tensor_name(const gguf_file *f, uint64_t i) { return f->tensors[i].name; }

const gguf_kv *gguf_find(const gguf_file *f, const char *key) {
  uint64_t s = lookup(f->kv_slots, f->kv_mask, key, kv_name, f);
  return s ? &f->kv[s - 1] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
  uint64_t s = lookup(f->tensor_slots, f->tensor_mask, name, tensor_name, f);
  return s ? &f->tensors[s - 1] : NULL;
}

static bool is_unsigned(uint32_t t) { return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64; }
static bool is_signed(uint32_t t) { return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64; }

bool gguf_get_int(const gguf_file *f, const char *key, int64_t *out) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv) return false;
  if (is_unsigned(kv->type)) {
    if (kv->v.u > (uint64_t)INT64_MAX) return false;
    *out = (int64_t)kv->v.u;
    return true;
  }
  if (is_signed(kv->type)) {
    *out = kv->v.i;
    return true;
  }
  return false;
}

bool gguf_get_float(const gguf_file *f, const char *key, double *out) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv) return false;
  if (kv->type == GGUF_F32 || kv->type == GGUF_F64) {
    if (!isfinite(kv->v.f)) return false;
    *out = kv->v.f;
    return true;
  }
  int64_t i;
  if (!gguf_get_int(f, key, &i)) return false;
  *out = (double)i;
  return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv || kv->type != GGUF_BOOL) return false;
  *out = kv->v.b;
  return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
  const gguf_kv *kv = gguf_find(f, key);
  if (!kv || kv->type != GGUF_STRING) return false;
  *out = kv->v.str;
  return true;
}

bool gguf_get_cstr(const gguf_file *f, const char *key, char *buf, size_t bufsize) {
  gguf_str s;
  if (!bufsize || !gguf_get_str(f, key, &s)) return false;
  size_t n = s.n < bufsize - 1 ? (size_t)s.n : bufsize - 1;
  memcpy(buf, s.s, n);
  buf[n] = 0;
  return true;
}

const gguf_arr *gguf_get_arr(const gguf_file *f, const char *key) {
  const gguf_kv *kv = gguf_find(f, key);
  return kv && kv->type == GGUF_ARRAY ? &kv->v.arr : NULL;
}

// A float element as an integer: truncated toward zero, NaN as 0, and
// saturated outside int64's range (a hostile file's 7e31 would otherwise be
// an undefined conversion; callers check the range they need).
static int64_t float_to_int(double v) {
  if (v != v) return 0;
  if (v >= 0x1p63) return INT64_MAX;
  if (v < -0x1p63) return INT64_MIN;
  return (int64_t)v;
}

int64_t gguf_arr_int(const gguf_arr *a, uint64_t i) {
  const uint8_t *p = (const uint8_t *)a->data + i * gguf_vtype_size(a->type);
  switch (a->type) {
  case GGUF_U8: case GGUF_BOOL: return *p;
  case GGUF_I8: return (int8_t)*p;
  case GGUF_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
  case GGUF_I16: { int16_t v; memcpy(&v, p, 2); return v; }
  case GGUF_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
  case GGUF_I32: { int32_t v; memcpy(&v, p, 4); return v; }
  case GGUF_U64: case GGUF_I64: { int64_t v; memcpy(&v, p, 8); return v; }
  case GGUF_F32: { float v; memcpy(&v, p, 4); return float_to_int(v); }
  case GGUF_F64: { double v; memcpy(&v, p, 8); return float_to_int(v); }
  default: return 0;
  }
}

double gguf_arr_float(const gguf_arr *a, uint64_t i) {
  const uint8_t *p = (const uint8_t *)a->data + i * gguf_vtype_size(a->type);
  if (a->type == GGUF_F32) { float v; memcpy(&v, p, 4); return v; }
  if (a->type == GGUF_F64) { double v; memcpy(&v, p, 8); return v; }
  return (double)gguf_arr_int(a, i);
}
