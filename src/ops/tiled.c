// tiled: the tiled weight layout of quant.h, written from GGUF's and read
// back a row at a time. Kernels read it through tunpack_* (avx512_rows.h);
// this file is its plain definition.
#include <string.h>

#include "ops/quant.h"
#include "ops/types.h"

bool quant_tiles(uint32_t type) {
  return type == T_Q4_0 || type == T_Q4_1 || type == T_Q5_0 || type == T_Q5_1 || type == T_Q8_0;
}

// The tiles hold their blocks transposed: a block's bytes are cut into
// columns (each fp16 field: 2 bytes; the rest: 4 bytes at a time), and block
// b of a tile of nt rows, at b * nt * block bytes, holds column after
// column, each with its nt rows side by side. A kernel then loads a column
// as one vector whose lane r is row r's (what the 16-row transposes of
// GGUF's layout produce). The fp16 fields lead every block of these types.
static int halves(uint32_t type) { return type == T_Q4_1 || type == T_Q5_1 ? 2 : 1; }

// Copies block b of the tile's nt rows (rows a row_bytes apart) into out, transposed.
static void block_t(uint32_t type, const uint8_t *rows, size_t row_bytes, int64_t nt, int64_t b, uint8_t *out) {
  size_t bytes = type_block_bytes(type), h = 2 * (size_t)halves(type);
  for (int64_t r = 0; r < nt; r++) {
    const uint8_t *x = rows + (size_t)r * row_bytes + (size_t)b * bytes;
    for (size_t f = 0; f < h; f += 2) memcpy(out + f * (size_t)nt + 2 * (size_t)r, x + f, 2);
    for (size_t c = h; c < bytes; c += 4) memcpy(out + c * (size_t)nt + 4 * (size_t)r, x + c, 4);
  }
}

// Row i of the tile's nt rows, nb blocks, back in GGUF's layout.
static void row_t(uint32_t type, const uint8_t *tile, int64_t nt, int64_t nb, int64_t i, uint8_t *out) {
  size_t bytes = type_block_bytes(type), h = 2 * (size_t)halves(type);
  for (int64_t b = 0; b < nb; b++, out += bytes) {
    const uint8_t *blk = tile + (size_t)(b * nt) * bytes;
    for (size_t f = 0; f < h; f += 2) memcpy(out + f, blk + f * (size_t)nt + 2 * (size_t)i, 2);
    for (size_t c = h; c < bytes; c += 4) memcpy(out + c, blk + c * (size_t)nt + 4 * (size_t)i, 4);
  }
}

void quant_tile_rows(uint32_t type, const void *src, void *dst, int64_t n_in, int64_t n_out) {
  int64_t nb = n_in / type_block_size(type);
  size_t bytes = type_block_bytes(type), row_bytes = (size_t)nb * bytes;
  for (int64_t t0 = 0; t0 < n_out; t0 += QUANT_TILE_ROWS) {
    int64_t nt = n_out - t0 < QUANT_TILE_ROWS ? n_out - t0 : QUANT_TILE_ROWS;
    const uint8_t *rows = (const uint8_t *)src + (size_t)t0 * row_bytes;
    for (int64_t b = 0; b < nb; b++)
      block_t(type, rows, row_bytes, nt, b, (uint8_t *)dst + (size_t)t0 * row_bytes + (size_t)(b * nt) * bytes);
  }
}

void quant_tile_row(uint32_t type, const void *tiled, int64_t n_in, int64_t n_out, int64_t r, void *dst) {
  int64_t nb = n_in / type_block_size(type), t0 = r / QUANT_TILE_ROWS * QUANT_TILE_ROWS;
  int64_t nt = n_out - t0 < QUANT_TILE_ROWS ? n_out - t0 : QUANT_TILE_ROWS;
  size_t row_bytes = (size_t)nb * type_block_bytes(type);
  row_t(type, (const uint8_t *)tiled + (size_t)t0 * row_bytes, nt, nb, r - t0, dst);
}
