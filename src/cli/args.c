// args: see args.h.
#include "cli/args.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool matches(const char *a, const char *name, const char *alias) {
  return !strcmp(a, name) || (alias && !strcmp(a, alias));
}

bool arg_str(int argc, char **argv, int *i, const char *name, const char *alias, const char **val) {
  if (!matches(argv[*i], name, alias)) return false;
  if (*i + 1 >= argc) {
    fprintf(stderr, "llmux: option %s needs a value\n", argv[*i]);
    exit(2);
  }
  *val = argv[++*i];
  return true;
}

bool arg_int(int argc, char **argv, int *i, const char *name, const char *alias, int *val) {
  const char *s;
  if (!arg_str(argc, argv, i, name, alias, &s)) return false;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < -2147483647L || v > 2147483647L) {
    fprintf(stderr, "llmux: option %s needs an integer, got '%s'\n", name, s);
    exit(2);
  }
  *val = (int)v;
  return true;
}

bool arg_float(int argc, char **argv, int *i, const char *name, const char *alias, float *val) {
  const char *s;
  if (!arg_str(argc, argv, i, name, alias, &s)) return false;
  char *end;
  errno = 0;
  float v = strtof(s, &end);
  if (errno || *end || end == s) {
    fprintf(stderr, "llmux: option %s needs a number, got '%s'\n", name, s);
    exit(2);
  }
  *val = v;
  return true;
}

bool arg_flag(char **argv, int i, const char *name) { return !strcmp(argv[i], name); }

int arg_unknown(const char *cmd, const char *arg) {
  fprintf(stderr, "llmux %s: unknown option or extra argument '%s' (see llmux %s --help)\n", cmd, arg, cmd);
  return 2;
}

void cli_progress(const char *label, float fraction) {
  if (!isatty(STDERR_FILENO)) return;
  int width = 30, filled = (int)(fraction * (float)width + 0.5f);
  char bar[64];
  for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
  bar[width] = 0;
  fprintf(stderr, "\r%s [%s] %3d%%", label, bar, (int)(fraction * 100.0f + 0.5f));
  if (fraction >= 1.0f) fputc('\n', stderr);
  fflush(stderr);
}

static void load_progress(float f, void *user) { cli_progress((const char *)user, f); }

llmux_model *cli_load_model(const char *cmd, const char *path) {
  if (!path) {
    fprintf(stderr, "llmux %s: no model given (use -m FILE.gguf)\n", cmd);
    return NULL;
  }
  llmux_model_params p = llmux_model_default_params();
  p.progress = load_progress;
  p.progress_user = "loading";
  llmux_model *m = llmux_model_load(path, &p);
  if (!m) fprintf(stderr, "llmux %s: %s\n", cmd, llmux_last_error());
  return m;
}

static sigset_t stop_signals(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  return s;
}

void cli_block_stop_signals(void) {
  sigset_t s = stop_signals();
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  signal(SIGPIPE, SIG_IGN);
}

const char *cli_wait_stop(void) {
  sigset_t s = stop_signals();
  int sig = 0;
  sigwait(&s, &sig);
  return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}
