// quant_avx2: AVX2 + FMA + F16C variants of the quant kernels (see quant.h).
// Compiled with -mavx2 -mfma -mf16c; only called when the CPU has them.
#include <immintrin.h>
#include <string.h>

#include "core/fp16.h"
#include "ops/quant.h"

void quant_avx2_table(quant_kernels *t) { (void)t; }
