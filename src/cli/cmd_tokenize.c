// cmd_tokenize: `llmux tokenize` and `llmux detokenize`. Both need only the
// vocabulary, so they open the file's tokenizer without loading weights (and
// work on vocabulary-only GGUF files).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

static tokenizer *open_tokenizer(const char *cmd, const char *path) {
  if (!path) {
    fprintf(stderr, "llmux %s: no model given (use -m FILE.gguf)\n", cmd);
    return NULL;
  }
  gguf_file *f = gguf_open(path);
  tokenizer *t = f ? tokenizer_from_gguf(f) : NULL;
  if (!t) fprintf(stderr, "llmux %s: %s\n", cmd, err_get());
  gguf_close(f);
  return t;
}

int cmd_tokenize(int argc, char **argv) {
  const char *model = NULL, *text = NULL;
  bool bos = true, special = false;
  for (int i = 1; i < argc; i++) {
    if (arg_flag(argv, i, "--help")) {
      printf("usage: llmux tokenize -m FILE [--no-bos] [--special] TEXT\n"
             "  prints the token ids of TEXT, separated by spaces\n");
      return 0;
    } else if (arg_str(argc, argv, &i, "-m", "--model", &model)) {
    } else if (arg_flag(argv, i, "--no-bos")) {
      bos = false;
    } else if (arg_flag(argv, i, "--special")) {
      special = true;
    } else if (!text) {
      text = argv[i];
    } else {
      return arg_unknown("tokenize", argv[i]);
    }
  }
  if (!text) return fprintf(stderr, "llmux tokenize: no text given\n"), 2;
  tokenizer *t = open_tokenizer("tokenize", model);
  if (!t) return 1;
  int n = tokenizer_encode(t, text, strlen(text), bos, special, NULL, 0);
  int32_t *ids = n == INT32_MIN ? NULL : malloc(sizeof(int32_t) * (size_t)(n < 0 ? -n : 1));
  if (ids) n = tokenizer_encode(t, text, strlen(text), bos, special, ids, -n);
  if (!ids || n < 0) {
    fprintf(stderr, "llmux tokenize: %s\n", err_get());
    free(ids);
    tokenizer_free(t);
    return 1;
  }
  for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
  printf("\n");
  free(ids);
  tokenizer_free(t);
  return 0;
}

int cmd_detokenize(int argc, char **argv) {
  const char *model = NULL;
  bool special = false;
  int32_t *ids = calloc((size_t)argc, sizeof *ids);
  int n = 0;
  for (int i = 1; ids && i < argc; i++) {
    char *end;
    if (arg_flag(argv, i, "--help")) {
      printf("usage: llmux detokenize -m FILE [--special] ID...\n  prints the text of the token ids\n");
      free(ids);
      return 0;
    } else if (arg_str(argc, argv, &i, "-m", "--model", &model)) {
    } else if (arg_flag(argv, i, "--special")) {
      special = true;
    } else {
      long v = strtol(argv[i], &end, 10);
      if (*end || end == argv[i] || v < 0 || v > 0x7fffffff) {
        free(ids);
        return arg_unknown("detokenize", argv[i]);
      }
      ids[n++] = (int32_t)v;
    }
  }
  tokenizer *t = ids ? open_tokenizer("detokenize", model) : NULL;
  if (!t) return free(ids), 1;
  for (int i = 0; i < n; i++)
    if (ids[i] >= tokenizer_n_vocab(t)) {
      fprintf(stderr, "llmux detokenize: token id %d is outside the vocabulary (0..%d)\n", ids[i],
              tokenizer_n_vocab(t) - 1);
      free(ids);
      tokenizer_free(t);
      return 1;
    }
  int need = tokenizer_decode(t, ids, n, NULL, 0, special);
  int size = (need < 0 ? -need : need) + 1;
  char *buf = malloc((size_t)size);
  int len = buf ? tokenizer_decode(t, ids, n, buf, size, special) : -1;
  if (len >= 0) printf("%.*s\n", len, buf);
  free(buf);
  free(ids);
  tokenizer_free(t);
  return len >= 0 ? 0 : 1;
}
