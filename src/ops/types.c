// types: see types.h. Block layouts are in ops/quant.h.
#include "ops/types.h"

struct type_info {
  const char *name;
  int64_t block;
  size_t bytes;
  bool supported;
};

static const struct type_info TYPES[T_COUNT] = {
  [T_F32] = {"f32", 1, 4, true},         [T_F16] = {"f16", 1, 2, true},
  [T_Q4_0] = {"q4_0", 32, 18, true},     [T_Q4_1] = {"q4_1", 32, 20, true},
  [T_Q5_0] = {"q5_0", 32, 22, true},     [T_Q5_1] = {"q5_1", 32, 24, true},
  [T_Q8_0] = {"q8_0", 32, 34, true},     [T_Q8_1] = {"q8_1", 32, 36, false},
  [T_Q2_K] = {"q2_K", 256, 84, true},    [T_Q3_K] = {"q3_K", 256, 110, true},
  [T_Q4_K] = {"q4_K", 256, 144, true},   [T_Q5_K] = {"q5_K", 256, 176, true},
  [T_Q6_K] = {"q6_K", 256, 210, true},   [T_Q8_K] = {"q8_K", 256, 292, false},
  [T_IQ2_XXS] = {"iq2_xxs", 256, 66, false}, [T_IQ2_XS] = {"iq2_xs", 256, 74, false},
  [T_IQ3_XXS] = {"iq3_xxs", 256, 98, false}, [T_IQ1_S] = {"iq1_s", 256, 50, false},
  [T_IQ4_NL] = {"iq4_nl", 32, 18, false},    [T_IQ3_S] = {"iq3_s", 256, 110, false},
  [T_IQ2_S] = {"iq2_s", 256, 82, false},     [T_IQ4_XS] = {"iq4_xs", 256, 136, false},
  [T_I8] = {"i8", 1, 1, false},   [T_I16] = {"i16", 1, 2, false},
  [T_I32] = {"i32", 1, 4, false}, [T_I64] = {"i64", 1, 8, false},
  [T_F64] = {"f64", 1, 8, false}, [T_IQ1_M] = {"iq1_m", 256, 56, false},
  [T_BF16] = {"bf16", 1, 2, true},
  [T_TQ1_0] = {"tq1_0", 256, 54, false}, [T_TQ2_0] = {"tq2_0", 256, 66, false},
  [T_MXFP4] = {"mxfp4", 32, 17, false},
};

static const struct type_info *info(uint32_t type) {
  if (type >= T_COUNT || !TYPES[type].name) return 0;
  return &TYPES[type];
}

const char *type_name(uint32_t type) {
  const struct type_info *t = info(type);
  return t ? t->name : 0;
}

int64_t type_block_size(uint32_t type) {
  const struct type_info *t = info(type);
  return t ? t->block : 0;
}

size_t type_block_bytes(uint32_t type) {
  const struct type_info *t = info(type);
  return t ? t->bytes : 0;
}

bool type_supported(uint32_t type) {
  const struct type_info *t = info(type);
  return t && t->supported;
}

size_t type_row_bytes(uint32_t type, int64_t n) {
  const struct type_info *t = info(type);
  if (!t || n < 0 || n % t->block) return 0;
  return (size_t)(n / t->block) * t->bytes;
}
