// cmd_gateway: `llmux gateway --config gateway.yaml`: one front door for
// many model services (see gateway/gateway.h and docs/GATEWAY.md). Runs until
// SIGTERM / SIGINT, then lets in-flight requests finish.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "gateway/gateway.h"

static const char USAGE[] =
  "usage: llmux gateway --config FILE [options]\n"
  "  -c, --config FILE     the gateway's configuration (YAML; every option: docs/GATEWAY.md)\n"
  "  --host ADDR           override listen.host\n"
  "  --port N              override listen.port (0 picks a free one)\n"
  "  --check               read and check the configuration, then exit\n"
  "  --shutdown-grace S    seconds in-flight requests get on SIGTERM (default 30)\n";

int cmd_gateway(int argc, char **argv) {
  const char *path = NULL, *host = NULL;
  int port = -1;
  float grace = 30;
  bool check = false;
  for (int i = 1; i < argc; i++) {
    if (arg_flag(argv, i, "--help") || arg_flag(argv, i, "-h")) {
      fputs(USAGE, stdout);
      return 0;
    }
    if (arg_str(argc, argv, &i, "--config", "-c", &path) || arg_str(argc, argv, &i, "--host", NULL, &host) ||
        arg_int(argc, argv, &i, "--port", NULL, &port) || arg_float(argc, argv, &i, "--shutdown-grace", NULL, &grace))
      continue;
    if (arg_flag(argv, i, "--check")) check = true;
    else return arg_unknown("gateway", argv[i]);
  }
  if (!path) {
    fprintf(stderr, "llmux gateway: give the configuration with --config FILE\n%s", USAGE);
    return 2;
  }
  char err[600];
  gw_config *cfg = gw_config_load(path, err, sizeof err);
  if (!cfg) {
    fprintf(stderr, "llmux gateway: %s\n", err);
    return 1;
  }
  if (check) {
    printf("%s: ok (%d backends)\n", path, cfg->n_backends);
    gw_config_free(cfg);
    return 0;
  }
  if (host) {
    free(cfg->host);
    cfg->host = strdup(host);
  }
  if (port >= 0) cfg->port = port;
  cli_block_stop_signals();  // the main thread waits for them below
  char shown[300];
  snprintf(shown, sizeof shown, "%s", cfg->host);
  gateway *g = gateway_start(cfg, err, sizeof err);
  if (!g) {
    fprintf(stderr, "llmux gateway: %s\n", err);
    return 1;
  }
  fprintf(stderr, "llmux gateway: listening on http://%s:%d\n", shown, gateway_port(g));
  const char *sig = cli_wait_stop();
  fprintf(stderr, "llmux gateway: %s: finishing in-flight requests (at most %.0f s)\n", sig, grace);
  gateway_stop(g, grace);
  return 0;
}
