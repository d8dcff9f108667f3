// test_attention: op_attend against a plain double-precision softmax
// attention, at every SIMD level, for f16 and f32 caches, head dims that do
// and do not fill vectors, GQA groups, sliding windows and soft-capping. And
// the promises of ops.h: every level gives the scalar kernel's bits, and a
// row's bits do not depend on the block it was computed in.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "ops/ops.h"
#include "testutil.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {  // uniform in [-1, 1)
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((rng >> 40) * (1.0 / (1 << 23))) - 1.0f;
}

typedef struct {
  int kd, vd, n_kv_head, group, n_keys;
  bool f16;
  int window;     // 0: causal over all keys, else each token sees its last `window` keys
  float softcap;  // 0: off
} shape;

typedef struct {
  shape s;
  attn_kv kv;
  float *q;  // (n_keys tokens, n_kv_head * group heads, kd): token t is at position t
  void *k, *v;
  float *kf, *vf;  // the cache as floats (what the f16 rows hold)
} setup;

static void make(setup *S, shape s) {
  S->s = s;
  int nh = s.n_kv_head * s.group;
  size_t krow = (size_t)s.n_kv_head * s.kd, vrow = (size_t)s.n_kv_head * s.vd, n = (size_t)s.n_keys;
  S->q = malloc(sizeof(float) * n * nh * s.kd);
  S->kf = malloc(sizeof(float) * n * krow);
  S->vf = malloc(sizeof(float) * n * vrow);
  S->k = malloc((s.f16 ? 2 : 4) * n * krow);
  S->v = malloc((s.f16 ? 2 : 4) * n * vrow);
  for (size_t i = 0; i < n * nh * s.kd; i++) S->q[i] = 2 * frand();
  for (size_t i = 0; i < n * krow + n * vrow; i++) {
    bool isk = i < n * krow;
    size_t j = isk ? i : i - n * krow;
    float x = 2 * frand();
    if (s.f16) {
      uint16_t h = fp16_from_fp32(x);
      ((uint16_t *)(isk ? S->k : S->v))[j] = h;
      x = fp16_to_fp32(h);
    } else ((float *)(isk ? S->k : S->v))[j] = x;
    (isk ? S->kf : S->vf)[j] = x;
  }
  S->kv = (attn_kv){.k = S->k, .v = S->v, .f16 = s.f16, .k_row = (int64_t)krow, .v_row = (int64_t)vrow,
                    .k_dim = s.kd, .v_dim = s.vd, .scale = 1.0f / sqrtf((float)s.kd), .softcap = s.softcap};
}

static void drop(setup *S) {
  free(S->q), free(S->k), free(S->v), free(S->kf), free(S->vf);
}

static int64_t key_lo(const shape *s, int t) { return s->window && t >= s->window ? t - s->window + 1 : 0; }

// Token t, head h (of kv head kvh's group) in double precision.
static void reference(const setup *S, int kvh, int t, int h, double *out) {
  const shape *s = &S->s;
  int nh = s->n_kv_head * s->group;
  const float *q = S->q + ((size_t)t * nh + (size_t)kvh * s->group + h) * s->kd;
  int64_t lo = key_lo(s, t), n = t + 1 - lo;
  double *w = malloc(sizeof(double) * (size_t)n), max = -INFINITY, sum = 0;
  for (int64_t j = 0; j < n; j++) {
    const float *k = S->kf + (size_t)(lo + j) * S->kv.k_row + (size_t)kvh * s->kd;
    double d = 0;
    for (int i = 0; i < s->kd; i++) d += (double)q[i] * k[i];
    d *= S->kv.scale;
    if (s->softcap > 0) d = s->softcap * tanh(d / s->softcap);
    w[j] = d;
    if (d > max) max = d;
  }
  for (int64_t j = 0; j < n; j++) sum += w[j] = exp(w[j] - max);
  for (int i = 0; i < s->vd; i++) out[i] = 0;
  for (int64_t j = 0; j < n; j++) {
    const float *v = S->vf + (size_t)(lo + j) * S->kv.v_row + (size_t)kvh * s->vd;
    for (int i = 0; i < s->vd; i++) out[i] += w[j] / sum * v[i];
  }
  free(w);
}

// Tokens [t0, t0 + nt) of kv head kvh in one op_attend call; out holds
// every token's heads (n_keys x nh x vd).
static void run_block(const setup *S, int kvh, int t0, int nt, float *out, float *work) {
  const shape *s = &S->s;
  int nh = s->n_kv_head * s->group;
  int64_t lo[ATTN_MAX_TOKENS], hi[ATTN_MAX_TOKENS];
  for (int i = 0; i < nt; i++) lo[i] = key_lo(s, t0 + i), hi[i] = t0 + i + 1;
  attn_rows r = {
      .q = S->q + ((size_t)t0 * nh + (size_t)kvh * s->group) * s->kd, .q_tok = (int64_t)nh * s->kd, .q_head = s->kd,
      .out = out + ((size_t)t0 * nh + (size_t)kvh * s->group) * s->vd, .out_tok = (int64_t)nh * s->vd,
      .out_head = s->vd, .n_tok = nt, .n_head = s->group, .lo = lo, .hi = hi};
  op_attend(&S->kv, kvh, &r, work);
}

// All tokens and kv heads, in blocks of `blk` tokens.
static float *run_all(const setup *S, int blk) {
  const shape *s = &S->s;
  size_t n_out = (size_t)s->n_keys * s->n_kv_head * s->group * s->vd;
  float *out = malloc(sizeof(float) * n_out);
  for (size_t i = 0; i < n_out; i++) out[i] = NAN;  // every element must be written
  float *work = malloc(sizeof(float) * op_attend_work(&S->kv, blk * s->group, s->n_keys));
  for (int kvh = 0; kvh < s->n_kv_head; kvh++)
    for (int t0 = 0; t0 < s->n_keys; t0 += blk)
      run_block(S, kvh, t0, s->n_keys - t0 < blk ? s->n_keys - t0 : blk, out, work);
  free(work);
  return out;
}

static double max_error(const setup *S, const float *out) {
  const shape *s = &S->s;
  int nh = s->n_kv_head * s->group;
  double *ref = malloc(sizeof(double) * (size_t)s->vd), worst = 0;
  for (int t = 0; t < s->n_keys; t++)
    for (int kvh = 0; kvh < s->n_kv_head; kvh++)
      for (int h = 0; h < s->group; h++) {
        reference(S, kvh, t, h, ref);
        const float *o = out + ((size_t)t * nh + (size_t)kvh * s->group + h) * s->vd;
        for (int i = 0; i < s->vd; i++) {
          double e = fabs(o[i] - ref[i]);
          if (!(e <= worst)) worst = e;  // NaN counts as the worst
        }
      }
  free(ref);
  return worst;
}

static void check_shape(shape s) {
  setup S;
  make(&S, s);
  enum simd_level top = cpu_max_simd_level();
  cpu_set_simd_level(SIMD_SCALAR);
  float *scalar = run_all(&S, ATTN_MAX_TOKENS);
  size_t n_out = (size_t)s.n_keys * s.n_kv_head * s.group * s.vd;
  double err = max_error(&S, scalar);
  CHECK_MSG(err < 2e-5, "kd %d vd %d group %d keys %d: scalar error %.3g", s.kd, s.vd, s.group, s.n_keys, err);
  for (int lv = SIMD_SCALAR; lv <= (int)top; lv++) {
    cpu_set_simd_level((enum simd_level)lv);
    int blocks[] = {1, 3, ATTN_MAX_TOKENS};
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
      float *out = run_all(&S, blocks[b]);
      CHECK_MSG(!memcmp(out, scalar, sizeof(float) * n_out),
                "kd %d vd %d group %d f16 %d window %d softcap %g: %s in blocks of %d differs from scalar in blocks of %d",
                s.kd, s.vd, s.group, s.f16, s.window, s.softcap, cpu_simd_name((enum simd_level)lv), blocks[b],
                ATTN_MAX_TOKENS);
      free(out);
    }
  }
  cpu_set_simd_level(top);
  free(scalar);
  drop(&S);
}

// A block whose rows see very different scores: one huge, the rest far
// below it (exp underflow), and equal scores (a flat softmax).
static void check_extremes(void) {
  setup S;
  make(&S, (shape){.kd = 16, .vd = 16, .n_kv_head = 1, .group = 2, .n_keys = 40});
  for (int i = 0; i < 16; i++) S.q[i] = 0;                    // token 0, head 0: flat over its one key
  for (int i = 0; i < 16; i++) S.q[16 * 2 * 39 + i] = 400.0f;  // token 39, head 0: one key dominates
  float *out = run_all(&S, ATTN_MAX_TOKENS);
  double err = max_error(&S, out);
  CHECK_MSG(err < 1e-4, "extreme scores: error %.3g", err);
  free(out);
  drop(&S);
}

int main(void) {
  shape shapes[] = {
      {.kd = 64, .vd = 64, .n_kv_head = 2, .group = 7, .n_keys = 70, .f16 = true},   // Qwen2.5-0.5B
      {.kd = 64, .vd = 64, .n_kv_head = 2, .group = 4, .n_keys = 37, .f16 = false},  // Llama 3.2, f32 cache
      {.kd = 128, .vd = 128, .n_kv_head = 1, .group = 2, .n_keys = 45, .f16 = true, .window = 9, .softcap = 50},
      {.kd = 96, .vd = 96, .n_kv_head = 2, .group = 1, .n_keys = 33, .f16 = true},   // Phi-3: no GQA
      {.kd = 8, .vd = 8, .n_kv_head = 1, .group = 3, .n_keys = 19, .f16 = true},     // stories260K-like
      {.kd = 12, .vd = 20, .n_kv_head = 1, .group = 5, .n_keys = 25, .f16 = false},  // dims off the vector widths
  };
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) check_shape(shapes[i]);
  check_extremes();
  return tu_finish();
}
