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

// A tiled matrix's geometry: blocks per row, bytes per block, blocks per group.
typedef struct {
  int64_t nb;
  size_t bytes;
  int group;
} tile_geom;

static tile_geom geom(uint32_t type, int64_t n_in) {
  return (tile_geom){.nb = n_in / type_block_size(type), .bytes = type_block_bytes(type), .group = quant_tile_group(type)};
}

// Writes the tiled layout front to back: for each tile, each group, each of
// the tile's rows, that row's blocks of the group.
void quant_tile_rows(uint32_t type, const void *src, void *dst, int64_t n_in, int64_t n_out) {
  tile_geom g = geom(type, n_in);
  size_t row_bytes = (size_t)g.nb * g.bytes;
  uint8_t *d = dst;
  for (int64_t t0 = 0; t0 < n_out; t0 += QUANT_TILE_ROWS) {
    int64_t nt = n_out - t0 < QUANT_TILE_ROWS ? n_out - t0 : QUANT_TILE_ROWS;
    for (int64_t b = 0; b < g.nb; b += g.group) {
      size_t len = (size_t)(g.nb - b < g.group ? g.nb - b : g.group) * g.bytes;
      const uint8_t *s = (const uint8_t *)src + (size_t)t0 * row_bytes + (size_t)b * g.bytes;
      for (int64_t i = 0; i < nt; i++, d += len) memcpy(d, s + (size_t)i * row_bytes, len);
    }
  }
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
