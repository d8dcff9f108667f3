// fp16: IEEE half and bfloat16 conversions in portable C (the scalar
// reference). SIMD kernels use F16C / AVX-512 conversions instead.
#ifndef LLMUX_FP16_H
#define LLMUX_FP16_H
#include <stdint.h>
#include <string.h>

static inline float fp32_from_bits(uint32_t w) {
  float f;
  memcpy(&f, &w, 4);
  return f;
}

static inline uint32_t fp32_to_bits(float f) {
  uint32_t w;
  memcpy(&w, &f, 4);
  return w;
}

static inline float fp16_to_fp32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0) {
    if (man == 0) return fp32_from_bits(sign);
    // subnormal: value = man * 2^-24
    float v = (float)man * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return fp32_from_bits(sign | 0x7f800000u | (man << 13));
  return fp32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

// Round to nearest even, as the hardware conversion does.
static inline uint16_t fp16_from_fp32(float f) {
  uint32_t x = fp32_to_bits(f);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t ax = x & 0x7fffffff;
  if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); // overflow to inf
  if (ax < 0x38800000u) {                                   // subnormal or zero in half
    if (ax < 0x33000000u) return (uint16_t)sign;
    uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;  // 14..24 for this range
    uint32_t half = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t h = ((ax - 0x38000000u) >> 13);
  uint32_t rem = ax & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
  return (uint16_t)(sign | h);
}

static inline float bf16_to_fp32(uint16_t h) { return fp32_from_bits((uint32_t)h << 16); }

static inline uint16_t bf16_from_fp32(float f) {
  uint32_t x = fp32_to_bits(f);
  if ((x & 0x7fffffff) > 0x7f800000u) return (uint16_t)((x >> 16) | 64); // quiet NaN
  return (uint16_t)((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

#endif
