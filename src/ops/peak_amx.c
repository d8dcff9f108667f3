// peak_amx: a register-only loop of AMX tile products for peak.c: tdpbssd on
// full 16 x 64 byte tiles (16 x 16 x 64 signed byte multiply-adds each) into
// four independent accumulators, the tile unit's int8 peak.
#include <immintrin.h>
#include <stdint.h>

double peak_dot_amx(long iters);

double peak_dot_amx(long iters) {
  typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
  } tile_config;
  // The thread's configuration (the prompt kernels keep theirs loaded) is
  // put back at the end. Not _tile_loadconfig / _tile_storeconfig: GCC 12
  // declares their operand as 8 bytes (see quant_amx.c).
  tile_config saved, c = {.palette = 1};
  __asm__ volatile("sttilecfg %0" : "=m"(saved));
  for (int t = 0; t < 8; t++) c.rows[t] = 16, c.colsb[t] = 64;
  __asm__ volatile("ldtilecfg %0" ::"m"(c));
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_zero(4);
  _tile_zero(5);
  _tile_zero(6);
  _tile_zero(7);
  for (long i = 0; i < iters; i++) {
    _tile_dpbssd(4, 0, 2);
    _tile_dpbssd(5, 0, 3);
    _tile_dpbssd(6, 1, 2);
    _tile_dpbssd(7, 1, 3);
  }
  if (saved.palette) __asm__ volatile("ldtilecfg %0" ::"m"(saved));
  else _tile_release();
  return 2.0 * 16 * 16 * 64 * 4 * (double)iters;
}
