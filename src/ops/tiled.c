// tiled: the tiled weight layout of quant.h, written from GGUF's and read
// back a row at a time. Kernels read it through tile16 (avx512_rows.h); this
// file is its plain definition, in the order a tile is stored.
#include <string.h>

#include "ops/quant.h"
#include "ops/types.h"

int quant_tile_group(uint32_t type) {
  switch (type) {
  case T_Q4_0: case T_Q4_1: case T_Q5_0: case T_Q5_1: case T_Q8_0: return TILE_GROUP32;
  default: return 0;
  }
}

// The geometry of one tile: its first row, rows, and blocks per group.
typedef struct {
  int64_t nb, whole;  // blocks per row; of them in whole groups
  size_t bytes;       // per block
  int group;
} tile_geom;

static tile_geom geom(uint32_t type, int64_t n_in) {
  tile_geom g = {.nb = n_in / type_block_size(type), .bytes = type_block_bytes(type), .group = quant_tile_group(type)};
  g.whole = g.nb / g.group * g.group;
  return g;
}

// Walks a matrix's runs of blocks in the tiled layout's order: for each
// tile, each group, each of the tile's rows, the run of that row's blocks
// in that group; `run` gets the row, its first block and the block count.
typedef void (*run_fn)(void *ctx, int64_t r, int64_t b, int64_t n);

static void walk(const tile_geom *g, int64_t n_out, run_fn run, void *ctx) {
  for (int64_t t0 = 0; t0 < n_out; t0 += QUANT_TILE_ROWS) {
    int64_t nt = n_out - t0 < QUANT_TILE_ROWS ? n_out - t0 : QUANT_TILE_ROWS;
    for (int64_t b = 0; b < g->nb; b += g->group) {
      int64_t n = g->nb - b < g->group ? g->nb - b : g->group;
      for (int64_t i = 0; i < nt; i++) run(ctx, t0 + i, b, n);
    }
  }
}

typedef struct {
  const tile_geom *g;
  const uint8_t *src;
  uint8_t *dst;
  size_t row_bytes;
} tile_copy;

static void copy_run(void *ctx, int64_t r, int64_t b, int64_t n) {
  tile_copy *c = ctx;
  size_t len = (size_t)n * c->g->bytes;
  memcpy(c->dst, c->src + (size_t)r * c->row_bytes + (size_t)b * c->g->bytes, len);
  c->dst += len;
}

void quant_tile_rows(uint32_t type, const void *src, void *dst, int64_t n_in, int64_t n_out) {
  tile_geom g = geom(type, n_in);
  tile_copy c = {&g, src, dst, (size_t)g.nb * g.bytes};
  walk(&g, n_out, copy_run, &c);
}

void quant_tile_row(uint32_t type, const void *tiled, int64_t n_in, int64_t n_out, int64_t r, void *dst) {
  tile_geom g = geom(type, n_in);
  size_t row_bytes = (size_t)g.nb * g.bytes;
  int64_t t0 = r / QUANT_TILE_ROWS * QUANT_TILE_ROWS, i = r - t0;
  int64_t nt = n_out - t0 < QUANT_TILE_ROWS ? n_out - t0 : QUANT_TILE_ROWS;
  const uint8_t *tile = (const uint8_t *)tiled + (size_t)t0 * row_bytes;
  size_t span = (size_t)g.group * g.bytes * (size_t)nt;  // one whole group of the tile
  for (int64_t b = 0; b < g.nb; b += g.group) {
    int64_t n = g.nb - b < g.group ? g.nb - b : g.group;
    size_t len = (size_t)n * g.bytes;
    memcpy((uint8_t *)dst + (size_t)b * g.bytes, tile + (size_t)(b / g.group) * span + (size_t)i * len, len);
  }
}
