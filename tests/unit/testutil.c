// testutil: see testutil.h.
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tu_failures, tu_checks;

const char *tu_shared(const char *rel) {
  static char bufs[8][1024];
  static int next;
  char *b = bufs[next++ % 8];
  const char *root = getenv("LLMUX_SHARED");
  snprintf(b, 1024, "%s/%s", root ? root : "../shared", rel);
  return b;
}

char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s (set LLMUX_SHARED?)\n", path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(2);
  }
  b[n] = 0;
  fclose(f);
  if (len) *len = (size_t)n;
  return b;
}

const char *tu_tmp_path(const char *suffix) {
  static char bufs[8][512];
  static int next;
  char *b = bufs[next % 8];
  const char *tmp = getenv("TMPDIR");
  snprintf(b, 512, "%s/llmux-test-%d-%d%s", tmp ? tmp : "/tmp", (int)getpid(), next, suffix);
  next++;
  return b;
}

int tu_finish(void) {
  printf("%d checks, %d failed\n", tu_checks, tu_failures);
  return tu_failures ? 1 : 0;
}
