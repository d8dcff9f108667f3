// Tests the quant kernels: hand-computed blocks of every layout, dequantizing
// files written by the reference quantizer (against their F32 twin), the
// quantize -> dequantize round trip, and every SIMD level against the scalar
// reference (bit-exact where the arithmetic is exact, to a tolerance otherwise).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/error.h"
#include "core/fp16.h"
#include "gguf/gguf.h"
#include "ops/quant.h"
#include "testutil.h"

static const uint32_t WEIGHT_TYPES[] = {T_F32, T_F16, T_BF16, T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1,
                                        T_Q8_0, T_Q2_K, T_Q3_K, T_Q4_K, T_Q5_K, T_Q6_K};
#define N_WEIGHT_TYPES (sizeof WEIGHT_TYPES / sizeof WEIGHT_TYPES[0])

// ---- random data ---------------------------------------------------------------------

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (uint32_t)(g_rng >> 16);
}

static float rnd_unit(void) { return (float)(rnd() & 0xffffff) / 16777216.0f; }

static float rnd_normal(void) {
  float u = rnd_unit() + 1e-7f, v = rnd_unit();
  return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static void fill_normal(float *x, int64_t n, float scale) {
  for (int64_t i = 0; i < n; i++) x[i] = rnd_normal() * scale;
}

// A scale field: a power of two (exact arithmetic) or a random value.
static uint16_t rnd_scale(int pow2, int exp) {
  if (pow2) return fp16_from_fp32(ldexpf(1.0f, exp));
  return fp16_from_fp32(rnd_normal() * 0.01f);
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

// Random bytes for every quant, sane scales. With pow2 the scales are fixed
// powers of two so that every sum in every dot product is exact in float.
static void fill_row(uint32_t type, void *row, int64_t n, int pow2) {
  size_t bytes = type_row_bytes(type, n), bb = type_block_bytes(type);
  uint8_t *p = row;
  if (type == T_F32 || type == T_F16 || type == T_BF16) {
    for (int64_t i = 0; i < n; i++) {
      float v = pow2 ? (float)((int)(rnd() % 64) - 32) / 8.0f : rnd_normal();
      if (type == T_F32) memcpy(p + 4 * i, &v, 4);
      else put16(p + 2 * i, type == T_F16 ? fp16_from_fp32(v) : bf16_from_fp32(v));
    }
    return;
  }
  for (size_t i = 0; i < bytes; i++) p[i] = (uint8_t)rnd();
  for (uint8_t *b = p; b < p + bytes; b += bb) {
    switch (type) {
    case T_Q4_0: case T_Q5_0: put16(b, rnd_scale(pow2, -3)); break;
    case T_Q4_1: case T_Q5_1: case T_Q8_1:
      put16(b, rnd_scale(pow2, -3));
      put16(b + 2, rnd_scale(pow2, -4));
      break;
    case T_Q8_0: put16(b, rnd_scale(pow2, -4)); break;
    case T_Q2_K: put16(b + 80, rnd_scale(pow2, -3)); put16(b + 82, rnd_scale(pow2, -4)); break;
    case T_Q3_K: put16(b + 108, rnd_scale(pow2, -3)); break;
    case T_Q4_K: case T_Q5_K: put16(b, rnd_scale(pow2, -3)); put16(b + 2, rnd_scale(pow2, -4)); break;
    case T_Q6_K: put16(b + 208, rnd_scale(pow2, -5)); break;
    case T_Q8_K: {
      block_q8_K *k = (block_q8_K *)b;
      k->d = pow2 ? 0.0625f : rnd_normal() * 0.01f;
      for (int j = 0; j < QK_K; j++) k->qs[j] = (int8_t)((int)(rnd() % 255) - 127);
      for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += k->qs[16 * j + l];
        k->bsums[j] = (int16_t)s;
      }
      break;
    }
    default: break;
    }
    // activation quants stay in -127..127 like the quantizers produce
    if (type == T_Q8_0 || type == T_Q8_1) {
      int8_t *qs = (int8_t *)(b + (type == T_Q8_0 ? 2 : 4));
      for (int j = 0; j < 32; j++)
        if (qs[j] == -128) qs[j] = -127;
    }
  }
}

// ---- hand-computed cases -----------------------------------------------------------------

static void dq(uint32_t type, const void *blk, float *out) {
  quant_dequant_at(type, SIMD_SCALAR)(blk, out, type_block_size(type));
}

static void test_fixed_32(void) {
  float y[32];
  block_q4_0 a = {.d = 0x3800};  // 0.5
  memset(a.qs, 0x88, 16);
  a.qs[0] = 0x1F;
  dq(T_Q4_0, &a, y);
  CHECK(y[0] == 3.5f && y[16] == -3.5f && y[1] == 0 && y[31] == 0);

  block_q4_1 b = {.d = 0x3c00, .m = 0xbc00};  // 1, -1
  memset(b.qs, 0, 16);
  b.qs[2] = 0x5A;
  dq(T_Q4_1, &b, y);
  CHECK(y[2] == 9 && y[18] == 4 && y[0] == -1);

  block_q5_0 c = {.d = 0x3c00};
  memset(c.qs, 0, 16);
  c.qs[1] = 0xF7;
  uint32_t qh = 1u << 1;
  memcpy(c.qh, &qh, 4);
  dq(T_Q5_0, &c, y);
  CHECK(y[1] == 7 && y[17] == -1 && y[0] == -16);

  block_q5_1 e = {.d = 0x4000, .m = 0x3c00};  // 2, 1
  memset(e.qs, 0, 16);
  qh = 1u << 20;
  memcpy(e.qh, &qh, 4);
  e.qs[4] = 0x30;
  dq(T_Q5_1, &e, y);
  CHECK(y[20] == 2 * 19 + 1 && y[4] == 1);

  // Q8_0 activations: d = amax / 127, roundf (halves away from zero).
  float x[32] = {127, 2.5f, -2.5f, 0.49f, -126.5f};
  block_q8_0 q;
  quant_quantize_at(T_Q8_0, SIMD_SCALAR)(x, &q, 32);
  CHECK(q.d == 0x3c00 && q.qs[0] == 127 && q.qs[1] == 3 && q.qs[2] == -3 && q.qs[3] == 0 && q.qs[4] == -127);
  block_q8_1 q1;
  quant_quantize_at(T_Q8_1, SIMD_SCALAR)(x, &q1, 32);
  CHECK(q1.d == 0x3c00 && fp16_to_fp32(q1.s) == 0.0f);  // 127 + 3 - 3 + 0 - 127
  // Activations round as the reference engine's x86 path: halves to even.
  quant_quantize_act_at(T_Q8_0, SIMD_SCALAR)(x, &q, 32);
  CHECK(q.d == 0x3c00 && q.qs[0] == 127 && q.qs[1] == 2 && q.qs[2] == -2 && q.qs[3] == 0 && q.qs[4] == -126);
  quant_quantize_act_at(T_Q8_1, SIMD_SCALAR)(x, &q1, 32);
  CHECK(q1.d == 0x3c00 && fp16_to_fp32(q1.s) == 1.0f);  // 127 + 2 - 2 + 0 - 126

  // Q4_0 . Q8_0 by hand: (3.5 * 127 + (-3.5) * 2 + 0) with d_a = 1.
  block_q8_0 act = {.d = 0x3c00};
  memset(act.qs, 0, 32);
  act.qs[0] = 127;
  act.qs[16] = 2;
  float dot = 0;
  quant_vec_dot_at(T_Q4_0, SIMD_SCALAR)(32, &dot, &a, &act);
  CHECK(dot == 3.5f * 127 - 3.5f * 2);
}

static void test_fixed_k(void) {
  float y[256];
  // Q2_K: sub-block 0 scale 1, min 3; d 1, dmin 2; q = 2 -> 1*1*2 - 2*3.
  block_q2_K q2;
  memset(&q2, 0, sizeof q2);
  q2.d = 0x3c00;
  q2.dmin = 0x4000;
  q2.scales[0] = 0x31;
  q2.qs[0] = 0x02 | (0x3 << 2);  // element 0 = 2; element 32 (bits 2-3) = 3, sub-block 2
  q2.scales[2] = 0x02;
  dq(T_Q2_K, &q2, y);
  CHECK(y[0] == -4 && y[32] == 6 && y[1] == -6);

  // Q3_K: 6-bit scales in 12 bytes, offset 32; hmask bit clear means -4.
  block_q3_K q3;
  memset(&q3, 0, sizeof q3);
  q3.d = 0x3c00;
  q3.scales[0] = 0x05;
  q3.scales[8] = 0x02;  // scale 0 = 5 | 2 << 4 = 37 -> 5
  CHECK(quant_k3_scale(0, q3.scales) == 5 && quant_k3_scale(8, q3.scales) == -32);
  q3.scales[9] = 0xC0;  // scale 13: high bits in byte 8 + 13 % 4, bits 2 * (13 / 4)
  q3.scales[5] = 0xA0;  // scale 13: low nibble in the high half of byte 13 - 8
  CHECK(quant_k3_scale(13, q3.scales) == (0xA | (0x3 << 4)) - 32);
  q3.qs[0] = 0x03;
  q3.hmask[0] = 0x01;
  dq(T_Q3_K, &q3, y);
  CHECK(y[0] == 15 && y[32] == 128);

  // Q4_K: scales and mins of sub-blocks 0, 1, 4 (6-bit packing).
  block_q4_K q4;
  memset(&q4, 0, sizeof q4);
  q4.d = 0x3c00;
  q4.dmin = 0x3800;
  q4.scales[0] = 0x41;  // sc0 = 1, high bits of sc4 = 1
  q4.scales[4] = 0x85;  // m0 = 5, high bits of m4 = 2
  q4.scales[8] = 0x73;  // sc4 low = 3, m4 low = 7
  q4.scales[1] = 2;
  q4.scales[5] = 4;
  uint8_t sc, m;
  quant_k4_scale_min(4, q4.scales, &sc, &m);
  CHECK(sc == 19 && m == 39);
  q4.qs[0] = 0xA3;
  q4.qs[64] = 0x06;
  dq(T_Q4_K, &q4, y);
  CHECK(y[0] == 0.5f && y[32] == 18 && y[128] == 94.5f);

  // Q5_K: as Q4_K plus the 5th bit from qh.
  block_q5_K q5;
  memset(&q5, 0, sizeof q5);
  q5.d = 0x3c00;
  q5.scales[0] = 1;
  q5.scales[1] = 1;
  q5.qs[0] = 0x21;
  q5.qh[0] = 0x03;  // bit 0: element 0; bit 1: element 32
  dq(T_Q5_K, &q5, y);
  CHECK(y[0] == 17 && y[32] == 18);

  // Q6_K: 4 low bits in ql, 2 high bits in qh, minus 32, int8 scales.
  block_q6_K q6;
  memset(&q6, 0, sizeof q6);
  q6.d = 0x3800;
  q6.scales[0] = -3;
  q6.scales[2] = 7;
  q6.scales[4] = 5;
  q6.scales[6] = -2;
  q6.ql[0] = 0x21;
  q6.ql[32] = 0x0F;
  q6.qh[0] = 0xE4;  // 11 10 01 00
  dq(T_Q6_K, &q6, y);
  CHECK(y[0] == 46.5f && y[32] == -3.5f && y[64] == 5 && y[96] == -16);

  // Q8_K: the largest magnitude maps to -127, ties go to even.
  float x[256] = {-63.5f, 1.25f, 1.75f, -1.25f};
  block_q8_K k;
  quant_quantize_at(T_Q8_K, SIMD_SCALAR)(x, &k, 256);
  CHECK(k.d == 0.5f && k.qs[0] == -127 && k.qs[1] == 2 && k.qs[2] == 4 && k.qs[3] == -2 && k.qs[4] == 0);
  CHECK(k.bsums[0] == -123 && k.bsums[1] == 0);
  float x2[256] = {3.0f, 1.5f, -3.0f};  // +max first: 3 -> -127, so -3 -> 127
  quant_quantize_at(T_Q8_K, SIMD_SCALAR)(x2, &k, 256);
  CHECK(k.qs[0] == -127 && k.qs[2] == 127 && k.qs[1] == -64 && k.d < 0);

  // Q4_K . Q8_K by hand: element 0 (q 3, sc 1, m 5) and 32 (q 10, sc 2, m 4).
  block_q8_K a;
  memset(&a, 0, sizeof a);
  a.d = 2;
  a.qs[0] = 10;
  a.qs[32] = -1;
  a.bsums[0] = 10;
  a.bsums[2] = -1;
  float dot = 0;
  quant_vec_dot_at(T_Q4_K, SIMD_SCALAR)(256, &dot, &q4, &a);
  CHECK(dot == 2 * (0.5f * 10 + 18 * -1));
}

// ---- reference files -------------------------------------------------------------------

static double rel_rms(const float *a, const float *b, int64_t n) {
  double e = 0, s = 0;
  for (int64_t i = 0; i < n; i++) {
    e += (double)(a[i] - b[i]) * (a[i] - b[i]);
    s += (double)b[i] * b[i];
  }
  return s > 0 ? sqrt(e / s) : sqrt(e);
}

// Relative RMS error a type's quantization may show on normal data (ours and
// the reference quantizer's), with some margin.
static double type_bound(uint32_t type) {
  switch (type) {
  case T_F32: return 1e-7;
  case T_F16: return 1e-3;
  case T_BF16: return 6e-3;
  case T_Q8_0: return 0.01;
  case T_Q5_0: case T_Q5_1: case T_Q5_K: return 0.07;
  case T_Q6_K: return 0.035;
  case T_Q4_0: case T_Q4_1: case T_Q4_K: return 0.13;
  case T_Q3_K: return 0.25;
  case T_Q2_K: return 0.5;
  default: return 0;
  }
}

static void test_reference_file(const char *name, uint32_t type) {
  char path[256];
  snprintf(path, sizeof path, "models/quant/ktest-llama-%s.gguf", name);
  gguf_file *f = gguf_open(tu_shared(path)), *ref = gguf_open(tu_shared("models/quant/ktest-llama-f32.gguf"));
  CHECK_MSG(f && ref, "%s", err_get());
  if (!f || !ref) goto done;
  int seen = 0;
  for (uint64_t i = 0; i < f->n_tensors; i++) {
    const gguf_tensor *t = &f->tensors[i];
    if (t->type != type) continue;
    const gguf_tensor *r = gguf_find_tensor(ref, t->name);
    CHECK(r && r->type == T_F32 && r->ne[0] == t->ne[0] && r->ne[1] == t->ne[1]);
    if (!r) continue;
    int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    float *y = malloc((size_t)n * sizeof *y);
    for (int l = 0; l <= (int)cpu_max_simd_level(); l++) {
      dequant_fn d = quant_dequant_at(type, (enum simd_level)l);
      if (!d) continue;
      d(t->data, y, n);
      double err = rel_rms(y, r->data, n);
      CHECK_MSG(err < type_bound(type), "%s %s level %d: rel rms %g", name, t->name, l, err);
    }
    // The 32-element and float types' quantizers are the reference's own
    // algorithm: re-encoding the F32 twin must give the file's bytes.
    if (type_block_size(type) <= 32) {
      void *q = malloc(t->nbytes);
      quant_quantize_at(type, SIMD_SCALAR)(r->data, q, n);
      CHECK_MSG(!memcmp(q, t->data, t->nbytes), "%s %s: re-quantized bytes differ", name, t->name);
      free(q);
    }
    free(y);
    seen++;
  }
  CHECK_MSG(seen >= 7, "%s: only %d tensors of its type", name, seen);
done:
  gguf_close(f);
  gguf_close(ref);
}

static void test_reference_files(void) {
  static const struct { const char *name; uint32_t type; } files[] = {
    {"f16", T_F16}, {"bf16", T_BF16}, {"q8_0", T_Q8_0}, {"q4_0", T_Q4_0}, {"q4_1", T_Q4_1},
    {"q5_0", T_Q5_0}, {"q5_1", T_Q5_1}, {"q2_k", T_Q2_K}, {"q3_k_s", T_Q3_K}, {"q4_k_s", T_Q4_K},
    {"q5_k_s", T_Q5_K}, {"q6_k", T_Q6_K},
  };
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) test_reference_file(files[i].name, files[i].type);
}

// ---- round trip ----------------------------------------------------------------------------

static void test_roundtrip(void) {
  enum { N = 4096 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  void *q = malloc(type_row_bytes(T_F32, N));
  for (size_t i = 0; i < N_WEIGHT_TYPES; i++) {
    uint32_t t = WEIGHT_TYPES[i];
    fill_normal(x, N, 0.05f);
    x[7] = 0.4f;  // an outlier
    quant_quantize_at(t, SIMD_SCALAR)(x, q, N);
    quant_dequant_at(t, SIMD_SCALAR)(q, y, N);
    double err = rel_rms(y, x, N);
    CHECK_MSG(err < type_bound(t), "%s: rel rms %g", type_name(t), err);
    // constant and all-zero rows survive too
    for (int j = 0; j < N; j++) x[j] = j < N / 2 ? 0.0f : -0.25f;
    quant_quantize_at(t, SIMD_SCALAR)(x, q, N);
    quant_dequant_at(t, SIMD_SCALAR)(q, y, N);
    CHECK_MSG(rel_rms(y, x, N) < type_bound(t) + 1e-3, "%s: constant rows: %g", type_name(t), rel_rms(y, x, N));
  }
  // activation types
  static const uint32_t acts[] = {T_Q8_0, T_Q8_1, T_Q8_K};
  for (size_t i = 0; i < 3; i++) {
    fill_normal(x, N, 1.0f);
    quant_quantize_at(acts[i], SIMD_SCALAR)(x, q, N);
    quant_dequant_at(acts[i], SIMD_SCALAR)(q, y, N);
    CHECK_MSG(rel_rms(y, x, N) < 0.01, "%s: %g", type_name(acts[i]), rel_rms(y, x, N));
  }
  free(x);
  free(y);
  free(q);
}

// ---- SIMD levels against scalar ------------------------------------------------------------------

static double dot_magnitude(uint32_t type, const void *w, const void *a, int64_t n) {
  float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
  quant_dequant_at(type, SIMD_SCALAR)(w, x, n);
  quant_dequant_at(quant_vec_dot_type(type), SIMD_SCALAR)(a, y, n);
  double m = 0;
  for (int64_t i = 0; i < n; i++) m += fabs((double)x[i] * y[i]);
  free(x);
  free(y);
  return m;
}

static void test_level_vec_dot(enum simd_level level, uint32_t type) {
  vec_dot_fn ref = quant_vec_dot_at(type, SIMD_SCALAR), fn = quant_vec_dot_at(type, level);
  if (!fn) return;
  uint32_t vt = quant_vec_dot_type(type);
  static const int64_t sizes[] = {256, 512, 768, 1024, 4096, 256 * 11};
  uint8_t *w = malloc(type_row_bytes(T_F32, 4096 * 4)), *a = malloc(type_row_bytes(T_F32, 4096 * 4));
  for (int pow2 = 1; pow2 >= 0; pow2--)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      int64_t n = sizes[s];
      if (pow2 && n > 1024) continue;  // keep every partial sum exact
      for (int rep = 0; rep < 4; rep++) {
        fill_row(type, w, n, pow2);
        fill_row(vt, a, n, pow2);
        float r = 0, v = 0;
        ref(n, &r, w, a);
        fn(n, &v, w, a);
        // Exact when every partial sum is: all are at most the magnitude, and
        // every product is a multiple of 2^-9 (the smallest unit fill_row
        // makes, Q6_K's), so a magnitude under 2^15 keeps them within 24 bits.
        if (pow2 && type != T_F32 && dot_magnitude(type, w, a, n) < 32768.0) {
          CHECK_MSG(r == v, "%s %s n=%lld exact: %.9g vs %.9g", type_name(type), cpu_simd_name(level), (long long)n, r, v);
        } else {
          double tol = 2e-6 * dot_magnitude(type, w, a, n) + 1e-30;
          CHECK_MSG(fabs(r - v) <= tol, "%s %s n=%lld: %.9g vs %.9g", type_name(type), cpu_simd_name(level),
                    (long long)n, r, v);
        }
      }
    }
  // odd sizes for the 32-element and float types (tails)
  if (type_block_size(type) < 256) {
    int64_t n = type_block_size(type) == 1 ? 37 : 96;
    fill_row(type, w, n, 1);
    fill_row(vt, a, n, 1);
    float r = 0, v = 0;
    ref(n, &r, w, a);
    fn(n, &v, w, a);
    CHECK_MSG(r == v, "%s %s tail n=%lld: %.9g vs %.9g", type_name(type), cpu_simd_name(level), (long long)n, r, v);
  }
  free(w);
  free(a);
}

static void test_level_dequant(enum simd_level level, uint32_t type) {
  dequant_fn ref = quant_dequant_at(type, SIMD_SCALAR), fn = quant_dequant_at(type, level);
  if (!fn) return;
  int64_t n = type_block_size(type) == 1 ? 1000 : 256 * 6;
  uint8_t *w = malloc(type_row_bytes(T_F32, n));
  float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
  fill_row(type, w, n, 0);
  ref(w, x, n);
  fn(w, y, n);
  CHECK_MSG(!memcmp(x, y, (size_t)n * 4), "%s %s dequant differs", type_name(type), cpu_simd_name(level));
  free(w);
  free(x);
  free(y);
}

static void test_level_quantize(enum simd_level level, uint32_t type) {
  quantize_fn ref = quant_quantize_act_at(type, SIMD_SCALAR), fn = quant_quantize_act_at(type, level);
  if (!fn) return;
  static const int64_t sizes[] = {256, 1024, 4096 + 256, 37};
  for (size_t s = 0; s < 4; s++) {
    int64_t n = sizes[s];
    if (n % type_block_size(type)) continue;
    float *x = malloc((size_t)n * 4);
    size_t bytes = type_row_bytes(type, n);
    uint8_t *p = malloc(bytes), *q = malloc(bytes);
    for (int rep = 0; rep < 3; rep++) {
      fill_normal(x, n, rep == 0 ? 1.0f : 0.02f);
      if (rep == 1) {  // ties, exact halves, zero blocks, +/- equal maxima
        for (int64_t i = 0; i < n; i++) x[i] = (float)((int)(rnd() % 33) - 16) * 0.5f;
        for (int64_t i = 0; i < n && i < 256; i++) x[i] = 0;
      }
      if (rep == 2) x[n - 1] = 1e4f;
      ref(x, p, n);
      fn(x, q, n);
      CHECK_MSG(!memcmp(p, q, bytes), "%s %s quantize differs (n=%lld rep %d)", type_name(type),
                cpu_simd_name(level), (long long)n, rep);
    }
    free(x);
    free(p);
    free(q);
  }
}

static void test_levels(void) {
  static const uint32_t acts[] = {T_Q8_0, T_Q8_1, T_Q8_K, T_F16, T_BF16};
  int n_vec_dot = 0;
  for (int l = 1; l <= (int)cpu_max_simd_level(); l++) {
    enum simd_level level = (enum simd_level)l;
    for (size_t i = 0; i < N_WEIGHT_TYPES; i++) {
      test_level_vec_dot(level, WEIGHT_TYPES[i]);
      test_level_dequant(level, WEIGHT_TYPES[i]);
      n_vec_dot += quant_vec_dot_at(WEIGHT_TYPES[i], level) != NULL;
    }
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
      test_level_quantize(level, acts[i]);
      test_level_dequant(level, acts[i]);
    }
  }
  printf("simd levels up to %s: %d vec_dot variants checked\n", cpu_simd_name(cpu_max_simd_level()), n_vec_dot);
}

static void test_dispatch(void) {
  for (size_t i = 0; i < N_WEIGHT_TYPES; i++) {
    uint32_t t = WEIGHT_TYPES[i];
    CHECK(quant_vec_dot(t) && quant_dequant(t) && quant_quantize(t));
    CHECK(quant_quantize(quant_vec_dot_type(t)) != NULL);
  }
  CHECK(quant_vec_dot_type(T_Q4_1) == T_Q8_1 && quant_vec_dot_type(T_Q5_0) == T_Q8_0);
  CHECK(quant_vec_dot_type(T_Q3_K) == T_Q8_K && quant_vec_dot_type(T_BF16) == T_BF16);
  CHECK(quant_quantize_act(T_Q8_0) && quant_quantize_act(T_Q8_1) && quant_quantize_act(T_Q8_K));
  CHECK(quant_quantize_act(T_Q8_0) != quant_quantize(T_Q8_0));
  CHECK(quant_quantize_act_at(T_Q4_0, SIMD_SCALAR) == quant_quantize_at(T_Q4_0, SIMD_SCALAR));
  CHECK(quant_vec_dot(T_IQ2_XXS) == NULL && quant_dequant(T_COUNT + 5) == NULL);
}

int main(void) {
  test_dispatch();
  test_fixed_32();
  test_fixed_k();
  test_roundtrip();
  test_reference_files();
  test_levels();
  return tu_finish();
}
