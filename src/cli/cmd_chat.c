// cmd_chat: `llmux chat -m FILE`: an interactive conversation in the model's
// chat format. The KV cache keeps the conversation, so each turn only runs its
// own new tokens.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "engine/chat_format.h"

#define TURN_MAX 65536

typedef struct {
  llmux_model *m;
  llmux_context *c;
  llmux_sampler *s;
  chat_family fam;
  int pos, max_tokens;
  bool first;
} chat;

static bool print_piece(const char *t, size_t n, void *u) {
  (void)u;
  fwrite(t, 1, n, stdout);
  fflush(stdout);
  return true;
}

// Runs text (special tokens parsed) at the end of the conversation.
static int feed(chat *ch, const char *text) {
  int n = llmux_tokenize(ch->m, text, strlen(text), NULL, 0, ch->first, true);
  if (n == INT32_MIN) return -1;
  n = n < 0 ? -n : n;
  if (ch->pos + n >= llmux_context_n_ctx(ch->c)) {
    fprintf(stderr, "llmux chat: the conversation is full (%d tokens); start a new one\n", llmux_context_n_ctx(ch->c));
    return -1;
  }
  llmux_token *toks = malloc(sizeof *toks * (size_t)(n ? n : 1));
  int rc = toks ? llmux_tokenize(ch->m, text, strlen(text), toks, n, ch->first, true) : -1;
  if (rc > 0) {
    rc = llmux_decode(ch->c, toks, rc, ch->pos, false);
    ch->pos += n;
  }
  for (int i = 0; rc == 0 && i < n; i++) llmux_sampler_accept(ch->s, toks[i]);
  free(toks);
  ch->first = false;
  return rc < 0 ? -1 : 0;
}

// Samples the reply until end of turn, printing it.
static int reply(chat *ch) {
  for (int i = 0; ch->max_tokens <= 0 || i < ch->max_tokens; i++) {
    llmux_token t = llmux_sampler_sample(ch->s, llmux_logits(ch->c, -1));
    if (llmux_token_is_eog(ch->m, t) || ch->pos + 1 >= llmux_context_n_ctx(ch->c)) break;
    char piece[256];
    int len = llmux_token_to_piece(ch->m, t, piece, sizeof piece, false);
    if (len > 0) print_piece(piece, (size_t)len, NULL);
    llmux_sampler_accept(ch->s, t);
    if (llmux_decode(ch->c, &t, 1, ch->pos++, false) < 0) return -1;
  }
  printf("\n");
  return 0;
}

static int converse(chat *ch, const char *system) {
  char *line = NULL, *turn = malloc(TURN_MAX), *user = malloc(TURN_MAX);
  size_t cap = 0;
  bool tty = isatty(STDIN_FILENO);
  int rc = turn && user ? 0 : 1;
  bool fold_system = ch->fam == CHAT_MISTRAL || ch->fam == CHAT_LLAMA2;
  if (!rc && system && !fold_system) {
    if (chat_format_turn(ch->fam, "system", system, 0, turn, TURN_MAX) < 0 || feed(ch, turn) < 0) rc = 1;
    system = NULL;
  }
  while (!rc) {
    if (tty) fprintf(stderr, "> "), fflush(stderr);
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) break;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (n == 0) continue;
    snprintf(user, TURN_MAX, "%s%s%s", system ? system : "", system ? "\n\n" : "", line);
    system = NULL;
    if (chat_format_turn(ch->fam, "user", user, 1, turn, TURN_MAX) < 0) {
      fprintf(stderr, "llmux chat: message too long\n");
      continue;
    }
    if (feed(ch, turn) < 0 || reply(ch) < 0) rc = 1;
  }
  free(line);
  free(turn);
  free(user);
  return rc;
}

int cmd_chat(int argc, char **argv) {
  const char *model = NULL, *system = NULL;
  llmux_context_params cp = llmux_context_default_params();
  llmux_sampler_params sp = llmux_sampler_default_params();
  int max_tokens = 0;
  for (int i = 1; i < argc; i++) {
    if (arg_flag(argv, i, "--help")) {
      printf("usage: llmux chat -m FILE [-s SYSTEM] [-n MAX_REPLY] [--temp T] [--seed S] [-t N] [-c CTX]\n"
             "  reads one message per line on stdin and prints the replies\n");
      return 0;
    } else if (arg_str(argc, argv, &i, "-m", "--model", &model) || arg_str(argc, argv, &i, "-s", "--system", &system) ||
               arg_int(argc, argv, &i, "-n", "--n-predict", &max_tokens) ||
               arg_float(argc, argv, &i, "--temp", NULL, &sp.temperature) ||
               arg_int(argc, argv, &i, "-t", "--threads", &cp.n_threads) ||
               arg_int(argc, argv, &i, "-c", "--ctx-size", &cp.n_ctx)) {
    } else {
      return arg_unknown("chat", argv[i]);
    }
  }
  chat ch = {.first = true, .max_tokens = max_tokens};
  ch.m = cli_load_model("chat", model);
  if (!ch.m) return 1;
  ch.fam = chat_family_detect(llmux_model_chat_template(ch.m));
  ch.c = llmux_context_new(ch.m, &cp);
  ch.s = ch.c ? llmux_sampler_new(&sp, llmux_model_n_vocab(ch.m)) : NULL;
  int rc = 1;
  if (ch.s) {
    fprintf(stderr, "llmux chat: %s, %s chat format, %d-token context; end with Ctrl-D\n", llmux_model_name(ch.m),
            chat_family_name(ch.fam), llmux_context_n_ctx(ch.c));
    rc = converse(&ch, system);
  } else {
    fprintf(stderr, "llmux chat: %s\n", llmux_last_error());
  }
  llmux_sampler_free(ch.s);
  llmux_context_free(ch.c);
  llmux_model_free(ch.m);
  return rc;
}
