// Tests matmul for every weight type against a naive float loop over the
// dequantized weights and the (quantized, then dequantized) activations, for
// several batch sizes, odd row counts, strided x and y, 1 to 3 threads, and
// every SIMD level of this CPU; and matmul_many, whose outputs must be the
// bits matmul gives each weight alone.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "core/threadpool.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "ops/quant.h"
#include "testutil.h"

static uint64_t g_rng = 0x2545f4914f6cdd1dull;

static float rnd_normal(void) {
  float s = 0;
  for (int i = 0; i < 4; i++) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    s += (float)(g_rng >> 40) / 16777216.0f - 0.5f;
  }
  return s * 1.7f;
}

typedef struct {
  uint32_t type;
  int64_t n_in, n_out;
} shape;

// Q8_1 carries s = d * sum(qs) rounded to fp16, and the reference multiplies
// the weight block's min by that s: the product differs from the exact one by
// m * (s - sum(xq)) per block, which the naive loop adds back.
static double q8_1_correction(const uint8_t *wrow, const block_q8_1 *a, int64_t n, size_t wbb) {
  double c = 0;
  for (int64_t b = 0; b < n / 32; b++) {
    uint16_t m;
    memcpy(&m, wrow + (size_t)b * wbb + 2, 2);
    double sum = 0;
    for (int j = 0; j < 32; j++) sum += a[b].qs[j];
    c += (double)fp16_to_fp32(m) * ((double)fp16_to_fp32(a[b].s) - sum * fp16_to_fp32(a[b].d));
  }
  return c;
}

// Naive reference: y[t][o] = sum_i W[o][i] * xq[t][i] in double, with the
// magnitude sum_i |W[o][i] * xq[t][i]| for the tolerance.
static void naive(const shape *s, const uint8_t *w, const float *wf, const float *x, int64_t ldx, int64_t nt,
                  double *y, double *mag) {
  uint32_t vt = quant_vec_dot_type(s->type);
  float *xq = malloc((size_t)s->n_in * sizeof *xq);
  void *tmp = malloc(type_row_bytes(T_F32, s->n_in));
  for (int64_t t = 0; t < nt; t++) {
    quant_quantize_act_at(vt, SIMD_SCALAR)(x + t * ldx, tmp, s->n_in);
    quant_dequant_at(vt, SIMD_SCALAR)(tmp, xq, s->n_in);
    for (int64_t o = 0; o < s->n_out; o++) {
      double acc = 0, m = 0;
      for (int64_t i = 0; i < s->n_in; i++) {
        double p = (double)wf[o * s->n_in + i] * xq[i];
        acc += p;
        m += fabs(p);
      }
      if (vt == T_Q8_1)
        acc += q8_1_correction(w + (size_t)o * type_row_bytes(s->type, s->n_in), tmp, s->n_in,
                               type_block_bytes(s->type));
      y[t * s->n_out + o] = acc;
      mag[t * s->n_out + o] = m;
    }
  }
  free(xq);
  free(tmp);
}

// Offsets of the fp16 scale fields in a block (-1: none), for random blocks.
static void scale_fields(uint32_t type, int off[2]) {
  off[0] = off[1] = -1;
  switch (type) {
  case T_Q4_0: case T_Q5_0: case T_Q8_0: off[0] = 0; break;
  case T_Q4_1: case T_Q5_1: case T_Q4_K: case T_Q5_K: off[0] = 0, off[1] = 2; break;
  case T_Q2_K: off[0] = 80, off[1] = 82; break;
  case T_Q3_K: off[0] = 108; break;
  case T_Q6_K: off[0] = 208; break;
  default: break;
  }
}

// A weight row: quantized normal data, or (random_bits) random block bytes
// with small random scales, which reach bit patterns a quantizer may not.
static void make_row(uint32_t type, int64_t n, int random_bits, uint8_t *row, float *src) {
  for (int64_t i = 0; i < n; i++) src[i] = rnd_normal() * 0.05f;
  quant_quantize_at(type, SIMD_SCALAR)(src, row, n);
  if (!random_bits || type_block_size(type) == 1) return;
  size_t bytes = type_row_bytes(type, n), bb = type_block_bytes(type);
  int off[2];
  scale_fields(type, off);
  for (size_t i = 0; i < bytes; i++) row[i] = (uint8_t)((int64_t)(rnd_normal() * 1000.0f) & 0xff);
  for (size_t b = 0; b < bytes; b += bb)
    for (int f = 0; f < 2; f++)
      if (off[f] >= 0) {
        uint16_t h = fp16_from_fp32(rnd_normal() * 0.002f);
        memcpy(row + b + off[f], &h, 2);
      }
  if (type == T_Q8_0)  // signed weights stay in -127..127 like the quantizer writes them
    for (size_t b = 0; b < bytes; b += bb)
      for (int j = 2; j < 34; j++)
        if (row[b + j] == 0x80) row[b + j] = 0x81;
}

static void check_shape(const shape *s, pool **pools, int random_bits) {
  size_t rb = type_row_bytes(s->type, s->n_in);
  uint8_t *w = malloc(rb * (size_t)s->n_out);
  float *wf = malloc((size_t)(s->n_in * s->n_out) * sizeof *wf), *src = malloc((size_t)s->n_in * sizeof *src);
  for (int64_t o = 0; o < s->n_out; o++) {
    make_row(s->type, s->n_in, random_bits, w + (size_t)o * rb, src);
    quant_dequant_at(s->type, SIMD_SCALAR)(w + (size_t)o * rb, wf + o * s->n_in, s->n_in);
  }
  mm_weight mw = {.type = s->type, .n_in = s->n_in, .n_out = s->n_out, .data = w, .row_bytes = rb};
  // 37: the packed kernels' last group is partial; 151: a prompt split in slices of tokens by 2 or 3 threads
  static const int64_t batches[] = {1, 3, 8, 17, 37, 64, 151};
  int failed = 0;  // report the first failure of a shape only
  for (size_t bi = 0; bi < sizeof batches / sizeof batches[0] && !failed; bi++) {
    int64_t nt = batches[bi], ldx = s->n_in + 3, ldy = s->n_out + 5;
    float *x = malloc((size_t)(ldx * nt) * sizeof *x), *y = malloc((size_t)(ldy * nt) * sizeof *y);
    double *ry = malloc((size_t)(s->n_out * nt) * sizeof *ry), *mag = malloc((size_t)(s->n_out * nt) * sizeof *mag);
    for (int64_t i = 0; i < ldx * nt; i++) x[i] = rnd_normal();
    naive(s, w, wf, x, ldx, nt, ry, mag);
    size_t sb = matmul_scratch_bytes(s->type, s->n_in, nt);
    uint8_t *scratch = malloc(sb + 1);
    // Each level, and the avx2 level both without and with AVX-VNNI where the CPU has it.
    for (int v = 0; v <= (int)cpu_max_simd_level() + cpu_has_avxvnni() && !failed; v++) {
      int l = v > SIMD_AVX2 && cpu_has_avxvnni() ? v - 1 : v;
      cpu_set_simd_level((enum simd_level)l);
      cpu_set_avxvnni(v == SIMD_AVX2 + 1 && l == SIMD_AVX2);
      for (int th = 0; th < 3 && !failed; th++) {
        for (int64_t i = 0; i < ldy * nt; i++) y[i] = NAN;
        matmul(pools[th], &mw, x, ldx, nt, y, ldy, scratch + 1);  // misaligned on purpose
        int bad = 0;
        for (int64_t t = 0; t < nt && !bad; t++) {
          for (int64_t o = 0; o < s->n_out && !bad; o++) {
            double want = ry[t * s->n_out + o], tol = 2e-5 * mag[t * s->n_out + o] + 1e-6;
            if (!(fabs(y[t * ldy + o] - want) <= tol)) {
              bad = 1;
              CHECK_MSG(0, "%s %lldx%lld batch %lld level %s threads %d: y[%lld][%lld] = %g, want %g",
                        type_name(s->type), (long long)s->n_out, (long long)s->n_in, (long long)nt,
                        cpu_simd_name((enum simd_level)l), th + 1, (long long)t, (long long)o, y[t * ldy + o], want);
            }
          }
          for (int64_t o = s->n_out; o < ldy && !bad; o++)
            if (!isnan(y[t * ldy + o])) {
              bad = 1;
              CHECK_MSG(0, "%s: wrote past n_out", type_name(s->type));
            }
        }
        CHECK(!bad);
        failed |= bad;
      }
    }
    cpu_set_simd_level(cpu_max_simd_level());
    cpu_set_avxvnni(1);
    free(scratch);
    free(x);
    free(y);
    free(ry);
    free(mag);
  }
  free(w);
  free(wf);
  free(src);
}

// matmul_many over weights sharing one input: Q4_0 twice (one job, rows of
// both split across threads), then Q8_0 (another activation format: a job of
// its own), then Q4_1 and F16; and the K-quants, whose tile kernels share
// one activation layout except Q2_K's. Each output must equal matmul's for
// that weight alone, bit for bit, and nothing past n_out may be written.
enum { NW = 5 };
static void test_many_of(pool **pools, const uint32_t types[NW], int64_t n_in) {
  static const int64_t n_outs[] = {37, 19, 40, 5, 33};
  mm_weight mw[NW];
  for (int i = 0; i < NW; i++) {
    size_t rb = type_row_bytes(types[i], n_in);
    uint8_t *w = malloc(rb * (size_t)n_outs[i]);
    float *src = malloc(n_in * sizeof *src);
    for (int64_t o = 0; o < n_outs[i]; o++) make_row(types[i], n_in, 0, w + (size_t)o * rb, src);
    free(src);
    mw[i] = (mm_weight){.type = types[i], .n_in = n_in, .n_out = n_outs[i], .data = w, .row_bytes = rb};
  }
  size_t sb = 0;
  static const int64_t batches[] = {1, 5, 40, 64};
  for (int i = 0; i < NW; i++) {
    size_t b = matmul_scratch_bytes(types[i], n_in, 64);
    if (b > sb) sb = b;
  }
  uint8_t *scratch = malloc(sb);
  for (size_t bi = 0; bi < 4; bi++) {
    int64_t nt = batches[bi], ldy = 48;
    float *x = malloc((size_t)(n_in * nt) * sizeof *x);
    for (int64_t i = 0; i < n_in * nt; i++) x[i] = rnd_normal();
    float *want = malloc((size_t)(NW * ldy * nt) * sizeof *want), *got = malloc((size_t)(NW * ldy * nt) * sizeof *got);
    mm_out outs[NW];
    for (int i = 0; i < NW; i++) {
      outs[i] = (mm_out){&mw[i], got + (size_t)i * ldy * nt, ldy};
      for (int64_t k = 0; k < ldy * nt; k++) want[(size_t)i * ldy * nt + k] = got[(size_t)i * ldy * nt + k] = NAN;
      matmul(pools[0], &mw[i], x, n_in, nt, want + (size_t)i * ldy * nt, ldy, scratch);
    }
    for (int th = 0; th < 3; th++) {
      matmul_many(pools[th], outs, NW, x, n_in, nt, scratch);
      CHECK_MSG(memcmp(want, got, (size_t)(NW * ldy * nt) * sizeof *got) == 0,
                "matmul_many differs from matmul, batch %lld, threads %d", (long long)nt, th + 1);
    }
    free(x);
    free(want);
    free(got);
  }
  free(scratch);
  for (int i = 0; i < NW; i++) free((void *)mw[i].data);
}

static void test_many(pool **pools) {
  static const uint32_t mixed[NW] = {T_Q4_0, T_Q4_0, T_Q8_0, T_Q4_1, T_F16};
  static const uint32_t kquants[NW] = {T_Q4_K, T_Q6_K, T_Q4_K, T_Q2_K, T_Q5_K};
  test_many_of(pools, mixed, 2336);
  test_many_of(pools, kquants, 2560);
}

// A quantized weight's output row for one token is the same bits whatever
// the batch: alone (gemv), beside a few (gemv, several columns) or in a
// prompt (packed panels, several K-chunks), so that greedy output does not
// depend on how the scheduler batches or chunks. This holds for the AVX-512
// kernels (what x86 servers run); the AVX2 ones send small batches through
// per-row dot products, and float weights' gemv sums along k in vector lanes.
static void test_batch_invariance(pool **pools, enum simd_level level) {
  static const uint32_t types[] = {T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0, T_Q2_K, T_Q3_K, T_Q4_K, T_Q5_K, T_Q6_K};
  cpu_set_simd_level(level);
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    // n_in: more than one K-chunk; 151 rows: a partial last group of the tile kernels, and
    // on two threads two slices of tokens (matmul.c's sliced_worker)
    int64_t n_in = type_block_size(types[i]) == 256 ? 2560 : 2336, n_out = 37, nt = 151;
    size_t rb = type_row_bytes(types[i], n_in);
    uint8_t *w = malloc(rb * (size_t)n_out);
    float *src = malloc((size_t)n_in * sizeof *src), *x = malloc((size_t)(n_in * nt) * sizeof *x);
    float *yb = malloc((size_t)(n_out * nt) * sizeof *yb), *ys = malloc((size_t)(n_out * 5) * sizeof *ys);
    for (int64_t o = 0; o < n_out; o++) make_row(types[i], n_in, 0, w + (size_t)o * rb, src);
    for (int64_t k = 0; k < n_in * nt; k++) x[k] = rnd_normal();
    mm_weight mw = {.type = types[i], .n_in = n_in, .n_out = n_out, .data = w, .row_bytes = rb};
    uint8_t *scratch = malloc(matmul_scratch_bytes(types[i], n_in, nt));
    matmul(pools[1], &mw, x, n_in, nt, yb, n_out, scratch);
    int same = 1;
    for (int64_t t = 0; t + 5 <= nt && same; t += 13) {
      matmul(pools[1], &mw, x + t * n_in, n_in, 1, ys, n_out, scratch);
      same &= memcmp(ys, yb + t * n_out, (size_t)n_out * sizeof *ys) == 0;
      matmul(pools[2], &mw, x + t * n_in, n_in, 5, ys, n_out, scratch);
      same &= memcmp(ys, yb + t * n_out, (size_t)(n_out * 5) * sizeof *ys) == 0;
    }
    CHECK_MSG(same, "%s at %s: a token's row differs between a batch of 151 and one of 1 or 5",
              type_name(types[i]), cpu_simd_name(level));
    free(w), free(src), free(x), free(yb), free(ys), free(scratch);
  }
  cpu_set_simd_level(cpu_max_simd_level());
}

// matmul_gated (the gate applied piece by piece as the input is quantized,
// in place first for float weights) equals gating the rows, then matmul, bit
// for bit: every type, one token (its row split across threads), a few, and
// a prompt's batch; rows wider than the gated pieces, and ldx past 2 n_in.
static void test_gated(pool **pools) {
  static const uint32_t types[] = {T_F32, T_F16, T_BF16, T_Q4_0, T_Q5_1, T_Q8_0, T_Q4_K, T_Q6_K};
  static const int64_t batches[] = {1, 3, 40};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    int64_t n_in = type_block_size(types[i]) == 256 ? 2560 : 2336, n_out = 37, ldx = 2 * n_in + 8;
    size_t rb = type_row_bytes(types[i], n_in);
    uint8_t *w = malloc(rb * (size_t)n_out), *scratch = malloc(matmul_scratch_bytes(types[i], n_in, 40));
    float *src = malloc((size_t)n_in * sizeof *src), *x = malloc((size_t)(ldx * 40) * sizeof *x);
    float *xg = malloc((size_t)(ldx * 40) * sizeof *xg), *want = malloc((size_t)(n_out * 40) * sizeof *want);
    float *got = malloc((size_t)(n_out * 40) * sizeof *got);
    for (int64_t o = 0; o < n_out; o++) make_row(types[i], n_in, 0, w + (size_t)o * rb, src);
    mm_weight mw = {.type = types[i], .n_in = n_in, .n_out = n_out, .data = w, .row_bytes = rb};
    for (size_t bi = 0; bi < 3; bi++) {
      int64_t nt = batches[bi];
      for (int64_t k = 0; k < ldx * nt; k++) x[k] = rnd_normal();
      memcpy(xg, x, (size_t)(ldx * nt) * sizeof *x);
      for (int64_t t = 0; t < nt; t++) op_silu_mul(xg + t * ldx, xg + t * ldx, xg + t * ldx + n_in, n_in);
      matmul(pools[0], &mw, xg, ldx, nt, want, n_out, scratch);
      for (int th = 0; th < 3; th++) {
        memcpy(xg, x, (size_t)(ldx * nt) * sizeof *x);
        matmul_gated(pools[th], &mw, op_silu_mul, xg, ldx, nt, got, n_out, scratch);
        CHECK_MSG(memcmp(want, got, (size_t)(n_out * nt) * sizeof *got) == 0,
                  "%s: matmul_gated differs from gating then matmul, batch %lld, threads %d", type_name(types[i]),
                  (long long)nt, th + 1);
      }
    }
    free(w), free(scratch), free(src), free(x), free(xg), free(want), free(got);
  }
}

// One token, float weights: a row's result is the same bits whether the
// gemv takes it among others (long rows go four at a time) or alone.
static void test_float_rows(pool **pools) {
  static const uint32_t types[] = {T_F32, T_F16, T_BF16};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    int64_t n_in = 2336, n_out = 11;  // rows over 2304 bytes; two groups of four and three left
    size_t rb = type_row_bytes(types[i], n_in);
    uint8_t *w = malloc(rb * (size_t)n_out), *scratch = malloc(matmul_scratch_bytes(types[i], n_in, 1));
    float *src = malloc((size_t)n_in * sizeof *src), *x = malloc((size_t)n_in * sizeof *x);
    float all[11], one;
    for (int64_t o = 0; o < n_out; o++) make_row(types[i], n_in, 0, w + (size_t)o * rb, src);
    for (int64_t k = 0; k < n_in; k++) x[k] = rnd_normal();
    mm_weight mw = {.type = types[i], .n_in = n_in, .n_out = n_out, .data = w, .row_bytes = rb};
    matmul(pools[0], &mw, x, n_in, 1, all, n_out, scratch);
    int same = 1;
    for (int64_t o = 0; o < n_out; o++) {
      mm_weight row = mw;
      row.n_out = 1, row.data = w + (size_t)o * rb;
      matmul(pools[0], &row, x, n_in, 1, &one, 1, scratch);
      same &= memcmp(&one, &all[o], sizeof one) == 0;
    }
    CHECK_MSG(same, "%s: a row's gemv result depends on the rows beside it", type_name(types[i]));
    free(w), free(scratch), free(src), free(x);
  }
}

// matmul_many_normed (each row's RMS norm applied piece by piece as the
// input is quantized) equals op_rms_norm then matmul_many, bit for bit: the
// quantized types (one with two weights sharing the input, one whose job
// splits by activation format), a token whose row is split across threads,
// a few, a prompt's batch; rows wider than the pieces, ldx past n_in.
static void test_normed(pool **pools) {
  static const uint32_t types[][2] = {{T_F16, T_F16}, {T_Q4_0, T_Q4_0}, {T_Q5_1, T_Q8_0}, {T_Q4_K, T_Q6_K}};
  static const int64_t batches[] = {1, 3, 40};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    int64_t n_in = type_block_size(types[i][0]) == 256 ? 2560 : 2336, n_out = 37, ldx = n_in + 8;
    mm_weight mw[2];
    size_t sb = 0;
    for (int k = 0; k < 2; k++) {
      size_t rb = type_row_bytes(types[i][k], n_in);
      uint8_t *w = malloc(rb * (size_t)n_out);
      float *src = malloc((size_t)n_in * sizeof *src);
      for (int64_t o = 0; o < n_out; o++) make_row(types[i][k], n_in, 0, w + (size_t)o * rb, src);
      free(src);
      mw[k] = (mm_weight){.type = types[i][k], .n_in = n_in, .n_out = n_out, .data = w, .row_bytes = rb};
      size_t b = matmul_scratch_bytes(types[i][k], n_in, 40);
      sb = b > sb ? b : sb;
    }
    uint8_t *scratch = malloc(sb);
    float *x = malloc((size_t)(ldx * 40) * sizeof *x), *xn = malloc((size_t)(n_in * 40) * sizeof *xn);
    float *nw = malloc((size_t)n_in * sizeof *nw), *want = malloc((size_t)(2 * n_out * 40) * sizeof *want);
    float *got = malloc((size_t)(2 * n_out * 40) * sizeof *got);
    for (int64_t k = 0; k < n_in; k++) nw[k] = 0.5f + rnd_normal() * 0.1f;
    for (size_t bi = 0; bi < 3; bi++) {
      int64_t nt = batches[bi];
      for (int64_t k = 0; k < ldx * nt; k++) x[k] = rnd_normal() * 3.0f;
      for (int64_t t = 0; t < nt; t++) op_rms_norm(xn + t * n_in, x + t * ldx, nw, n_in, 1e-5f);
      mm_out ow[2] = {{&mw[0], want, n_out}, {&mw[1], want + n_out * nt, n_out}};
      mm_out og[2] = {{&mw[0], got, n_out}, {&mw[1], got + n_out * nt, n_out}};
      matmul_many(pools[0], ow, 2, xn, n_in, nt, scratch);
      for (int th = 0; th < 3; th++) {
        matmul_many_normed(pools[th], og, 2, x, ldx, nw, 1e-5f, nt, scratch);
        CHECK_MSG(memcmp(want, got, (size_t)(2 * n_out * nt) * sizeof *got) == 0,
                  "%s + %s: matmul_many_normed differs from op_rms_norm then matmul_many, batch %lld, threads %d",
                  type_name(types[i][0]), type_name(types[i][1]), (long long)nt, th + 1);
      }
    }
    for (int k = 0; k < 2; k++) free((void *)mw[k].data);
    free(scratch), free(x), free(xn), free(nw), free(want), free(got);
  }
}

// A weight of n_out random rows, in GGUF's layout or tiled (where this level tiles it).
static mm_weight ffn_weight(uint32_t type, int64_t n_in, int64_t n_out, bool tiled) {
  size_t rb = type_row_bytes(type, n_in);
  uint8_t *w = malloc(rb * (size_t)n_out);
  float *src = malloc((size_t)n_in * sizeof *src);
  for (int64_t o = 0; o < n_out; o++) make_row(type, n_in, 0, w + (size_t)o * rb, src);
  free(src);
  mm_weight mw = {.type = type, .n_in = n_in, .n_out = n_out, .data = w, .row_bytes = rb};
  if (tiled && matmul_can_tile(&mw)) {
    uint8_t *t = malloc(rb * (size_t)n_out);
    quant_tile_rows(type, w, t, n_in, n_out);
    free(w);
    mw.data = t;
    mw.tiled = true;
  }
  return mw;
}

// matmul_ffn gives the bits of its two steps (matmul_many_normed of gate and
// up, then matmul_gated of down) where it hands gate and up to down's input
// in pairs of rows (a prompt; blocks of 32 and 256, grouped activations and
// plain rows, kernels that read the tiles in place and kernels that pack)
// and where it does not (a down projection reading floats, one token, no
// room in ff for the buffers of kernels that pack): GGUF's rows and tiled ones, batches that end mid-group, several
// slices, more than one K-chunk, 1 to 3 threads. Where it pairs, ff holds
// down's input after the call, not the gate values: the test checks that it
// took that path.
static void test_ffn(pool **pools) {
  typedef struct {
    uint32_t gate, down;
    int64_t n_embd, n_ff;
    bool pairs;  // taken in pairs, given room in ff, by the batched kernels of AVX2 and up
  } ffn_case;
  static const ffn_case cases[] = {
      {T_Q4_0, T_Q4_0, 256, 544, true}, {T_Q8_0, T_Q8_0, 256, 544, true}, {T_Q4_0, T_Q8_0, 256, 544, true},
      {T_Q4_1, T_Q5_1, 256, 544, true}, {T_Q4_0, T_Q4_K, 256, 768, true}, {T_Q5_0, T_Q4_K, 256, 512, true},
      {T_Q4_K, T_Q6_K, 256, 512, true}, {T_F16, T_Q8_0, 256, 544, true},  {T_F16, T_F16, 256, 544, false},
      {T_Q4_0, T_Q4_0, 4160, 96, true},
  };
  static const int64_t batches[] = {1, 40, 151};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int v = 0; v < 4; v++) {
      // ff just wide enough for the gate and up values, or with room for
      // the buffers that kernels which pack take their pairs through.
      int tiled = v & 1, roomy = v >> 1;
      const ffn_case *c = &cases[i];
      int64_t E = c->n_embd, F = c->n_ff, ldx = E + 5, ldff = 2 * F + (roomy ? 16384 : 8), ldy = E + 3, nmax = 151;
      mm_weight gate = ffn_weight(c->gate, E, F, tiled), up = ffn_weight(c->gate, E, F, tiled);
      mm_weight down = ffn_weight(c->down, F, E, tiled);
      size_t sa = matmul_scratch_bytes(c->gate, E, nmax), sb = matmul_scratch_bytes(c->down, F, nmax);
      uint8_t *scratch = malloc(sa > sb ? sa : sb);
      float *x = malloc((size_t)(ldx * nmax) * sizeof *x), *nw = malloc((size_t)E * sizeof *nw);
      float *ff = malloc((size_t)(ldff * nmax) * sizeof *ff), *ff2 = malloc((size_t)(ldff * nmax) * sizeof *ff2);
      float *want = malloc((size_t)(ldy * nmax) * sizeof *want), *got = malloc((size_t)(ldy * nmax) * sizeof *got);
      for (int64_t k = 0; k < E; k++) nw[k] = 0.5f + rnd_normal() * 0.1f;
      mm_ffn f = {&gate, &up, &down, op_silu_mul, nw, 1e-5f};
      for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        int64_t nt = batches[bi];
        for (int64_t k = 0; k < ldx * nt; k++) x[k] = rnd_normal() * 3.0f;
        mm_out gu[2] = {{&gate, ff, ldff}, {&up, ff + F, ldff}};
        matmul_many_normed(pools[0], gu, 2, x, ldx, nw, 1e-5f, nt, scratch);
        matmul_gated(pools[0], &down, op_silu_mul, ff, ldff, nt, want, ldy, scratch);
        matmul_many_normed(pools[0], gu, 2, x, ldx, nw, 1e-5f, nt, scratch);  // ff: the gate and up values again
        for (int th = 0; th < 3; th++) {
          memset(got, 0xff, (size_t)(ldy * nt) * sizeof *got);
          memcpy(ff2, ff, (size_t)(ldff * nt) * sizeof *ff);
          matmul_ffn(pools[th], &f, x, ldx, nt, ff2, ldff, got, ldy, scratch);
          int same = 1;
          for (int64_t t = 0; t < nt; t++) same &= memcmp(want + t * ldy, got + t * ldy, (size_t)E * sizeof *got) == 0;
          CHECK_MSG(same, "%s / %s %lld x %lld%s: matmul_ffn differs from its two steps, batch %lld, threads %d",
                    type_name(c->gate), type_name(c->down), (long long)E, (long long)F, tiled ? " tiled" : "",
                    (long long)nt, th + 1);
          bool paired = memcmp(ff, ff2, (size_t)(ldff * nt) * sizeof *ff) != 0;
          bool expect = c->pairs && nt >= 40 && cpu_simd_level() >= SIMD_AVX2;
          CHECK_MSG(paired == expect || !roomy, "%s / %s%s: pairs %s, batch %lld", type_name(c->gate), type_name(c->down),
                    tiled ? " tiled" : "", paired ? "taken" : "not taken", (long long)nt);
        }
      }
      free((void *)gate.data), free((void *)up.data), free((void *)down.data);
      free(scratch), free(x), free(nw), free(ff), free(ff2), free(want), free(got);
    }
}

// Tiled weights (quant.h): the tiled copy reads back row for row as the
// original (quant_tile_row), and matmul of it gives the original's bits, for
// every type the AVX-512 kernels tile (the quantized ones), rows whose last group is short (nb
// mod 4 of 1, 2, 3, and a row shorter than one group), a short last tile,
// one token (gemv, quads), a few (pairs), prompt batches (packed panels over
// several K-chunks), 1 to 3 threads, and rows long enough (over 2304 bytes)
// for one token of a 32-element type to take four tiles at once, with 100
// rows (a group of four tiles, then two and a short one; the K-quants read
// such rows as one prefetched stream). Where no level tiles,
// matmul_can_tile must say so.
static void test_tiled(pool **pools) {
  static const uint32_t types[] = {T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0,
                                   T_Q2_K, T_Q3_K, T_Q4_K, T_Q5_K, T_Q6_K};
  // K-quants: one super-block, more than one K-chunk of the panels (4096),
  // and rows over 2304 bytes (11776: Q2_K 3864 bytes, Q6_K 9660)
  static const int64_t n_ins[] = {96, 928, 2368, 2400, 2048, 4160}, k_ins[] = {256, 2304, 4608, 11776};
  static const int64_t n_outs[] = {37, 48, 100}, batches[] = {1, 3, 8, 40};
  CHECK(!quant_tiles(T_F16) && !quant_tiles(T_BF16) && !quant_tiles(T_F32));
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    CHECK(quant_tiles(types[i]));
    int kq = type_block_size(types[i]) == 256;
    for (size_t ni = 0; ni < (kq ? sizeof k_ins / sizeof k_ins[0] : sizeof n_ins / sizeof n_ins[0]); ni++)
      for (size_t oi = 0; oi < sizeof n_outs / sizeof n_outs[0]; oi++) {
        int64_t n_in = kq ? k_ins[ni] : n_ins[ni], n_out = n_outs[oi];
        size_t rb = type_row_bytes(types[i], n_in);
        uint8_t *w = malloc(rb * (size_t)n_out), *wt = malloc(rb * (size_t)n_out), *row = malloc(rb);
        float *src = malloc((size_t)n_in * sizeof *src);
        for (int64_t o = 0; o < n_out; o++) make_row(types[i], n_in, 1, w + (size_t)o * rb, src);
        quant_tile_rows(types[i], w, wt, n_in, n_out);
        int rows_ok = 1;
        for (int64_t o = 0; o < n_out; o++) {
          quant_tile_row(types[i], wt, n_in, n_out, o, row);
          rows_ok &= memcmp(row, w + (size_t)o * rb, rb) == 0;
        }
        CHECK_MSG(rows_ok, "%s %lldx%lld: a tiled row reads back different", type_name(types[i]),
                  (long long)n_out, (long long)n_in);
        mm_weight plain = {.type = types[i], .n_in = n_in, .n_out = n_out, .data = w, .row_bytes = rb};
        mm_weight tiled = plain;
        tiled.data = wt;
        tiled.tiled = true;
        if (!matmul_can_tile(&plain)) {
          CHECK_MSG(cpu_max_simd_level() < SIMD_AVX512 || cpu_max_simd_level() == SIMD_AMX,
                    "%s: no tiled kernels at AVX-512", type_name(types[i]));
        } else {
          uint8_t *scratch = malloc(matmul_scratch_bytes(types[i], n_in, 40));
          float *x = malloc((size_t)(n_in * 40) * sizeof *x), *want = malloc((size_t)(n_out * 40) * sizeof *want);
          float *got = malloc((size_t)(n_out * 40) * sizeof *got);
          for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
            int64_t nt = batches[bi];
            for (int64_t j = 0; j < n_in * nt; j++) x[j] = rnd_normal();
            matmul(pools[0], &plain, x, n_in, nt, want, n_out, scratch);
            for (int th = 0; th < 3; th++) {
              memset(got, 0xff, (size_t)(n_out * nt) * sizeof *got);
              matmul(pools[th], &tiled, x, n_in, nt, got, n_out, scratch);
              CHECK_MSG(memcmp(want, got, (size_t)(n_out * nt) * sizeof *got) == 0,
                        "%s %lldx%lld tiled: differs from GGUF rows, batch %lld, threads %d", type_name(types[i]),
                        (long long)n_out, (long long)n_in, (long long)nt, th + 1);
            }
          }
          free(scratch), free(x), free(want), free(got);
        }
        free(w), free(wt), free(row), free(src);
      }
  }
  cpu_set_simd_level(SIMD_AVX2);
  mm_weight q = {.type = T_Q4_0, .n_in = 64, .n_out = 16, .row_bytes = type_row_bytes(T_Q4_0, 64)};
  CHECK_MSG(!matmul_can_tile(&q), "the AVX2 level claims tiled kernels");
  cpu_set_simd_level(cpu_max_simd_level());
}

int main(void) {
  pool *pools[3] = {pool_new(1), pool_new(2), pool_new(3)};
  CHECK(pools[0] && pools[1] && pools[2]);
  static const uint32_t types[] = {T_F32, T_F16, T_BF16, T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1,
                                   T_Q8_0, T_Q2_K, T_Q3_K, T_Q4_K, T_Q5_K, T_Q6_K};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    int64_t bs = type_block_size(types[i]);
    // n_in: a few blocks, not a multiple of 64 for the 32-element types, and
    // longer than one packing K-chunk (1024 float values, 4096 quantized, at
    // the AVX-512 and AVX2 levels; each with a short last chunk); n_out odd
    // and not a multiple of a tile.
    shape a = {types[i], bs == 256 ? 512 : 96, 37};
    shape b = {types[i], bs == 256 ? 2560 : 2336, 19};
    shape d = {types[i], bs == 256 ? 4608 : 4160, 19};
    check_shape(&a, pools, 0);
    check_shape(&b, pools, 0);
    check_shape(&d, pools, 0);
    check_shape(&a, pools, 1);
    if (bs == 1) {  // float rows of any length: ragged vector tails
      shape c = {types[i], 100, 21};
      check_shape(&c, pools, 0);
    }
  }
  test_many(pools);
  test_gated(pools);
  test_normed(pools);
  test_ffn(pools);
  test_float_rows(pools);
  test_tiled(pools);
  if (cpu_max_simd_level() >= SIMD_AVX512) test_batch_invariance(pools, SIMD_AVX512);
  else printf("note: no AVX-512 here, batch invariance not checked\n");
  if (cpu_max_simd_level() >= SIMD_AMX) test_batch_invariance(pools, SIMD_AMX);
  for (int i = 0; i < 3; i++) pool_free(pools[i]);
  return tu_finish();
}
