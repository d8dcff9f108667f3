// llmux: the command-line front end. Results go to stdout, logs and errors to
// stderr, and every failure exits non-zero.
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "llmux.h"

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
};

static const struct command COMMANDS[] = {
  {"serve", cmd_serve, "serve models over an OpenAI-compatible HTTP API"},
  {"gateway", cmd_gateway, "one front door for many model services: keys, limits, routing, usage"},
  {"keys", cmd_keys, "create, list, show and revoke gateway API keys"},
  {"bench-serve", cmd_bench_serve, "measure the server: tokens/s and latencies at several client counts"},
  {"run", cmd_run, "generate text from a prompt"},
  {"chat", cmd_chat, "chat with a model in its chat format"},
  {"tokenize", cmd_tokenize, "print the token ids of a text"},
  {"detokenize", cmd_detokenize, "print the text of token ids"},
  {"perplexity", cmd_perplexity, "perplexity of a model over a text file"},
  {"bench", cmd_bench, "measure prompt and generation speed against memory bandwidth"},
  {"info", cmd_info, "show a GGUF file's metadata, tensors and memory needs"},
  {"pull", cmd_pull, "download a GGUF model (hf://OWNER/REPO/FILE.gguf or https URL)"},
};

static void usage(FILE *out) {
  fprintf(out, "llmux %s: LLMs behind an API on your own machines\n\nusage: llmux COMMAND [options]\n\ncommands:\n",
          llmux_version());
  for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
    fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].help);
  fprintf(out, "\nRun 'llmux COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("llmux %s\n", llmux_version());
    return 0;
  }
  for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
    if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
  fprintf(stderr, "llmux: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
