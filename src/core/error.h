// error: the calling thread's last error message, like errno/dlerror. Library
// functions that fail set it and return NULL or a negative status; callers
// read it with llmux_last_error() (include/llmux.h).
#ifndef LLMUX_ERROR_H
#define LLMUX_ERROR_H

void err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_get(void);
void err_clear(void);

#endif
