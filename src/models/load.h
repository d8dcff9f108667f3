// load: helpers that read hyper-parameters and bind tensors while a model
// loads, checking each against what the architecture expects. Failures set
// the error to a message naming the file and the key or tensor, and mark the
// model as failed.
#ifndef LLMUX_LOAD_H
#define LLMUX_LOAD_H
#include "llmux.h"
#include "models/model.h"

int load_fail(llmux_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));  // returns -1

// Keys are relative to the architecture ("block_count" reads "llama.block_count").
bool load_req_int(llmux_model *m, const char *key, int64_t *out, int64_t lo, int64_t hi);
int64_t load_opt_int(llmux_model *m, const char *key, int64_t dflt, int64_t lo, int64_t hi);
double load_opt_float(llmux_model *m, const char *key, double dflt);
bool load_opt_str(llmux_model *m, const char *key, char *buf, size_t size);

// Tensor names are relative to the current layer: "attn_q" is
// "blk.N.attn_q.weight" after load_set_layer(m, N), "attn_q.weight" for -1.
void load_set_layer(llmux_model *m, int il);
bool load_has(llmux_model *m, const char *name);
// A weight matrix of n_out rows of n_in elements.
int load_matrix(llmux_model *m, mm_weight *w, const char *name, int64_t n_in, int64_t n_out);
// A vector of n floats (converted to f32 when stored otherwise); NULL when
// absent (an error only if required).
const float *load_vector(llmux_model *m, const char *name, int64_t n, bool required);
// The optional bias "NAME.bias" of n floats.
const float *load_bias(llmux_model *m, const char *name, int64_t n);
size_t load_weight_bytes(const llmux_model *m);
// Reads every page of the tensor data once, reporting progress, so that the
// first request does not pay for the disk; with promote, reads it again into
// 2 MiB pages where the page cache holds it in small ones (filemap_promote).
void load_prefault(const llmux_model *m, bool promote, void (*progress)(float, void *), void *user);

#endif
