// testutil: tiny assertion helpers for the unit tests. A failed CHECK prints
// file:line and the expression, counts the failure and continues; main
// returns tu_finish(), non-zero if anything failed.
#ifndef LLMUX_TESTUTIL_H
#define LLMUX_TESTUTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

extern int tu_failures, tu_checks;

#define CHECK(cond)                                                             \
  do {                                                                          \
    tu_checks++;                                                                \
    if (!(cond)) {                                                              \
      tu_failures++;                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                           \
  } while (0)

#define CHECK_MSG(cond, ...)                                                    \
  do {                                                                          \
    tu_checks++;                                                                \
    if (!(cond)) {                                                              \
      tu_failures++;                                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                      \
    }                                                                           \
  } while (0)

// Path of a file under the shared assets folder (LLMUX_SHARED, default ../shared).
const char *tu_shared(const char *rel);
// Whole file into a NUL-terminated malloc'd buffer; exits the test if unreadable.
char *tu_read_file(const char *path, size_t *len);
// A fresh temporary path (under TMPDIR) with the given suffix.
const char *tu_tmp_path(const char *suffix);
int tu_finish(void);

// The independent numpy reference (tests/reference/forward.py): finds a
// python3 with numpy ($LLMUX_PYTHON, python3, /usr/bin/python3) and the
// script (the source tree). False, with a failed check saying what is
// missing, when either is: the reference tests never skip silently.
extern char tu_python[256], tu_forward_py[1024];
bool tu_find_reference(void);
// n floats from a raw f32 file, malloc'd; NULL if unreadable or short.
float *tu_read_f32(const char *path, size_t n);

#endif
