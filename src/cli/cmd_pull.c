// cmd_pull: `llmux pull SOURCE` downloads a model file (net/download.h does the
// work). The final path is the only line on stdout; the progress bar (on a
// terminal) or one summary line (otherwise) and errors go to stderr.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/error.h"
#include "net/download.h"

// ---- options

typedef struct pull_args {
  const char *source, *revision, *dir, *output, *sha256;
  int retries;
  bool quiet;
} pull_args;

static void usage(FILE *out) {
  fprintf(out,
          "usage: llmux pull SOURCE [options]\n"
          "\n"
          "Downloads a model file, resuming an interrupted download and checking its SHA-256.\n"
          "Prints the path of the downloaded file.\n"
          "\n"
          "SOURCE:\n"
          "  hf://OWNER/REPO/FILE.gguf   a file of a Hugging Face repo (FILE may contain folders)\n"
          "  https://HOST/PATH/FILE      any http(s) URL\n"
          "\n"
          "options:\n"
          "  --revision REV   branch, tag or commit of an hf:// repo (default main)\n"
          "  --dir DIR        models folder (default $LLMUX_MODELS, else\n"
          "                   $XDG_CACHE_HOME/llmux/models or ~/.cache/llmux/models);\n"
          "                   hf:// files land in DIR/OWNER/REPO/FILE (REPO@REV for other revisions),\n"
          "                   URLs in DIR/FILE\n"
          "  -o, --output F   write exactly to file F instead\n"
          "  --sha256 HEX     expected SHA-256 of the file (otherwise the server's, when it sends one)\n"
          "  --retries N      retries of network failures (default 4)\n"
          "  -q, --quiet      no progress bar or summary line\n"
          "  -h, --help       this help\n"
          "\n"
          "environment:\n"
          "  HF_TOKEN                           access token for gated or private repos (sent to the\n"
          "                                     Hugging Face endpoint only)\n"
          "  LLMUX_HF_ENDPOINT, HF_ENDPOINT     Hugging Face base URL (default https://huggingface.co)\n"
          "  LLMUX_MODELS                       default models folder\n");
}

// "--name VALUE" or "--name=VALUE"; NULL if argv[*i] is not this option.
// *missing is set when the option is there but its value is not.
static const char *opt_value(int argc, char **argv, int *i, const char *name, const char *alias, bool *missing) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (!strncmp(a, name, n) && a[n] == '=') return a + n + 1;
  if (strcmp(a, name) && (!alias || strcmp(a, alias))) return NULL;
  if (*i + 1 >= argc) {
    *missing = true;
    return NULL;
  }
  return argv[++*i];
}

// Returns 0 to go on, 1 when help was printed, -1 on a usage error.
static int parse_args(int argc, char **argv, pull_args *a) {
  const char **slots[] = {&a->revision, &a->dir, &a->output, &a->sha256};
  const char *names[] = {"--revision", "--dir", "--output", "--sha256"};
  const char *aliases[] = {NULL, NULL, "-o", NULL};
  const char *retries = NULL;
  for (int i = 1; i < argc; i++) {
    bool missing = false, matched = false;
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage(stdout), 1;
    if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
      a->quiet = true;
      continue;
    }
    for (size_t k = 0; k < sizeof slots / sizeof *slots && !matched; k++) {
      const char *v = opt_value(argc, argv, &i, names[k], aliases[k], &missing);
      if (v) *slots[k] = v, matched = true;
    }
    if (!matched && !missing && (retries = opt_value(argc, argv, &i, "--retries", NULL, &missing)) != NULL) {
      char *end;
      long r = strtol(retries, &end, 10);
      if (*end || r < 0 || r > 100) {
        fprintf(stderr, "llmux pull: --retries wants a number from 0 to 100, not '%s'\n", retries);
        return -1;
      }
      a->retries = (int)r;
      matched = true;
    }
    if (missing) {
      fprintf(stderr, "llmux pull: %s needs a value\n", argv[i]);
      return -1;
    }
    if (matched) continue;
    if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "llmux pull: unknown option '%s'\n", argv[i]);
      return -1;
    }
    if (a->source) {
      fprintf(stderr, "llmux pull: one SOURCE at a time ('%s' and '%s')\n", a->source, argv[i]);
      return -1;
    }
    a->source = argv[i];
  }
  if (!a->source) {
    usage(stderr);
    return -1;
  }
  return 0;
}

// ---- progress bar and summary

typedef struct bar {
  const char *name;  // file name shown in front of the bar
  bool tty;          // draw the bar (stderr is a terminal)
  bool drawn;        // the cursor sits at the end of a drawn bar
} bar;

#define BAR_RIGHT_W 50  // room for "1023.9 MiB / 1023.9 GiB  1023.9 MiB/s  ETA 0:00:00"

static void human(double b, char *buf, size_t n) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, u++;
  if (u == 0) snprintf(buf, n, "%.0f B", b);
  else snprintf(buf, n, "%.1f %s", b, units[u]);
}

static void duration(double s, char *buf, size_t n) {
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static int term_width(void) {
  struct winsize ws;
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 80;
}

// name  43% [#########>           ] 1.2 GiB / 2.8 GiB  35.2 MiB/s  ETA 0:45
// Notes (retries, restarts) get a line of their own above the bar.
static int draw_bar(const download_progress *p, void *user) {
  bar *b = user;
  if (p->note) {
    fprintf(stderr, "%sllmux pull: %s\n", b->drawn ? "\r\033[K" : "", p->note);
    b->drawn = false;
    return 0;
  }
  if (!b->tty) return 0;
  char done[32], total[32], rate[32], eta[32] = "", right[128];
  human((double)p->done, done, sizeof done);
  human((double)p->total, total, sizeof total);
  human(p->bytes_per_s, rate, sizeof rate);
  if (p->bytes_per_s <= 0) snprintf(rate, sizeof rate, "--");
  if (p->phase == DOWNLOAD_PHASE_FETCH && p->bytes_per_s > 0 && p->total > p->done)
    duration((double)(p->total - p->done) / p->bytes_per_s, eta + 4, sizeof eta - 4), memcpy(eta, "ETA ", 4);
  if (p->phase == DOWNLOAD_PHASE_VERIFY)
    snprintf(right, sizeof right, "%s / %s  verifying", done, total);
  else if (p->total > 0)
    snprintf(right, sizeof right, "%s / %s  %s/s  %s", done, total, rate, eta);
  else
    snprintf(right, sizeof right, "%s  %s/s", done, rate);
  int width = term_width() - 1;
  int pct = p->total > 0 ? (int)(100.0 * (double)p->done / (double)p->total) : 0;
  int name_w = (int)strlen(b->name) > width / 4 ? width / 4 : (int)strlen(b->name);
  int cells = width - name_w - BAR_RIGHT_W - 9;
  fprintf(stderr, "\r%.*s %3d%% ", name_w, b->name, pct);
  if (cells >= 10) {
    int fill = p->total > 0 ? (int)((double)cells * (double)p->done / (double)p->total) : 0;
    fputc('[', stderr);
    for (int i = 0; i < cells; i++) fputc(i < fill ? '#' : (i == fill ? '>' : ' '), stderr);
    fputs("] ", stderr);
  }
  fprintf(stderr, "%-*s\033[K", BAR_RIGHT_W, right);
  fflush(stderr);
  b->drawn = true;
  return 0;
}

static void print_summary(const char *name, const download_result *r) {
  char size[32], rate[32], from[32], extra[160] = "";
  human((double)r->size, size, sizeof size);
  if (r->already_complete) {
    fprintf(stderr, "llmux pull: %s: already downloaded (%s)%s\n", name, size,
            r->verified_by ? ", sha256 verified" : "");
    return;
  }
  human(r->seconds > 0 ? (double)r->fetched / r->seconds : 0, rate, sizeof rate);
  size_t k = 0;
  if (r->resumed_from > 0) {
    human((double)r->resumed_from, from, sizeof from);
    k += (size_t)snprintf(extra + k, sizeof extra - k, ", resumed at %s", from);
  }
  if (r->restarted) k += (size_t)snprintf(extra + k, sizeof extra - k, ", restarted from zero");
  if (r->attempts > 1 && k < sizeof extra)
    snprintf(extra + k, sizeof extra - k, ", %d requests", r->attempts);
  fprintf(stderr, "llmux pull: %s: %s in %.1f s (%s/s)%s, sha256 %s%s%s\n", name, size, r->seconds, rate, extra,
          r->verified_by ? "verified (" : "not verified (no digest known)", r->verified_by ? r->verified_by : "",
          r->verified_by ? ")" : "");
}

// ---- pull

int cmd_pull(int argc, char **argv) {
  pull_args a = {.retries = -1};
  int rc = parse_args(argc, argv, &a);
  if (rc != 0) return rc > 0 ? 0 : 2;
  download_target t;
  if (download_resolve(a.source, a.revision, a.dir, &t) != DOWNLOAD_OK) {
    fprintf(stderr, "llmux pull: %s\n", err_get());
    return 2;
  }
  if (a.output && snprintf(t.path, sizeof t.path, "%s", a.output) >= (int)sizeof t.path) {
    fprintf(stderr, "llmux pull: --output path is too long\n");
    return 2;
  }
  const char *name = strrchr(t.path, '/') ? strrchr(t.path, '/') + 1 : t.path;
  bar b = {.name = name, .tty = !a.quiet && isatty(STDERR_FILENO)};
  download_opts opts;
  download_opts_init(&opts);
  opts.sha256 = a.sha256;
  if (a.retries >= 0) opts.max_retries = a.retries;
  const char *token = getenv("HF_TOKEN");
  if (t.is_hf && token && token[0]) opts.bearer_token = token;
  opts.progress = draw_bar;
  opts.progress_user = &b;
  download_result res;
  rc = download_file(t.url, t.path, &opts, &res);
  if (b.drawn) fputs("\r\033[K", stderr);
  if (rc != DOWNLOAD_OK) {
    fprintf(stderr, "llmux pull: %s\n", err_get());
    return 1;
  }
  if (!a.quiet) print_summary(name, &res);
  printf("%s\n", t.path);
  return 0;
}
