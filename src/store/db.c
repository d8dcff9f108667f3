// store/db: see db.h. Owns the schema: MIGRATIONS[i] takes a file from
// user_version i to i + 1, and is never edited once released (a new column
// is a new migration), so every older file reaches the current shape.
#include "store/db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

struct store_db {
  char *path;
  sqlite3 *conn;          // the shared connection, under mu
  pthread_mutex_t mu;
  pthread_mutex_t attach_mu;  // guards the slot below (make may take long)
  void *attached;
  void (*destroy)(void *);
};

// ---- schema

// keys: a key's secret is never stored, only its BLAKE2b-256 hex (`hash`,
// unique: lookups go through its index). Times are Unix seconds; 0 = never.
// usage: one row per finished request; times in milliseconds.
static const char *const MIGRATIONS[DB_SCHEMA_VERSION] = {
  "CREATE TABLE keys ("
  "  id TEXT PRIMARY KEY,"
  "  hash TEXT NOT NULL UNIQUE,"
  "  prefix TEXT NOT NULL,"
  "  name TEXT NOT NULL,"
  "  created INTEGER NOT NULL,"
  "  expires INTEGER NOT NULL DEFAULT 0,"
  "  revoked_at INTEGER NOT NULL DEFAULT 0,"
  "  rpm INTEGER NOT NULL DEFAULT 0,"
  "  tpm INTEGER NOT NULL DEFAULT 0,"
  "  max_parallel INTEGER NOT NULL DEFAULT 0,"
  "  budget_tokens INTEGER NOT NULL DEFAULT 0,"
  "  budget_period TEXT NOT NULL DEFAULT '',"
  "  models TEXT NOT NULL DEFAULT '',"
  "  metadata TEXT NOT NULL DEFAULT '{}');"
  "CREATE TABLE usage ("
  "  id INTEGER PRIMARY KEY,"
  "  time_ms INTEGER NOT NULL,"
  "  key_id TEXT NOT NULL,"
  "  model TEXT NOT NULL,"
  "  backend TEXT NOT NULL,"
  "  prompt_tokens INTEGER NOT NULL,"
  "  completion_tokens INTEGER NOT NULL,"
  "  status INTEGER NOT NULL,"
  "  latency_ms INTEGER NOT NULL,"
  "  streamed INTEGER NOT NULL);"
  "CREATE INDEX usage_by_key ON usage(key_id, time_ms);"
  "CREATE INDEX usage_by_time ON usage(time_ms);",
};

int db_fail(const store_db *db, sqlite3 *conn, const char *context) {
  err_set("%s: %s: %s", db->path, context, conn ? sqlite3_errmsg(conn) : "out of memory");
  return -1;
}

int db_exec(store_db *db, sqlite3 *conn, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(conn, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
  err_set("%s: %s", db->path, msg ? msg : sqlite3_errmsg(conn));
  sqlite3_free(msg);
  return -1;
}

static int user_version(store_db *db, sqlite3 *conn, int *out) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(conn, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, conn, "reading the schema version");
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : db_fail(db, conn, "reading the schema version");
}

// Migrates inside one IMMEDIATE transaction, reading the version again under
// the write lock, so two processes opening a new file at once migrate it once.
static int migrate(store_db *db, sqlite3 *conn) {
  int v = 0;
  if (db_exec(db, conn, "BEGIN IMMEDIATE") < 0) return -1;
  if (user_version(db, conn, &v) < 0) goto fail;
  if (v > DB_SCHEMA_VERSION) {
    err_set("%s: schema version %d is newer than this llmux's (%d)", db->path, v, DB_SCHEMA_VERSION);
    goto fail;
  }
  for (; v < DB_SCHEMA_VERSION; v++) {
    char set[64];
    snprintf(set, sizeof set, "PRAGMA user_version = %d", v + 1);
    if (db_exec(db, conn, MIGRATIONS[v]) < 0 || db_exec(db, conn, set) < 0) goto fail;
  }
  if (db_exec(db, conn, "COMMIT") < 0) goto fail;
  return 0;
fail:
  sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

// ---- connections

// WAL: readers never block the writer and a commit is one append to the log.
// synchronous=NORMAL: a commit is not fsynced, only checkpoints are; a killed
// process loses nothing committed (the log is in the OS's page cache), a
// power cut may lose the last commits. journal_mode answers the mode it got:
// anything but "wal" (a filesystem without shared memory) is refused.
//
// page_size=1024 (taken only by a new, empty database): every usage commit
// writes whole pages (the table's and two indexes' leaves), so 1 KiB pages
// write a quarter of the log per request, and checkpoints copy and fsync a
// quarter: the gateway's one-connection p99 fell from 0.86-0.95 to
// 0.66-0.84 ms (docs/PERFORMANCE.md).
static int configure(store_db *db, sqlite3 *conn) {
  sqlite3_busy_timeout(conn, DB_BUSY_TIMEOUT_MS);
  if (db_exec(db, conn, "PRAGMA page_size=1024") < 0) return -1;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(conn, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, conn, "opening");
  int rc = sqlite3_step(st);
  bool wal = rc == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) return db_fail(db, conn, "opening");
  if (!wal) {
    err_set("%s: cannot use write-ahead logging here (on a network filesystem?)", db->path);
    return -1;
  }
  return db_exec(db, conn, "PRAGMA synchronous=NORMAL");
}

// NOMUTEX: every connection is used by one thread at a time (ours guard it),
// so SQLite's own per-connection mutex would only cost.
sqlite3 *db_connect(store_db *db) {
  sqlite3 *conn = NULL;
  if (sqlite3_open_v2(db->path, &conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    db_fail(db, conn, "opening");
    sqlite3_close(conn);
    return NULL;
  }
  if (configure(db, conn) < 0) {
    sqlite3_close(conn);
    return NULL;
  }
  return conn;
}

// Creates a missing file ourselves, mode 0600: SQLite would use 0644 and its
// -wal and -shm files copy the database's mode. Key hashes are not secrets,
// but usage records are nobody else's business.
static int create_private(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) return close(fd);
  if (errno == EEXIST) return 0;
  err_set("%s: cannot create: %s", path, strerror(errno));
  return -1;
}

static int check_exists(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0) return 0;
  err_set("%s: no such database (%s)", path, strerror(errno));
  return -1;
}

store_db *db_open(const char *path, bool create) {
  if (!path || !*path) {
    err_set("no database path given");
    return NULL;
  }
  if (!sqlite3_threadsafe()) {
    err_set("%s: this SQLite library was built without thread support", path);
    return NULL;
  }
  if ((create ? create_private(path) : check_exists(path)) < 0) return NULL;
  store_db *db = calloc(1, sizeof *db);
  if (!db || !(db->path = strdup(path))) {
    free(db);
    err_set("%s: out of memory", path);
    return NULL;
  }
  pthread_mutex_init(&db->mu, NULL);
  pthread_mutex_init(&db->attach_mu, NULL);
  if (!(db->conn = db_connect(db)) || migrate(db, db->conn) < 0) {
    db_close(db);
    return NULL;
  }
  return db;
}

void db_close(store_db *db) {
  if (!db) return;
  if (db->attached) db->destroy(db->attached);
  sqlite3_close(db->conn);
  pthread_mutex_destroy(&db->mu);
  pthread_mutex_destroy(&db->attach_mu);
  free(db->path);
  free(db);
}

const char *db_path(const store_db *db) { return db->path; }

sqlite3 *db_lock(store_db *db) {
  pthread_mutex_lock(&db->mu);
  return db->conn;
}

void db_unlock(store_db *db) { pthread_mutex_unlock(&db->mu); }

void *db_attach(store_db *db, void *(*make)(store_db *db), void (*destroy)(void *state)) {
  pthread_mutex_lock(&db->attach_mu);
  if (!db->attached && (db->attached = make(db))) db->destroy = destroy;
  void *state = db->attached;
  pthread_mutex_unlock(&db->attach_mu);
  return state;
}

// ---- clocks

int64_t db_memory_used(void) { return (int64_t)sqlite3_memory_used(); }

int64_t db_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t db_now_s(void) { return (int64_t)time(NULL); }
