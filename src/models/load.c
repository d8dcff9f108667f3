// load: see load.h.
#include "models/load.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/filemap.h"
#include "ops/quant.h"
#include "ops/types.h"

int load_fail(llmux_model *m, const char *fmt, ...) {
  if (m->load_failed) return -1;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  err_set("%s: %s", m->file->path, msg);
  m->load_failed = true;
  return -1;
}

static const char *arch_key(const llmux_model *m, const char *key, char *buf, size_t size) {
  snprintf(buf, size, "%s.%s", m->arch, key);
  return buf;
}

bool load_req_int(llmux_model *m, const char *key, int64_t *out, int64_t lo, int64_t hi) {
  char k[160];
  arch_key(m, key, k, sizeof k);
  if (!gguf_find(m->file, k)) return load_fail(m, "metadata key %s is missing", k), false;
  if (!gguf_get_int(m->file, k, out)) return load_fail(m, "metadata key %s is not an integer", k), false;
  if (*out < lo || *out > hi)
    return load_fail(m, "metadata key %s = %lld is out of range [%lld, %lld]", k, (long long)*out, (long long)lo,
                     (long long)hi), false;
  return true;
}

int64_t load_opt_int(llmux_model *m, const char *key, int64_t dflt, int64_t lo, int64_t hi) {
  char k[160];
  int64_t v = dflt;
  arch_key(m, key, k, sizeof k);
  if (!gguf_find(m->file, k)) return dflt;
  if (!load_req_int(m, key, &v, lo, hi)) return dflt;
  return v;
}

double load_opt_float(llmux_model *m, const char *key, double dflt) {
  char k[160];
  double v;
  arch_key(m, key, k, sizeof k);
  if (!gguf_find(m->file, k)) return dflt;
  if (!gguf_get_float(m->file, k, &v)) {
    load_fail(m, "metadata key %s is not a finite number", k);
    return dflt;
  }
  return v;
}

bool load_opt_str(llmux_model *m, const char *key, char *buf, size_t size) {
  char k[160];
  arch_key(m, key, k, sizeof k);
  return gguf_get_cstr(m->file, k, buf, size);
}

void load_set_layer(llmux_model *m, int il) { m->load_layer = il; }

static const char *tensor_name(const llmux_model *m, const char *name, const char *suffix, char *buf, size_t size) {
  if (m->load_layer >= 0) snprintf(buf, size, "blk.%d.%s.%s", m->load_layer, name, suffix);
  else if (strchr(name, '.')) snprintf(buf, size, "%s", name);
  else snprintf(buf, size, "%s.%s", name, suffix);
  return buf;
}

bool load_has(llmux_model *m, const char *name) {
  char n[160];
  return gguf_find_tensor(m->file, tensor_name(m, name, "weight", n, sizeof n)) != NULL;
}

static const gguf_tensor *find_checked(llmux_model *m, const char *full, int64_t ne0, int64_t ne1) {
  const gguf_tensor *t = gguf_find_tensor(m->file, full);
  if (!t) return load_fail(m, "tensor %s is missing", full), NULL;
  if (!type_supported(t->type))
    return load_fail(m, "tensor %s has type %s, which llmux does not support yet", full, type_name(t->type)), NULL;
  if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
    return load_fail(m, "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", full,
                     (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                     (long long)ne0, (long long)ne1), NULL;
  return t;
}

int load_matrix(llmux_model *m, mm_weight *w, const char *name, int64_t n_in, int64_t n_out) {
  char n[160];
  const gguf_tensor *t = find_checked(m, tensor_name(m, name, "weight", n, sizeof n), n_in, n_out);
  if (!t) return -1;
  w->type = t->type;
  w->n_in = n_in;
  w->n_out = n_out;
  w->data = t->data;
  w->row_bytes = type_row_bytes(t->type, n_in);
  return 0;
}

static float *own(llmux_model *m, int64_t n) {
  float **grown = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *grown);
  if (!grown) return NULL;
  m->owned = grown;
  float *f = malloc((size_t)n * sizeof *f);
  if (f) m->owned[m->n_owned++] = f;
  return f;
}

static const float *vector_of(llmux_model *m, const char *full, int64_t n) {
  const gguf_tensor *t = find_checked(m, full, n, 1);
  if (!t) return NULL;
  // Tensor data is 32-byte aligned in the file, so f32 data can be used in place.
  if (t->type == T_F32) return t->data;
  dequant_fn dq = quant_dequant(t->type);
  float *f = dq ? own(m, n) : NULL;
  if (!f) return load_fail(m, "tensor %s: cannot convert %s to f32", full, type_name(t->type)), NULL;
  dq(t->data, f, n);
  return f;
}

const float *load_vector(llmux_model *m, const char *name, int64_t n, bool required) {
  char full[160];
  tensor_name(m, name, "weight", full, sizeof full);
  if (!gguf_find_tensor(m->file, full)) {
    if (required) load_fail(m, "tensor %s is missing", full);
    return NULL;
  }
  return vector_of(m, full, n);
}

const float *load_bias(llmux_model *m, const char *name, int64_t n) {
  char full[160];
  tensor_name(m, name, "bias", full, sizeof full);
  if (!gguf_find_tensor(m->file, full)) return NULL;
  return vector_of(m, full, n);
}

static size_t matrix_bytes(const mm_weight *w) { return w->data ? w->row_bytes * (size_t)w->n_out : 0; }

size_t load_weight_bytes(const llmux_model *m) {
  size_t total = matrix_bytes(&m->output) + m->tok_embd.row_bytes;  // one embedding row per token
  for (int il = 0; il < m->hp.n_layer; il++) {
    const layer_weights *L = &m->layers[il];
    const mm_weight *ws[LAYER_MATRIX_COUNT] = LAYER_MATRICES(L);
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) total += matrix_bytes(ws[i]);
  }
  return total;
}

void load_prefault(const llmux_model *m, bool promote, void (*progress)(float, void *), void *user) {
  const gguf_file *f = m->file;
  if (!f->mapped || f->size <= f->data_offset) return;
  filemap_touch(f->base, f->size, progress, user);
  if (promote) filemap_promote(f->path, f->base, f->size, progress, user);
}
