// repack: at load, copies the weight matrices that this machine's kernels
// read faster tiled (ops/quant.h, matmul_can_tile) into that layout, in
// anonymous memory with 2 MiB pages, and drops each matrix's file pages from
// the process as it goes: resident memory stays about the file's size (the
// page cache keeps the file, which the kernel may reclaim). The token
// embeddings stay in the file (they are looked up a row at a time), also
// where the output matrix is the same tensor (tied): the output is tiled,
// the lookups read the file.
//
// The cost is a read and a write of those matrices at load (a fraction of a
// second per GB) and memory that other processes mapping the same file do
// not share; llmux_model_params.no_repack or LLMUX_NO_REPACK=1 keeps every
// weight in the file mapping instead.
#include "models/repack.h"

#include <stdlib.h>
#include <string.h>

#include "core/filemap.h"
#include "core/log.h"
#include "ops/quant.h"

#define MAX_PER_LAYER 8
#define CHUNK_ROWS 4096  // rows per copy step, so progress moves and file pages go early

static bool env_off(void) {
  const char *e = getenv("LLMUX_NO_REPACK");
  return e && *e && strcmp(e, "0") != 0;
}

static size_t matrix_size(const mm_weight *w) { return w->row_bytes * (size_t)w->n_out; }
static size_t aligned(size_t n) { return (n + 63) & ~(size_t)63; }

static bool wanted(const mm_weight *w) {
  return w->data && !w->tiled && quant_tile_group(w->type) > 0 && matmul_can_tile(w);
}

// The matrices to tile, at most 1 + MAX_PER_LAYER per layer; returns the count.
static int collect(llmux_model *m, mm_weight **out) {
  int n = 0;
  if (wanted(&m->output)) out[n++] = &m->output;
  for (int il = 0; il < m->hp.n_layer; il++) {
    layer_weights *L = &m->layers[il];
    mm_weight *ws[MAX_PER_LAYER] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->wqkv, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
    for (int i = 0; i < MAX_PER_LAYER; i++)
      if (wanted(ws[i])) out[n++] = ws[i];
  }
  return n;
}

// Tiles w into dst in steps of whole tiles, releasing the file pages read.
static void tile_matrix(mm_weight *w, uint8_t *dst, size_t *done, size_t total, llmux_progress_fn progress,
                        void *user) {
  const uint8_t *src = w->data;
  for (int64_t r = 0; r < w->n_out; r += CHUNK_ROWS) {
    int64_t n = w->n_out - r < CHUNK_ROWS ? w->n_out - r : CHUNK_ROWS;
    size_t off = (size_t)r * w->row_bytes, len = (size_t)n * w->row_bytes;
    quant_tile_rows(w->type, src + off, dst + off, w->n_in, n);
    filemap_release(src + off, len);
    *done += len;
    if (progress) progress((float)((double)*done / (double)total), user);
  }
  w->data = dst;
  w->tiled = true;
}

void repack_weights(llmux_model *m, const llmux_model_params *p) {
  if ((p && p->no_repack) || env_off() || !m->layers) return;
  mm_weight **ws = malloc(((size_t)m->hp.n_layer * MAX_PER_LAYER + 1) * sizeof *ws);
  if (!ws) return;
  int n = collect(m, ws);
  size_t total = 0, bytes = 0, done = 0;
  for (int i = 0; i < n; i++) total += matrix_size(ws[i]), bytes += aligned(matrix_size(ws[i]));
  uint8_t *region = n ? filemap_alloc_anon(bytes) : NULL;
  if (n && !region) log_warn("no memory to tile %.0f MiB of weights; they stay as the file has them",
                             (double)bytes / (1 << 20));
  if (region) {
    uint8_t *dst = region;
    for (int i = 0; i < n; i++) {
      tile_matrix(ws[i], dst, &done, total, p ? p->progress : NULL, p ? p->progress_user : NULL);
      dst += aligned(matrix_size(ws[i]));
    }
    m->repacked = region;
    m->repacked_bytes = bytes;
    log_info("tiled %d matrices (%.1f MiB) for this CPU's kernels", n, (double)total / (1 << 20));
  }
  free(ws);
}
