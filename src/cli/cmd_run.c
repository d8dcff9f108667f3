// cmd_run: `llmux run -m FILE -p TEXT`: generate from a prompt and print only
// the generated text on stdout.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"

#define MAX_STOP 16

static const char USAGE[] =
  "usage: llmux run -m FILE -p TEXT [options]\n"
  "  -m, --model FILE       GGUF model\n"
  "  -p, --prompt TEXT      prompt (- reads it from stdin)\n"
  "  -n, --n-predict N      tokens to generate (default: until end of text or full context)\n"
  "  --temp T               temperature (default 0.8; 0 is greedy)\n"
  "  --top-k K              top-k (default 40; 0 off)\n"
  "  --top-p P              top-p (default 0.95; 1 off)\n"
  "  --min-p P              min-p (default 0.05; 0 off)\n"
  "  --repeat-penalty R     repetition penalty (default 1: off)\n"
  "  --repeat-last-n N      tokens the penalties look back on (default 64)\n"
  "  --presence-penalty P   presence penalty (default 0)\n"
  "  --frequency-penalty P  frequency penalty (default 0)\n"
  "  --seed S               random seed (default: random)\n"
  "  --stop TEXT            stop string (repeatable)\n"
  "  --special              parse special-token text in the prompt\n"
  "  --no-bos               do not add BOS/EOS tokens\n"
  "  -t, --threads N        threads (default: one per core)\n"
  "  -c, --ctx-size N       context size (default: the model's, up to 4096)\n"
  "  --kv-type f16|f32      KV cache type (default f16)\n";

static bool write_text(const char *text, size_t len, void *user) {
  (void)user;
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  return true;
}

// The whole of stdin, NUL-terminated; NULL when out of memory.
static char *read_stdin(void) {
  size_t cap = 4096, n = 0, got;
  char *buf = malloc(cap);
  while (buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
    n += got;
    if (n + 1 < cap) continue;
    char *grown = realloc(buf, cap *= 2);
    if (!grown) free(buf);
    buf = grown;
  }
  if (buf) buf[n] = 0;
  return buf;
}

typedef struct {
  const char *model, *prompt, *kv;
  llmux_generate_params gen;
  llmux_context_params ctx;
  const char *stops[MAX_STOP];
} run_opts;

static int parse(int argc, char **argv, run_opts *o) {
  for (int i = 1; i < argc; i++) {
    llmux_sampler_params *s = &o->gen.sampling;
    const char *stop;
    if (arg_flag(argv, i, "--help") || arg_flag(argv, i, "-h")) {
      fputs(USAGE, stdout);
      exit(0);
    } else if (arg_str(argc, argv, &i, "-m", "--model", &o->model) ||
               arg_str(argc, argv, &i, "-p", "--prompt", &o->prompt) ||
               arg_int(argc, argv, &i, "-n", "--n-predict", &o->gen.max_tokens) ||
               arg_float(argc, argv, &i, "--temp", NULL, &s->temperature) ||
               arg_int(argc, argv, &i, "--top-k", NULL, &s->top_k) ||
               arg_float(argc, argv, &i, "--top-p", NULL, &s->top_p) ||
               arg_float(argc, argv, &i, "--min-p", NULL, &s->min_p) ||
               arg_float(argc, argv, &i, "--repeat-penalty", NULL, &s->repeat_penalty) ||
               arg_int(argc, argv, &i, "--repeat-last-n", NULL, &s->repeat_last_n) ||
               arg_float(argc, argv, &i, "--presence-penalty", NULL, &s->presence_penalty) ||
               arg_float(argc, argv, &i, "--frequency-penalty", NULL, &s->frequency_penalty) ||
               arg_int(argc, argv, &i, "-t", "--threads", &o->ctx.n_threads) ||
               arg_int(argc, argv, &i, "-c", "--ctx-size", &o->ctx.n_ctx) ||
               arg_str(argc, argv, &i, "--kv-type", NULL, &o->kv)) {
    } else if (arg_str(argc, argv, &i, "--seed", NULL, &stop)) {
      char *end;
      s->seed = strtoull(stop, &end, 10);
      if (*end || end == stop) return fprintf(stderr, "llmux run: --seed needs an integer\n"), 2;
    } else if (arg_str(argc, argv, &i, "--stop", NULL, &stop)) {
      if (o->gen.n_stop == MAX_STOP) return fprintf(stderr, "llmux run: at most %d stop strings\n", MAX_STOP), 2;
      o->stops[o->gen.n_stop++] = stop;
    } else if (arg_flag(argv, i, "--special")) {
      o->gen.parse_special = true;
    } else if (arg_flag(argv, i, "--no-bos")) {
      o->gen.add_special = false;
    } else {
      return arg_unknown("run", argv[i]);
    }
  }
  o->gen.stop = o->stops;
  if (o->kv && strcmp(o->kv, "f16") && strcmp(o->kv, "f32"))
    return fprintf(stderr, "llmux run: --kv-type must be f16 or f32\n"), 2;
  o->ctx.kv_type = o->kv && !strcmp(o->kv, "f32") ? LLMUX_KV_F32 : LLMUX_KV_F16;
  if (!o->prompt) return fprintf(stderr, "llmux run: no prompt given (use -p TEXT)\n%s", USAGE), 2;
  return 0;
}

int cmd_run(int argc, char **argv) {
  run_opts o = {.gen = llmux_generate_default_params(), .ctx = llmux_context_default_params()};
  int rc = parse(argc, argv, &o);
  if (rc) return rc;
  char *stdin_prompt = !strcmp(o.prompt, "-") ? read_stdin() : NULL;
  if (!strcmp(o.prompt, "-") && !stdin_prompt) return fprintf(stderr, "llmux run: out of memory reading stdin\n"), 1;
  llmux_model *m = cli_load_model("run", o.model);
  if (!m) return 1;
  llmux_context *c = llmux_context_new(m, &o.ctx);
  if (!c) {
    fprintf(stderr, "llmux run: %s\n", llmux_last_error());
    llmux_model_free(m);
    return 1;
  }
  int n = llmux_generate(c, stdin_prompt ? stdin_prompt : o.prompt, &o.gen, write_text, NULL);
  if (n < 0) fprintf(stderr, "llmux run: %s\n", llmux_last_error());
  else printf("\n");
  free(stdin_prompt);
  llmux_context_free(c);
  llmux_model_free(m);
  return n < 0 ? 1 : 0;
}
