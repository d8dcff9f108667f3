// sched: the scheduler thread and its step loop; see sched.h.
#include "engine/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/context.h"
#include "engine/json_schema.h"
#include "engine/sched_internal.h"
#include "engine/textstream.h"

#define PREFIX_WAIT_MIN 8  // prompt tokens worth waiting a step for instead of computing them again

typedef struct {
  sched_req *req;        // NULL when free
  llmux_token *cache;    // (n_ctx) tokens whose KV this slot's cells hold, from position 0
  int n_cache;
  bool decoding;         // the prompt is in; `next` is the token to feed
  llmux_token next;
  llmux_sampler *smp;
  textstream ts;
  int n_gen;
  bool after_lone_bos;
  uint64_t last_used;    // step of the last use: the least recently used free slot goes first
  jsm_state *js, *js_probe;  // the output's place in the request's JSON schema, and a scratch copy
  float *masked;             // (n_vocab) logits with what the schema forbids removed
  sched_tokinfo picked;      // this step's token, before it is handed over
  bool pick_banned;          // the schema allowed no token at all
} slot;

struct sched {
  llmux_model *m;
  llmux_context *c;
  sched_config cfg;
  sched_stats stats;
  slot *slots;
  pthread_t thread;
  pthread_mutex_t mu;  // guards the queue and the stop flag
  pthread_cond_t cv;
  sched_req *q_head, *q_tail;
  int q_len;
  bool stopping;
  double deadline;
  uint64_t step;
  int prefill_turn;  // slot that gets the prefill budget first, rotating for fairness
  jsm_vocab *vocab;     // token pieces for constrained decoding, built at the first schema
  llmux_token *eog;     // end-of-generation tokens
  int n_eog;
  // one batch: token, position, sequence, logits wanted, slot of each entry
  int32_t *b_tok, *b_pos, *b_seq;
  bool *b_want;
};

sched_config sched_default_config(void) {
  return (sched_config){.n_slot = 4, .n_ctx = 2048, .n_batch = 512, .max_queue = 64, .prefill_chunk = 128};
}

const sched_config *sched_get_config(const sched *s) { return &s->cfg; }
const sched_stats *sched_get_stats(const sched *s) { return &s->stats; }
llmux_model *sched_model(const sched *s) { return s->m; }

// ---- finishing and starting requests in slots --------------------------------------------

static void slot_finish(sched *s, slot *sl, sched_finish why, const char *error) {
  sched_req *r = sl->req;
  if (why != SCHED_CANCELLED && why != SCHED_ERROR) textstream_finish(&sl->ts);
  textstream_free(&sl->ts);
  llmux_sampler_free(sl->smp);
  sl->smp = NULL;
  jsm_state_free(sl->js);
  jsm_state_free(sl->js_probe);
  sl->js = sl->js_probe = NULL;
  sl->req = NULL;
  sl->decoding = false;
  sl->last_used = s->step;
  r->slot = -1;
  atomic_fetch_sub_explicit(&s->stats.busy_slots, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->stats.requests_done, 1, memory_order_relaxed);
  sched_req_finish(r, why, error);
  sched_req_release(r);
}

static bool emit_text(const char *text, size_t len, void *user) {
  return sched_req_add_text(user, text, len);
}

static int common_prefix(const llmux_token *a, int na, const llmux_token *b, int nb) {
  int n = na < nb ? na : nb, i = 0;
  while (i < n && a[i] == b[i]) i++;
  return i;
}

// The free slot to run r in: the longest cached prefix of its prompt, then the
// least recently used. -1 when every slot is busy.
static int pick_slot(const sched *s, const sched_req *r) {
  int best = -1, best_len = -1;
  for (int i = 0; i < s->cfg.n_slot; i++) {
    const slot *sl = &s->slots[i];
    if (sl->req) continue;
    int len = common_prefix(sl->cache, sl->n_cache, r->p.prompt, r->p.n_prompt);
    if (len > best_len || (len == best_len && sl->last_used < s->slots[best].last_used)) {
      best = i;
      best_len = len;
    }
  }
  return best;
}

// ---- constrained decoding ---------------------------------------------------------------------------

static bool build_vocab(sched *s) {
  int n = llmux_model_n_vocab(s->m);
  char **pieces = calloc((size_t)n, sizeof *pieces);
  size_t *lens = calloc((size_t)n, sizeof *lens);
  bool ok = pieces && lens;
  for (int t = 0; ok && t < n; t++) {
    char buf[512];
    int len = llmux_token_to_piece(s->m, t, buf, sizeof buf, false);
    lens[t] = len > 0 ? (size_t)len : 0;
    ok = (pieces[t] = malloc(lens[t] + 1)) != NULL;
    if (ok) memcpy(pieces[t], buf, lens[t]);
  }
  if (ok) s->vocab = jsm_vocab_new((const char *const *)pieces, lens, n);
  for (int t = 0; pieces && t < n; t++) free(pieces[t]);
  free(pieces);
  free(lens);
  return s->vocab != NULL;
}

static bool start_schema(sched *s, slot *sl) {
  if (!s->vocab && !build_vocab(s)) return false;
  if (!sl->masked) sl->masked = malloc((size_t)llmux_model_n_vocab(s->m) * sizeof(float));
  sl->js = jsm_state_new(sl->req->p.schema);
  sl->js_probe = jsm_state_new(sl->req->p.schema);
  return sl->masked && sl->js && sl->js_probe;
}

// The logits with every token the schema forbids removed; end of generation
// only once the document is complete.
static const float *constrain(sched *s, slot *sl, const float *logits) {
  int n = llmux_model_n_vocab(s->m);
  memcpy(sl->masked, logits, (size_t)n * sizeof(float));
  jsm_mask(sl->js, s->vocab, sl->masked);
  bool done = jsm_complete(sl->js);
  for (int k = 0; k < s->n_eog; k++) sl->masked[s->eog[k]] = done ? logits[s->eog[k]] : -INFINITY;
  return sl->masked;
}

// Whether a complete document could still grow (a number), else the request ends here.
static bool schema_can_grow(slot *sl) {
  static const char MORE[] = "0123456789.eE+-";
  for (const char *c = MORE; *c; c++)
    if (jsm_state_copy(sl->js_probe, sl->js) && jsm_feed(sl->js_probe, c, 1)) return true;
  return false;
}

// The slot (other than i) whose cached tokens share the longest prefix with
// r's prompt, if longer than `than`; its length in *len.
static int best_donor(const sched *s, int i, const sched_req *r, int than, int *len) {
  int donor = -1;
  *len = than;
  for (int j = 0; j < s->cfg.n_slot; j++) {
    if (j == i) continue;
    const slot *d = &s->slots[j];
    int l = common_prefix(d->cache, d->n_cache, r->p.prompt, r->p.n_prompt);
    if (l > *len) {
      donor = j;
      *len = l;
    }
  }
  return donor;
}

static void slot_start(sched *s, int i, sched_req *r) {
  slot *sl = &s->slots[i];
  int keep = common_prefix(sl->cache, sl->n_cache, r->p.prompt, r->p.n_prompt), shared;
  // Another slot (running or idle) may hold more of the prompt: copy its cells.
  int donor = r->p.embed ? -1 : best_donor(s, i, r, keep, &shared);
  if (donor >= 0) {
    if (shared >= r->p.n_prompt) shared = r->p.n_prompt - 1;
    context_copy_cells(s->c, donor, i, keep, shared);
    memcpy(sl->cache + keep, s->slots[donor].cache + keep, (size_t)(shared - keep) * sizeof *sl->cache);
    keep = shared;
  }
  if (keep >= r->p.n_prompt) keep = r->p.n_prompt - 1;  // the last prompt token must run to give logits
  if (r->p.embed) keep = 0;                              // an embedding runs its input whole
  sl->n_cache = keep;
  sl->req = r;
  sl->n_gen = 0;
  sl->decoding = false;
  sl->after_lone_bos = r->p.n_prompt == 1 && r->p.prompt[0] == llmux_token_bos(s->m);
  r->slot = i;
  r->n_cached = keep;
  textstream_init(&sl->ts, r->p.stop, r->p.n_stop, emit_text, r);
  atomic_fetch_add_explicit(&s->stats.busy_slots, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->stats.prompt_tokens, r->p.n_prompt, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->stats.cached_prompt_tokens, keep, memory_order_relaxed);
  sl->smp = llmux_sampler_new(&r->p.sampling, llmux_model_n_vocab(s->m));
  if (!sl->smp) {
    slot_finish(s, sl, SCHED_ERROR, "out of memory creating the sampler");
    return;
  }
  for (int k = 0; k < r->p.n_prompt; k++) llmux_sampler_accept(sl->smp, r->p.prompt[k]);
  if (r->p.schema && !start_schema(s, sl)) slot_finish(s, sl, SCHED_ERROR, "out of memory starting constrained decoding");
}

// Whether r should wait a step or more: a slot still prefilling the same
// prompt start (the other choices of an n > 1 request, or a shared system
// prompt) will soon hold more of it than slot i does, to be copied.
static bool wait_for_prefill(const sched *s, int i, const sched_req *r) {
  if (r->p.embed) return false;
  const slot *sl = &s->slots[i];
  int have = common_prefix(sl->cache, sl->n_cache, r->p.prompt, r->p.n_prompt), shared;
  best_donor(s, i, r, have, &shared);
  for (int j = 0; j < s->cfg.n_slot; j++) {
    const slot *d = &s->slots[j];
    if (!d->req || d->decoding || d->req->p.embed) continue;
    int will = common_prefix(d->req->p.prompt, d->req->p.n_prompt, r->p.prompt, r->p.n_prompt);
    if (will > shared + PREFIX_WAIT_MIN) return true;
  }
  return false;
}

// Moves queued requests into free slots; drops the cancelled ones.
static void admit(sched *s) {
  pthread_mutex_lock(&s->mu);
  while (s->q_head) {
    sched_req *r = s->q_head;
    int i = atomic_load(&r->cancelled) ? -2 : pick_slot(s, r);
    if (i == -1 || (i >= 0 && wait_for_prefill(s, i, r))) break;
    s->q_head = r->next;
    if (!s->q_head) s->q_tail = NULL;
    s->q_len--;
    if (i == -2) {
      sched_req_finish(r, SCHED_CANCELLED, NULL);
      sched_req_release(r);
      continue;
    }
    slot_start(s, i, r);
  }
  atomic_store_explicit(&s->stats.queued, s->q_len, memory_order_relaxed);
  pthread_mutex_unlock(&s->mu);
}

// ---- one step ---------------------------------------------------------------------------------

static void batch_add(sched *s, int *n, llmux_token t, int pos, int seq, bool want) {
  s->b_tok[*n] = t;
  s->b_pos[*n] = pos;
  s->b_seq[*n] = seq;
  s->b_want[*n] = want;
  (*n)++;
}

// Fills the batch: every decoding slot's next token, then prompt chunks.
static int build_batch(sched *s) {
  int n = 0, n_slot = s->cfg.n_slot;
  for (int i = 0; i < n_slot; i++) {
    slot *sl = &s->slots[i];
    if (!sl->req || !sl->decoding) continue;
    batch_add(s, &n, sl->next, sl->n_cache, i, true);
    sl->cache[sl->n_cache++] = sl->next;
  }
  int budget = s->c->n_batch - n;
  if (n > 0 && budget > s->cfg.prefill_chunk) budget = s->cfg.prefill_chunk;
  for (int k = 0; k < n_slot && budget > 0; k++) {
    int i = (s->prefill_turn + k) % n_slot;
    slot *sl = &s->slots[i];
    if (!sl->req || sl->decoding || sl->req->p.embed) continue;
    const sched_params *p = &sl->req->p;
    int take = p->n_prompt - sl->n_cache;
    if (take > budget) take = budget;
    for (int j = 0; j < take; j++) {
      int pos = sl->n_cache;
      batch_add(s, &n, p->prompt[pos], pos, i, pos == p->n_prompt - 1);
      sl->cache[sl->n_cache++] = p->prompt[pos];
    }
    budget -= take;
  }
  s->prefill_turn = (s->prefill_turn + 1) % n_slot;
  return n;
}

// Samples slot i's next token from logits and hands it to the request.
// Picks slot sl's next token from logits (constrained, sampled, with its
// log-probabilities): the part of sampling that touches only the slot, so the
// slots of a step are sampled in parallel on the pool.
static void slot_pick(sched *s, slot *sl, const float *logits) {
  const sched_params *p = &sl->req->p;
  const float *allowed = sl->js ? constrain(s, sl, logits) : logits;
  llmux_token t = llmux_sampler_sample(sl->smp, allowed);
  sl->picked = (sched_tokinfo){.token = t, .t = sched_now()};
  sl->pick_banned = sl->js && allowed[t] == -INFINITY;
  if (p->top_logprobs >= 0) sched_logprobs(logits, llmux_model_n_vocab(s->m), t, p->top_logprobs, &sl->picked);
}

typedef struct {
  sched *s;
  int n;  // batch entries
} pick_job;

static void pick_worker(void *arg, int ith, int nth) {
  pick_job *j = arg;
  int k = 0;
  for (int i = 0; i < j->n; i++) {
    if (!j->s->b_want[i]) continue;
    if (k++ % nth == ith) slot_pick(j->s, &j->s->slots[j->s->b_seq[i]], llmux_logits(j->s->c, i));
  }
}

// Hands slot sl's picked token to its request and decides whether it goes on.
static void slot_take(sched *s, slot *sl) {
  sched_req *r = sl->req;
  const sched_params *p = &r->p;
  llmux_token t = sl->picked.token;
  sl->decoding = true;
  if (sl->pick_banned) {
    slot_finish(s, sl, SCHED_ERROR, "constrained decoding: no token of the vocabulary can continue the JSON document");
    return;
  }
  if (llmux_token_is_eog(s->m, t) && !p->ignore_eos) {
    slot_finish(s, sl, SCHED_STOP, NULL);
    return;
  }
  llmux_sampler_accept(sl->smp, t);
  sl->n_gen++;
  atomic_fetch_add_explicit(&s->stats.generated_tokens, 1, memory_order_relaxed);
  char piece[256];
  int len = textstream_piece(s->m, sl->after_lone_bos && !p->special_text, t, piece, sizeof piece, p->special_text);
  sl->after_lone_bos = false;
  if (!sched_req_add_token(r, &sl->picked)) {
    slot_finish(s, sl, SCHED_ERROR, "out of memory");
    return;
  }
  if (len > 0 && !textstream_push(&sl->ts, piece, (size_t)len)) {
    slot_finish(s, sl, SCHED_STOP, NULL);
    return;
  }
  if (sl->js && len > 0 && jsm_feed(sl->js, piece, (size_t)len) && jsm_complete(sl->js) && !schema_can_grow(sl)) {
    slot_finish(s, sl, SCHED_STOP, NULL);
    return;
  }
  if ((p->max_tokens > 0 && sl->n_gen >= p->max_tokens) || sl->n_cache >= s->c->n_ctx) {
    slot_finish(s, sl, SCHED_LENGTH, NULL);
    return;
  }
  sl->next = t;
}

static void drop_cancelled(sched *s) {
  for (int i = 0; i < s->cfg.n_slot; i++) {
    slot *sl = &s->slots[i];
    if (sl->req && atomic_load(&sl->req->cancelled)) slot_finish(s, sl, SCHED_CANCELLED, NULL);
  }
}

static void update_kv_stat(sched *s) {
  long used = 0;
  for (int i = 0; i < s->cfg.n_slot; i++) used += s->slots[i].n_cache;
  atomic_store_explicit(&s->stats.kv_cells_used, used, memory_order_relaxed);
}

// Embedding requests run whole, each on its slot's sequence; the slot's
// cache then holds their tokens, so a later prompt may reuse them.
static void run_embeddings(sched *s) {
  for (int i = 0; i < s->cfg.n_slot; i++) {
    slot *sl = &s->slots[i];
    if (!sl->req || !sl->req->p.embed) continue;
    sched_req *r = sl->req;
    float *out = malloc((size_t)llmux_model_n_embd(s->m) * sizeof *out);
    int rc = out ? embed_sequence(s->c, i, r->p.prompt, r->p.n_prompt, out, true) : -1;
    const char *msg = rc == 0 ? NULL : out ? err_get() : "out of memory";
    sl->n_cache = 0;
    if (rc == 0) {
      memcpy(sl->cache, r->p.prompt, (size_t)r->p.n_prompt * sizeof *sl->cache);
      sl->n_cache = r->p.n_prompt;
      pthread_mutex_lock(&r->mu);
      r->embd = out;
      pthread_mutex_unlock(&r->mu);
    } else {
      free(out);
    }
    slot_finish(s, sl, rc == 0 ? SCHED_STOP : SCHED_ERROR, msg);
  }
}

static void run_step(sched *s) {
  run_embeddings(s);
  int n = build_batch(s);
  if (n == 0) return;
  s->step++;
  fwd_batch b = {.n = n, .tokens = s->b_tok, .pos = s->b_pos, .seq = s->b_seq, .want_logits = s->b_want};
  if (decoder_forward(s->c, &b) != 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "forward pass failed: %s", err_get());
    for (int i = 0; i < s->cfg.n_slot; i++) {
      s->slots[i].n_cache = 0;
      if (s->slots[i].req) slot_finish(s, &s->slots[i], SCHED_ERROR, msg);
    }
    return;
  }
  pick_job pj = {s, n};
  pool_run(s->c->pool, pick_worker, &pj);
  for (int k = 0; k < n; k++)
    if (s->b_want[k]) slot_take(s, &s->slots[s->b_seq[k]]);
  atomic_fetch_add_explicit(&s->stats.steps, 1, memory_order_relaxed);
  update_kv_stat(s);
}

// ---- the thread -----------------------------------------------------------------------------------

static int busy_slots(const sched *s) {
  int n = 0;
  for (int i = 0; i < s->cfg.n_slot; i++) n += s->slots[i].req != NULL;
  return n;
}

static void cancel_all(sched *s) {
  pthread_mutex_lock(&s->mu);
  for (sched_req *r = s->q_head; r; r = r->next) sched_cancel(r);
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < s->cfg.n_slot; i++)
    if (s->slots[i].req) sched_cancel(s->slots[i].req);
}

// Sleeps until there is a request or a stop; returns false when the loop should end.
static bool wait_for_work(sched *s) {
  pthread_mutex_lock(&s->mu);
  while (!s->q_head && !s->stopping) pthread_cond_wait(&s->cv, &s->mu);
  bool go_on = s->q_head || !s->stopping;
  pthread_mutex_unlock(&s->mu);
  return go_on;
}

static void *sched_main(void *arg) {
  sched *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    bool stopping = s->stopping, late = stopping && sched_now() > s->deadline;
    pthread_mutex_unlock(&s->mu);
    if (late) cancel_all(s);
    drop_cancelled(s);
    admit(s);
    if (busy_slots(s) == 0 && !wait_for_work(s)) break;
    run_step(s);
  }
  return NULL;
}

// ---- life cycle -------------------------------------------------------------------------------------

static bool alloc_buffers(sched *s) {
  int nb = s->c->n_batch, ns = s->cfg.n_slot;
  s->slots = calloc((size_t)ns, sizeof *s->slots);
  s->b_tok = malloc((size_t)nb * sizeof *s->b_tok);
  s->b_pos = malloc((size_t)nb * sizeof *s->b_pos);
  s->b_seq = malloc((size_t)nb * sizeof *s->b_seq);
  s->b_want = malloc((size_t)nb * sizeof *s->b_want);
  if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_want) return false;
  int n_vocab = llmux_model_n_vocab(s->m);
  for (int t = 0; t < n_vocab; t++) s->n_eog += llmux_token_is_eog(s->m, t);
  s->eog = malloc((size_t)(s->n_eog ? s->n_eog : 1) * sizeof *s->eog);
  if (!s->eog) return false;
  for (int t = 0, k = 0; t < n_vocab; t++)
    if (llmux_token_is_eog(s->m, t)) s->eog[k++] = t;
  for (int i = 0; i < ns; i++)
    if (!(s->slots[i].cache = malloc((size_t)s->c->n_ctx * sizeof(llmux_token)))) return false;
  return true;
}

static void free_buffers(sched *s) {
  for (int i = 0; s->slots && i < s->cfg.n_slot; i++) {
    free(s->slots[i].cache);
    free(s->slots[i].masked);
  }
  jsm_vocab_free(s->vocab);
  free(s->eog);
  free(s->slots);
  free(s->b_tok);
  free(s->b_pos);
  free(s->b_seq);
  free(s->b_want);
}

sched *sched_new(llmux_model *m, const sched_config *cfg) {
  sched *s = calloc(1, sizeof *s);
  if (!s) return err_set("out of memory"), NULL;
  s->m = m;
  s->cfg = cfg ? *cfg : sched_default_config();
  if (s->cfg.n_slot < 1) s->cfg.n_slot = 1;
  if (s->cfg.prefill_chunk < 1) s->cfg.prefill_chunk = 128;
  llmux_context_params cp = llmux_context_default_params();
  cp.n_ctx = s->cfg.n_ctx;
  cp.n_batch = s->cfg.n_batch;
  cp.n_threads = s->cfg.n_threads;
  s->c = context_new(m, &cp, s->cfg.n_slot);
  if (!s->c) goto fail;
  s->cfg.n_ctx = s->c->n_ctx;
  s->cfg.n_batch = s->c->n_batch;
  if (!alloc_buffers(s)) {
    err_set("out of memory allocating the scheduler's buffers");
    goto fail;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
    err_set("cannot start the scheduler thread");
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    goto fail;
  }
  return s;
fail:
  free_buffers(s);
  if (s->c) llmux_context_free(s->c);
  free(s);
  return NULL;
}

void sched_shutdown(sched *s, double deadline_s) {
  pthread_mutex_lock(&s->mu);
  double deadline = sched_now() + deadline_s;
  if (!s->stopping || deadline < s->deadline) s->deadline = deadline;
  s->stopping = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

void sched_free(sched *s, double deadline_s) {
  if (!s) return;
  sched_shutdown(s, deadline_s);
  pthread_join(s->thread, NULL);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free_buffers(s);
  llmux_context_free(s->c);
  free(s);
}

sched_req *sched_submit(sched *s, const sched_params *p, sched_status *status, char *err, size_t err_size) {
  *status = SCHED_E_INVALID;
  if (p->n_prompt < 1) return snprintf(err, err_size, "the prompt is empty"), NULL;
  if (p->embed && p->n_prompt > s->cfg.n_ctx)
    return snprintf(err, err_size, "the input is %d tokens, more than the context of %d tokens", p->n_prompt, s->cfg.n_ctx), NULL;
  if (!p->embed && p->n_prompt >= s->cfg.n_ctx)
    return snprintf(err, err_size, "the prompt is %d tokens, which does not fit a context of %d tokens (with room for at least one generated token)", p->n_prompt, s->cfg.n_ctx), NULL;
  if (p->max_tokens > 0 && p->n_prompt + p->max_tokens > s->cfg.n_ctx)
    return snprintf(err, err_size, "the prompt (%d tokens) plus max_tokens (%d) exceed the context of %d tokens", p->n_prompt, p->max_tokens, s->cfg.n_ctx), NULL;
  sched_req *r = sched_req_new(p);
  if (!r) {
    *status = SCHED_E_NOMEM;
    return snprintf(err, err_size, "out of memory"), NULL;
  }
  pthread_mutex_lock(&s->mu);
  if (s->stopping || s->q_len >= s->cfg.max_queue) {
    pthread_mutex_unlock(&s->mu);
    *status = s->stopping ? SCHED_E_STOPPING : SCHED_E_FULL;
    snprintf(err, err_size, s->stopping ? "the server is shutting down" : "too many requests are waiting; retry later");
    atomic_store(&r->refs, 1);
    sched_req_release(r);
    return NULL;
  }
  if (s->q_tail) s->q_tail->next = r;
  else s->q_head = r;
  s->q_tail = r;
  s->q_len++;
  atomic_store_explicit(&s->stats.queued, s->q_len, memory_order_relaxed);
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  *status = SCHED_OK;
  return r;
}

void sched_logprobs(const float *logits, int n_vocab, llmux_token token, int n_top, sched_tokinfo *ti) {
  float mx = logits[0];
  for (int i = 1; i < n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
  double sum = 0;
  for (int i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - mx));
  float lse = mx + (float)log(sum);
  ti->logprob = logits[token] - lse;
  if (n_top > SCHED_MAX_TOP) n_top = SCHED_MAX_TOP;
  ti->n_top = 0;
  for (int i = 0; i < n_vocab && n_top > 0; i++) {
    int k = ti->n_top;
    if (k == n_top && logits[i] - lse <= ti->top_logprob[k - 1]) continue;
    if (k < n_top) ti->n_top++;
    else k--;
    while (k > 0 && ti->top_logprob[k - 1] < logits[i] - lse) {
      ti->top_token[k] = ti->top_token[k - 1];
      ti->top_logprob[k] = ti->top_logprob[k - 1];
      k--;
    }
    ti->top_token[k] = i;
    ti->top_logprob[k] = logits[i] - lse;
  }
}
