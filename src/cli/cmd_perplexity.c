// cmd_perplexity: `llmux perplexity -m FILE -f TEXT [-c CTX]`: perplexity over
// a text in windows of CTX tokens, computed as the reference engine does so
// that numbers compare across engines: each window starts with BOS and runs
// from position 0; the logits at positions CTX/2 .. CTX-2 score the next token.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) buf[n] = 0, *len = (size_t)n;
  return buf;
}

// Negative log-likelihood of `target` under the logits, in double.
static double nll(const float *logits, int n_vocab, int target) {
  float max = logits[0];
  for (int i = 1; i < n_vocab; i++) max = logits[i] > max ? logits[i] : max;
  double sum = 0;
  for (int i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - max));
  return log(sum) - (double)(logits[target] - max);
}

static int score(llmux_model *m, llmux_context *c, const llmux_token *toks, int n_tok, int ctx, bool json) {
  int n_chunks = n_tok / ctx, n_vocab = llmux_model_n_vocab(m);
  if (n_chunks == 0) {
    fprintf(stderr, "llmux perplexity: the text is %d tokens, fewer than one window of %d\n", n_tok, ctx);
    return 1;
  }
  llmux_token *win = malloc(sizeof *win * (size_t)ctx);
  double total = 0;
  long counted = 0;
  for (int k = 0; win && k < n_chunks; k++) {
    memcpy(win, toks + (size_t)k * ctx, sizeof *win * (size_t)ctx);
    if (llmux_token_bos(m) >= 0) win[0] = llmux_token_bos(m);
    if (llmux_decode(c, win, ctx, 0, true) < 0) {
      fprintf(stderr, "llmux perplexity: %s\n", llmux_last_error());
      free(win);
      return 1;
    }
    for (int i = ctx / 2; i <= ctx - 2; i++, counted++) total += nll(llmux_logits(c, i), n_vocab, toks[(size_t)k * ctx + i + 1]);
    fprintf(stderr, "[%d/%d] %.4f\n", k + 1, n_chunks, exp(total / (double)counted));
  }
  free(win);
  double ppl = exp(total / (double)counted);
  if (json) printf("{\"perplexity\": %.6f, \"chunks\": %d, \"ctx\": %d, \"scored_tokens\": %ld}\n", ppl, n_chunks, ctx, counted);
  else printf("perplexity: %.4f (%d chunks of %d tokens)\n", ppl, n_chunks, ctx);
  return 0;
}

int cmd_perplexity(int argc, char **argv) {
  const char *model = NULL, *file = NULL;
  llmux_context_params cp = llmux_context_default_params();
  cp.n_ctx = 512;
  bool json = false;
  for (int i = 1; i < argc; i++) {
    if (arg_flag(argv, i, "--help")) {
      printf("usage: llmux perplexity -m FILE -f TEXT_FILE [-c CTX] [-t THREADS] [--json]\n");
      return 0;
    } else if (arg_str(argc, argv, &i, "-m", "--model", &model) || arg_str(argc, argv, &i, "-f", "--file", &file) ||
               arg_int(argc, argv, &i, "-c", "--ctx-size", &cp.n_ctx) ||
               arg_int(argc, argv, &i, "-t", "--threads", &cp.n_threads)) {
    } else if (arg_flag(argv, i, "--json")) {
      json = true;
    } else {
      return arg_unknown("perplexity", argv[i]);
    }
  }
  if (!file) return fprintf(stderr, "llmux perplexity: no text file given (use -f FILE)\n"), 2;
  if (cp.n_ctx < 4) return fprintf(stderr, "llmux perplexity: -c must be at least 4\n"), 2;
  size_t len = 0;
  char *text = read_file(file, &len);
  if (!text) return fprintf(stderr, "llmux perplexity: cannot read %s\n", file), 1;
  llmux_model *m = cli_load_model("perplexity", model);
  cp.n_batch = cp.n_ctx;
  llmux_context *c = m ? llmux_context_new(m, &cp) : NULL;
  int rc = 1;
  if (m && !c) fprintf(stderr, "llmux perplexity: %s\n", llmux_last_error());
  int n = c ? llmux_tokenize(m, text, len, NULL, 0, true, false) : 0;
  llmux_token *toks = c && n != INT32_MIN ? malloc(sizeof *toks * (size_t)(n < 0 ? -n : 1)) : NULL;
  if (toks && llmux_tokenize(m, text, len, toks, -n, true, false) == -n) rc = score(m, c, toks, -n, cp.n_ctx, json);
  free(toks);
  free(text);
  llmux_context_free(c);
  llmux_model_free(m);
  return rc;
}
