// quant: see quant.h. This file is the scalar reference of every kernel and
// the dispatch tables; quant_avx2.c and quant_avx512.c add their variants.
// The scalar dequantizers define the element order of each block layout and
// reproduce the reference engine's float arithmetic exactly (same products in
// the same order); the scalar dot products compute the same integer sums as
// every SIMD variant, so tests can compare them bit for bit when the scales
// are powers of two.
#include "ops/quant.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/fp16.h"

_Static_assert(sizeof(block_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K layout");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K layout");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K layout");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K layout");

// ---- helpers ------------------------------------------------------------------

// Round to nearest, ties to even (the reference's nearest_int); |x| < 2^22.
static inline int nearest_int(float x) {
  float v = x + 12582912.0f;  // 1.5 * 2^23: the integer lands in the low mantissa bits
  int32_t i;
  memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static inline float h2f(uint16_t h) { return fp16_to_fp32(h); }

// Value with the largest magnitude (the first one on ties), as the reference picks it.
static float signed_absmax(const float *x, int n) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; i++) {
    if (fabsf(x[i]) > amax) {
      amax = fabsf(x[i]);
      max = x[i];
    }
  }
  return max;
}

// ---- float types -----------------------------------------------------------------

static void dequant_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static void quantize_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }

static void dequant_f16(const void *src, float *dst, int64_t n) {
  const uint16_t *s = src;
  for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_fp32(s[i]);
}

static void quantize_f16(const float *src, void *dst, int64_t n) {
  uint16_t *d = dst;
  for (int64_t i = 0; i < n; i++) d[i] = fp16_from_fp32(src[i]);
}

static void dequant_bf16(const void *src, float *dst, int64_t n) {
  const uint16_t *s = src;
  for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(s[i]);
}

static void quantize_bf16(const float *src, void *dst, int64_t n) {
  uint16_t *d = dst;
  for (int64_t i = 0; i < n; i++) d[i] = bf16_from_fp32(src[i]);
}

// The float dots accumulate in double: the reference for the SIMD ones.
static void vec_dot_f32(int64_t n, float *out, const void *w, const void *a) {
  const float *x = w, *y = a;
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * y[i];
  *out = (float)s;
}

static void vec_dot_f16(int64_t n, float *out, const void *w, const void *a) {
  const uint16_t *x = w, *y = a;
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)fp16_to_fp32(x[i]) * fp16_to_fp32(y[i]);
  *out = (float)s;
}

static void vec_dot_bf16(int64_t n, float *out, const void *w, const void *a) {
  const uint16_t *x = w, *y = a;
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]);
  *out = (float)s;
}

// ---- 32-element types --------------------------------------------------------------

static void dequant_q4_0(const void *src, float *dst, int64_t n) {
  const block_q4_0 *x = src;
  for (int64_t b = 0; b < n / QK; b++, dst += QK) {
    float d = h2f(x[b].d);
    for (int j = 0; j < 16; j++) {
      dst[j] = (float)((x[b].qs[j] & 0xF) - 8) * d;
      dst[j + 16] = (float)((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

static void dequant_q4_1(const void *src, float *dst, int64_t n) {
  const block_q4_1 *x = src;
  for (int64_t b = 0; b < n / QK; b++, dst += QK) {
    float d = h2f(x[b].d), m = h2f(x[b].m);
    for (int j = 0; j < 16; j++) {
      dst[j] = (float)(x[b].qs[j] & 0xF) * d + m;
      dst[j + 16] = (float)(x[b].qs[j] >> 4) * d + m;
    }
  }
}

static inline uint32_t load_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

// The 5-bit values of a Q5 block, 0..31.
static void unpack_q5(const uint8_t *qh4, const uint8_t *qs, int q[32]) {
  uint32_t qh = load_u32(qh4);
  for (int j = 0; j < 16; j++) {
    q[j] = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
    q[j + 16] = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
  }
}

static void dequant_q5_0(const void *src, float *dst, int64_t n) {
  const block_q5_0 *x = src;
  int q[32];
  for (int64_t b = 0; b < n / QK; b++, dst += QK) {
    float d = h2f(x[b].d);
    unpack_q5(x[b].qh, x[b].qs, q);
    for (int j = 0; j < 32; j++) dst[j] = (float)(q[j] - 16) * d;
  }
}

static void dequant_q5_1(const void *src, float *dst, int64_t n) {
  const block_q5_1 *x = src;
  int q[32];
  for (int64_t b = 0; b < n / QK; b++, dst += QK) {
    float d = h2f(x[b].d), m = h2f(x[b].m);
    unpack_q5(x[b].qh, x[b].qs, q);
    for (int j = 0; j < 32; j++) dst[j] = (float)q[j] * d + m;
  }
}

static void dequant_q8_0(const void *src, float *dst, int64_t n) {
  const block_q8_0 *x = src;
  for (int64_t b = 0; b < n / QK; b++, dst += QK) {
    float d = h2f(x[b].d);
    for (int j = 0; j < 32; j++) dst[j] = (float)x[b].qs[j] * d;
  }
}

static void dequant_q8_1(const void *src, float *dst, int64_t n) {
  const block_q8_1 *x = src;
  for (int64_t b = 0; b < n / QK; b++, dst += QK) {
    float d = h2f(x[b].d);
    for (int j = 0; j < 32; j++) dst[j] = (float)x[b].qs[j] * d;
  }
}

// Symmetric 4/5-bit quantizers: the largest-magnitude value maps to -2^(bits-1).
static void quantize_q4_0(const float *src, void *dst, int64_t n) {
  block_q4_0 *y = dst;
  for (int64_t b = 0; b < n / QK; b++, src += QK) {
    float d = signed_absmax(src, QK) / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = fp16_from_fp32(d);
    for (int j = 0; j < 16; j++) {
      int q0 = clampi((int)(src[j] * id + 8.5f), 0, 15), q1 = clampi((int)(src[j + 16] * id + 8.5f), 0, 15);
      y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
  }
}

static void quantize_q5_0(const float *src, void *dst, int64_t n) {
  block_q5_0 *y = dst;
  for (int64_t b = 0; b < n / QK; b++, src += QK) {
    float d = signed_absmax(src, QK) / -16.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = fp16_from_fp32(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
      int q0 = clampi((int)(src[j] * id + 16.5f), 0, 31), q1 = clampi((int)(src[j + 16] * id + 16.5f), 0, 31);
      y[b].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
    }
    memcpy(y[b].qh, &qh, 4);
  }
}

// Asymmetric: min..max mapped onto 0..levels.
static void minmax(const float *x, int n, float *lo, float *hi) {
  *lo = FLT_MAX;
  *hi = -FLT_MAX;
  for (int i = 0; i < n; i++) {
    if (x[i] < *lo) *lo = x[i];
    if (x[i] > *hi) *hi = x[i];
  }
}

static void quantize_q4_1(const float *src, void *dst, int64_t n) {
  block_q4_1 *y = dst;
  for (int64_t b = 0; b < n / QK; b++, src += QK) {
    float lo, hi;
    minmax(src, QK, &lo, &hi);
    float d = (hi - lo) / 15.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = fp16_from_fp32(d);
    y[b].m = fp16_from_fp32(lo);
    for (int j = 0; j < 16; j++) {
      int q0 = clampi((int)((src[j] - lo) * id + 0.5f), 0, 15);
      int q1 = clampi((int)((src[j + 16] - lo) * id + 0.5f), 0, 15);
      y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
  }
}

static void quantize_q5_1(const float *src, void *dst, int64_t n) {
  block_q5_1 *y = dst;
  for (int64_t b = 0; b < n / QK; b++, src += QK) {
    float lo, hi;
    minmax(src, QK, &lo, &hi);
    float d = (hi - lo) / 31.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = fp16_from_fp32(d);
    y[b].m = fp16_from_fp32(lo);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
      int q0 = clampi((int)((src[j] - lo) * id + 0.5f), 0, 31);
      int q1 = clampi((int)((src[j + 16] - lo) * id + 0.5f), 0, 31);
      y[b].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
    }
    memcpy(y[b].qh, &qh, 4);
  }
}

// Q8_0 / Q8_1 quantizers. As the reference quantizer writes model files (and
// as its portable C code quantizes activations): d = amax / 127, q = roundf(x / d).
static float quant_block_q8_ref(const float *src, int8_t *qs, int *sum) {
  float amax = 0;
  for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(src[j]));
  float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
  *sum = 0;
  for (int j = 0; j < QK; j++) {
    qs[j] = (int8_t)roundf(src[j] * id);
    *sum += qs[j];
  }
  return d;
}

// As the reference engine quantizes activations on x86 (its SIMD path, which
// the reference perplexities come from): d = amax / 127 as well, but
// q = round-half-even(x * (127 / amax)). The two differ in the last unit now
// and then, enough to move a Q4_0 perplexity by 0.1%.
static float quant_block_q8_act(const float *src, int8_t *qs, int *sum) {
  float amax = 0;
  for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(src[j]));
  float id = amax != 0 ? 127.0f / amax : 0.0f;
  *sum = 0;
  for (int j = 0; j < QK; j++) {
    qs[j] = (int8_t)nearest_int(src[j] * id);
    *sum += qs[j];
  }
  return amax / 127.0f;
}

typedef float (*q8_block_fn)(const float *src, int8_t *qs, int *sum);

static void quantize_q8_0_with(const float *src, void *dst, int64_t n, q8_block_fn block) {
  block_q8_0 *y = dst;
  int sum;
  for (int64_t b = 0; b < n / QK; b++, src += QK) y[b].d = fp16_from_fp32(block(src, y[b].qs, &sum));
}

static void quantize_q8_1_with(const float *src, void *dst, int64_t n, q8_block_fn block) {
  block_q8_1 *y = dst;
  for (int64_t b = 0; b < n / QK; b++, src += QK) {
    int sum;
    float d = block(src, y[b].qs, &sum);
    y[b].d = fp16_from_fp32(d);
    y[b].s = fp16_from_fp32(d * (float)sum);
  }
}

static void quantize_q8_0(const float *x, void *y, int64_t n) { quantize_q8_0_with(x, y, n, quant_block_q8_ref); }
static void quantize_q8_1(const float *x, void *y, int64_t n) { quantize_q8_1_with(x, y, n, quant_block_q8_ref); }
static void quantize_act_q8_0(const float *x, void *y, int64_t n) { quantize_q8_0_with(x, y, n, quant_block_q8_act); }
static void quantize_act_q8_1(const float *x, void *y, int64_t n) { quantize_q8_1_with(x, y, n, quant_block_q8_act); }

// Integer dot of the 32 weight values q (as unpacked) with a block of activations.
static inline int idot32(const int *q, const int8_t *a) {
  int s = 0;
  for (int j = 0; j < 32; j++) s += q[j] * a[j];
  return s;
}

static void vec_dot_q4_0(int64_t n, float *out, const void *w, const void *a) {
  const block_q4_0 *x = w;
  const block_q8_0 *y = a;
  float sum = 0;
  int q[32];
  for (int64_t b = 0; b < n / QK; b++) {
    for (int j = 0; j < 16; j++) {
      q[j] = (x[b].qs[j] & 0xF) - 8;
      q[j + 16] = (x[b].qs[j] >> 4) - 8;
    }
    sum += (float)idot32(q, y[b].qs) * (h2f(x[b].d) * h2f(y[b].d));
  }
  *out = sum;
}

static void vec_dot_q4_1(int64_t n, float *out, const void *w, const void *a) {
  const block_q4_1 *x = w;
  const block_q8_1 *y = a;
  float sum = 0;
  int q[32];
  for (int64_t b = 0; b < n / QK; b++) {
    for (int j = 0; j < 16; j++) {
      q[j] = x[b].qs[j] & 0xF;
      q[j + 16] = x[b].qs[j] >> 4;
    }
    sum += (float)idot32(q, y[b].qs) * (h2f(x[b].d) * h2f(y[b].d)) + h2f(x[b].m) * h2f(y[b].s);
  }
  *out = sum;
}

static void vec_dot_q5_0(int64_t n, float *out, const void *w, const void *a) {
  const block_q5_0 *x = w;
  const block_q8_0 *y = a;
  float sum = 0;
  int q[32];
  for (int64_t b = 0; b < n / QK; b++) {
    unpack_q5(x[b].qh, x[b].qs, q);
    for (int j = 0; j < 32; j++) q[j] -= 16;
    sum += (float)idot32(q, y[b].qs) * (h2f(x[b].d) * h2f(y[b].d));
  }
  *out = sum;
}

static void vec_dot_q5_1(int64_t n, float *out, const void *w, const void *a) {
  const block_q5_1 *x = w;
  const block_q8_1 *y = a;
  float sum = 0;
  int q[32];
  for (int64_t b = 0; b < n / QK; b++) {
    unpack_q5(x[b].qh, x[b].qs, q);
    sum += (float)idot32(q, y[b].qs) * (h2f(x[b].d) * h2f(y[b].d)) + h2f(x[b].m) * h2f(y[b].s);
  }
  *out = sum;
}

static void vec_dot_q8_0(int64_t n, float *out, const void *w, const void *a) {
  const block_q8_0 *x = w;
  const block_q8_0 *y = a;
  float sum = 0;
  for (int64_t b = 0; b < n / QK; b++) {
    int s = 0;
    for (int j = 0; j < 32; j++) s += x[b].qs[j] * y[b].qs[j];
    sum += (float)s * (h2f(x[b].d) * h2f(y[b].d));
  }
  *out = sum;
}

// ---- K-quants ------------------------------------------------------------------------
// Each super-block unpacks to 256 integer values q and, per sub-block of 16,
// an integer scale sc and min mn: x = d * sc * q - dmin * mn. (Sub-blocks of
// 32 repeat their scale and min in both halves.)
typedef struct {
  int8_t q[QK_K];
  int sc[16], mn[16];
  float d, dmin;
} kunpacked;

static void unpack_q2_K(const block_q2_K *x, kunpacked *u) {
  u->d = h2f(x->d);
  u->dmin = h2f(x->dmin);
  for (int j = 0; j < 16; j++) {
    u->sc[j] = x->scales[j] & 0xF;
    u->mn[j] = x->scales[j] >> 4;
  }
  // element 128h + 32s + l is bits 2s..2s+1 of qs[32h + l]
  for (int h = 0; h < 2; h++)
    for (int s = 0; s < 4; s++)
      for (int l = 0; l < 32; l++) u->q[128 * h + 32 * s + l] = (int8_t)((x->qs[32 * h + l] >> (2 * s)) & 3);
}

static void unpack_q3_K(const block_q3_K *x, kunpacked *u) {
  u->d = h2f(x->d);
  u->dmin = 0;
  for (int j = 0; j < 16; j++) {
    u->sc[j] = quant_k3_scale(j, x->scales);
    u->mn[j] = 0;
  }
  // element 128h + 32s + l: bits 2s.. of qs[32h + l], minus 4 unless bit 4h+s of hmask[l]
  for (int h = 0; h < 2; h++)
    for (int s = 0; s < 4; s++)
      for (int l = 0; l < 32; l++) {
        int lo = (x->qs[32 * h + l] >> (2 * s)) & 3, hb = (x->hmask[l] >> (4 * h + s)) & 1;
        u->q[128 * h + 32 * s + l] = (int8_t)(lo - (hb ? 0 : 4));
      }
}

static void unpack_q45_K(const uint8_t *scales, kunpacked *u) {
  for (int j = 0; j < 8; j++) {
    uint8_t sc, m;
    quant_k4_scale_min(j, scales, &sc, &m);
    u->sc[2 * j] = u->sc[2 * j + 1] = sc;
    u->mn[2 * j] = u->mn[2 * j + 1] = m;
  }
}

static void unpack_q4_K(const block_q4_K *x, kunpacked *u) {
  u->d = h2f(x->d);
  u->dmin = h2f(x->dmin);
  unpack_q45_K(x->scales, u);
  // element 64c + l is the low nibble of qs[32c + l], element 64c + 32 + l the high one
  for (int c = 0; c < 4; c++)
    for (int l = 0; l < 32; l++) {
      u->q[64 * c + l] = (int8_t)(x->qs[32 * c + l] & 0xF);
      u->q[64 * c + 32 + l] = (int8_t)(x->qs[32 * c + l] >> 4);
    }
}

static void unpack_q5_K(const block_q5_K *x, kunpacked *u) {
  u->d = h2f(x->d);
  u->dmin = h2f(x->dmin);
  unpack_q45_K(x->scales, u);
  // as Q4_K, plus bit 2c (low half) or 2c+1 (high half) of qh[l] as the 5th bit
  for (int c = 0; c < 4; c++)
    for (int l = 0; l < 32; l++) {
      u->q[64 * c + l] = (int8_t)((x->qs[32 * c + l] & 0xF) | (((x->qh[l] >> (2 * c)) & 1) << 4));
      u->q[64 * c + 32 + l] = (int8_t)((x->qs[32 * c + l] >> 4) | (((x->qh[l] >> (2 * c + 1)) & 1) << 4));
    }
}

static void unpack_q6_K(const block_q6_K *x, kunpacked *u) {
  u->d = h2f(x->d);
  u->dmin = 0;
  for (int j = 0; j < 16; j++) {
    u->sc[j] = x->scales[j];
    u->mn[j] = 0;
  }
  // element 128h + 32s + l: nibble (s >= 2: high) of ql[64h + 32(s & 1) + l] and
  // bits 2s..2s+1 of qh[32h + l], minus 32
  for (int h = 0; h < 2; h++)
    for (int s = 0; s < 4; s++)
      for (int l = 0; l < 32; l++) {
        int lo = (x->ql[64 * h + 32 * (s & 1) + l] >> (4 * (s >> 1))) & 0xF;
        int hi = (x->qh[32 * h + l] >> (2 * s)) & 3;
        u->q[128 * h + 32 * s + l] = (int8_t)((lo | (hi << 4)) - 32);
      }
}

typedef void (*kunpack_fn)(const void *block, kunpacked *u);

static void dequant_k(const void *src, size_t bytes, kunpack_fn unpack, float *dst, int64_t n) {
  const uint8_t *p = src;
  kunpacked u;
  for (int64_t b = 0; b < n / QK_K; b++, p += bytes, dst += QK_K) {
    unpack(p, &u);
    for (int j = 0; j < 16; j++) {
      float dl = u.d * (float)u.sc[j], ml = u.dmin * (float)u.mn[j];
      for (int l = 0; l < 16; l++) dst[16 * j + l] = dl * (float)u.q[16 * j + l] - ml;
    }
  }
}

static void vec_dot_k(int64_t n, float *out, const void *w, size_t bytes, kunpack_fn unpack, const void *a) {
  const uint8_t *p = w;
  const block_q8_K *y = a;
  kunpacked u;
  float sum = 0;
  for (int64_t b = 0; b < n / QK_K; b++, p += bytes) {
    unpack(p, &u);
    int isum = 0, msum = 0;
    for (int j = 0; j < 16; j++) {
      int s = 0;
      for (int l = 0; l < 16; l++) s += u.q[16 * j + l] * y[b].qs[16 * j + l];
      isum += u.sc[j] * s;
      msum += u.mn[j] * y[b].bsums[j];
    }
    sum += (y[b].d * u.d) * (float)isum - (y[b].d * u.dmin) * (float)msum;
  }
  *out = sum;
}

#define K_TYPE(name)                                                                          \
  static void unpack_any_##name(const void *b, kunpacked *u) { unpack_##name(b, u); }         \
  static void dequant_##name(const void *src, float *dst, int64_t n) {                        \
    dequant_k(src, sizeof(block_##name), unpack_any_##name, dst, n);                          \
  }                                                                                           \
  static void vec_dot_##name(int64_t n, float *out, const void *w, const void *a) {           \
    vec_dot_k(n, out, w, sizeof(block_##name), unpack_any_##name, a);                         \
  }
K_TYPE(q2_K)
K_TYPE(q3_K)
K_TYPE(q4_K)
K_TYPE(q5_K)
K_TYPE(q6_K)

// K-quant weight quantizers: a plain per-sub-block min/max (or abs-max) fit,
// sub-block scales quantized against the super-block's largest. Simpler than
// the reference's error-minimizing search; the blocks are equally valid.

// Quantizes v[0..n) >= 0 against the largest of them to 0..levels; returns the step.
static float quant_scales(const float *v, int n, int levels, int *q) {
  float vmax = 0;
  for (int j = 0; j < n; j++) vmax = fmaxf(vmax, v[j]);
  float d = vmax / (float)levels, id = d != 0 ? 1.0f / d : 0.0f;
  for (int j = 0; j < n; j++) q[j] = clampi(nearest_int(v[j] * id), 0, levels);
  return d;
}

// Asymmetric fit of each sub-block of `sub` elements: scale and (non-negative) min.
static void fit_min_scale(const float *x, int nsub, int sub, int levels, float *scale, float *mn) {
  for (int j = 0; j < nsub; j++) {
    float lo, hi;
    minmax(x + sub * j, sub, &lo, &hi);
    if (lo > 0) lo = 0;
    scale[j] = (hi - lo) / (float)levels;
    mn[j] = -lo;
  }
}

// q of x given the (already rounded) sub-block step ds and offset dm.
static inline int quant_one(float x, float ds, float dm, int lo, int hi) {
  return ds != 0 ? clampi(nearest_int((x + dm) / ds), lo, hi) : clampi(0, lo, hi);
}

static void quantize_q2_K(const float *src, void *dst, int64_t n) {
  block_q2_K *y = dst;
  for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
    float scale[16], mn[16];
    int isc[16], imn[16];
    fit_min_scale(src, 16, 16, 3, scale, mn);
    y[b].d = fp16_from_fp32(quant_scales(scale, 16, 15, isc));
    y[b].dmin = fp16_from_fp32(quant_scales(mn, 16, 15, imn));
    float d = h2f(y[b].d), dmin = h2f(y[b].dmin);
    memset(y[b].qs, 0, sizeof y[b].qs);
    for (int j = 0; j < 16; j++) {
      y[b].scales[j] = (uint8_t)(isc[j] | (imn[j] << 4));
      for (int l = 0; l < 16; l++) {
        int e = 16 * j + l, h = e / 128, s = (e % 128) / 32;
        int q = quant_one(src[e], d * (float)isc[j], dmin * (float)imn[j], 0, 3);
        y[b].qs[32 * h + e % 32] |= (uint8_t)(q << (2 * s));
      }
    }
  }
}

// Symmetric fit: per sub-block of 16 the step that maps the largest-magnitude
// value onto `qmin` (negative); steps quantized to signed ints against the largest.
static float fit_symmetric(const float *x, int qmin, int smin, int smax, int *ls) {
  float s[16];
  for (int j = 0; j < 16; j++) s[j] = signed_absmax(x + 16 * j, 16) / (float)qmin;
  float big = signed_absmax(s, 16);
  if (big == 0) {
    for (int j = 0; j < 16; j++) ls[j] = 0;
    return 0;
  }
  float iscale = (float)smin / big;
  for (int j = 0; j < 16; j++) ls[j] = clampi(nearest_int(iscale * s[j]), smin, smax);
  return 1.0f / iscale;
}

static void quantize_q3_K(const float *src, void *dst, int64_t n) {
  block_q3_K *y = dst;
  for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
    int ls[16];
    y[b].d = fp16_from_fp32(fit_symmetric(src, -4, -32, 31, ls));
    float d = h2f(y[b].d);
    memset(y[b].scales, 0, sizeof y[b].scales);
    memset(y[b].qs, 0, sizeof y[b].qs);
    memset(y[b].hmask, 0, sizeof y[b].hmask);
    for (int j = 0; j < 16; j++) {
      int u = ls[j] + 32;
      y[b].scales[j % 8] |= (uint8_t)((u & 0xF) << (4 * (j / 8)));
      y[b].scales[8 + j % 4] |= (uint8_t)((u >> 4) << (2 * (j / 4)));
      for (int l = 0; l < 16; l++) {
        int e = 16 * j + l, h = e / 128, s = (e % 128) / 32;
        int q = quant_one(src[e], d * (float)ls[j], 0, -4, 3) + 4;
        y[b].qs[32 * h + e % 32] |= (uint8_t)((q & 3) << (2 * s));
        y[b].hmask[e % 32] |= (uint8_t)((q >> 2) << (4 * h + s));
      }
    }
  }
}

static void pack_k4_scales(const int *isc, const int *imn, uint8_t *s) {
  for (int j = 0; j < 4; j++) {
    s[j] = (uint8_t)(isc[j] | ((isc[j + 4] >> 4) << 6));
    s[j + 4] = (uint8_t)(imn[j] | ((imn[j + 4] >> 4) << 6));
    s[j + 8] = (uint8_t)((isc[j + 4] & 0xF) | ((imn[j + 4] & 0xF) << 4));
  }
}

// Q4_K (bits 4) and Q5_K (bits 5): fills scales, d, dmin and q[256] in 0..2^bits-1.
static void quantize_q45_K(const float *src, int bits, uint8_t *scales, uint16_t *dh, uint16_t *dminh, int *q) {
  float scale[8], mn[8];
  int isc[8], imn[8];
  int levels = (1 << bits) - 1;
  fit_min_scale(src, 8, 32, levels, scale, mn);
  *dh = fp16_from_fp32(quant_scales(scale, 8, 63, isc));
  *dminh = fp16_from_fp32(quant_scales(mn, 8, 63, imn));
  pack_k4_scales(isc, imn, scales);
  float d = h2f(*dh), dmin = h2f(*dminh);
  for (int e = 0; e < QK_K; e++) {
    int j = e / 32;
    q[e] = quant_one(src[e], d * (float)isc[j], dmin * (float)imn[j], 0, levels);
  }
}

static void quantize_q4_K(const float *src, void *dst, int64_t n) {
  block_q4_K *y = dst;
  int q[QK_K];
  for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
    quantize_q45_K(src, 4, y[b].scales, &y[b].d, &y[b].dmin, q);
    for (int c = 0; c < 4; c++)
      for (int l = 0; l < 32; l++) y[b].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

static void quantize_q5_K(const float *src, void *dst, int64_t n) {
  block_q5_K *y = dst;
  int q[QK_K];
  for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
    quantize_q45_K(src, 5, y[b].scales, &y[b].d, &y[b].dmin, q);
    memset(y[b].qh, 0, sizeof y[b].qh);
    for (int c = 0; c < 4; c++)
      for (int l = 0; l < 32; l++) {
        int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
        y[b].qs[32 * c + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
        y[b].qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
  }
}

static void quantize_q6_K(const float *src, void *dst, int64_t n) {
  block_q6_K *y = dst;
  for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
    int ls[16];
    y[b].d = fp16_from_fp32(fit_symmetric(src, -32, -128, 127, ls));
    float d = h2f(y[b].d);
    memset(y[b].ql, 0, sizeof y[b].ql);
    memset(y[b].qh, 0, sizeof y[b].qh);
    for (int j = 0; j < 16; j++) {
      y[b].scales[j] = (int8_t)ls[j];
      for (int l = 0; l < 16; l++) {
        int e = 16 * j + l, h = e / 128, s = (e % 128) / 32, i = e % 32;
        int q = quant_one(src[e], d * (float)ls[j], 0, -32, 31) + 32;
        y[b].ql[64 * h + 32 * (s & 1) + i] |= (uint8_t)((q & 0xF) << (4 * (s >> 1)));
        y[b].qh[32 * h + i] |= (uint8_t)((q >> 4) << (2 * s));
      }
    }
  }
}

// Q8_K, exactly as the reference: the largest-magnitude value maps to -127
// (ties to even), so q may not reach +127 on the other side; plus the sums
// of each 16 for the mins.
static void quantize_q8_K(const float *src, void *dst, int64_t n) {
  block_q8_K *y = dst;
  for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
    float max = signed_absmax(src, QK_K);
    if (max == 0) {
      memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; j++) {
      int v = nearest_int(iscale * src[j]);
      y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < 16; j++) {
      int s = 0;
      for (int l = 0; l < 16; l++) s += y[b].qs[16 * j + l];
      y[b].bsums[j] = (int16_t)s;
    }
    y[b].d = 1.0f / iscale;
  }
}

static void dequant_q8_K(const void *src, float *dst, int64_t n) {
  const block_q8_K *x = src;
  for (int64_t b = 0; b < n / QK_K; b++, dst += QK_K)
    for (int j = 0; j < QK_K; j++) dst[j] = x[b].d * (float)x[b].qs[j];
}

// ---- activation side data for the batched kernels ------------------------------------

void quant_act_aux(uint32_t act_type, int bias, const void *a, int64_t n, act_aux *aux) {
  for (int64_t b = 0; b < n / QK; b++) {
    const int8_t *qs;
    if (act_type == T_Q8_1) {
      const block_q8_1 *x = (const block_q8_1 *)a + b;
      aux[b].d = h2f(x->d);
      aux[b].s = h2f(x->s);
      qs = x->qs;
    } else {
      const block_q8_0 *x = (const block_q8_0 *)a + b;
      aux[b].d = h2f(x->d);
      aux[b].s = 0;
      qs = x->qs;
    }
    int sum = 0;
    for (int j = 0; j < QK; j++) sum += qs[j];
    aux[b].corr = -bias * sum;
    aux[b].pad = 0;
  }
}

void quant_act_tile(uint32_t act_type, int tiles, const void *blks, int64_t b0, int64_t n, int r, void *group,
                    act_aux *aux_group) {
  uint8_t *g = group;
  if (act_type == T_Q8_K) {
    for (int64_t i = 0; i < n; i++) {
      const block_q8_K *k = (const block_q8_K *)blks + i;
      uint8_t *sb = g + (size_t)(b0 + i) * QUANT_TILE_ROWS * sizeof(block_q8_K);
      for (int s = 0; s < QK_K / 64; s++) memcpy(sb + 1024 * s + 64 * r, k->qs + 64 * s, 64);
      memcpy(sb + QUANT_TILE_D + 4 * r, &k->d, 4);
      int16_t bsums[16];
      memcpy(bsums, k->bsums, sizeof bsums);
      if (tiles == TILE_BSUMS32)  // sums of 32 values: |sum| <= 32 x 127 fits
        for (int j = 0; j < 8; j++) bsums[j] = (int16_t)(k->bsums[2 * j] + k->bsums[2 * j + 1]);
      memcpy(sb + QUANT_TILE_BSUMS + 32 * r, bsums, 32);
    }
    return;
  }
  // Q8_0 or Q8_1: d (and s) lead the block, the quants end it.
  size_t bb = act_type == T_Q8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
  const uint8_t *x = blks;
  for (int64_t i = 0; i < n; i++, x += bb) {
    int64_t b = b0 + i;
    memcpy(g + (size_t)b * QUANT_TILE_ROWS * bb + QK * r, x + bb - QK, QK);
    uint16_t d, sum = 0;
    memcpy(&d, x, 2);
    if (act_type == T_Q8_1) memcpy(&sum, x + 2, 2);
    aux_group[b * QUANT_TILE_ROWS + r] = (act_aux){.d = h2f(d), .s = h2f(sum)};
  }
}

// ---- tables -------------------------------------------------------------------------------

static quant_kernels g_tab[SIMD_LEVELS][T_COUNT];
static quant_kernels g_vnni[T_COUNT];  // the avx2 level built with AVX-VNNI
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void set(uint32_t t, dequant_fn dq, quantize_fn q, vec_dot_fn vd) {
  g_tab[SIMD_SCALAR][t] = (quant_kernels){dq, q, vd, NULL, NULL};
}

static void init_tables(void) {
  set(T_F32, dequant_f32, quantize_f32, vec_dot_f32);
  set(T_F16, dequant_f16, quantize_f16, vec_dot_f16);
  set(T_BF16, dequant_bf16, quantize_bf16, vec_dot_bf16);
  set(T_Q4_0, dequant_q4_0, quantize_q4_0, vec_dot_q4_0);
  set(T_Q4_1, dequant_q4_1, quantize_q4_1, vec_dot_q4_1);
  set(T_Q5_0, dequant_q5_0, quantize_q5_0, vec_dot_q5_0);
  set(T_Q5_1, dequant_q5_1, quantize_q5_1, vec_dot_q5_1);
  set(T_Q8_0, dequant_q8_0, quantize_q8_0, vec_dot_q8_0);
  set(T_Q8_1, dequant_q8_1, quantize_q8_1, NULL);
  set(T_Q2_K, dequant_q2_K, quantize_q2_K, vec_dot_q2_K);
  set(T_Q3_K, dequant_q3_K, quantize_q3_K, vec_dot_q3_K);
  set(T_Q4_K, dequant_q4_K, quantize_q4_K, vec_dot_q4_K);
  set(T_Q5_K, dequant_q5_K, quantize_q5_K, vec_dot_q5_K);
  set(T_Q6_K, dequant_q6_K, quantize_q6_K, vec_dot_q6_K);
  set(T_Q8_K, dequant_q8_K, quantize_q8_K, NULL);
  g_tab[SIMD_SCALAR][T_Q8_0].quantize_act = quantize_act_q8_0;
  g_tab[SIMD_SCALAR][T_Q8_1].quantize_act = quantize_act_q8_1;
#if defined(__x86_64__)
  quant_avx2_table(g_tab[SIMD_AVX2]);
  if (cpu_has_avxvnni()) quant_avxvnni_table(g_vnni);
  quant_avx512_table(g_tab[SIMD_AVX512]);
  memcpy(g_tab[SIMD_AMX], g_tab[SIMD_AVX512], sizeof g_tab[SIMD_AMX]);
  quant_amx_table(g_tab[SIMD_AMX]);
#endif
}

static const quant_kernels *entry(uint32_t type, enum simd_level level) {
  if (type >= T_COUNT || (int)level < 0 || level > cpu_max_simd_level()) return NULL;
  pthread_once(&g_once, init_tables);
  if (level == SIMD_AVX2 && cpu_avxvnni()) return &g_vnni[type];
  return &g_tab[level][type];
}

uint32_t quant_vec_dot_type(uint32_t type) {
  switch (type) {
  case T_Q4_0: case T_Q5_0: case T_Q8_0: return T_Q8_0;
  case T_Q4_1: case T_Q5_1: return T_Q8_1;
  case T_Q2_K: case T_Q3_K: case T_Q4_K: case T_Q5_K: case T_Q6_K: return T_Q8_K;
  default: return type;  // F32, F16, BF16 dot against their own type
  }
}

// Best kernel at or below the current level (a level lacking one falls back).
#define PICK(field)                                                                \
  for (int l = (int)cpu_simd_level(); l >= 0; l--) {                               \
    const quant_kernels *k = entry(type, (enum simd_level)l);                      \
    if (k && k->field) return k->field;                                            \
  }                                                                                \
  return NULL;

dequant_fn quant_dequant(uint32_t type) { PICK(dequant) }
quantize_fn quant_quantize(uint32_t type) { PICK(quantize) }
vec_dot_fn quant_vec_dot(uint32_t type) { PICK(vec_dot) }

static quantize_fn act_entry(uint32_t type, enum simd_level level) {
  const quant_kernels *k = entry(type, level);
  if (!k) return NULL;
  if (type == T_Q8_0 || type == T_Q8_1) return k->quantize_act;  // never the file quantizer
  return k->quantize_act ? k->quantize_act : k->quantize;
}

quantize_fn quant_quantize_act(uint32_t type) {
  for (int l = (int)cpu_simd_level(); l >= 0; l--) {
    quantize_fn f = act_entry(type, (enum simd_level)l);
    if (f) return f;
  }
  return NULL;
}

quantize_fn quant_quantize_act_at(uint32_t type, enum simd_level level) { return act_entry(type, level); }

dequant_fn quant_dequant_at(uint32_t type, enum simd_level level) {
  const quant_kernels *k = entry(type, level);
  return k ? k->dequant : NULL;
}

quantize_fn quant_quantize_at(uint32_t type, enum simd_level level) {
  const quant_kernels *k = entry(type, level);
  return k ? k->quantize : NULL;
}

vec_dot_fn quant_vec_dot_at(uint32_t type, enum simd_level level) {
  const quant_kernels *k = entry(type, level);
  return k ? k->vec_dot : NULL;
}

const quant_gemm *quant_gemm_at(uint32_t type, enum simd_level level) {
  const quant_kernels *k = entry(type, level);
  return k ? k->gemm : NULL;
}
