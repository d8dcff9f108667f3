// rope: rotary position embeddings, plain and NeoX layouts, with frequency
// scaling (linear, llama3 factors) and YaRN. The angle of pair i is
// pos * base^(-2i/n_rot), computed by repeated multiplication in float as the
// reference does, so that long positions round the same way.
#include <math.h>

#include "ops/ops.h"

static float yarn_ramp(float low, float high, int i0) {
  float y = ((float)(i0 / 2) - low) / fmaxf(0.001f, high - low);
  return 1.0f - fminf(1.0f, fmaxf(0.0f, y));
}

static float corr_dim(int n_rot, int n_ctx_orig, float n_rotations, float base) {
  return (float)n_rot * logf((float)n_ctx_orig / (n_rotations * 2.0f * (float)M_PI)) / (2.0f * logf(base));
}

void op_rope_cache(const rope_params *rp, int32_t pos, float *cs) {
  float theta_scale = powf(rp->freq_base, -2.0f / (float)rp->n_rot);
  float low = 0, high = 0;
  if (rp->ext_factor != 0.0f) {
    low = fmaxf(0.0f, floorf(corr_dim(rp->n_rot, rp->n_ctx_orig, rp->beta_fast, rp->freq_base)));
    high = fminf((float)(rp->n_rot - 1), ceilf(corr_dim(rp->n_rot, rp->n_ctx_orig, rp->beta_slow, rp->freq_base)));
  }
  float theta_base = (float)pos;
  for (int i0 = 0; i0 < rp->n_rot; i0 += 2) {
    float ff = rp->freq_factors ? rp->freq_factors[i0 / 2] : 1.0f;
    float theta_extrap = theta_base / ff;
    float theta = rp->freq_scale * theta_extrap;
    float mscale = rp->attn_factor;
    if (rp->ext_factor != 0.0f) {
      float mix = yarn_ramp(low, high, i0) * rp->ext_factor;
      theta = theta * (1 - mix) + theta_extrap * mix;
      mscale *= 1.0f + 0.1f * logf(1.0f / rp->freq_scale);
    }
    cs[i0] = cosf(theta) * mscale;
    cs[i0 + 1] = sinf(theta) * mscale;
    theta_base *= theta_scale;
  }
}

void op_rope_apply(const rope_params *rp, const float *cs, float *x, int n_head, int head_dim) {
  int half = rp->n_rot / 2;
  for (int h = 0; h < n_head; h++) {
    float *v = x + (int64_t)h * head_dim;
    for (int i0 = 0; i0 < rp->n_rot; i0 += 2) {
      int a = rp->kind == ROPE_NEOX ? i0 / 2 : i0;
      int b = rp->kind == ROPE_NEOX ? i0 / 2 + half : i0 + 1;
      float c = cs[i0], s = cs[i0 + 1];
      float x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}
