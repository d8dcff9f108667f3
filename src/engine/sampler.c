// sampler: turns logits into the next token. The chain, in order: logit bias,
// repetition / presence / frequency penalties over the recent tokens, then
// (unless greedy) top-k, top-p, min-p, temperature and a draw from a seeded
// generator. Top-k and top-p pop candidates from a max-heap, so a step costs
// O(n_vocab) plus O(k log n_vocab), never a full sort of the vocabulary.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "llmux.h"

typedef struct {
  float logit;
  int32_t id;
} cand;

struct llmux_sampler {
  llmux_sampler_params p;
  llmux_logit_bias *bias;  // owned copy of p.logit_bias
  int n_vocab;
  cand *cands;             // (n_vocab)
  int32_t *counts;         // (n_vocab) occurrences in the window, zero between calls
  llmux_token *hist;       // ring of the last `cap` tokens (or all, when unbounded)
  int hist_n, hist_cap, hist_head;
  uint64_t rng;
};

llmux_sampler_params llmux_sampler_default_params(void) {
  llmux_sampler_params p = {0};
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.repeat_penalty = 1.0f;
  p.repeat_last_n = 64;
  p.seed = UINT64_MAX;  // random
  return p;
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits.
static float rng_uniform(uint64_t *s) { return (float)(splitmix64(s) >> 40) * (1.0f / 16777216.0f); }

static uint64_t seed_of(uint64_t seed) {
  if (seed != UINT64_MAX) return seed;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)&ts;
}

llmux_sampler *llmux_sampler_new(const llmux_sampler_params *params, int n_vocab) {
  llmux_sampler *s = calloc(1, sizeof *s);
  if (!s) goto fail;
  s->p = params ? *params : llmux_sampler_default_params();
  s->n_vocab = n_vocab;
  s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
  s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
  s->hist_cap = s->p.repeat_last_n < 0 ? 256 : s->p.repeat_last_n;
  s->hist = malloc((size_t)(s->hist_cap > 0 ? s->hist_cap : 1) * sizeof *s->hist);
  if (!s->cands || !s->counts || !s->hist) goto fail;
  if (s->p.n_logit_bias > 0) {
    s->bias = malloc((size_t)s->p.n_logit_bias * sizeof *s->bias);
    if (!s->bias) goto fail;
    memcpy(s->bias, s->p.logit_bias, (size_t)s->p.n_logit_bias * sizeof *s->bias);
  }
  s->p.logit_bias = s->bias;
  s->rng = seed_of(s->p.seed);
  return s;
fail:
  err_set("out of memory for a sampler over %d tokens", n_vocab);
  llmux_sampler_free(s);
  return NULL;
}

void llmux_sampler_free(llmux_sampler *s) {
  if (!s) return;
  free(s->cands);
  free(s->counts);
  free(s->hist);
  free(s->bias);
  free(s);
}

void llmux_sampler_reset(llmux_sampler *s) {
  s->hist_n = s->hist_head = 0;
  s->rng = seed_of(s->p.seed);
}

void llmux_sampler_accept(llmux_sampler *s, llmux_token t) {
  if (s->p.repeat_last_n < 0 && s->hist_n == s->hist_cap) {  // unbounded window: grow
    llmux_token *h = realloc(s->hist, (size_t)s->hist_cap * 2 * sizeof *h);
    if (!h) return;
    s->hist = h;
    s->hist_cap *= 2;
  }
  if (s->hist_cap == 0) return;
  s->hist[(s->hist_head + s->hist_n) % s->hist_cap] = t;
  if (s->hist_n < s->hist_cap) s->hist_n++;
  else s->hist_head = (s->hist_head + 1) % s->hist_cap;
}

static bool penalties_on(const llmux_sampler_params *p) {
  return p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f;
}

static void apply_penalties(llmux_sampler *s) {
  const llmux_sampler_params *p = &s->p;
  for (int i = 0; i < s->hist_n; i++) {
    llmux_token t = s->hist[(s->hist_head + i) % s->hist_cap];
    if (t >= 0 && t < s->n_vocab) s->counts[t]++;
  }
  for (int i = 0; i < s->hist_n; i++) {
    llmux_token t = s->hist[(s->hist_head + i) % s->hist_cap];
    if (t < 0 || t >= s->n_vocab || s->counts[t] == 0) continue;
    float *l = &s->cands[t].logit;
    if (p->repeat_penalty != 1.0f) *l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
    *l -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
    s->counts[t] = 0;  // each distinct token once; also leaves counts zeroed
  }
}

static void heap_sift(cand *h, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && h[l].logit > h[m].logit) m = l;
    if (r < n && h[r].logit > h[m].logit) m = r;
    if (m == i) return;
    cand t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

// Moves the k largest of the n candidates, in descending order, to the front,
// popping them from a max-heap; stops early once the popped probability mass
// (softmax with denominator `denom` around `max`) reaches mass_stop. Returns
// how many were moved.
static int pop_top(cand *c, int n, int k, float max, double denom, double mass_stop) {
  for (int i = n / 2 - 1; i >= 0; i--) heap_sift(c, n, i);
  // Popped items go to the back of the array (c[n-1], c[n-2], ...).
  int popped = 0, heap_n = n;
  double mass = 0;
  while (popped < k && heap_n > 0) {
    cand top = c[0];
    c[0] = c[--heap_n];
    heap_sift(c, heap_n, 0);
    c[n - 1 - popped++] = top;
    mass += exp((double)(top.logit - max)) / denom;
    if (mass >= mass_stop) break;
  }
  // Bring them to the front in descending order.
  for (int i = 0; i < popped; i++) {
    cand t = c[i];
    c[i] = c[n - 1 - i];
    c[n - 1 - i] = t;
  }
  return popped;
}

static float max_logit(const cand *c, int n) {
  float m = -INFINITY;
  for (int i = 0; i < n; i++) m = c[i].logit > m ? c[i].logit : m;
  return m;
}

static double softmax_denom(const cand *c, int n, float max) {
  double d = 0;
  for (int i = 0; i < n; i++) d += exp((double)(c[i].logit - max));
  return d;
}

// top-k then top-p over the candidates; returns how many remain (at c[0..n)).
static int truncate_top(llmux_sampler *s, int n) {
  const llmux_sampler_params *p = &s->p;
  if (p->top_k > 0 && p->top_k < n) n = pop_top(s->cands, n, p->top_k, 0, 1, INFINITY);
  if (p->top_p <= 0.0f || p->top_p >= 1.0f) return n;
  float max = max_logit(s->cands, n);
  return pop_top(s->cands, n, n, max, softmax_denom(s->cands, n, max), p->top_p);
}

static int filter_min_p(llmux_sampler *s, int n) {
  if (s->p.min_p <= 0.0f) return n;
  float cut = max_logit(s->cands, n) + logf(s->p.min_p);
  int k = 0;
  for (int i = 0; i < n; i++)
    if (s->cands[i].logit >= cut) s->cands[k++] = s->cands[i];
  return k;
}

// One pass of expf, its weights kept in the candidates' logit slots, then
// the draw: with the whole vocabulary in play (OpenAI's defaults turn every
// filter off) this is the sampler's main cost, so exp runs once per token.
static llmux_token draw(llmux_sampler *s, int n) {
  float max = max_logit(s->cands, n), inv_t = 1.0f / s->p.temperature;
  double total = 0;
  for (int i = 0; i < n; i++) {
    float w = expf((s->cands[i].logit - max) * inv_t);
    s->cands[i].logit = w;
    total += w;
  }
  double r = (double)rng_uniform(&s->rng) * total, acc = 0;
  for (int i = 0; i < n; i++) {
    acc += s->cands[i].logit;
    if (acc > r) return s->cands[i].id;
  }
  return s->cands[n - 1].id;
}

static llmux_token argmax(const cand *c, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (c[i].logit > c[best].logit) best = i;
  return c[best].id;
}

static llmux_token argmax_logits(const float *l, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (l[i] > l[best]) best = i;
  return best;
}

llmux_token llmux_sampler_sample(llmux_sampler *s, const float *logits) {
  int n = s->n_vocab;
  if (s->p.temperature <= 0.0f && s->p.n_logit_bias == 0 && !penalties_on(&s->p)) return argmax_logits(logits, n);
  for (int i = 0; i < n; i++) s->cands[i] = (cand){logits[i], i};
  for (int i = 0; i < s->p.n_logit_bias; i++) {
    llmux_token t = s->p.logit_bias[i].token;
    if (t >= 0 && t < n) s->cands[t].logit += s->p.logit_bias[i].bias;
  }
  if (penalties_on(&s->p)) apply_penalties(s);
  if (s->p.temperature <= 0.0f) return argmax(s->cands, n);
  n = truncate_top(s, n);
  n = filter_min_p(s, n);
  return draw(s, n);
}
