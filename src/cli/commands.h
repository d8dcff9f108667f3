// commands: one entry point per `llmux` subcommand (src/cli/cmd_*.c).
// Each takes the arguments after the subcommand name and returns the exit code.
#ifndef LLMUX_COMMANDS_H
#define LLMUX_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_pull(int argc, char **argv);

#endif
