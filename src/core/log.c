// log: see log.h.
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum log_level g_level = LOG_WARN;
static int g_level_from_env = 0;

static void level_from_env(void) {
  if (g_level_from_env) return;
  g_level_from_env = 1;
  const char *env = getenv("LLMUX_LOG");
  if (!env) return;
  if (!strcmp(env, "error")) g_level = LOG_ERROR;
  else if (!strcmp(env, "warn")) g_level = LOG_WARN;
  else if (!strcmp(env, "info")) g_level = LOG_INFO;
  else if (!strcmp(env, "debug")) g_level = LOG_DEBUG;
}

void log_set_level(enum log_level level) {
  g_level_from_env = 1;
  g_level = level;
}

enum log_level log_get_level(void) {
  level_from_env();
  return g_level;
}

void log_msg(enum log_level level, const char *fmt, ...) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  if (level > log_get_level()) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "llmux: %s: %s\n", names[level], buf);
}
