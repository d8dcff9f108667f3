// types: the tensor element types of GGUF files (numbered as GGUF numbers
// them), with their block geometry. Quantized types store blocks of
// `block_size` elements in `type_size` bytes; a row's length must be a
// multiple of the block size.
#ifndef LLMUX_TYPES_H
#define LLMUX_TYPES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tensor_type {
  T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7,
  T_Q8_0 = 8, T_Q8_1 = 9, T_Q2_K = 10, T_Q3_K = 11, T_Q4_K = 12, T_Q5_K = 13,
  T_Q6_K = 14, T_Q8_K = 15, T_IQ2_XXS = 16, T_IQ2_XS = 17, T_IQ3_XXS = 18,
  T_IQ1_S = 19, T_IQ4_NL = 20, T_IQ3_S = 21, T_IQ2_S = 22, T_IQ4_XS = 23,
  T_I8 = 24, T_I16 = 25, T_I32 = 26, T_I64 = 27, T_F64 = 28, T_IQ1_M = 29,
  T_BF16 = 30, T_TQ1_0 = 34, T_TQ2_0 = 35, T_MXFP4 = 39,
  T_COUNT = 40
};

// Name as GGUF tools print it ("q4_K"), or NULL for a number no type has.
const char *type_name(uint32_t type);
// Elements per block and bytes per block; 0 for an unknown type.
int64_t type_block_size(uint32_t type);
size_t type_block_bytes(uint32_t type);
// Whether the engine can compute with tensors of this type.
bool type_supported(uint32_t type);
// Bytes of a row of n elements; 0 if n is not a multiple of the block size.
size_t type_row_bytes(uint32_t type, int64_t n);

#endif
