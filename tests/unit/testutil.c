// testutil: see testutil.h.
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

char tu_python[256], tu_forward_py[1024];

static bool python_has_numpy(const char *py) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", py);
  int rc = system(cmd);
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

bool tu_find_reference(void) {
  snprintf(tu_forward_py, sizeof tu_forward_py, "%s/tests/reference/forward.py", LLMUX_SOURCE_DIR);
  CHECK_MSG(access(tu_forward_py, R_OK) == 0, "reference %s is not readable", tu_forward_py);
  const char *env = getenv("LLMUX_PYTHON");
  const char *candidates[] = {env ? env : "python3", "python3", "/usr/bin/python3"};
  for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
    if (python_has_numpy(candidates[i])) {
      snprintf(tu_python, sizeof tu_python, "%s", candidates[i]);
      return access(tu_forward_py, R_OK) == 0;
    }
  }
  CHECK_MSG(0, "no python3 with numpy found (tried $LLMUX_PYTHON, python3, /usr/bin/python3): "
               "the reference test needs it; install python3-numpy (scripts/deps.sh)");
  return false;
}

float *tu_read_f32(const char *path, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  float *a = malloc(n * sizeof *a);
  size_t got = a ? fread(a, sizeof *a, n, f) : 0;
  fclose(f);
  if (got != n) {
    free(a);
    return NULL;
  }
  return a;
}
