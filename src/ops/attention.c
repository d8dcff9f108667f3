// attention: see ops.h. One block of query rows (the heads of one KV group
// for up to ATTN_MAX_TOKENS tokens of one sequence) against a range of the
// cache, in three steps over tiles of ATTN_TILE keys:
//   1. scores: the rows are transposed once (qt: k_dim x mp, rows in lanes),
//      each key tile is converted to f32 once, and a kernel computes the
//      scaled q . k of every row and key of the tile into st (key-major:
//      st[j * mp + m]);
//   2. softmax per row over its own key range (exp, sum in double, as the
//      reference does); keys outside it get weight 0;
//   3. outputs: each value tile is converted once and a kernel adds
//      p[m][j] * V[j] to the rows, a few rows at a time.
// The kernels (scalar here, AVX2 and AVX-512 in attention_avx2.c /
// attention_avx512.c) compute each q . k as one fma chain over d = 0..k_dim
// and each output element as one fma chain over the keys in order, so every
// level gives the same bits, and a row's bits do not depend on the rows
// beside it (weights of 0 add exact zeros).
#include <math.h>
#include <string.h>

#include "core/cpu.h"
#include "core/fp16.h"
#include "ops/attention_kernels.h"
#include "ops/ops.h"

#define ATTN_MAX_ROWS (ATTN_MAX_TOKENS * ATTN_MAX_GROUP)
#define ROW_LANES 16  // query rows are padded to a multiple of this (the widest kernel's lanes)

static void qk_scalar(const float *qt, int mp, int m_used, int kd, const float *kf, float *st, float scale) {
  for (int j = 0; j < ATTN_TILE; j++)
    for (int m = 0; m < m_used; m++) {
      float acc = 0;
      for (int d = 0; d < kd; d++) acc = fmaf(qt[d * mp + m], kf[j * kd + d], acc);
      st[j * mp + m] = acc * scale;
    }
}

static void pv_scalar(const float *st, int mp, int r0, int nr, const float *vf, int vd, float *const *o) {
  for (int r = 0; r < nr; r++)
    for (int i = 0; i < vd; i++) {
      float acc = o[r][i];
      for (int j = 0; j < ATTN_TILE; j++) acc = fmaf(st[j * mp + r0 + r], vf[j * vd + i], acc);
      o[r][i] = acc;
    }
}

static void cvt_scalar(float *y, const uint16_t *x, int n) {
  for (int i = 0; i < n; i++) y[i] = fp16_to_fp32(x[i]);
}

// exp(x) for x <= 0, as the SIMD kernels compute it, operation for operation
// (so every level gets the same bits): x = n ln2 + r with |r| <= ln2 / 2,
// exp(r) by its Taylor series to r^7 (relative error under 2e-7), times 2^n.
// Below -87 (weights under 1e-38 beside the row's largest, which is 1) x is
// clamped there, which keeps 2^n a normal number.
static float exp_neg(float x) {
  x = x < -87.0f ? -87.0f : x;
  float n = nearbyintf(x * ATTN_LOG2E);
  float r = fmaf(n, -ATTN_LN2_HI, x);
  r = fmaf(n, -ATTN_LN2_LO, r);
  float p = ATTN_EXP_C7;
  p = fmaf(p, r, ATTN_EXP_C6);
  p = fmaf(p, r, ATTN_EXP_C5);
  p = fmaf(p, r, ATTN_EXP_C4);
  p = fmaf(p, r, ATTN_EXP_C3);
  p = fmaf(p, r, ATTN_EXP_C2);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

static void softmax_scalar(float *st, int mp, int M, int n, const int32_t *lo, const int32_t *hi) {
  float max[ATTN_MAX_ROWS], inv[ATTN_MAX_ROWS];
  double sum[ATTN_MAX_ROWS];
  for (int m = 0; m < M; m++) max[m] = -INFINITY, sum[m] = 0;
  for (int j = 0; j < n; j++)
    for (int m = 0; m < M; m++)
      if (j >= lo[m] && j < hi[m] && st[j * mp + m] > max[m]) max[m] = st[j * mp + m];
  for (int j = 0; j < n; j++)
    for (int m = 0; m < M; m++) {
      float *s = &st[j * mp + m];
      *s = j >= lo[m] && j < hi[m] ? exp_neg(*s - max[m]) : 0.0f;
      sum[m] += *s;
    }
  for (int m = 0; m < M; m++) inv[m] = (float)(1.0 / sum[m]);
  for (int j = 0; j < n; j++)
    for (int m = 0; m < M; m++) st[j * mp + m] *= inv[m];
}

// Gemma 2's soft-capping of the scores, before the softmax (tanhf: the same at every level).
static void softcap_rows(float *st, int mp, int M, int n, const int32_t *lo, const int32_t *hi, float cap) {
  for (int j = 0; j < n; j++)
    for (int m = 0; m < M; m++)
      if (j >= lo[m] && j < hi[m]) st[j * mp + m] = cap * tanhf(st[j * mp + m] / cap);
}

typedef struct {
  attn_qk_fn qk;
  attn_pv_fn pv;
  attn_cvt_fn cvt;
  attn_softmax_fn softmax;
  int pv_rows;  // rows per pv call
} attn_kernels;

static attn_kernels kernels_for(const attn_kv *kv) {
  attn_kernels k = {qk_scalar, pv_scalar, cvt_scalar, softmax_scalar, 8};
#if defined(__x86_64__)
  enum simd_level l = cpu_simd_level();
  if (l >= SIMD_AVX2 && kv->v_dim % 8 == 0) k = (attn_kernels){attn_qk_avx2, attn_pv_avx2, attn_f16_to_f32_avx2, attn_softmax_avx2, 4};
  if (l >= SIMD_AVX512 && kv->v_dim % 16 == 0) k = (attn_kernels){attn_qk_avx512, attn_pv_avx512, attn_f16_to_f32_avx2, attn_softmax_avx512, 6};
#else
  (void)kv;
#endif
  return k;
}

static int64_t round_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

size_t op_attend_work(const attn_kv *kv, int n_rows, int64_t n_keys) {
  int64_t mp = round_up(n_rows, ROW_LANES), dim = kv->k_dim > kv->v_dim ? kv->k_dim : kv->v_dim;
  return (size_t)(kv->k_dim * mp + ATTN_TILE * dim + (round_up(n_keys, ATTN_TILE) + ATTN_TILE) * mp);
}

// ATTN_TILE rows of one head from cache row j0 (rows past `end` are zeros) as f32, dim floats each.
static void load_tile(const attn_kv *kv, const attn_kernels *K, const void *base, int64_t row, int dim, int kvh,
                      int64_t j0, int64_t end, float *tile) {
  int n = end - j0 < ATTN_TILE ? (int)(end - j0) : ATTN_TILE;
  for (int j = 0; j < n; j++) {
    int64_t off = (j0 + j) * row + (int64_t)kvh * dim;
    if (kv->f16) K->cvt(tile + j * dim, (const uint16_t *)base + off, dim);
    else memcpy(tile + j * dim, (const float *)base + off, sizeof(float) * (size_t)dim);
  }
  memset(tile + n * dim, 0, sizeof(float) * (size_t)((ATTN_TILE - n) * dim));
}

void op_attend(const attn_kv *kv, int kvh, const attn_rows *r, float *work) {
  attn_kernels K = kernels_for(kv);
  int M = r->n_tok * r->n_head, mp = (int)round_up(M, ROW_LANES), m_used = (int)round_up(M, 8);
  int kd = kv->k_dim, vd = kv->v_dim, dim = kd > vd ? kd : vd;
  int64_t L = r->lo[0], H = r->hi[0];
  for (int i = 1; i < r->n_tok; i++) {
    if (r->lo[i] < L) L = r->lo[i];
    if (r->hi[i] > H) H = r->hi[i];
  }
  int64_t end = L + round_up(H - L, ATTN_TILE);
  float *qt = work, *tile = qt + (size_t)kd * mp, *st = tile + (size_t)ATTN_TILE * dim;
  for (int m = 0; m < M; m++) {
    const float *q = r->q + (m / r->n_head) * r->q_tok + (m % r->n_head) * r->q_head;
    for (int d = 0; d < kd; d++) qt[d * mp + m] = q[d];
  }
  for (int d = 0; M < mp && d < kd; d++) memset(qt + d * mp + M, 0, sizeof(float) * (size_t)(mp - M));  // padding rows
  for (int64_t j0 = L; j0 < H; j0 += ATTN_TILE) {
    load_tile(kv, &K, kv->k, kv->k_row, kd, kvh, j0, H, tile);
    K.qk(qt, mp, m_used, kd, tile, st + (j0 - L) * mp, kv->scale);
  }
  // Rows' key ranges relative to L; the padding rows have none.
  float *rows[ATTN_MAX_ROWS];
  int32_t lo[ATTN_MAX_ROWS], hi[ATTN_MAX_ROWS];
  for (int m = M; m < mp; m++) lo[m] = hi[m] = 0;
  for (int m = 0; m < M; m++) {
    int i = m / r->n_head;
    lo[m] = (int32_t)(r->lo[i] - L), hi[m] = (int32_t)(r->hi[i] - L);
    rows[m] = r->out + i * r->out_tok + (m % r->n_head) * r->out_head;
    memset(rows[m], 0, sizeof(float) * (size_t)vd);
  }
  if (kv->softcap > 0) softcap_rows(st, mp, M, (int)(end - L), lo, hi, kv->softcap);
  K.softmax(st, mp, M, (int)(end - L), lo, hi);
  for (int64_t j0 = L; j0 < H; j0 += ATTN_TILE) {
    load_tile(kv, &K, kv->v, kv->v_row, vd, kvh, j0, H, tile);
    for (int m = 0; m < M; m += K.pv_rows)
      K.pv(st + (j0 - L) * mp, mp, m, M - m < K.pv_rows ? M - m : K.pv_rows, tile, vd, rows + m);
  }
}
