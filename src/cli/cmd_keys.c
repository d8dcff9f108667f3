// cmd_keys: `llmux keys create|list|show|revoke`: the gateway's API keys in
// its store (store/keys.h). `create` prints the new secret on stdout, once:
// it exists nowhere else afterwards. Everything else shows the display
// prefix, never a secret. Exit codes: 0 done, 1 the store refused or failed
// (the message says why), 2 a usage error.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "store/keys.h"

static const char USAGE[] =
  "usage: llmux keys COMMAND [options]\n"
  "\n"
  "  create [options]   make a key; prints its secret on stdout (shown only this once)\n"
  "  list               every key: id, prefix, status, expiry, name\n"
  "  show ID            one key's limits and state\n"
  "  revoke ID          revoke a key (requests with it are refused from then on)\n"
  "\n"
  "options (all commands):\n"
  "  --db FILE          the gateway database (default $LLMUX_GATEWAY_DB, else ./llmux-gateway.db)\n"
  "  --json             JSON on stdout (create: the record with its \"secret\")\n"
  "create:\n"
  "  --name N           a label for people (at most 64 bytes)\n"
  "  --rpm N            requests per minute (default 0: unlimited)\n"
  "  --tpm N            prompt + completion tokens per minute (0: unlimited)\n"
  "  --parallel N       requests in flight at once (0: unlimited)\n"
  "  --budget N --period day|month|total\n"
  "                     tokens per UTC day, UTC month or in total (0: no budget)\n"
  "  --models LIST      allowed models, comma-separated; 'p*' matches names starting with p\n"
  "                     (default: all)\n"
  "  --expires WHEN     30d, 12h, 45m or 90s from now, a Unix time, or never (the default)\n"
  "  --metadata JSON    a JSON object kept with the key\n";

typedef struct keys_opts {
  const char *db, *id, *name, *period, *models, *expires, *metadata;
  int64_t rpm, tpm, parallel, budget;
  bool json;
} keys_opts;

// ---- options

static bool opt_i64(int argc, char **argv, int *i, const char *name, int64_t *out) {
  const char *s;
  if (!arg_str(argc, argv, i, name, NULL, &s)) return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) {
    fprintf(stderr, "llmux keys: option %s needs an integer, got '%s'\n", name, s);
    exit(2);
  }
  *out = v;
  return true;
}

// The options of `create`; false when argv[*i] is none of them.
static bool create_option(int argc, char **argv, int *i, keys_opts *o) {
  return arg_str(argc, argv, i, "--name", NULL, &o->name) || arg_str(argc, argv, i, "--period", NULL, &o->period) ||
         arg_str(argc, argv, i, "--models", NULL, &o->models) ||
         arg_str(argc, argv, i, "--expires", NULL, &o->expires) ||
         arg_str(argc, argv, i, "--metadata", NULL, &o->metadata) || opt_i64(argc, argv, i, "--rpm", &o->rpm) ||
         opt_i64(argc, argv, i, "--tpm", &o->tpm) || opt_i64(argc, argv, i, "--parallel", &o->parallel) ||
         opt_i64(argc, argv, i, "--budget", &o->budget);
}

// argv[0] is the subcommand. 0 to go on, 1 when help was printed, 2 on a
// usage error (reported). An ID is taken only by show and revoke.
static int parse_opts(int argc, char **argv, keys_opts *o) {
  bool create = !strcmp(argv[0], "create"), wants_id = !strcmp(argv[0], "show") || !strcmp(argv[0], "revoke");
  for (int i = 1; i < argc; i++) {
    if (arg_flag(argv, i, "--help") || arg_flag(argv, i, "-h")) return fputs(USAGE, stdout), 1;
    if (arg_flag(argv, i, "--json")) {
      o->json = true;
      continue;
    }
    if (arg_str(argc, argv, &i, "--db", NULL, &o->db) || (create && create_option(argc, argv, &i, o))) continue;
    if (wants_id && !o->id && argv[i][0] != '-') {
      o->id = argv[i];
      continue;
    }
    return arg_unknown("keys", argv[i]);
  }
  if (wants_id && !o->id) {
    fprintf(stderr, "llmux keys %s: which key? (llmux keys %s ID; ids are in llmux keys list)\n", argv[0], argv[0]);
    return 2;
  }
  if (!o->db) o->db = getenv("LLMUX_GATEWAY_DB");
  if (!o->db || !*o->db) o->db = "llmux-gateway.db";
  return 0;
}

// "30d", "12h", "45m", "90s" from now, "never", or a Unix time in seconds.
// A Unix time into spec->expires, or a duration into spec->expires_in (the
// store adds it to the creation time, so that created + 30d is exact).
static int parse_expires(const char *s, key_spec *spec) {
  if (!strcmp(s, "never")) return spec->expires = spec->expires_in = 0, 0;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  static const char UNITS[] = "smhd";
  static const int64_t SECONDS[] = {1, 60, 3600, 86400};
  const char *u = *end ? strchr(UNITS, *end) : NULL;
  // At most 10^8 units from now, or a Unix time before the year 2286.
  if (errno || end == s || v < 0 || (*end && (!u || end[1])) || v > (u ? 100000000LL : 9999999999LL)) {
    fprintf(stderr, "llmux keys: --expires wants 30d, 12h, 45m, 90s or a Unix time, not '%s'\n", s);
    return -1;
  }
  if (u) spec->expires_in = v * SECONDS[u - UNITS];
  else spec->expires = v;
  return 0;
}

// ---- printing

static void print_time(FILE *f, int64_t t, const char *zero) {
  if (t <= 0) {
    fprintf(f, "%s", zero);
    return;
  }
  time_t tt = (time_t)t;
  struct tm tm;
  char buf[64];
  gmtime_r(&tt, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  fprintf(f, "%s", buf);
}

static void print_json(json_t *j) {
  char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  if (s) printf("%s\n", s);
  free(s);
  json_decref(j);
}

static void print_limit(const char *label, int64_t v) {
  if (v > 0)
    printf("%-14s%lld\n", label, (long long)v);
  else
    printf("%-14sunlimited\n", label);
}

static void print_record(const key_record *r, int64_t now) {
  printf("%-14s%s\n%-14s%s\n%-14s%s\n", "id:", r->id, "name:", r->name, "prefix:", r->prefix);
  printf("%-14s%s\n%-14s", "status:", keys_state_name(keys_status(r, now)), "created:");
  print_time(stdout, r->created, "-");
  printf("\n%-14s", "expires:");
  print_time(stdout, r->expires, "never");
  printf("\n%-14s", "revoked:");
  print_time(stdout, r->revoked ? r->revoked_at : 0, "no");
  printf("\n");
  print_limit("rpm:", r->rpm);
  print_limit("tpm:", r->tpm);
  print_limit("parallel:", r->max_parallel);
  if (r->budget_tokens > 0)
    printf("%-14s%lld tokens per %s\n", "budget:", (long long)r->budget_tokens,
           r->budget_period == KEY_PERIOD_TOTAL ? "lifetime" : keys_period_name(r->budget_period));
  else
    printf("%-14snone\n", "budget:");
  printf("%-14s%s\n%-14s%s\n", "models:", r->models[0] ? r->models : "all", "metadata:", r->metadata);
}

// ---- subcommands

static store_db *open_db(const char *cmd, const char *path, bool create) {
  store_db *db = db_open(path, create);
  if (!db) fprintf(stderr, "llmux keys %s: %s\n", cmd, err_get());
  return db;
}

static int run_create(const keys_opts *o) {
  key_spec spec = {.name = o->name, .rpm = o->rpm, .tpm = o->tpm, .max_parallel = o->parallel,
                   .budget_tokens = o->budget, .budget_period = o->period, .models = o->models,
                   .metadata = o->metadata};
  if (o->expires && parse_expires(o->expires, &spec) < 0) return 2;
  store_db *db = open_db("create", o->db, true);
  if (!db) return 1;
  char secret[KEY_SECRET_SIZE];
  key_record r;
  int rc = keys_create(db, &spec, secret, &r);
  db_close(db);
  if (rc < 0) {
    fprintf(stderr, "llmux keys create: %s\n", err_get());
    return 1;
  }
  if (o->json) {
    json_t *j = keys_record_json(&r, db_now_s());
    json_object_set_new(j, "secret", json_string(secret));
    print_json(j);
  } else {
    printf("%s\n", secret);
    fprintf(stderr, "llmux keys: created %s (%s...) in %s; the secret above is shown only this once\n", r.id,
            r.prefix, o->db);
  }
  fflush(stdout);
  sodium_memzero(secret, sizeof secret);
  return 0;
}

static int run_list(const keys_opts *o) {
  store_db *db = open_db("list", o->db, false);
  if (!db) return 1;
  key_record *keys;
  int n, rc = keys_list(db, &keys, &n);
  db_close(db);
  if (rc < 0) {
    fprintf(stderr, "llmux keys list: %s\n", err_get());
    return 1;
  }
  int64_t now = db_now_s();
  json_t *arr = o->json ? json_array() : NULL;
  if (!o->json) printf("%-16s  %-12s  %-7s  %-23s  %s\n", "ID", "PREFIX", "STATUS", "EXPIRES", "NAME");
  for (int i = 0; i < n; i++) {
    if (arr) {
      json_array_append_new(arr, keys_record_json(&keys[i], now));
      continue;
    }
    printf("%-16s  %-12s  %-7s  ", keys[i].id, keys[i].prefix, keys_state_name(keys_status(&keys[i], now)));
    print_time(stdout, keys[i].expires, "never                  ");
    printf("  %s\n", keys[i].name);
  }
  if (arr) print_json(arr);
  free(keys);
  return 0;
}

static int run_show(const keys_opts *o) {
  store_db *db = open_db("show", o->db, false);
  if (!db) return 1;
  key_record r;
  int found = keys_get(db, o->id, &r);
  db_close(db);
  if (found < 0) fprintf(stderr, "llmux keys show: %s\n", err_get());
  if (found == 0) fprintf(stderr, "llmux keys show: no key '%s' in %s\n", o->id, o->db);
  if (found <= 0) return 1;
  if (o->json)
    print_json(keys_record_json(&r, db_now_s()));
  else
    print_record(&r, db_now_s());
  return 0;
}

static int run_revoke(const keys_opts *o) {
  store_db *db = open_db("revoke", o->db, false);
  if (!db) return 1;
  int rc = keys_revoke(db, o->id);
  db_close(db);
  if (rc < 0) {
    fprintf(stderr, "llmux keys revoke: %s\n", err_get());
    return 1;
  }
  if (rc == 1) fprintf(stderr, "llmux keys: %s was already revoked\n", o->id);
  printf("revoked %s\n", o->id);
  return 0;
}

int cmd_keys(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*run)(const keys_opts *);
  } SUB[] = {{"create", run_create}, {"list", run_list}, {"show", run_show}, {"revoke", run_revoke}};
  if (argc < 2) return fputs(USAGE, stderr), 2;
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
    return fputs(USAGE, stdout), 0;
  for (size_t k = 0; k < sizeof SUB / sizeof *SUB; k++) {
    if (strcmp(argv[1], SUB[k].name)) continue;
    keys_opts o = {0};
    int rc = parse_opts(argc - 1, argv + 1, &o);
    return rc == 1 ? 0 : rc ? rc : SUB[k].run(&o);
  }
  fprintf(stderr, "llmux keys: unknown command '%s' (create, list, show or revoke)\n", argv[1]);
  return 2;
}
