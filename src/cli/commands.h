// commands: one entry point per `llmux` subcommand (src/cli/cmd_*.c).
// Each takes the arguments after the subcommand name and returns the exit code.
#ifndef LLMUX_COMMANDS_H
#define LLMUX_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench_serve(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_gateway(int argc, char **argv);

#endif
