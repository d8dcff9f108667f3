// quant_avx512: AVX-512 (F, BW, VL, DQ, VNNI) variants of the quant kernels
// (see quant.h). Only called when the CPU has all of them.
#include <immintrin.h>
#include <string.h>

#include "core/fp16.h"
#include "ops/quant.h"

void quant_avx512_table(quant_kernels *t) { (void)t; }
