// cmd_pull: placeholder until the downloader lands (see issue 2).
#include <stdio.h>

#include "cli/commands.h"

int cmd_pull(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "llmux pull: not built yet\n");
  return 1;
}
