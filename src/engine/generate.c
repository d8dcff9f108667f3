// generate: prompt in, text out, for one sequence (llmux_generate in llmux.h).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/context.h"
#include "engine/textstream.h"

llmux_generate_params llmux_generate_default_params(void) {
  llmux_generate_params p = {0};
  p.add_special = true;
  p.sampling = llmux_sampler_default_params();
  return p;
}

// Tokenizes the prompt into a malloc'd array; NULL with the error set on failure.
static llmux_token *tokenize_prompt(const llmux_model *m, const char *prompt, const llmux_generate_params *p,
                                    int *n_out) {
  size_t len = strlen(prompt);
  int n = llmux_tokenize(m, prompt, len, NULL, 0, p->add_special, p->parse_special);
  if (n == INT32_MIN) return NULL;
  if (n < 0) n = -n;
  llmux_token *toks = malloc((size_t)(n ? n : 1) * sizeof *toks);
  if (!toks) {
    err_set("out of memory tokenizing the prompt");
    return NULL;
  }
  *n_out = llmux_tokenize(m, prompt, len, toks, n, p->add_special, p->parse_special);
  if (*n_out < 0) {
    free(toks);
    err_set("tokenizing the prompt failed");
    return NULL;
  }
  return toks;
}

int llmux_generate(llmux_context *c, const char *prompt, const llmux_generate_params *params, llmux_text_fn on_text,
                   void *user) {
  llmux_generate_params p = params ? *params : llmux_generate_default_params();
  const llmux_model *m = c->model;
  int n_prompt = 0, n_gen = 0;
  llmux_token *toks = tokenize_prompt(m, prompt, &p, &n_prompt);
  if (!toks) return -1;
  if (n_prompt == 0 || n_prompt >= c->n_ctx) {
    err_set(n_prompt ? "the prompt is %d tokens, which does not fit the context of %d tokens"
                     : "the prompt is empty and the model adds no BOS token",
            n_prompt, c->n_ctx);
    free(toks);
    return -1;
  }
  llmux_sampler *s = llmux_sampler_new(&p.sampling, m->hp.n_vocab);
  textstream ts;
  textstream_init(&ts, p.stop, p.n_stop, on_text, user);
  int rc = s ? llmux_decode(c, toks, n_prompt, 0, false) : -1;
  for (int i = 0; s && i < n_prompt; i++) llmux_sampler_accept(s, toks[i]);
  int pos = n_prompt;
  bool after_lone_bos = n_prompt == 1 && toks[0] == llmux_token_bos(m);
  while (rc == 0 && (p.max_tokens <= 0 || n_gen < p.max_tokens)) {
    llmux_token t = llmux_sampler_sample(s, llmux_logits(c, -1));
    if (llmux_token_is_eog(m, t)) break;
    llmux_sampler_accept(s, t);
    n_gen++;
    char piece[256];
    int len = textstream_piece(m, after_lone_bos, t, piece, sizeof piece, false);
    after_lone_bos = false;
    if (len > 0 && !textstream_push(&ts, piece, (size_t)len)) break;
    if (pos >= c->n_ctx) break;
    rc = llmux_decode(c, &t, 1, pos++, false);
  }
  textstream_finish(&ts);
  textstream_free(&ts);
  llmux_sampler_free(s);
  free(toks);
  return rc == 0 ? n_gen : -1;
}
