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

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/filemap.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "core/timing.h"
#include "ops/quant.h"

#define CHUNK_ROWS 1024  // rows per piece of work: whole tiles, a few MiB

static bool env_off(void) {
  const char *e = getenv("LLMUX_NO_REPACK");
  return e && *e && strcmp(e, "0") != 0;
}

static size_t matrix_size(const mm_weight *w) { return w->row_bytes * (size_t)w->n_out; }
static size_t aligned(size_t n) { return (n + 63) & ~(size_t)63; }

static bool wanted(const mm_weight *w) {
  return w->data && !w->tiled && quant_tiles(w->type) && matmul_can_tile(w);
}

// The matrices to tile, at most 1 + LAYER_MATRIX_COUNT per layer; returns the count.
static int collect(llmux_model *m, mm_weight **out) {
  int n = 0;
  if (wanted(&m->output)) out[n++] = &m->output;
  for (int il = 0; il < m->hp.n_layer; il++) {
    layer_weights *L = &m->layers[il];
    mm_weight *ws[LAYER_MATRIX_COUNT] = LAYER_MATRICES(L);
    for (int i = 0; i < LAYER_MATRIX_COUNT; i++)
      if (wanted(ws[i])) out[n++] = ws[i];
  }
  return n;
}

// The copy, split into pieces of CHUNK_ROWS rows of one matrix that the
// threads claim in turn (the copy is bound by memory and by the kernel
// zeroing the new pages, both of which more cores speed up).
typedef struct {
  mm_weight **ws;
  uint8_t **dst;
  int n;
  long pieces;
  _Atomic long next;
  _Atomic size_t done;
  size_t total;
  llmux_progress_fn progress;
  void *user;
} repack_job;

static void piece(repack_job *j, long k) {
  int i = 0;
  long first = 0;
  for (;; i++) {  // the matrix piece k falls in
    long np = (long)((j->ws[i]->n_out + CHUNK_ROWS - 1) / CHUNK_ROWS);
    if (k < first + np) break;
    first += np;
  }
  const mm_weight *w = j->ws[i];
  int64_t r = (int64_t)(k - first) * CHUNK_ROWS, n = w->n_out - r < CHUNK_ROWS ? w->n_out - r : CHUNK_ROWS;
  size_t off = (size_t)r * w->row_bytes, len = (size_t)n * w->row_bytes;
  quant_tile_rows(w->type, (const uint8_t *)w->data + off, j->dst[i] + off, w->n_in, n);
  filemap_release((const uint8_t *)w->data + off, len);
  atomic_fetch_add(&j->done, len);
}

static void repack_worker(void *arg, int ith, int nth) {
  (void)nth;
  repack_job *j = arg;
  for (long k; (k = atomic_fetch_add(&j->next, 1)) < j->pieces;) {
    piece(j, k);
    if (ith == 0 && j->progress)  // the caller's thread: progress callbacks need not be thread-safe
      j->progress((float)((double)atomic_load(&j->done) / (double)j->total), j->user);
  }
}

// Copies the n matrices into region, on a pool of this machine's cores;
// false when there is no memory to organize it.
static bool tile_all(mm_weight **ws, int n, uint8_t *region, llmux_progress_fn progress, void *user) {
  uint8_t **dst = malloc((size_t)n * sizeof *dst);
  if (!dst) return false;
  pool *pl = pool_new(cpu_count());
  repack_job j = {.ws = ws, .dst = dst, .n = n, .progress = progress, .user = user};
  for (int i = 0; i < n; i++) {
    dst[i] = i ? dst[i - 1] + aligned(matrix_size(ws[i - 1])) : region;
    j.pieces += (long)((ws[i]->n_out + CHUNK_ROWS - 1) / CHUNK_ROWS);
    j.total += matrix_size(ws[i]);
  }
  atomic_init(&j.next, 0);
  atomic_init(&j.done, 0);
  if (pl) pool_run(pl, repack_worker, &j);
  else repack_worker(&j, 0, 1);
  for (int i = 0; i < n; i++) {
    ws[i]->data = dst[i];
    ws[i]->tiled = true;
  }
  pool_free(pl);
  free(dst);
  return true;
}

// The matrices to tile (caller frees), their count in *n and bytes in *total.
static mm_weight **plan(llmux_model *m, const llmux_model_params *p, int *n, size_t *total) {
  *n = 0, *total = 0;
  if ((p && p->no_repack) || env_off() || !m->layers) return NULL;
  mm_weight **ws = malloc(((size_t)m->hp.n_layer * LAYER_MATRIX_COUNT + 1) * sizeof *ws);
  if (!ws) return NULL;
  *n = collect(m, ws);
  for (int i = 0; i < *n; i++) *total += matrix_size(ws[i]);
  return ws;
}

size_t repack_planned(llmux_model *m, const llmux_model_params *p) {
  int n;
  size_t total;
  free(plan(m, p, &n, &total));
  return total;
}

void repack_weights(llmux_model *m, const llmux_model_params *p, llmux_progress_fn progress, void *user) {
  int n;
  size_t total, bytes = 0;
  mm_weight **ws = plan(m, p, &n, &total);
  for (int i = 0; i < n; i++) bytes += aligned(matrix_size(ws[i]));
  uint8_t *region = n ? filemap_alloc_anon(bytes) : NULL;
  double t0 = time_s();
  if (region && tile_all(ws, n, region, progress, user)) {
    m->repacked = region;
    m->repacked_bytes = bytes;
    log_info("tiled %d matrices (%.1f MiB) for this CPU's kernels in %.2f s", n, (double)total / (1 << 20),
             time_s() - t0);
  } else if (n) {
    filemap_free_anon(region, bytes);
    log_warn("no memory to tile %.0f MiB of weights; they stay as the file has them (generation runs slower; "
             "free memory or raise the process's limit, or set LLMUX_NO_REPACK=1 not to try)",
             (double)bytes / (1 << 20));
  }
  free(ws);
}
