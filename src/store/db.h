// store/db: the gateway's SQLite database file. Owns opening it (WAL,
// synchronous=NORMAL, busy timeout, private file mode), the schema and its
// migrations (PRAGMA user_version), and the one shared connection.
//
// Threads: a store_db holds ONE connection shared by all threads and guarded
// by a mutex (db_lock/db_unlock): a statement's prepare/bind/step/reset must
// not interleave with another thread's, and key lookups and admin queries
// are short. The usage writer (usage.c) is the exception: it opens its own
// connection (db_connect) so that its batched inserts never wait for, or
// block, the shared one; WAL lets readers run beside that writer.
//
// Errors: functions that fail return NULL or -1 and set the calling thread's
// last error (core/error.h, err_get()) to one line naming the file.
// This module never logs and never sees a key's secret.
#ifndef LLMUX_STORE_DB_H
#define LLMUX_STORE_DB_H
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct store_db store_db;

// The schema version this build writes; a newer file is refused.
#define DB_SCHEMA_VERSION 1
// How long a statement waits for another connection's (or process's) lock.
#define DB_BUSY_TIMEOUT_MS 5000

// Opens (create = true: creates, mode 0600, when missing) and migrates the
// file to DB_SCHEMA_VERSION.
store_db *db_open(const char *path, bool create);
// Stops attached state first (the usage writer drains and commits its queue),
// then closes the connection. NULL is fine.
void db_close(store_db *db);
const char *db_path(const store_db *db);

// The shared connection, held until db_unlock.
sqlite3 *db_lock(store_db *db);
void db_unlock(store_db *db);

// A new connection to the same file with the same settings, for a thread of
// its own; close it with sqlite3_close.
sqlite3 *db_connect(store_db *db);

// Per-database state of another store module (one slot: the usage writer),
// made on first use: returns the state already attached, or calls make(db),
// keeps its result (when not NULL) and returns it. db_close calls
// destroy(state) before closing the connection.
void *db_attach(store_db *db, void *(*make)(store_db *db), void (*destroy)(void *state));

// Sets the last error to "PATH: CONTEXT: sqlite's message" and returns -1.
int db_fail(const store_db *db, sqlite3 *conn, const char *context);

// Runs SQL without results (several statements allowed); 0 or -1.
int db_exec(store_db *db, sqlite3 *conn, const char *sql);

// Milliseconds / seconds since the Unix epoch (wall clock).
// Bytes SQLite holds in this process (page caches, statements, schemas).
int64_t db_memory_used(void);
int64_t db_now_ms(void);
int64_t db_now_s(void);

#endif
