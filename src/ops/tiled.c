// tiled: the tiled weight layout of quant.h, written from GGUF's and read
// back a row at a time. Kernels read it through tunpack_* and ksrc
// (avx512_rows.h); this file is its plain definition.
#include <string.h>

#include "ops/quant.h"
#include "ops/types.h"

bool quant_tiles(uint32_t type) {
  switch (type) {
    case T_Q4_0: case T_Q4_1: case T_Q5_0: case T_Q5_1: case T_Q8_0:
    case T_Q2_K: case T_Q3_K: case T_Q4_K: case T_Q5_K: case T_Q6_K:
      return true;
    default:
      return false;
  }
}

// The tiles hold their blocks transposed: a block's bytes are cut into
// columns, and block b of a tile of nt rows, at b * nt * block bytes, holds
// column after column, each with its nt rows side by side. A kernel then
// loads a column as one vector whose lane r is row r's (what the 16-row
// transposes of GGUF's layout produce). Columns are 4 bytes but for the
// fp16 fields that lead the 32-element types' blocks (d, and Q4_1's and
// Q5_1's m: 2 bytes each) and a K-quant block's last two bytes where its
// size is 2 mod 4 (Q3_K's and Q6_K's d). Byte c of a block's column grid is
// then at c * nt within the block.
typedef struct {
  size_t bytes, lead;  // a block's bytes; the bytes of its leading 2-byte columns
} layout;

static layout layout_of(uint32_t type) {
  layout L = {type_block_bytes(type), 0};
  if (type == T_Q4_1 || type == T_Q5_1) L.lead = 4;
  else if (type_block_size(type) == 32) L.lead = 2;
  return L;
}

// The width of the column that starts at byte c of a block.
static size_t column(const layout *L, size_t c) { return c < L->lead || L->bytes - c == 2 ? 2 : 4; }

// Copies block b of the tile's nt rows (rows a row_bytes apart) into out, transposed.
static void block_t(const layout *L, const uint8_t *rows, size_t row_bytes, int64_t nt, int64_t b, uint8_t *out) {
  for (int64_t r = 0; r < nt; r++) {
    const uint8_t *x = rows + (size_t)r * row_bytes + (size_t)b * L->bytes;
    for (size_t c = 0, w; c < L->bytes; c += w) {
      w = column(L, c);
      memcpy(out + c * (size_t)nt + w * (size_t)r, x + c, w);
    }
  }
}

// Row i of the tile's nt rows, nb blocks, back in GGUF's layout.
static void row_t(const layout *L, const uint8_t *tile, int64_t nt, int64_t nb, int64_t i, uint8_t *out) {
  for (int64_t b = 0; b < nb; b++, out += L->bytes) {
    const uint8_t *blk = tile + (size_t)(b * nt) * L->bytes;
    for (size_t c = 0, w; c < L->bytes; c += w) {
      w = column(L, c);
      memcpy(out + c, blk + c * (size_t)nt + w * (size_t)i, w);
    }
  }
}

void quant_tile_rows(uint32_t type, const void *src, void *dst, int64_t n_in, int64_t n_out) {
  layout L = layout_of(type);
  int64_t nb = n_in / type_block_size(type);
  size_t bytes = L.bytes, row_bytes = (size_t)nb * bytes;
  for (int64_t t0 = 0; t0 < n_out; t0 += QUANT_TILE_ROWS) {
    int64_t nt = n_out - t0 < QUANT_TILE_ROWS ? n_out - t0 : QUANT_TILE_ROWS;
    const uint8_t *rows = (const uint8_t *)src + (size_t)t0 * row_bytes;
    for (int64_t b = 0; b < nb; b++)
      block_t(&L, rows, row_bytes, nt, b, (uint8_t *)dst + (size_t)t0 * row_bytes + (size_t)(b * nt) * bytes);
  }
}

void quant_tile_row(uint32_t type, const void *tiled, int64_t n_in, int64_t n_out, int64_t r, void *dst) {
  int64_t nb = n_in / type_block_size(type), t0 = r / QUANT_TILE_ROWS * QUANT_TILE_ROWS;
  int64_t nt = n_out - t0 < QUANT_TILE_ROWS ? n_out - t0 : QUANT_TILE_ROWS;
  layout L = layout_of(type);
  size_t row_bytes = (size_t)nb * L.bytes;
  row_t(&L, (const uint8_t *)tiled + (size_t)t0 * row_bytes, nt, nb, r - t0, dst);
}
