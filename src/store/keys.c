// store/keys: see keys.h. Validation first (every limit, name, period, model
// pattern and the metadata), then secrets, then the table's reads and writes.
#include "store/keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/error.h"

static const char BASE62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
#define HASH_HEX_SIZE (2 * crypto_generichash_BYTES + 1)

// ---- validation

static int check_name(const char *name) {
  size_t n = strlen(name);
  if (n > KEY_NAME_MAX) return err_set("key name is %zu bytes long; at most %d are allowed", n, KEY_NAME_MAX), -1;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return err_set("key name contains a control character (byte %zu)", i), -1;
  json_t *s = json_string(name);  // jansson refuses invalid UTF-8
  if (!s) return err_set("key name is not valid UTF-8"), -1;
  json_decref(s);
  return 0;
}

static int check_limit(const char *what, int64_t v) {
  if (v < 0) return err_set("%s must not be negative (got %lld)", what, (long long)v), -1;
  if (v > KEY_LIMIT_MAX) return err_set("%s is too large (got %lld, at most 10^15)", what, (long long)v), -1;
  return 0;
}

static int parse_period(const char *s, key_period *out) {
  static const char *const NAMES[] = {"day", "month", "total"};
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, NAMES[i])) return *out = (key_period)(i + 1), 0;
  err_set("budget period '%s' is not one of day, month, total", s);
  return -1;
}

static int check_budget(const key_spec *s, key_period *period) {
  *period = KEY_PERIOD_NONE;
  if (check_limit("budget", s->budget_tokens) < 0) return -1;
  bool has_period = s->budget_period && *s->budget_period;
  if (s->budget_tokens == 0 && has_period) return err_set("a budget period needs a budget (tokens > 0)"), -1;
  if (s->budget_tokens > 0 && !has_period) return err_set("a budget needs a period: day, month or total"), -1;
  return has_period ? parse_period(s->budget_period, period) : 0;
}

// One pattern: no spaces, commas or control bytes; '*' only as the last
// character. Non-ASCII bytes are allowed (model names are the backends').
static int check_pattern(const char *p, size_t n) {
  if (n == 0) return err_set("allowed models: empty model name in the list"), -1;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c <= 0x20 || c == 0x7f)
      return err_set("allowed models: '%.*s' contains a space or control character", (int)n, p), -1;
    if (c == '*' && i + 1 != n)
      return err_set("allowed models: '%.*s': '*' may only end a pattern", (int)n, p), -1;
  }
  return 0;
}

static int check_models(const char *models) {
  size_t len = strlen(models);
  if (len > KEY_MODELS_MAX)
    return err_set("allowed models: the list is %zu bytes; at most %d", len, KEY_MODELS_MAX), -1;
  if (len == 0) return 0;
  int count = 0;
  for (const char *p = models;; p++) {
    size_t n = strcspn(p, ",");
    if (check_pattern(p, n) < 0) return -1;
    if (++count > KEY_MODEL_PATTERNS_MAX)
      return err_set("allowed models: more than %d patterns", KEY_MODEL_PATTERNS_MAX), -1;
    p += n;
    if (!*p) return 0;
  }
}

// The metadata in its compact form, which is what gets stored.
static int normalize_metadata(const char *text, char out[KEY_METADATA_MAX + 1]) {
  json_error_t je;
  json_t *j = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, &je);
  if (!j) return err_set("metadata is not valid JSON: %s", je.text), -1;
  if (!json_is_object(j)) {
    json_decref(j);
    return err_set("metadata must be a JSON object"), -1;
  }
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(j);
  size_t n = s ? strlen(s) : 0;
  if (!s || n > KEY_METADATA_MAX) {
    free(s);
    return err_set("metadata is %zu bytes as compact JSON; at most %d", n, KEY_METADATA_MAX), -1;
  }
  memcpy(out, s, n + 1);
  free(s);
  return 0;
}

// Fills everything but id, prefix and created from a validated spec.
static int record_from_spec(const key_spec *s, int64_t now, key_record *r) {
  memset(r, 0, sizeof *r);
  const char *name = s->name ? s->name : "";
  const char *models = s->models ? s->models : "";
  if (check_name(name) < 0 || check_limit("rpm", s->rpm) < 0 || check_limit("tpm", s->tpm) < 0 ||
      check_limit("max parallel", s->max_parallel) < 0 || check_budget(s, &r->budget_period) < 0 ||
      check_models(models) < 0 || normalize_metadata(s->metadata, r->metadata) < 0)
    return -1;
  if (s->expires < 0 || (s->expires > 0 && s->expires <= now))
    return err_set("expiry %lld is in the past (now is %lld)", (long long)s->expires, (long long)now), -1;
  if (s->expires_in < 0 || s->expires_in > INT64_MAX - now)
    return err_set("expiry of %lld seconds after creation is out of range", (long long)s->expires_in), -1;
  snprintf(r->name, sizeof r->name, "%s", name);
  snprintf(r->models, sizeof r->models, "%s", models);
  r->rpm = s->rpm, r->tpm = s->tpm, r->max_parallel = s->max_parallel;
  // A relative expiry counts from this `now`, the one `created` gets.
  r->budget_tokens = s->budget_tokens, r->created = now;
  r->expires = s->expires ? s->expires : s->expires_in ? now + s->expires_in : 0;
  return 0;
}

// ---- secrets

// n random base62 characters: bytes >= 248 (= 4 * 62) are dropped, so every
// character is equally likely (no modulo bias).
static void random_base62(char *out, size_t n) {
  unsigned char buf[64];
  size_t i = 0;
  while (i < n) {
    randombytes_buf(buf, sizeof buf);
    for (size_t k = 0; k < sizeof buf && i < n; k++)
      if (buf[k] < 248) out[i++] = BASE62[buf[k] % 62];
  }
  out[n] = 0;
  sodium_memzero(buf, sizeof buf);
}

static bool all_base62(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!s[i] || !strchr(BASE62, s[i])) return false;
  return true;
}

bool keys_secret_well_formed(const char *secret) {
  size_t pl = sizeof KEY_SECRET_PREFIX - 1;
  return secret && strlen(secret) == KEY_SECRET_LEN && !strncmp(secret, KEY_SECRET_PREFIX, pl) &&
         all_base62(secret + pl, KEY_SECRET_LEN - pl);
}

static bool id_well_formed(const char *id) {
  return id && strlen(id) == KEY_ID_LEN && !strncmp(id, "key_", 4) && all_base62(id + 4, KEY_ID_LEN - 4);
}

static void hash_secret(const char *secret, char hex[HASH_HEX_SIZE]) {
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, (const unsigned char *)secret, strlen(secret), NULL, 0);
  sodium_bin2hex(hex, HASH_HEX_SIZE, h, sizeof h);
}

// ---- the table

#define KEY_COLUMNS \
  "id, prefix, name, created, expires, revoked_at, rpm, tpm, max_parallel, budget_tokens, budget_period, " \
  "models, metadata"

static void column_copy(sqlite3_stmt *st, int col, char *dst, size_t size) {
  const unsigned char *t = sqlite3_column_text(st, col);
  snprintf(dst, size, "%s", t ? (const char *)t : "");
}

static void record_from_row(sqlite3_stmt *st, key_record *r) {
  memset(r, 0, sizeof *r);
  column_copy(st, 0, r->id, sizeof r->id);
  column_copy(st, 1, r->prefix, sizeof r->prefix);
  column_copy(st, 2, r->name, sizeof r->name);
  r->created = sqlite3_column_int64(st, 3);
  r->expires = sqlite3_column_int64(st, 4);
  r->revoked_at = sqlite3_column_int64(st, 5);
  r->revoked = r->revoked_at > 0;
  r->rpm = sqlite3_column_int64(st, 6);
  r->tpm = sqlite3_column_int64(st, 7);
  r->max_parallel = sqlite3_column_int64(st, 8);
  r->budget_tokens = sqlite3_column_int64(st, 9);
  const char *p = (const char *)sqlite3_column_text(st, 10);
  if (!p || !*p || parse_period(p, &r->budget_period) < 0) r->budget_period = KEY_PERIOD_NONE;
  column_copy(st, 11, r->models, sizeof r->models);
  column_copy(st, 12, r->metadata, sizeof r->metadata);
}

static int insert(store_db *db, sqlite3 *conn, const key_record *r, const char *hash) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(conn, "INSERT INTO keys (" KEY_COLUMNS ", hash) VALUES (?,?,?,?,?,0,?,?,?,?,?,?,?,?)", -1,
                         &st, NULL) != SQLITE_OK)
    return db_fail(db, conn, "storing the key");
  int i = 1;
  sqlite3_bind_text(st, i++, r->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, i++, r->prefix, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, i++, r->name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, i++, r->created);
  sqlite3_bind_int64(st, i++, r->expires);
  sqlite3_bind_int64(st, i++, r->rpm);
  sqlite3_bind_int64(st, i++, r->tpm);
  sqlite3_bind_int64(st, i++, r->max_parallel);
  sqlite3_bind_int64(st, i++, r->budget_tokens);
  sqlite3_bind_text(st, i++, keys_period_name(r->budget_period), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, i++, r->models, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, i++, r->metadata, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, i++, hash, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) return 0;
  if (rc == SQLITE_CONSTRAINT) return 1;  // an id or hash already taken: draw again
  return db_fail(db, conn, "storing the key");
}

int keys_create(store_db *db, const key_spec *spec, char secret[KEY_SECRET_SIZE], key_record *out) {
  key_record r;
  if (record_from_spec(spec, db_now_s(), &r) < 0) return -1;
  if (sodium_init() < 0) return err_set("libsodium failed to initialise"), -1;
  char hash[HASH_HEX_SIZE];
  int rc = 1;
  // A collision of 71 random bits (id) or 238 (secret) is not expected; the
  // retry only keeps a UNIQUE violation from ever surfacing as an error.
  for (int attempt = 0; attempt < 4 && rc == 1; attempt++) {
    memcpy(secret, KEY_SECRET_PREFIX, sizeof KEY_SECRET_PREFIX - 1);
    random_base62(secret + sizeof KEY_SECRET_PREFIX - 1, KEY_SECRET_LEN - (sizeof KEY_SECRET_PREFIX - 1));
    memcpy(r.id, "key_", 4);
    random_base62(r.id + 4, KEY_ID_LEN - 4);
    snprintf(r.prefix, sizeof r.prefix, "%.*s", KEY_PREFIX_LEN, secret);
    hash_secret(secret, hash);
    rc = insert(db, db_lock(db), &r, hash);
    db_unlock(db);
  }
  if (rc != 0) {
    sodium_memzero(secret, KEY_SECRET_SIZE);
    if (rc == 1) err_set("%s: could not draw a unique key id", db_path(db));
    return -1;
  }
  if (out) *out = r;
  return 0;
}

// One row by a column's value: 1, 0 or -1. Takes the lock.
static int select_one(store_db *db, const char *where, const char *value, key_record *out) {
  sqlite3 *conn = db_lock(db);
  sqlite3_stmt *st;
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT " KEY_COLUMNS " FROM keys WHERE %s = ?", where);
  int rc = -1;
  if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK) {
    db_fail(db, conn, "reading keys");
    goto done;
  }
  sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
  int s = sqlite3_step(st);
  if (s == SQLITE_ROW) record_from_row(st, out);
  rc = s == SQLITE_ROW ? 1 : s == SQLITE_DONE ? 0 : db_fail(db, conn, "reading keys");
  sqlite3_finalize(st);
done:
  db_unlock(db);
  return rc;
}

int keys_lookup_secret(store_db *db, const char *secret, key_record *out) {
  if (!keys_secret_well_formed(secret)) return 0;
  char hash[HASH_HEX_SIZE];
  hash_secret(secret, hash);
  return select_one(db, "hash", hash, out);
}

int keys_get(store_db *db, const char *id, key_record *out) {
  return id_well_formed(id) ? select_one(db, "id", id, out) : 0;
}

static int grow_append(key_record **arr, int *n, int *cap, sqlite3_stmt *st) {
  if (*n == *cap) {
    int nc = *cap ? *cap * 2 : 16;
    key_record *na = realloc(*arr, (size_t)nc * sizeof *na);
    if (!na) return err_set("out of memory listing keys"), -1;
    *arr = na, *cap = nc;
  }
  record_from_row(st, &(*arr)[(*n)++]);
  return 0;
}

int keys_list(store_db *db, key_record **out, int *n) {
  *out = NULL, *n = 0;
  sqlite3 *conn = db_lock(db);
  sqlite3_stmt *st;
  int rc = -1, cap = 0, s;
  if (sqlite3_prepare_v2(conn, "SELECT " KEY_COLUMNS " FROM keys ORDER BY created, id", -1, &st, NULL) != SQLITE_OK) {
    db_fail(db, conn, "listing keys");
    goto done;
  }
  while ((s = sqlite3_step(st)) == SQLITE_ROW)
    if (grow_append(out, n, &cap, st) < 0) break;
  rc = s == SQLITE_DONE ? 0 : s == SQLITE_ROW ? -1 : db_fail(db, conn, "listing keys");
  sqlite3_finalize(st);
done:
  db_unlock(db);
  if (rc < 0) free(*out), *out = NULL, *n = 0;
  return rc;
}

int keys_revoke(store_db *db, const char *id) {
  key_record r;
  int found = keys_get(db, id, &r);
  if (found <= 0) return found < 0 ? -1 : (err_set("no key '%s'", id ? id : ""), -1);
  sqlite3 *conn = db_lock(db);
  sqlite3_stmt *st;
  int rc = -1;
  if (sqlite3_prepare_v2(conn, "UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0", -1, &st, NULL) !=
      SQLITE_OK) {
    db_fail(db, conn, "revoking the key");
    goto done;
  }
  int64_t now = db_now_s();
  sqlite3_bind_int64(st, 1, now > 0 ? now : 1);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_DONE)
    rc = sqlite3_changes(conn) == 1 ? 0 : 1;
  else
    db_fail(db, conn, "revoking the key");
  sqlite3_finalize(st);
done:
  db_unlock(db);
  return rc;
}

// ---- reading a record

key_state keys_status(const key_record *r, int64_t now_s) {
  if (r->revoked) return KEY_REVOKED;
  if (r->expires > 0 && now_s >= r->expires) return KEY_EXPIRED;
  return KEY_ACTIVE;
}

const char *keys_state_name(key_state s) {
  return s == KEY_ACTIVE ? "active" : s == KEY_REVOKED ? "revoked" : "expired";
}

const char *keys_period_name(key_period p) {
  static const char *const NAMES[] = {"", "day", "month", "total"};
  return (unsigned)p < 4 ? NAMES[p] : "";
}

static bool pattern_matches(const char *p, size_t n, const char *model) {
  if (n > 0 && p[n - 1] == '*') return !strncmp(model, p, n - 1);
  return strlen(model) == n && !strncmp(model, p, n);
}

bool keys_model_allowed(const key_record *r, const char *model) {
  if (!r->models[0]) return true;
  if (!model) return false;
  for (const char *p = r->models;; p++) {
    size_t n = strcspn(p, ",");
    if (pattern_matches(p, n, model)) return true;
    p += n;
    if (!*p) return false;
  }
}

int64_t keys_budget_start_ms(const key_record *r, int64_t now_ms) {
  if (r->budget_tokens <= 0 || r->budget_period == KEY_PERIOD_TOTAL) return 0;
  if (r->budget_period == KEY_PERIOD_DAY) return now_ms - now_ms % 86400000;
  if (r->budget_period != KEY_PERIOD_MONTH) return 0;
  time_t t = (time_t)(now_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  return (int64_t)timegm(&tm) * 1000;
}

static json_t *models_json(const char *models) {
  json_t *a = json_array();
  for (const char *p = models; a && *p; p++) {
    size_t n = strcspn(p, ",");
    json_array_append_new(a, json_stringn(p, n));
    p += n;
    if (!*p) break;
  }
  return a;
}

json_t *keys_record_json(const key_record *r, int64_t now_s) {
  json_t *meta = json_loads(r->metadata, 0, NULL);
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:o}", "id", r->id,
                        "name", r->name, "prefix", r->prefix, "status", keys_state_name(keys_status(r, now_s)),
                        "created", (json_int_t)r->created, "expires", (json_int_t)r->expires, "revoked_at",
                        (json_int_t)r->revoked_at, "rpm", (json_int_t)r->rpm, "tpm", (json_int_t)r->tpm,
                        "max_parallel", (json_int_t)r->max_parallel, "budget_tokens", (json_int_t)r->budget_tokens,
                        "budget_period", keys_period_name(r->budget_period), "models", models_json(r->models),
                        "metadata", meta ? meta : json_object());
  return o;
}
