// error: see error.h.
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_err[512];

void err_set(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
}

const char *err_get(void) { return g_err[0] ? g_err : "no error"; }

void err_clear(void) { g_err[0] = 0; }
