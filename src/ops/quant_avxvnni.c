// quant_avxvnni: the AVX2 kernels of quant_avx2.c compiled again with
// AVX-VNNI (-mavxvnni), for CPUs that have it (cpu_avxvnni): their
// row-interleaved integer products take one vpdpbusd per step instead of
// maddubs, adds and madd (gemv 1.2x, prompt panels 1.25x on AMD Zen 5). One
// source for both builds, so that the two cannot drift apart.
#define QUANT_AVX2_TABLE quant_avxvnni_table
#include "ops/quant_avx2.c"
