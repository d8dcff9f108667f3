// args: small helpers for the subcommands' option parsing, and the load
// progress bar shared by the commands that open a model.
#ifndef LLMUX_ARGS_H
#define LLMUX_ARGS_H
#include <stdbool.h>

#include "llmux.h"

// If argv[*i] is `name` (or `alias`), stores the next argument in *val,
// advances *i and returns true. A missing value is reported and exits 2.
bool arg_str(int argc, char **argv, int *i, const char *name, const char *alias, const char **val);
bool arg_int(int argc, char **argv, int *i, const char *name, const char *alias, int *val);
bool arg_float(int argc, char **argv, int *i, const char *name, const char *alias, float *val);
bool arg_flag(char **argv, int i, const char *name);
// Reports an unknown option or extra argument and returns 2.
int arg_unknown(const char *cmd, const char *arg);

// Loads a model with a progress bar on a terminal; prints the error and
// returns NULL on failure.
llmux_model *cli_load_model(const char *cmd, const char *path);
// For long-running commands (serve, gateway): blocks SIGTERM and SIGINT in
// every thread started afterwards and ignores SIGPIPE; cli_wait_stop then
// waits for one of them on the calling thread and returns its name.
void cli_block_stop_signals(void);
const char *cli_wait_stop(void);
// A progress bar on stderr when it is a terminal (label, fraction 0..1).
void cli_progress(const char *label, float fraction);

#endif
