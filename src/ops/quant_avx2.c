// quant_avx2: AVX2 + FMA + F16C variants of the quant kernels (see quant.h).
// Compiled with -mavx2 -mfma -mf16c; only called when the CPU has them.
// quant_avxvnni.c compiles this file again with AVX-VNNI, where the
// row-interleaved integer kernels' products become vpdpbusd (dot8x, ksub8).
//
// Integer products use maddubs (unsigned x signed bytes -> int16 pairs) and
// madd (int16 pairs -> int32): weights that are unsigned (nibbles, K-quant
// values) go in directly, with the offset folded in through the activation
// sums (Q8_K bsums); signed x signed products (Q4_0, Q5_0, Q8_0) move the
// weight's sign onto the activation (abs / sign). No int16 can saturate:
// |w| <= 127 and |a| <= 127 give at most 2 * 127 * 127 per pair.
#include <immintrin.h>
#include <string.h>

#include "core/fp16.h"
#include "ops/pair_layout.h"
#include "ops/quant.h"

// ---- helpers ------------------------------------------------------------------------

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }
// F16C rounds to nearest even, as fp16_from_fp32 does.
static inline uint16_t f2h(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

// 16 packed nibbles -> 32 bytes: the low nibbles, then the high ones.
static inline __m256i nibbles(const uint8_t *qs) {
  __m128i q = load128(qs);
  __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Bit j of x -> byte j: 0xFF if set, 0 otherwise.
static inline __m256i bits_to_bytes(uint32_t x) {
  const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), spread);
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

// Sum of u[i] * s[i] over 32 bytes (u unsigned, s signed) as 8 int32 lanes.
static inline __m256i dot_us(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Same for signed x signed: the sign of x moves onto y.
static inline __m256i dot_ss(__m256i x, __m256i y) { return dot_us(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x)); }

// The per-row dots stream one weight row after another, which the hardware
// prefetcher alone followed at 40% of the bandwidth here (Qwen2.5-0.5B Q8_0
// generation at 11 tokens/s on one thread): each step asks for the bytes 2
// KiB ahead (22-24 tokens/s; 1 and 4 KiB ahead measured 22). The K-quants,
// with more arithmetic per byte, gain little (Q4_K 20.3 -> 20.7).
#define ROW_PREFETCH_AHEAD 2048
static inline void row_prefetch(const void *p, size_t bytes) {
  for (size_t o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + ROW_PREFETCH_AHEAD + o, _MM_HINT_T0);
}

static inline uint32_t load_u32(const void *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

// ---- float types -----------------------------------------------------------------------

static void vec_dot_f32(int64_t n, float *out, const void *w, const void *a) {
  const float *x = w, *y = a;
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; i++) s += x[i] * y[i];
  *out = s;
}

static inline __m256 load_f16(const uint16_t *p) { return _mm256_cvtph_ps(load128(p)); }

static inline __m256 load_bf16(const uint16_t *p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}

#define FLOAT16_DOT(name, load, conv)                                                        \
  static void name(int64_t n, float *out, const void *w, const void *a) {                    \
    const uint16_t *x = w, *y = a;                                                            \
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                               \
    int64_t i = 0;                                                                            \
    for (; i + 32 <= n; i += 32) {                                                            \
      s0 = _mm256_fmadd_ps(load(x + i), load(y + i), s0);                                     \
      s1 = _mm256_fmadd_ps(load(x + i + 8), load(y + i + 8), s1);                             \
      s2 = _mm256_fmadd_ps(load(x + i + 16), load(y + i + 16), s2);                           \
      s3 = _mm256_fmadd_ps(load(x + i + 24), load(y + i + 24), s3);                           \
    }                                                                                         \
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load(x + i), load(y + i), s0);            \
    float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));              \
    for (; i < n; i++) s += conv(x[i]) * conv(y[i]);                                          \
    *out = s;                                                                                 \
  }
FLOAT16_DOT(vec_dot_f16, load_f16, h2f)
FLOAT16_DOT(vec_dot_bf16, load_bf16, bf16_to_fp32)

static void quantize_f16(const float *src, void *dst, int64_t n) {
  uint16_t *d = dst;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++) d[i] = fp16_from_fp32(src[i]);
}

static void dequant_f16(const void *src, float *dst, int64_t n) {
  const uint16_t *s = src;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16(s + i));
  for (; i < n; i++) dst[i] = h2f(s[i]);
}

// Round to nearest even on the bit pattern, NaNs kept quiet (as bf16_from_fp32).
static void quantize_bf16(const float *src, void *dst, int64_t n) {
  uint16_t *d = dst;
  int64_t i = 0;
  const __m256i one = _mm256_set1_epi32(1), half = _mm256_set1_epi32(0x7fff);
  const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  for (; i + 8 <= n; i += 8) {
    __m256i x = _mm256_castps_si256(_mm256_loadu_ps(src + i));
    __m256i r = _mm256_add_epi32(x, _mm256_add_epi32(half, _mm256_and_si256(_mm256_srli_epi32(x, 16), one)));
    r = _mm256_srli_epi32(r, 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, absmask), inf);
    r = _mm256_blendv_epi8(r, _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(64)), nan);
    __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    _mm_storeu_si128((__m128i *)(d + i), p);
  }
  for (; i < n; i++) d[i] = bf16_from_fp32(src[i]);
}

static void dequant_bf16(const void *src, float *dst, int64_t n) {
  const uint16_t *s = src;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16(s + i));
  for (; i < n; i++) dst[i] = bf16_to_fp32(s[i]);
}

// ---- 32-element types ------------------------------------------------------------------------

static void vec_dot_q4_0(int64_t n, float *out, const void *w, const void *a) {
  const block_q4_0 *x = w;
  const block_q8_0 *y = a;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK; b++) {
    __m256i q = _mm256_sub_epi8(nibbles(x[b].qs), _mm256_set1_epi8(8));
    __m256i s = dot_ss(q, load256(y[b].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(s), acc);
  }
  *out = hsum(acc);
}

static void vec_dot_q4_1(int64_t n, float *out, const void *w, const void *a) {
  const block_q4_1 *x = w;
  const block_q8_1 *y = a;
  __m256 acc = _mm256_setzero_ps();
  float summs = 0;
  for (int64_t b = 0; b < n / QK; b++) {
    __m256i s = dot_us(nibbles(x[b].qs), load256(y[b].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(s), acc);
    summs += h2f(x[b].m) * h2f(y[b].s);
  }
  *out = hsum(acc) + summs;
}

static void vec_dot_q5_0(int64_t n, float *out, const void *w, const void *a) {
  const block_q5_0 *x = w;
  const block_q8_0 *y = a;
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / QK; b++) {
    // value - 16: where the 5th bit is clear, set the byte's top nibble (nibble - 16)
    __m256i hi = _mm256_andnot_si256(bits_to_bytes(load_u32(x[b].qh)), _mm256_set1_epi8((char)0xF0));
    __m256i q = _mm256_or_si256(nibbles(x[b].qs), hi);
    __m256i s = dot_ss(q, load256(y[b].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(s), acc);
  }
  *out = hsum(acc);
}

static void vec_dot_q5_1(int64_t n, float *out, const void *w, const void *a) {
  const block_q5_1 *x = w;
  const block_q8_1 *y = a;
  __m256 acc = _mm256_setzero_ps();
  float summs = 0;
  for (int64_t b = 0; b < n / QK; b++) {
    __m256i hi = _mm256_and_si256(bits_to_bytes(load_u32(x[b].qh)), _mm256_set1_epi8(0x10));
    __m256i s = dot_us(_mm256_or_si256(nibbles(x[b].qs), hi), load256(y[b].qs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)), _mm256_cvtepi32_ps(s), acc);
    summs += h2f(x[b].m) * h2f(y[b].s);
  }
  *out = hsum(acc) + summs;
}

static inline __m256 q8_0_step(const block_q8_0 *x, const block_q8_0 *y, __m256 acc) {
  __m256i s = dot_ss(load256(x->qs), load256(y->qs));
  return _mm256_fmadd_ps(_mm256_set1_ps(h2f(x->d) * h2f(y->d)), _mm256_cvtepi32_ps(s), acc);
}

static void vec_dot_q8_0(int64_t n, float *out, const void *w, const void *a) {
  const block_q8_0 *x = w;
  const block_q8_0 *y = a;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
  int64_t nb = n / QK, b = 0;
  for (; b + 2 <= nb; b += 2) {
    row_prefetch(x + b, 2 * sizeof *x);
    acc0 = q8_0_step(x + b, y + b, acc0);
    acc1 = q8_0_step(x + b + 1, y + b + 1, acc1);
  }
  if (b < nb) acc0 = q8_0_step(x + b, y + b, acc0);
  *out = hsum(_mm256_add_ps(acc0, acc1));
}

static void dequant_q4_0(const void *src, float *dst, int64_t n) {
  const block_q4_0 *x = src;
  for (int64_t b = 0; b < n / QK; b++, dst += QK) {
    __m256 d = _mm256_set1_ps(h2f(x[b].d));
    __m256i q = _mm256_sub_epi8(nibbles(x[b].qs), _mm256_set1_epi8(8));
    for (int k = 0; k < 4; k++) {
      __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)((const int8_t *)&q + 8 * k)));
      _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
    }
  }
}

static void dequant_q8_0(const void *src, float *dst, int64_t n) {
  const block_q8_0 *x = src;
  for (int64_t b = 0; b < n / QK; b++, dst += QK) {
    __m256 d = _mm256_set1_ps(h2f(x[b].d));
    for (int k = 0; k < 4; k++) {
      __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x[b].qs + 8 * k)));
      _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
    }
  }
}

// ---- activation quantizers ------------------------------------------------------------------

static inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

static inline __m256 vabs(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// Four vectors of 8 int32 (each in -128..127) -> 32 int8 in order.
static inline __m256i pack_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  __m256i r = _mm256_packs_epi16(ab, cd);  // lanes interleaved: a0 b0 c0 d0 a1 b1 c1 d1 (4 bytes each)
  return _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// One block of 32 as Q8_0 / Q8_1 (see quant.c): q = round-half-even(x * 127 / amax).
// Returns sum(qs) (when want_sum) and sets *d = amax / 127.
static inline int quant_block_q8(const float *src, int8_t *qs, float *d, int want_sum) {
  __m256 v[4];
  __m256 m = _mm256_setzero_ps();
  for (int k = 0; k < 4; k++) {
    v[k] = _mm256_loadu_ps(src + 8 * k);
    m = _mm256_max_ps(m, vabs(v[k]));
  }
  float amax = hmax(m);
  *d = amax / 127.0f;
  __m256 id = _mm256_set1_ps(amax != 0 ? 127.0f / amax : 0.0f);
  __m256i q[4];
  for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], id));  // MXCSR: nearest even
  _mm256_storeu_si256((__m256i *)qs, pack_i8(q[0], q[1], q[2], q[3]));
  if (!want_sum) return 0;
  return hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
}

static void quantize_q8_0(const float *src, void *dst, int64_t n) {
  block_q8_0 *y = dst;
  for (int64_t b = 0; b < n / QK; b++, src += QK) {
    float d;
    quant_block_q8(src, y[b].qs, &d, 0);
    y[b].d = f2h(d);
  }
}

static void quantize_q8_1(const float *src, void *dst, int64_t n) {
  block_q8_1 *y = dst;
  for (int64_t b = 0; b < n / QK; b++, src += QK) {
    float d;
    int sum = quant_block_q8(src, y[b].qs, &d, 1);
    y[b].d = f2h(d);
    y[b].s = f2h(d * (float)sum);
  }
}

// Q8_K as the reference: -127 / (the first value of largest magnitude), ties to even.
static void quantize_q8_K(const float *src, void *dst, int64_t n) {
  block_q8_K *y = dst;
  for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < QK_K; k += 8) m = _mm256_max_ps(m, vabs(_mm256_loadu_ps(src + k)));
    float amax = hmax(m);
    if (amax == 0) {
      memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    int first = 0;
    __m256 am = _mm256_set1_ps(amax);
    for (int k = 0; k < QK_K; k += 8) {
      int mask = _mm256_movemask_ps(_mm256_cmp_ps(vabs(_mm256_loadu_ps(src + k)), am, _CMP_EQ_OQ));
      if (mask) {
        first = k + __builtin_ctz((unsigned)mask);
        break;
      }
    }
    float iscale = -127.0f / src[first];
    __m256 is = _mm256_set1_ps(iscale);
    const __m256i top = _mm256_set1_epi32(127);
    for (int k = 0; k < QK_K; k += 32) {
      __m256i q[4];
      for (int j = 0; j < 4; j++)
        q[j] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + k + 8 * j), is)), top);
      _mm256_storeu_si256((__m256i *)(y[b].qs + k), pack_i8(q[0], q[1], q[2], q[3]));
      y[b].bsums[k / 16] = (int16_t)hsum_i32(_mm256_add_epi32(q[0], q[1]));
      y[b].bsums[k / 16 + 1] = (int16_t)hsum_i32(_mm256_add_epi32(q[2], q[3]));
    }
    y[b].d = 1.0f / iscale;
  }
}

// ---- K-quants ----------------------------------------------------------------------------------
// Per super-block: isum = sum over sub-blocks of scale * (q . a) as int32
// lanes (maddubs, then madd with the scales as int16), msum = sum of
// min * bsum; the block adds d * isum - dmin * msum, as the scalar code.

// 16 scale bytes, sub-blocks 2k and 2k + 1 -> int16 [s[2k] x 8 | s[2k+1] x 8].
static inline __m256i scale_pair(__m128i s, int k, int is_signed) {
  __m128i idx = _mm_unpacklo_epi64(_mm_set1_epi8((char)(2 * k)), _mm_set1_epi8((char)(2 * k + 1)));
  __m128i b = _mm_shuffle_epi8(s, idx);
  return is_signed ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b);
}

// sum over sub-blocks j of s16[j] * bsums[j] (s16: 16 int16) as int32 lanes.
static inline __m256i scale_bsums(__m256i s16, const block_q8_K *y) {
  return _mm256_madd_epi16(s16, load256(y->bsums));
}

static inline void k_accumulate(__m256 *acc, float d, float dmin, const block_q8_K *y, __m256i isum, __m256i msum) {
  *acc = _mm256_fmadd_ps(_mm256_set1_ps(y->d * d), _mm256_cvtepi32_ps(isum), *acc);
  *acc = _mm256_fnmadd_ps(_mm256_set1_ps(y->d * dmin), _mm256_cvtepi32_ps(msum), *acc);
}

static void vec_dot_q2_K(int64_t n, float *out, const void *w, const void *a) {
  const block_q2_K *x = w;
  const block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps();
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < n / QK_K; b++) {
    row_prefetch(x + b, sizeof *x);
    __m128i sc8 = load128(x[b].scales);
    __m128i sc = _mm_and_si128(sc8, _mm_set1_epi8(0xF)), mn = _mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0xF));
    __m256i msum = scale_bsums(_mm256_cvtepu8_epi16(mn), &y[b]);
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      __m256i qs = load256(x[b].qs + 32 * h);
      for (int s = 0; s < 4; s++) {
        __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * s), m3);
        __m256i p = _mm256_maddubs_epi16(q, load256(y[b].qs + 128 * h + 32 * s));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair(sc, 4 * h + s, 0)));
      }
    }
    k_accumulate(&acc, h2f(x[b].d), h2f(x[b].dmin), &y[b], isum, msum);
  }
  *out = hsum(acc);
}

// The 16 Q3_K scales (-32..31) as bytes.
static inline __m128i q3_scales(const uint8_t *s) {
  uint32_t w0 = load_u32(s), w1 = load_u32(s + 4), w2 = load_u32(s + 8);
  uint32_t a = (w0 & 0x0f0f0f0f) | ((w2 & 0x03030303) << 4);
  uint32_t b = (w1 & 0x0f0f0f0f) | (((w2 >> 2) & 0x03030303) << 4);
  uint32_t c = ((w0 >> 4) & 0x0f0f0f0f) | (((w2 >> 4) & 0x03030303) << 4);
  uint32_t d = ((w1 >> 4) & 0x0f0f0f0f) | (((w2 >> 6) & 0x03030303) << 4);
  return _mm_sub_epi8(_mm_setr_epi32((int)a, (int)b, (int)c, (int)d), _mm_set1_epi8(32));
}

static void vec_dot_q3_K(int64_t n, float *out, const void *w, const void *a) {
  const block_q3_K *x = w;
  const block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps();
  const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / QK_K; b++) {
    row_prefetch(x + b, sizeof *x);
    __m128i sc = q3_scales(x[b].scales);
    // values are u - 4 with u = 2 low bits | high bit << 2: the -4 goes through bsums
    __m256i msum = _mm256_slli_epi32(scale_bsums(_mm256_cvtepi8_epi16(sc), &y[b]), 2);
    __m256i hm = load256(x[b].hmask), isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      __m256i qs = load256(x[b].qs + 32 * h);
      for (int s = 0; s < 4; s++) {
        __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + s), m1), 2);
        __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 2 * s), m3), hb);
        __m256i p = _mm256_maddubs_epi16(q, load256(y[b].qs + 128 * h + 32 * s));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair(sc, 4 * h + s, 1)));
      }
    }
    float d = h2f(x[b].d);
    k_accumulate(&acc, d, d, &y[b], isum, msum);
  }
  *out = hsum(acc);
}

// Q4_K / Q5_K scales and mins: 8 bytes each, in sc[0..8) and mn[8..16).
static inline __m128i q45_scales(const uint8_t *s) {
  uint32_t w0 = load_u32(s), w1 = load_u32(s + 4), w2 = load_u32(s + 8);
  uint32_t sc_lo = w0 & 0x3f3f3f3f, mn_lo = w1 & 0x3f3f3f3f;
  uint32_t sc_hi = (w2 & 0x0f0f0f0f) | (((w0 >> 6) & 0x03030303) << 4);
  uint32_t mn_hi = ((w2 >> 4) & 0x0f0f0f0f) | (((w1 >> 6) & 0x03030303) << 4);
  return _mm_setr_epi32((int)sc_lo, (int)sc_hi, (int)mn_lo, (int)mn_hi);
}

// Sub-block j (32 elements) scale as 16 int16.
static inline __m256i scale_one(__m128i s, int j) { return _mm256_cvtepu8_epi16(_mm_shuffle_epi8(s, _mm_set1_epi8((char)j))); }

// mins duplicated over both 16-halves of their 32-element sub-block, times bsums.
static inline __m256i q45_msum(__m128i s, const block_q8_K *y) {
  __m128i mn = _mm_unpackhi_epi8(s, s);  // m0 m0 m1 m1 ... m7 m7
  return scale_bsums(_mm256_cvtepu8_epi16(mn), y);
}

static void vec_dot_q4_K(int64_t n, float *out, const void *w, const void *a) {
  const block_q4_K *x = w;
  const block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0xF);
  for (int64_t b = 0; b < n / QK_K; b++) {
    row_prefetch(x + b, sizeof *x);
    __m128i s = q45_scales(x[b].scales);
    __m256i msum = q45_msum(s, &y[b]), isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
      __m256i qs = load256(x[b].qs + 32 * c);
      __m256i lo = _mm256_and_si256(qs, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qs, 4), m4);
      __m256i plo = _mm256_maddubs_epi16(lo, load256(y[b].qs + 64 * c));
      __m256i phi = _mm256_maddubs_epi16(hi, load256(y[b].qs + 64 * c + 32));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(plo, scale_one(s, 2 * c)));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(phi, scale_one(s, 2 * c + 1)));
    }
    k_accumulate(&acc, h2f(x[b].d), h2f(x[b].dmin), &y[b], isum, msum);
  }
  *out = hsum(acc);
}

static void vec_dot_q5_K(int64_t n, float *out, const void *w, const void *a) {
  const block_q5_K *x = w;
  const block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0xF), m1 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / QK_K; b++) {
    row_prefetch(x + b, sizeof *x);
    __m128i s = q45_scales(x[b].scales);
    __m256i msum = q45_msum(s, &y[b]), isum = _mm256_setzero_si256();
    __m256i qh = load256(x[b].qh);
    for (int c = 0; c < 4; c++) {
      __m256i qs = load256(x[b].qs + 32 * c);
      __m256i hlo = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), m1), 4);
      __m256i hhi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), m1), 4);
      __m256i lo = _mm256_or_si256(_mm256_and_si256(qs, m4), hlo);
      __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 4), m4), hhi);
      __m256i plo = _mm256_maddubs_epi16(lo, load256(y[b].qs + 64 * c));
      __m256i phi = _mm256_maddubs_epi16(hi, load256(y[b].qs + 64 * c + 32));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(plo, scale_one(s, 2 * c)));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(phi, scale_one(s, 2 * c + 1)));
    }
    k_accumulate(&acc, h2f(x[b].d), h2f(x[b].dmin), &y[b], isum, msum);
  }
  *out = hsum(acc);
}

static void vec_dot_q6_K(int64_t n, float *out, const void *w, const void *a) {
  const block_q6_K *x = w;
  const block_q8_K *y = a;
  __m256 acc = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < n / QK_K; b++) {
    row_prefetch(x + b, sizeof *x);
    __m128i sc = load128(x[b].scales);
    // values are u - 32 (u = 6 bits): the -32 goes through bsums
    __m256i msum = _mm256_slli_epi32(scale_bsums(_mm256_cvtepi8_epi16(sc), &y[b]), 5);
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      __m256i l0 = load256(x[b].ql + 64 * h), l1 = load256(x[b].ql + 64 * h + 32), qh = load256(x[b].qh + 32 * h);
      __m256i u[4];
      u[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
      u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
      u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
      u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
      for (int s = 0; s < 4; s++) {
        __m256i p = _mm256_maddubs_epi16(u[s], load256(y[b].qs + 128 * h + 32 * s));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale_pair(sc, 4 * h + s, 1)));
      }
    }
    float d = h2f(x[b].d);
    k_accumulate(&acc, d, d, &y[b], isum, msum);
  }
  *out = hsum(acc);
}

// ---- row-interleaved kernels, 8 rows ---------------------------------------------------------------
// As in quant_avx512.c (which explains the scheme): 8 weight rows transposed
// so that each 32-bit lane holds 4 bytes of one row, activations broadcast.
// Without VNNI a product step is maddubs (pairs of u8 x s8 into int16), and
// the int16 sums of several steps are added before one madd widens them:
// with 4-bit weights 8 steps (16 products of at most 15 * 127 per int16) and
// with 5-bit ones 4 steps stay below 32767. Q8_0's signed bytes take one
// step at a time (SIGNED8); the K-quants use the per-row dots.

#define AI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")
#define NC2 4     // activation rows per call (16 vector registers)
// Elements per K-chunk of a panel (40-46 KiB): fewer passes over the
// outputs, as at the AVX-512 level; against 2048, LLMUX_SIMD=avx2, one
// thread, 2048 x 8192, 512 tokens: Q8_0 155-156 -> 160-166 GFLOP/s, Q4_K
// 186-190 -> 200-201 (float panels: even at 4096, kept at 1024).
#define KC2 4096

typedef struct {
  const uint8_t *r[8];
  __m256i gidx;  // byte offsets of the rows from r[0], for gathers
} rows8;

AI void rows8_init(rows8 *R, const void *w, size_t stride, int64_t nr) {
  int32_t idx[8];
  UNROLL
  for (int i = 0; i < 8; i++) {
    int64_t k = i < nr ? i : nr - 1;  // a short tile repeats its last row
    R->r[i] = (const uint8_t *)w + (size_t)k * stride;
    idx[i] = (int32_t)((size_t)k * stride);
  }
  R->gidx = _mm256_loadu_si256((const __m256i *)idx);
}

// 16 bytes at `off` of each row, transposed: T[k] lane r = bytes 4k..4k+3 of row r.
AI void t8x4(const rows8 *R, size_t off, __m256i T[4]) {
  __m256i z[4];
  UNROLL
  for (int i = 0; i < 4; i++) z[i] = _mm256_set_m128i(load128(R->r[i + 4] + off), load128(R->r[i] + off));
  __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]), t1 = _mm256_unpackhi_epi32(z[0], z[1]);
  __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]), t3 = _mm256_unpackhi_epi32(z[2], z[3]);
  T[0] = _mm256_unpacklo_epi64(t0, t2);
  T[1] = _mm256_unpackhi_epi64(t0, t2);
  T[2] = _mm256_unpacklo_epi64(t1, t3);
  T[3] = _mm256_unpackhi_epi64(t1, t3);
}

// 32 bytes at `off` of each row, transposed: T[k] lane r = bytes 4k..4k+3 of
// row r, k < 8 (an 8 x 8 dword transpose: unpacks within 128-bit lanes, then
// one lane permute per output).
AI void t8x8(const rows8 *R, size_t off, __m256i T[8]) {
  __m256i z[8], t[8], u[8];
  UNROLL
  for (int i = 0; i < 8; i++) z[i] = load256(R->r[i] + off);
  UNROLL
  for (int i = 0; i < 8; i += 2) {  // rows i, i + 1: dwords 0, 1 | 4, 5 and 2, 3 | 6, 7
    t[i] = _mm256_unpacklo_epi32(z[i], z[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(z[i], z[i + 1]);
  }
  UNROLL
  for (int h = 0; h < 8; h += 4) {  // rows h..h+3: dword k | k + 4 in u[h + k]
    u[h] = _mm256_unpacklo_epi64(t[h], t[h + 2]);
    u[h + 1] = _mm256_unpackhi_epi64(t[h], t[h + 2]);
    u[h + 2] = _mm256_unpacklo_epi64(t[h + 1], t[h + 3]);
    u[h + 3] = _mm256_unpackhi_epi64(t[h + 1], t[h + 3]);
  }
  UNROLL
  for (int k = 0; k < 4; k++) {
    T[k] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x20);
    T[k + 4] = _mm256_permute2x128_si256(u[k], u[4 + k], 0x31);
  }
}

// Streaming prefetch (see quant_avx512.c): while one tile of rows is computed,
// a later one is prefetched linearly, a few lines per block step.
typedef struct {
  const char *p, *end;
  int lines, l1;
} prefetcher8;

AI void pf8_init(prefetcher8 *pf, const void *w, size_t stride, int64_t r0, int64_t nr, size_t block_bytes) {
  pf->l1 = 8 * stride <= 8704;
  int64_t ahead = pf->l1 ? 8 : 16;
  int64_t first = r0 + ahead < nr ? r0 + ahead : nr, last = r0 + ahead + 8 < nr ? r0 + ahead + 8 : nr;
  pf->p = (const char *)w + (size_t)first * stride;
  pf->end = (const char *)w + (size_t)last * stride;
  pf->lines = (int)((8 * block_bytes + 63) / 64);
}

AI void pf8_step(prefetcher8 *pf) {
  for (int i = 0; i < pf->lines && pf->p < pf->end; i++, pf->p += 64) {
    if (pf->l1) _mm_prefetch(pf->p, _MM_HINT_T0);
    else _mm_prefetch(pf->p, _MM_HINT_T1);
  }
}

AI __m256i gather8(const rows8 *R, size_t off) { return _mm256_i32gather_epi32((const int *)(R->r[0] + off), R->gidx, 1); }

// fp16 in the low (hi = 0) or high half of each lane -> float.
AI __m256 half8(__m256i v, int hi) {
  v = hi ? _mm256_srli_epi32(v, 16) : _mm256_and_si256(v, _mm256_set1_epi32(0xFFFF));
  return _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

AI void nib_split8(const __m256i T[4], __m256i W[8]) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  UNROLL
  for (int k = 0; k < 4; k++) {
    W[k] = _mm256_and_si256(T[k], m4);
    W[k + 4] = _mm256_and_si256(_mm256_srli_epi16(T[k], 4), m4);
  }
}

// Adds the 5th bit: value 4k + j of a row is bit 4k + j of its 32-bit qh.
AI void q5_high8(__m256i qh, __m256i W[8]) {
  const __m256i lanes = _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0, 0x04040404, 0x08080808, 0x0c0c0c0c);
  UNROLL
  for (int k = 0; k < 8; k++) {
    // byte k / 2 of each lane's qh into all 4 bytes of the lane, then byte j tests bit 4 (k % 2) + j
    __m256i rep = _mm256_shuffle_epi8(qh, _mm256_add_epi8(_mm256_set1_epi32((int)((uint32_t)(k / 2) * 0x01010101u)), lanes));
    __m256i bit = _mm256_set1_epi32((int)(0x08040201u << (4 * (k % 2))));
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(rep, bit), bit);
    W[k] = _mm256_or_si256(W[k], _mm256_and_si256(set, _mm256_set1_epi8(16)));
  }
}

AI void unpack8_q4_0(const rows8 *R, int64_t b, __m256i W[8], __m256 *D, __m256 *M) {
  size_t off = (size_t)b * sizeof(block_q4_0);
  __m256i T[4];
  t8x4(R, off + 2, T);
  nib_split8(T, W);
  *D = half8(gather8(R, off), 0);
  *M = _mm256_setzero_ps();
}

AI void unpack8_q4_1(const rows8 *R, int64_t b, __m256i W[8], __m256 *D, __m256 *M) {
  size_t off = (size_t)b * sizeof(block_q4_1);
  __m256i T[4];
  t8x4(R, off + 4, T);
  nib_split8(T, W);
  __m256i dm = gather8(R, off);
  *D = half8(dm, 0);
  *M = half8(dm, 1);
}

AI void unpack8_q5_0(const rows8 *R, int64_t b, __m256i W[8], __m256 *D, __m256 *M) {
  size_t off = (size_t)b * sizeof(block_q5_0);
  __m256i T[4];
  t8x4(R, off + 6, T);
  nib_split8(T, W);
  q5_high8(gather8(R, off + 2), W);
  *D = half8(gather8(R, off), 0);
  *M = _mm256_setzero_ps();
}

AI void unpack8_q5_1(const rows8 *R, int64_t b, __m256i W[8], __m256 *D, __m256 *M) {
  size_t off = (size_t)b * sizeof(block_q5_1);
  __m256i T[4];
  t8x4(R, off + 8, T);
  nib_split8(T, W);
  q5_high8(gather8(R, off + 4), W);
  __m256i dm = gather8(R, off);
  *D = half8(dm, 0);
  *M = half8(dm, 1);
}

// Q8_0: the bytes stay signed (see SIGNED8).
AI void unpack8_q8_0(const rows8 *R, int64_t b, __m256i W[8], __m256 *D, __m256 *M) {
  size_t off = (size_t)b * sizeof(block_q8_0);
  t8x4(R, off + 2, W);
  t8x4(R, off + 18, W + 4);
  *D = half8(gather8(R, off), 0);
  *M = _mm256_setzero_ps();
}

typedef void (*unpack8_fn)(const rows8 *R, int64_t b, __m256i W[8], __m256 *D, __m256 *M);

// Two blocks at a time without gathers, as pair32 in avx512_rows.h, from an
// 8 x 8 and an 8 x 4 dword transpose (the fields' places: pair_layout.h).
// (Q8_0's 68 bytes would need three transposes for what a gather and two
// now do.)
typedef struct {
  __m256i A[8], B[4];
} pair8;

typedef void (*pair8_load_fn)(const rows8 *R, size_t off, pair8 *P);
typedef void (*pair8_fn)(const pair8 *P, int first, __m256i W[8], __m256 *D, __m256 *M);

// Bytes 2..5 of the dword pair (lo, hi) in each lane.
AI __m256i shr16_8(__m256i lo, __m256i hi) {
  return _mm256_or_si256(_mm256_srli_epi32(lo, 16), _mm256_slli_epi32(hi, 16));
}

AI void load8_pair(const rows8 *R, size_t off, size_t boff, pair8 *P) {
  t8x8(R, off, P->A);
  t8x4(R, off + boff, P->B);
}

// Q4_0, Q4_1, Q5_0, Q5_1: load8_* and pair8_* (first: block b, else b + 1).
PAIR_LAYOUT_DEFINE(8, __m256i, __m256, pair8, rows8, load8_pair, shr16_8, nib_split8, q5_high8, half8,
                   _mm256_setzero_ps())

AI __m256i bcast32_8(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// `run` for signed weights (Q8_0): maddubs takes |w| against the activation
// bytes with w's signs (pairs reach 2 * 127 * 127, so each step widens alone);
// the unsigned offset the other types use would overflow maddubs here.
#define SIGNED8 0

// One product step: int16 pairs of w . (4 activation bytes at q, broadcast).
AI __m256i step8(__m256i w, const int8_t *q, const int run) {
  __m256i x = bcast32_8(q);
  if (run == SIGNED8) return _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
  return _mm256_maddubs_epi16(w, x);
}

// int32 per row: init + sum over the block of w . a; `run` steps share one widening.
// With AVX-VNNI one vpdpbusd per step, in two chains; the sums are exact
// either way, so both builds give the same bits.
AI __m256i dot8x(const __m256i *W, const int8_t *qs, __m256i init, const int run) {
#ifdef __AVXVNNI__
  __m256i s0 = init, s1 = _mm256_setzero_si256();
  UNROLL
  for (int k = 0; k < 8; k += 2) {
    if (run == SIGNED8) {
      __m256i x0 = bcast32_8(qs + 4 * k), x1 = bcast32_8(qs + 4 * k + 4);
      s0 = _mm256_dpbusd_avx_epi32(s0, _mm256_abs_epi8(W[k]), _mm256_sign_epi8(x0, W[k]));
      s1 = _mm256_dpbusd_avx_epi32(s1, _mm256_abs_epi8(W[k + 1]), _mm256_sign_epi8(x1, W[k + 1]));
    } else {
      s0 = _mm256_dpbusd_avx_epi32(s0, W[k], bcast32_8(qs + 4 * k));
      s1 = _mm256_dpbusd_avx_epi32(s1, W[k + 1], bcast32_8(qs + 4 * k + 4));
    }
  }
  return _mm256_add_epi32(s0, s1);
#else
  const int r = run == SIGNED8 ? 1 : run;
  __m256i acc = init;
  UNROLL
  for (int k0 = 0; k0 < 8; k0 += r) {
    __m256i p = step8(W[k0], qs + 4 * k0, run);
    UNROLL
    for (int k = k0 + 1; k < k0 + r; k++) p = _mm256_add_epi16(p, step8(W[k], qs + 4 * k, run));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
  }
  return acc;
#endif
}

AI const void *act_row8(const void *a, size_t a_stride, int c) { return (const uint8_t *)a + (size_t)c * a_stride; }
AI const act_aux *aux_row8(const act_aux *aux, size_t aux_stride, int c) {
  return (const act_aux *)((const uint8_t *)aux + (size_t)c * aux_stride);
}
AI const int8_t *act_qs8(const void *a, int64_t b, int q81) {
  return q81 ? ((const block_q8_1 *)a)[b].qs : ((const block_q8_0 *)a)[b].qs;
}

AI __m256 block8(__m256 acc, const __m256i *W, __m256 D, __m256 M, const int8_t *qs, const act_aux *x, int q81,
                 const int run) {
  __m256i s = dot8x(W, qs, q81 || run == SIGNED8 ? _mm256_setzero_si256() : _mm256_set1_epi32(x->corr), run);
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(D, _mm256_set1_ps(x->d)), acc);
  return q81 ? _mm256_fmadd_ps(M, _mm256_set1_ps(x->s), acc) : acc;
}

AI void store8(float *y, __m256 v, int64_t n, int acc) {
  if (n >= 8) {
    if (acc) v = _mm256_add_ps(v, _mm256_loadu_ps(y));
    _mm256_storeu_ps(y, v);
    return;
  }
  float t[8];
  _mm256_storeu_ps(t, v);
  for (int64_t i = 0; i < n; i++) y[i] = acc ? y[i] + t[i] : t[i];
}

// acc[c] += block b of the unpacked rows with each activation row c.
AI void gemv8_block(__m256 *acc, const __m256i W[8], __m256 D, __m256 M, int64_t b, const void *a, size_t a_stride,
                    const act_aux *aux, size_t aux_stride, int q81, int run, const int nc) {
  UNROLL
  for (int c = 0; c < nc; c++)
    acc[c] = block8(acc[c], W, D, M, act_qs8(act_row8(a, a_stride, c), b, q81), aux_row8(aux, aux_stride, c) + b, q81,
                    run);
}

AI void gemv8_n(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride,
                const act_aux *aux, size_t aux_stride, float *y, int64_t ldy, unpack8_fn unpack, int q81, int run,
                size_t bytes, pair8_load_fn load, pair8_fn pair, const int nc) {
  for (int64_t r0 = 0; r0 < nr; r0 += 8) {
    rows8 R;
    rows8_init(&R, (const uint8_t *)w + (size_t)r0 * stride, stride, nr - r0);
    prefetcher8 pf;
    pf8_init(&pf, w, stride, r0, nr, bytes);
    __m256 acc[NC2];
    UNROLL
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    int64_t b = 0, nb = n / QK;
    for (; load && b + 1 < nb; b += 2) {
      pf8_step(&pf);
      pf8_step(&pf);
      pair8 P;
      load(&R, (size_t)b * bytes, &P);
      __m256i W[8];
      __m256 D, M;
      pair(&P, 1, W, &D, &M);
      gemv8_block(acc, W, D, M, b, a, a_stride, aux, aux_stride, q81, run, nc);
      pair(&P, 0, W, &D, &M);
      gemv8_block(acc, W, D, M, b + 1, a, a_stride, aux, aux_stride, q81, run, nc);
    }
    for (; b < nb; b++) {
      pf8_step(&pf);
      __m256i W[8];
      __m256 D, M;
      unpack(&R, b, W, &D, &M);
      gemv8_block(acc, W, D, M, b, a, a_stride, aux, aux_stride, q81, run, nc);
    }
    UNROLL
    for (int c = 0; c < nc; c++) store8(y + c * ldy + r0, acc[c], nr - r0, 0);
  }
}

#define P8_VECS 10  // per block: W[8], D, M

AI void panel8_block(__m256i *p, const __m256i W[8], __m256 D, __m256 M) {
  UNROLL
  for (int k = 0; k < 8; k++) _mm256_store_si256(p + k, W[k]);
  _mm256_store_ps((float *)(p + 8), D);
  _mm256_store_ps((float *)(p + 9), M);
}

AI void pack8(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel, unpack8_fn unpack,
              pair8_load_fn load, pair8_fn pair, size_t bytes) {
  rows8 R;
  rows8_init(&R, w, stride, nr);
  __m256i *p = panel;
  int64_t b = k0 / QK, end = (k0 + kn) / QK;
  __m256i W[8];
  __m256 D, M;
  for (; load && b + 1 < end; b += 2, p += 2 * P8_VECS) {
    pair8 P;
    load(&R, (size_t)b * bytes, &P);
    pair(&P, 1, W, &D, &M);
    panel8_block(p, W, D, M);
    pair(&P, 0, W, &D, &M);
    panel8_block(p + P8_VECS, W, D, M);
  }
  for (; b < end; b++, p += P8_VECS) {
    unpack(&R, b, W, &D, &M);
    panel8_block(p, W, D, M);
  }
}

AI void run8_n(const void *panel, int nr, int64_t k0, int64_t kn, const void *a, size_t a_stride, const act_aux *aux,
               size_t aux_stride, float *y, int64_t ldy, int accum, int q81, int run, const int nc) {
  __m256 acc[NC2];
  UNROLL
  for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
  const __m256i *p = panel;
  for (int64_t b = k0 / QK; b < (k0 + kn) / QK; b++, p += P8_VECS) {
    __m256 D = _mm256_load_ps((const float *)(p + 8)), M = _mm256_load_ps((const float *)(p + 9));
    UNROLL
    for (int c = 0; c < nc; c++)
      acc[c] = block8(acc[c], p, D, M, act_qs8(act_row8(a, a_stride, c), b, q81), aux_row8(aux, aux_stride, c) + b,
                      q81, run);
  }
  UNROLL
  for (int c = 0; c < nc; c++) store8(y + c * ldy, acc[c], nr, accum);
}

#define RUN_SWITCH4(body, ...)         \
  switch (nc) {                        \
  case 1: body(__VA_ARGS__, 1); break; \
  case 2: body(__VA_ARGS__, 2); break; \
  case 3: body(__VA_ARGS__, 3); break; \
  default: body(__VA_ARGS__, 4); break; \
  }

#define TYPE8(name, q81, bias, steps, pload, pair)                                                             \
  static void gemv8_##name(int64_t n, const void *w, size_t stride, int64_t nr, const void *a,               \
                           size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy) { \
    RUN_SWITCH4(gemv8_n, n, w, stride, nr, a, a_stride, aux, aux_stride, y, ldy, unpack8_##name, q81, steps, \
                sizeof(block_##name), pload, pair)                                                           \
  }                                                                                                          \
  static void pack8_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {      \
    pack8(w, stride, nr, k0, kn, panel, unpack8_##name, pload, pair, sizeof(block_##name));                  \
  }                                                                                                          \
  static void run8_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,     \
                          size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy, \
                          int acc) {                                                                         \
    (void)w_stride;                                                                                          \
    RUN_SWITCH4(run8_n, w, nr, k0, kn, a, a_stride, aux, aux_stride, y, ldy, acc, q81, steps)                \
  }                                                                                                          \
  static const quant_gemm gemm8_##name = {.rows = 8, .cols = NC2, .kc = KC2, .aux_bias = q81 ? -1 : bias,   \
                                          .panel_bytes = (size_t)(KC2 / QK) * P8_VECS * 32, .pack = pack8_##name, \
                                          .run = run8_##name, .gemv = (steps) == SIGNED8 ? NULL : gemv8_##name, \
                                          .gemv_cols = NC2};
// Q8_0's small batches keep the per-row dots (see row_prefetch): generation
// through its gemv8 measured 3-7% slower; its prompts take the panels
// (pp512 121 -> 285 tokens/s on two threads, Qwen2.5-0.5B shape).
TYPE8(q4_0, 0, 8, 8, load8_q4_0, pair8_q4_0)
TYPE8(q4_1, 1, 0, 8, load8_q4_1, pair8_q4_1)
TYPE8(q5_0, 0, 16, 4, load8_q5_0, pair8_q5_0)
TYPE8(q5_1, 1, 0, 4, load8_q5_1, pair8_q5_1)
TYPE8(q8_0, 0, 128, SIGNED8, NULL, NULL)  // the side data's correction is unused; its d is

// ---- row-interleaved Q4_K / Q5_K, 8 rows ------------------------------------------------------------
// Per super-block: SC[m] = (scale, scale) of 32-value sub-block m as an int16
// pair, so that madd applies the scale while it widens the int16 sums of
// maddubs; CM[i] = (min_i, min_i) against the bsums pair (2i, 2i + 1).
typedef struct {
  __m256i SC[8], CM[8], X[8];  // X: Q5_K's high bits, qh[0..16) and qh[16..32)
  __m256 D, DM;
} khead8;

// In every dword, bytes i and j as two unsigned int16.
AI __m256i bytes_u16_8(__m256i v, int i, int j) {
  uint32_t pat = (uint32_t)i | 0x80u << 8 | (uint32_t)j << 16 | 0x80u << 24;
  const __m256i lanes = _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0, 0x04040404, 0x08080808, 0x0c0c0c0c);
  return _mm256_shuffle_epi8(v, _mm256_add_epi8(_mm256_set1_epi32((int)pat), lanes));
}

AI void head8_q45_K(const rows8 *R, size_t off, khead8 *H, int five) {
  __m256i T[4];
  t8x4(R, off, T);
  H->D = half8(T[0], 0);
  H->DM = half8(T[0], 1);
  const __m256i m6 = _mm256_set1_epi32(0x3f3f3f3f), m4 = _mm256_set1_epi32(0x0f0f0f0f), m2 = _mm256_set1_epi32(0x03030303);
  __m256i sc_lo = _mm256_and_si256(T[1], m6), mn_lo = _mm256_and_si256(T[2], m6);
  __m256i sc_hi = _mm256_or_si256(_mm256_and_si256(T[3], m4), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(T[1], 6), m2), 4));
  __m256i mn_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(T[3], 4), m4),
                                  _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(T[2], 6), m2), 4));
  UNROLL
  for (int m = 0; m < 8; m++) {
    H->SC[m] = bytes_u16_8(m < 4 ? sc_lo : sc_hi, m % 4, m % 4);
    H->CM[m] = bytes_u16_8(m < 4 ? mn_lo : mn_hi, m % 4, m % 4);
  }
  if (five) {
    t8x4(R, off + 16, H->X);
    t8x4(R, off + 32, H->X + 4);
  }
}

// Sub-blocks 2g (low nibbles) and 2g + 1 (high) of a super-block: W[0..8) and
// W[8..16), values 4k.. in W[k]; with five, bit 2g / 2g + 1 of qh as the 5th bit.
AI void group8_q45_K(const rows8 *R, size_t off, const khead8 *H, int g, int five, __m256i W[16]) {
  __m256i T[8];
  t8x4(R, off + (five ? 48 : 16) + 32 * g, T);
  t8x4(R, off + (five ? 64 : 32) + 32 * g, T + 4);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(1);
  UNROLL
  for (int k = 0; k < 8; k++) {
    W[k] = _mm256_and_si256(T[k], m4);
    W[8 + k] = _mm256_and_si256(_mm256_srli_epi16(T[k], 4), m4);
    if (five) {
      __m256i lo = _mm256_and_si256(_mm256_srli_epi16(H->X[k], 2 * g), m1);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(H->X[k], 2 * g + 1), m1);
      W[k] = _mm256_or_si256(W[k], _mm256_slli_epi16(lo, 4));
      W[8 + k] = _mm256_or_si256(W[8 + k], _mm256_slli_epi16(hi, 4));
    }
  }
}

// sc * (q . a) over one 32-value sub-block, int32 per row; int16 sums are
// widened every `steps` products (8 for 4-bit, 4 for 5-bit values). With
// AVX-VNNI the products are vpdpbusd and the scale (the low int16 of each
// lane of sc) one vpmulld: exact either way, so the same bits.
AI __m256i ksub8(const __m256i *W, const int8_t *qs, __m256i sc, int steps) {
#ifdef __AVXVNNI__
  (void)steps;
  __m256i s0 = _mm256_setzero_si256(), s1 = s0;
  UNROLL
  for (int k = 0; k < 8; k += 2) {
    s0 = _mm256_dpbusd_avx_epi32(s0, W[k], bcast32_8(qs + 4 * k));
    s1 = _mm256_dpbusd_avx_epi32(s1, W[k + 1], bcast32_8(qs + 4 * k + 4));
  }
  return _mm256_mullo_epi32(_mm256_add_epi32(s0, s1), _mm256_srli_epi32(sc, 16));
#else
  __m256i acc = _mm256_setzero_si256();
  UNROLL
  for (int k0 = 0; k0 < 8; k0 += steps) {
    __m256i p = _mm256_maddubs_epi16(W[k0], bcast32_8(qs + 4 * k0));
    UNROLL
    for (int k = k0 + 1; k < k0 + steps; k++) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(W[k], bcast32_8(qs + 4 * k)));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc));
  }
  return acc;
#endif
}

AI __m256 kfinish8(__m256 acc, const __m256i *CM, __m256 D, __m256 DM, __m256i isum, const block_q8_K *y) {
  __m256i m = _mm256_setzero_si256();
  UNROLL
  for (int i = 0; i < 8; i++) m = _mm256_add_epi32(m, _mm256_madd_epi16(CM[i], bcast32_8(y->bsums + 2 * i)));
  __m256 f = _mm256_fmsub_ps(D, _mm256_cvtepi32_ps(isum), _mm256_mul_ps(DM, _mm256_cvtepi32_ps(m)));
  return _mm256_fmadd_ps(f, _mm256_set1_ps(y->d), acc);
}

AI void gemv8K_n(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride, float *y,
                 int64_t ldy, int five, const int nc) {
  size_t bytes = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
  for (int64_t r0 = 0; r0 < nr; r0 += 8) {
    rows8 R;
    rows8_init(&R, (const uint8_t *)w + (size_t)r0 * stride, stride, nr - r0);
    prefetcher8 pf;
    pf8_init(&pf, w, stride, r0, nr, bytes);
    __m256 acc[NC2];
    UNROLL
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
      pf8_step(&pf);
      size_t off = (size_t)b * bytes;
      khead8 H;
      head8_q45_K(&R, off, &H, five);
      __m256i isum[NC2];
      UNROLL
      for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
      for (int g = 0; g < 4; g++) {
        __m256i W[16];
        group8_q45_K(&R, off, &H, g, five, W);
        UNROLL
        for (int c = 0; c < nc; c++) {
          const int8_t *qs = ((const block_q8_K *)act_row8(a, a_stride, c))[b].qs + 64 * g;
          isum[c] = _mm256_add_epi32(isum[c], ksub8(W, qs, H.SC[2 * g], five ? 4 : 8));
          isum[c] = _mm256_add_epi32(isum[c], ksub8(W + 8, qs + 32, H.SC[2 * g + 1], five ? 4 : 8));
        }
      }
      UNROLL
      for (int c = 0; c < nc; c++)
        acc[c] = kfinish8(acc[c], H.CM, H.D, H.DM, isum[c], (const block_q8_K *)act_row8(a, a_stride, c) + b);
    }
    UNROLL
    for (int c = 0; c < nc; c++) store8(y + c * ldy + r0, acc[c], nr - r0, 0);
  }
}

// Panel per super-block: W[64] (sub-block m at 8m), SC[8], CM[8], D, DM.
#define PK8_VECS 82

AI void pack8K(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel, int five) {
  size_t bytes = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
  rows8 R;
  rows8_init(&R, w, stride, nr);
  __m256i *p = panel;
  for (int64_t b = k0 / QK_K; b < (k0 + kn) / QK_K; b++, p += PK8_VECS) {
    size_t off = (size_t)b * bytes;
    khead8 H;
    head8_q45_K(&R, off, &H, five);
    for (int g = 0; g < 4; g++) {
      __m256i W[16];
      group8_q45_K(&R, off, &H, g, five, W);
      UNROLL
      for (int k = 0; k < 16; k++) _mm256_store_si256(p + 16 * g + k, W[k]);
    }
    UNROLL
    for (int m = 0; m < 8; m++) {
      _mm256_store_si256(p + 64 + m, H.SC[m]);
      _mm256_store_si256(p + 72 + m, H.CM[m]);
    }
    _mm256_store_ps((float *)(p + 80), H.D);
    _mm256_store_ps((float *)(p + 81), H.DM);
  }
}

AI void run8K_n(const void *panel, int nr, int64_t k0, int64_t kn, const void *a, size_t a_stride, float *y,
                int64_t ldy, int accum, int five, const int nc) {
  __m256 acc[NC2];
  UNROLL
  for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
  const __m256i *p = panel;
  for (int64_t b = k0 / QK_K; b < (k0 + kn) / QK_K; b++, p += PK8_VECS) {
    __m256i isum[NC2];
    UNROLL
    for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
    for (int m = 0; m < 8; m++) {
      UNROLL
      for (int c = 0; c < nc; c++) {
        const int8_t *qs = ((const block_q8_K *)act_row8(a, a_stride, c))[b].qs + 32 * m;
        isum[c] = _mm256_add_epi32(isum[c], ksub8(p + 8 * m, qs, _mm256_load_si256(p + 64 + m), five ? 4 : 8));
      }
    }
    __m256 D = _mm256_load_ps((const float *)(p + 80)), DM = _mm256_load_ps((const float *)(p + 81));
    UNROLL
    for (int c = 0; c < nc; c++)
      acc[c] = kfinish8(acc[c], p + 72, D, DM, isum[c], (const block_q8_K *)act_row8(a, a_stride, c) + b);
  }
  UNROLL
  for (int c = 0; c < nc; c++) store8(y + c * ldy, acc[c], nr, accum);
}

#define TYPE8K(name, five)                                                                                   \
  static void gemv8_##name(int64_t n, const void *w, size_t stride, int64_t nr, const void *a,               \
                           size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy) { \
    (void)aux, (void)aux_stride;                                                                             \
    RUN_SWITCH4(gemv8K_n, n, w, stride, nr, a, a_stride, y, ldy, five)                                       \
  }                                                                                                          \
  static void pack8_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {      \
    pack8K(w, stride, nr, k0, kn, panel, five);                                                              \
  }                                                                                                          \
  static void run8_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,     \
                          size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy, \
                          int acc) {                                                                         \
    (void)w_stride, (void)aux, (void)aux_stride;                                                             \
    RUN_SWITCH4(run8K_n, w, nr, k0, kn, a, a_stride, y, ldy, acc, five)                                      \
  }                                                                                                          \
  static const quant_gemm gemm8_##name = {.rows = 8, .cols = NC2, .kc = KC2,                                 \
                                          .panel_bytes = (size_t)(KC2 / QK_K) * PK8_VECS * 32,              \
                                          .pack = pack8_##name, .run = run8_##name, .gemv = gemv8_##name,    \
                                          .gemv_cols = NC2};
TYPE8K(q4_K, 0)
TYPE8K(q5_K, 1)

// ---- row-interleaved Q6_K, 8 rows ------------------------------------------------------------------
// Sub-blocks of 16 with int8 scales: SC[j] = (scale, scale) as int16 for
// madd; values u - 32 with u 6-bit, the -32 through CM = (32 scale) pairs
// against bsums. maddubs pairs reach 2 * 63 * 127, so int16 sums take 2 steps.
typedef struct {
  __m256i SC[16], CM[8];
  __m256 D;
} q6head8;

// In every dword, byte i (signed) into the high half of both int16, or -1: zero.
AI __m256i dword_bytes8(__m256i v, int b0, int b1, int b2, int b3) {
  uint32_t pat = 0;
  int b[4] = {b0, b1, b2, b3};
  UNROLL
  for (int i = 0; i < 4; i++) pat |= (uint32_t)(b[i] < 0 ? 0x80 : b[i]) << (8 * i);
  const __m256i lanes = _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0, 0x04040404, 0x08080808, 0x0c0c0c0c);
  return _mm256_shuffle_epi8(v, _mm256_add_epi8(_mm256_set1_epi32((int)pat), lanes));
}

AI void head8_q6_K(const rows8 *R, size_t off, q6head8 *H) {
  __m256i S[4];
  t8x4(R, off + 192, S);
  UNROLL
  for (int j = 0; j < 16; j++) H->SC[j] = _mm256_srai_epi16(dword_bytes8(S[j / 4], -1, j % 4, -1, j % 4), 8);
  UNROLL
  for (int i = 0; i < 8; i++)  // 32 * scale: the byte in an int16's high half, shifted down by 3
    H->CM[i] = _mm256_srai_epi16(dword_bytes8(S[i / 2], -1, 2 * i % 4, -1, 2 * i % 4 + 1), 3);
  H->D = half8(gather8(R, off + 206), 1);
}

// Group g = (h, l0): values 128h + 32s + l0 + 0..15 (s = 0..3) -> sub-block 8h + 2s + l0/16, in W[4s..4s+4).
AI void group8_q6_K(const rows8 *R, size_t off, int g, __m256i W[16]) {
  int h = g / 2, l0 = 16 * (g % 2);
  __m256i L0[4], L1[4], Q[4];
  t8x4(R, off + 64 * h + l0, L0);
  t8x4(R, off + 64 * h + 32 + l0, L1);
  t8x4(R, off + 128 + 32 * h + l0, Q);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  UNROLL
  for (int k = 0; k < 4; k++) {
    W[k] = _mm256_or_si256(_mm256_and_si256(L0[k], m4), _mm256_and_si256(_mm256_slli_epi16(Q[k], 4), m30));
    W[4 + k] = _mm256_or_si256(_mm256_and_si256(L1[k], m4), _mm256_and_si256(_mm256_slli_epi16(Q[k], 2), m30));
    W[8 + k] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0[k], 4), m4), _mm256_and_si256(Q[k], m30));
    W[12 + k] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1[k], 4), m4),
                                _mm256_and_si256(_mm256_srli_epi16(Q[k], 2), m30));
  }
}

// sc * (u . a) over one 16-value sub-block, int32 per row.
AI __m256i q6sub8(const __m256i *W, const int8_t *qs, __m256i sc) {
  __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(W[0], bcast32_8(qs)), _mm256_maddubs_epi16(W[1], bcast32_8(qs + 4)));
  __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(W[2], bcast32_8(qs + 8)), _mm256_maddubs_epi16(W[3], bcast32_8(qs + 12)));
  return _mm256_add_epi32(_mm256_madd_epi16(p0, sc), _mm256_madd_epi16(p1, sc));
}

AI void gemv8Q6_n(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride, float *y,
                  int64_t ldy, const int nc) {
  size_t bytes = sizeof(block_q6_K);
  for (int64_t r0 = 0; r0 < nr; r0 += 8) {
    rows8 R;
    rows8_init(&R, (const uint8_t *)w + (size_t)r0 * stride, stride, nr - r0);
    prefetcher8 pf;
    pf8_init(&pf, w, stride, r0, nr, bytes);
    __m256 acc[NC2];
    UNROLL
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
      pf8_step(&pf);
      size_t off = (size_t)b * bytes;
      q6head8 H;
      head8_q6_K(&R, off, &H);
      __m256i isum[NC2];
      UNROLL
      for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
      for (int g = 0; g < 4; g++) {
        __m256i W[16];
        group8_q6_K(&R, off, g, W);
        int j0 = 8 * (g / 2) + (g % 2);
        UNROLL
        for (int c = 0; c < nc; c++) {
          const int8_t *qs = ((const block_q8_K *)act_row8(a, a_stride, c))[b].qs;
          UNROLL
          for (int q = 0; q < 4; q++)
            isum[c] = _mm256_add_epi32(isum[c], q6sub8(W + 4 * q, qs + 16 * (j0 + 2 * q), H.SC[j0 + 2 * q]));
        }
      }
      UNROLL
      for (int c = 0; c < nc; c++)
        acc[c] = kfinish8(acc[c], H.CM, H.D, H.D, isum[c], (const block_q8_K *)act_row8(a, a_stride, c) + b);
    }
    UNROLL
    for (int c = 0; c < nc; c++) store8(y + c * ldy + r0, acc[c], nr - r0, 0);
  }
}

// Panel per super-block: W[64] (sub-block j at 4j), SC[16], CM[8], D.
#define PQ6_VECS 89

AI void pack8Q6(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {
  rows8 R;
  rows8_init(&R, w, stride, nr);
  __m256i *p = panel;
  for (int64_t b = k0 / QK_K; b < (k0 + kn) / QK_K; b++, p += PQ6_VECS) {
    size_t off = (size_t)b * sizeof(block_q6_K);
    q6head8 H;
    head8_q6_K(&R, off, &H);
    for (int g = 0; g < 4; g++) {
      __m256i W[16];
      group8_q6_K(&R, off, g, W);
      int j0 = 8 * (g / 2) + (g % 2);
      UNROLL
      for (int q = 0; q < 4; q++) {
        UNROLL
        for (int k = 0; k < 4; k++) _mm256_store_si256(p + 4 * (j0 + 2 * q) + k, W[4 * q + k]);
      }
    }
    UNROLL
    for (int j = 0; j < 16; j++) _mm256_store_si256(p + 64 + j, H.SC[j]);
    UNROLL
    for (int i = 0; i < 8; i++) _mm256_store_si256(p + 80 + i, H.CM[i]);
    _mm256_store_ps((float *)(p + 88), H.D);
  }
}

AI void run8Q6_n(const void *panel, int nr, int64_t k0, int64_t kn, const void *a, size_t a_stride, float *y,
                 int64_t ldy, int accum, const int nc) {
  __m256 acc[NC2];
  UNROLL
  for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
  const __m256i *p = panel;
  for (int64_t b = k0 / QK_K; b < (k0 + kn) / QK_K; b++, p += PQ6_VECS) {
    __m256i isum[NC2];
    UNROLL
    for (int c = 0; c < nc; c++) isum[c] = _mm256_setzero_si256();
    for (int j = 0; j < 16; j++) {
      UNROLL
      for (int c = 0; c < nc; c++) {
        const int8_t *qs = ((const block_q8_K *)act_row8(a, a_stride, c))[b].qs + 16 * j;
        isum[c] = _mm256_add_epi32(isum[c], q6sub8(p + 4 * j, qs, _mm256_load_si256(p + 64 + j)));
      }
    }
    __m256 D = _mm256_load_ps((const float *)(p + 88));
    UNROLL
    for (int c = 0; c < nc; c++)
      acc[c] = kfinish8(acc[c], p + 80, D, D, isum[c], (const block_q8_K *)act_row8(a, a_stride, c) + b);
  }
  UNROLL
  for (int c = 0; c < nc; c++) store8(y + c * ldy, acc[c], nr, accum);
}

static void gemv8_q6_K(int64_t n, const void *w, size_t stride, int64_t nr, const void *a, size_t a_stride,
                       const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy) {
  (void)aux, (void)aux_stride;
  RUN_SWITCH4(gemv8Q6_n, n, w, stride, nr, a, a_stride, y, ldy)
}

static void pack8_q6_K(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {
  pack8Q6(w, stride, nr, k0, kn, panel);
}

static void run8_q6_K(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a, size_t a_stride,
                      const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy, int acc) {
  (void)w_stride, (void)aux, (void)aux_stride;
  RUN_SWITCH4(run8Q6_n, w, nr, k0, kn, a, a_stride, y, ldy, acc)
}

static const quant_gemm gemm8_q6_K = {.rows = 8, .cols = NC2, .kc = KC2,
                                      .panel_bytes = (size_t)(KC2 / QK_K) * PQ6_VECS * 32, .pack = pack8_q6_K,
                                      .run = run8_q6_K, .gemv = gemv8_q6_K, .gemv_cols = NC2};

// ---- float panels, 8 rows --------------------------------------------------------------------------
// The 8 rows' values as floats, transposed (vector k = element k of every
// row); run broadcasts each activation element (activations come as floats,
// F16 / BF16 ones rounded through their type, see quant_gemm.act_f32).

AI __m256 load8_fp(const void *p, uint32_t type) {
  if (type == T_F32) return _mm256_loadu_ps(p);
  return type == T_F16 ? load_f16(p) : load_bf16(p);
}

AI void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  UNROLL
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  UNROLL
  for (int g = 0; g < 8; g += 4) {
    u[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
    u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xEE);
    u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
    u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
  }
  // u[4g + e]: column e (lane 0) and e + 4 (lane 1) of rows 4g..4g+3
  UNROLL
  for (int e = 0; e < 4; e++) {
    r[e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x20);
    r[e + 4] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x31);
  }
}

AI void pack8F(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel, uint32_t type) {
  rows8 R;
  rows8_init(&R, w, stride, nr);
  size_t es = type == T_F32 ? 4 : 2;
  float *p = panel;
  int64_t k = k0;
  for (; k + 8 <= k0 + kn; k += 8, p += 64) {
    __m256 r[8];
    UNROLL
    for (int i = 0; i < 8; i++) r[i] = load8_fp(R.r[i] + (size_t)k * es, type);
    transpose8(r);
    UNROLL
    for (int i = 0; i < 8; i++) _mm256_store_ps(p + 8 * i, r[i]);
  }
  for (; k < k0 + kn; k++, p += 8)  // ragged end, one element of every row
    for (int i = 0; i < 8; i++) {
      const uint8_t *e = R.r[i] + (size_t)k * es;
      uint16_t h;
      if (type != T_F32) memcpy(&h, e, 2);
      p[i] = type == T_F32 ? *(const float *)e : type == T_F16 ? h2f(h) : bf16_to_fp32(h);
    }
}

AI void run8F_n(const void *panel, int nr, int64_t k0, int64_t kn, const void *a, size_t a_stride, float *y,
                int64_t ldy, int accum, const int nc) {
  const float *x[NC2];
  UNROLL
  for (int c = 0; c < nc; c++) x[c] = (const float *)act_row8(a, a_stride, c) + k0;
  __m256 acc[NC2], acc2[NC2];
  UNROLL
  for (int c = 0; c < nc; c++) acc[c] = acc2[c] = _mm256_setzero_ps();
  const float *p = panel;
  int64_t k = 0;
  for (; k + 2 <= kn; k += 2, p += 16) {  // two sets of sums: enough FMAs in flight for few rows
    __m256 w0 = _mm256_load_ps(p), w1 = _mm256_load_ps(p + 8);
    UNROLL
    for (int c = 0; c < nc; c++) {
      acc[c] = _mm256_fmadd_ps(w0, _mm256_broadcast_ss(x[c] + k), acc[c]);
      acc2[c] = _mm256_fmadd_ps(w1, _mm256_broadcast_ss(x[c] + k + 1), acc2[c]);
    }
  }
  if (k < kn) {
    __m256 w0 = _mm256_load_ps(p);
    UNROLL
    for (int c = 0; c < nc; c++) acc[c] = _mm256_fmadd_ps(w0, _mm256_broadcast_ss(x[c] + k), acc[c]);
  }
  UNROLL
  for (int c = 0; c < nc; c++) store8(y + c * ldy, _mm256_add_ps(acc[c], acc2[c]), nr, accum);
}

#define KCF2 1024  // elements per K-chunk of a float panel (32 KB)

#define TYPE8F(name, tid)                                                                                    \
  static void pack8_##name(const void *w, size_t stride, int nr, int64_t k0, int64_t kn, void *panel) {      \
    pack8F(w, stride, nr, k0, kn, panel, tid);                                                               \
  }                                                                                                          \
  static void run8_##name(const void *w, size_t w_stride, int nr, int64_t k0, int64_t kn, const void *a,     \
                          size_t a_stride, const act_aux *aux, size_t aux_stride, int nc, float *y, int64_t ldy, \
                          int acc) {                                                                         \
    (void)w_stride, (void)aux, (void)aux_stride;                                                             \
    RUN_SWITCH4(run8F_n, w, nr, k0, kn, a, a_stride, y, ldy, acc)                                            \
  }                                                                                                          \
  static const quant_gemm gemm8_##name = {.rows = 8, .cols = NC2, .kc = KCF2, .act_f32 = 1,                 \
                                          .panel_bytes = (size_t)KCF2 * 32, .pack = pack8_##name,           \
                                          .run = run8_##name};
TYPE8F(f32, T_F32)
TYPE8F(f16, T_F16)
TYPE8F(bf16, T_BF16)

// ---- table -------------------------------------------------------------------------------

#ifndef QUANT_AVX2_TABLE
#define QUANT_AVX2_TABLE quant_avx2_table
#endif

void QUANT_AVX2_TABLE(quant_kernels *t) {
  t[T_F32] = (quant_kernels){.vec_dot = vec_dot_f32, .gemm = &gemm8_f32};
  t[T_F16] = (quant_kernels){.dequant = dequant_f16, .quantize = quantize_f16, .vec_dot = vec_dot_f16, .gemm = &gemm8_f16};
  t[T_BF16] = (quant_kernels){.dequant = dequant_bf16, .quantize = quantize_bf16, .vec_dot = vec_dot_bf16,
                              .gemm = &gemm8_bf16};
  t[T_Q4_0] = (quant_kernels){.dequant = dequant_q4_0, .vec_dot = vec_dot_q4_0, .gemm = &gemm8_q4_0};
  t[T_Q4_1] = (quant_kernels){.vec_dot = vec_dot_q4_1, .gemm = &gemm8_q4_1};
  t[T_Q5_0] = (quant_kernels){.vec_dot = vec_dot_q5_0, .gemm = &gemm8_q5_0};
  t[T_Q5_1] = (quant_kernels){.vec_dot = vec_dot_q5_1, .gemm = &gemm8_q5_1};
  t[T_Q8_0] = (quant_kernels){.dequant = dequant_q8_0, .vec_dot = vec_dot_q8_0, .quantize_act = quantize_q8_0,
                              .gemm = &gemm8_q8_0};
  t[T_Q8_1].quantize_act = quantize_q8_1;
  t[T_Q8_K].quantize = quantize_q8_K;
  t[T_Q2_K].vec_dot = vec_dot_q2_K;
  t[T_Q3_K].vec_dot = vec_dot_q3_K;
  t[T_Q4_K] = (quant_kernels){.vec_dot = vec_dot_q4_K, .gemm = &gemm8_q4_K};
  t[T_Q5_K] = (quant_kernels){.vec_dot = vec_dot_q5_K, .gemm = &gemm8_q5_K};
  t[T_Q6_K] = (quant_kernels){.vec_dot = vec_dot_q6_K, .gemm = &gemm8_q6_K};
}
