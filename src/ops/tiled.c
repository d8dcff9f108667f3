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

// Q8_0's tiles hold their blocks transposed: block b of a tile of nt rows
// is nt * 34 bytes at b * nt * 34: the nt rows' scales (fp16), then for k =
// 0..7 the quants 4k .. 4k + 3 of each row in turn (4 * nt bytes), which is
// what the kernels' 16-row transposes of GGUF's layout produce.
static void q8_block_t(const uint8_t *rows, size_t row_bytes, int64_t nt, int64_t b, uint8_t *out) {
  for (int64_t r = 0; r < nt; r++) {
    const block_q8_0 *x = (const block_q8_0 *)(rows + (size_t)r * row_bytes) + b;
    memcpy(out + 2 * r, &x->d, 2);
    for (int k = 0; k < 8; k++) memcpy(out + 2 * nt + 4 * nt * k + 4 * r, x->qs + 4 * k, 4);
  }
}

static void q8_row_t(const uint8_t *tile, int64_t nt, int64_t nb, int64_t i, block_q8_0 *out) {
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t *blk = tile + (size_t)(b * nt) * sizeof(block_q8_0);
    memcpy(&out[b].d, blk + 2 * i, 2);
    for (int k = 0; k < 8; k++) memcpy(out[b].qs + 4 * k, blk + 2 * nt + 4 * nt * k + 4 * i, 4);
  }
}

// Writes the tiled layout front to back: for each tile, each group, each of
// the tile's rows, that row's blocks of the group.
void quant_tile_rows(uint32_t type, const void *src, void *dst, int64_t n_in, int64_t n_out) {
  tile_geom g = geom(type, n_in);
  if (type == T_Q8_0) {
    size_t row_bytes = (size_t)g.nb * g.bytes;
    for (int64_t t0 = 0; t0 < n_out; t0 += QUANT_TILE_ROWS) {
      int64_t nt = n_out - t0 < QUANT_TILE_ROWS ? n_out - t0 : QUANT_TILE_ROWS;
      for (int64_t b = 0; b < g.nb; b++)
        q8_block_t((const uint8_t *)src + (size_t)t0 * row_bytes, row_bytes, nt, b,
                   (uint8_t *)dst + (size_t)t0 * row_bytes + (size_t)(b * nt) * g.bytes);
    }
    return;
  }
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
  if (type == T_Q8_0) {
    q8_row_t(tile, nt, g.nb, i, dst);
    return;
  }
  size_t span = (size_t)g.group * g.bytes * (size_t)nt;  // one whole group of the tile
  for (int64_t b = 0; b < g.nb; b += g.group) {
    int64_t n = g.nb - b < g.group ? g.nb - b : g.group;
    size_t len = (size_t)n * g.bytes;
    memcpy((uint8_t *)dst + (size_t)b * g.bytes, tile + (size_t)(b / g.group) * span + (size_t)i * len, len);
  }
}
