// gguf: reads GGUF v2/v3 files (mmap, zero-copy tensor data) and writes them.
// The reader validates every field at the boundary: magic, version, counts,
// string and array lengths, value types, UTF-8 of keys and names, tensor dims,
// types, offsets, alignment and arithmetic overflow. After gguf_open succeeds,
// callers may trust the structure; a failure sets the error (core/error.h) to
// one line naming the file, the byte offset and the field.
#ifndef LLMUX_GGUF_H
#define LLMUX_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_vtype {
  GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
  GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10,
  GGUF_I64 = 11, GGUF_F64 = 12, GGUF_VTYPE_COUNT = 13
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

// A string inside the file: not NUL-terminated.
typedef struct {
  const char *s;
  uint64_t n;
} gguf_str;

typedef struct {
  uint32_t type;    // element type (never GGUF_ARRAY)
  uint64_t n;       // element count
  const void *data; // raw little-endian elements (may be unaligned; use the gguf_arr_* getters)
  gguf_str *strs;   // for string arrays: the n strings
} gguf_arr;

typedef struct {
  char *key;  // NUL-terminated copy
  uint32_t type;
  union {
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    gguf_str str;
    gguf_arr arr;
  } v;
} gguf_kv;

typedef struct {
  char *name;  // NUL-terminated copy
  uint32_t n_dims;
  int64_t ne[GGUF_MAX_DIMS];  // ne[0] is the row length; unused dims are 1
  uint32_t type;              // enum tensor_type
  uint64_t offset;            // relative to the data section
  const void *data;
  size_t nbytes;
} gguf_tensor;

typedef struct gguf_file {
  char *path;
  const uint8_t *base;
  size_t size;
  bool mapped;
  uint32_t version;
  uint64_t n_kv, n_tensors;
  gguf_kv *kv;
  gguf_tensor *tensors;
  uint64_t alignment;
  uint64_t data_offset;
  // Hash indexes by name: slot holds index+1, 0 is empty; sizes are powers of two.
  uint64_t *kv_slots, kv_mask;
  uint64_t *tensor_slots, tensor_mask;
} gguf_file;

gguf_file *gguf_open(const char *path);
// Parses a buffer the caller keeps alive; `name` is used in errors.
gguf_file *gguf_open_memory(const void *buf, size_t size, const char *name);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

// Typed getters: return false when the key is absent or of an incompatible type.
// Integers convert between widths when the value fits; floats accept integers.
bool gguf_get_int(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_float(const gguf_file *f, const char *key, double *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
const gguf_arr *gguf_get_arr(const gguf_file *f, const char *key);
// Copies the string into buf (NUL-terminated, truncated to bufsize-1); false if absent.
bool gguf_get_cstr(const gguf_file *f, const char *key, char *buf, size_t bufsize);

int64_t gguf_arr_int(const gguf_arr *a, uint64_t i);
double gguf_arr_float(const gguf_arr *a, uint64_t i);

const char *gguf_vtype_name(uint32_t t);
uint64_t gguf_hash(const char *s);  // FNV-1a, used by the name indexes
size_t gguf_vtype_size(uint32_t t);  // 0 for STRING/ARRAY/unknown

// ---- writer -----------------------------------------------------------------
// Builds a GGUF v3 file in memory, then writes it. Values are copied at the call.
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
// Numeric array of `n` elements of `type` (raw little-endian values).
void gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t type, const void *data, uint64_t n);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
// ne has n_dims entries, ne[0] the row length; data holds the encoded tensor.
void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const int64_t *ne, const void *data);
// Returns 0, or -1 with the error set (including an earlier allocation failure).
int gguf_writer_write(gguf_writer *w, const char *path);

#endif
