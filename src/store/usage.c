// store/usage: see usage.h. Group commit without a writer thread: a caller
// links its record (which lives on its stack) into a FIFO and, when no
// commit is in progress, becomes the leader: it takes the queue, commits it
// in one transaction on the writer connection and wakes the others of that
// batch. Callers that arrive meanwhile sleep on their node's own condition
// variable; the leader's last act wakes the new head of the queue, which
// leads the next batch. Alone, a request commits on its own thread with no
// hand-off (a writer thread cost two cross-core wake-ups per request, most
// of the gateway's one-connection p99); under load, batches form as
// before. Nothing is copied and no caller wakes for another's commit.
#include "store/usage.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "core/error.h"

#define USAGE_TOKENS_MAX (1LL << 40)  // per record: a sum over a million records still fits int64

typedef struct pending {
  const usage_rec *rec;
  int64_t time_ms;
  struct pending *next;
  pthread_cond_t cond;  // signalled once done is set
  bool done;
  int rc;
  char err[256];
} pending;

typedef struct usage_writer {
  store_db *db;
  sqlite3 *conn;  // used by the leader of the moment only
  sqlite3_stmt *insert;
  pthread_mutex_t mu;  // guards everything below
  pending *head, *tail;
  bool leading;         // a caller is committing a batch
  pthread_cond_t idle;  // signalled when a batch ends with nothing queued
  bool stop;
  // Checkpoints run on a thread and connection of their own: run inside a
  // commit (SQLite's automatic checkpoint), they made every request of that
  // batch wait milliseconds for the copy back into the database file.
  sqlite3 *ckpt_conn;
  pthread_t ckpt_thread;
  pthread_cond_t ckpt_wake;
  int wal_limit_frames;  // WAL_LIMIT_BYTES in this database's pages
  int wal_frames;        // the log's length after the last commit (the lead's own)
  bool wal_full;         // it passed the limit: catch up and let it restart
  bool ckpt_wants;       // the checkpoint thread waits for the lead
  pthread_cond_t ckpt_turn;  // signalled when the lead passes to it
} usage_writer;

// ---- committing

// One transaction for the whole batch; on any failure none of it is stored.
static int commit_batch(usage_writer *w, pending *batch) {
  if (db_exec(w->db, w->conn, "BEGIN IMMEDIATE") < 0) return -1;
  for (pending *p = batch; p; p = p->next) {
    const usage_rec *r = p->rec;
    sqlite3_stmt *st = w->insert;
    sqlite3_bind_int64(st, 1, p->time_ms);
    sqlite3_bind_text(st, 2, r->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->backend ? r->backend : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, r->prompt_tokens);
    sqlite3_bind_int64(st, 6, r->completion_tokens);
    sqlite3_bind_int(st, 7, r->status);
    sqlite3_bind_int64(st, 8, r->latency_ms);
    sqlite3_bind_int(st, 9, r->streamed);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) goto fail;
  }
  if (sqlite3_exec(w->conn, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) return 0;
fail:
  db_fail(w->db, w->conn, "recording usage");
  sqlite3_exec(w->conn, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

// Unlinks up to USAGE_BATCH_MAX nodes from the queue's head (mu held); one
// transaction stays short enough not to hold the write lock for long.
static pending *take_batch(usage_writer *w) {
  pending *batch = w->head, *last = batch;
  for (int n = 1; n < USAGE_BATCH_MAX && last->next; n++) last = last->next;
  w->head = last->next;
  if (!w->head) w->tail = NULL;
  last->next = NULL;
  return batch;
}

// Wakes the batch's callers (mu held). next is read before done is set: once
// a caller sees done it may return and its node is gone.
static void finish_batch(pending *batch, int rc, const char *err) {
  for (pending *p = batch, *next; p; p = next) {
    next = p->next;
    p->rc = rc;
    if (rc < 0) snprintf(p->err, sizeof p->err, "%s", err);
    p->done = true;
    pthread_cond_signal(&p->cond);
  }
}

#define CHECKPOINT_EVERY_S 1

// Under steady writes a PASSIVE checkpoint never catches up with the last
// commit, so SQLite never starts the log over: at 16k requests/s it grew by
// 40 MB/s, and its index in shared memory (which counts as our RSS) with it.
// Past WAL_LIMIT_BYTES of frames the checkpoint thread catches up: a
// PASSIVE checkpoint beside the commits copies nearly all of the log, then,
// holding the lead so that no commit starts, a second one copies the few
// frames written meanwhile; the next commit then finds the whole log copied
// and writes it from its start (journal_size_limit trims the file back).
// Commits wait only for that second, short copy (0.75 ms median): the whole
// copy in the lead stalled them 13 ms several times a second. The limit is
// small on purpose: a 64 MiB log made each checkpoint's fsync so large that
// commits stalled behind it for milliseconds (one-connection p99 7-8 ms).
#define WAL_LIMIT_BYTES (4 << 20)
#define WAL_BACKSTOP 3  // x WAL_LIMIT_BYTES: past this the leader copies the log itself (lead_batch)

// sqlite3_wal_hook on the writer connection: called in each commit with the
// log's length in frames, on the leader's thread (w->mu is not held there).
static int wal_grown(void *arg, sqlite3 *conn, const char *name, int frames) {
  (void)conn, (void)name;
  usage_writer *w = arg;
  w->wal_frames = frames;
  return SQLITE_OK;
}

// Passes the lead on (mu held): to the checkpoint thread if it waits for it,
// else to the queue's head; with neither, the writer is idle.
static void pass_lead(usage_writer *w) {
  w->leading = false;
  if (w->ckpt_wants) pthread_cond_signal(&w->ckpt_turn);
  else if (w->head) pthread_cond_signal(&w->head->cond);
  else pthread_cond_broadcast(&w->idle);
}

// Commits the batch at the queue's head on the calling thread (mu held on
// entry and exit, released during the commit), then passes the lead on.
static void lead_batch(usage_writer *w) {
  w->leading = true;
  pending *batch = take_batch(w);
  pthread_mutex_unlock(&w->mu);
  int rc = commit_batch(w, batch);
  pthread_mutex_lock(&w->mu);
  finish_batch(batch, rc, rc < 0 ? err_get() : "");
  if (w->wal_frames > w->wal_limit_frames) {
    w->wal_full = true;
    pthread_cond_signal(&w->ckpt_wake);
  }
  if (w->wal_frames > WAL_BACKSTOP * w->wal_limit_frames) {
    // The checkpoint thread has fallen this far behind (starved of CPU, as in
    // a parallel `make test` on two cores, where the log once reached 18
    // MiB): copy the log here, holding the lead, so that it stays bounded
    // whatever the scheduling; the next commit then starts it over.
    pthread_mutex_unlock(&w->mu);
    sqlite3_wal_checkpoint_v2(w->conn, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    pthread_mutex_lock(&w->mu);
  }
  pass_lead(w);
}

// PASSIVE: copies what no reader needs any more, never blocks a commit.
static void checkpoint(usage_writer *w) {
  sqlite3_wal_checkpoint_v2(w->ckpt_conn, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

// The second copy of a restart, in the lead (mu held on entry and exit).
static void catch_up(usage_writer *w) {
  w->ckpt_wants = true;
  while (w->leading) pthread_cond_wait(&w->ckpt_turn, &w->mu);
  w->ckpt_wants = false;
  w->leading = true;
  w->wal_full = false;
  pthread_mutex_unlock(&w->mu);
  checkpoint(w);
  pthread_mutex_lock(&w->mu);
  pass_lead(w);
}

static void *checkpoint_main(void *arg) {
  usage_writer *w = arg;
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += CHECKPOINT_EVERY_S;
    if (!w->wal_full) pthread_cond_timedwait(&w->ckpt_wake, &w->mu, &ts);
    if (w->stop) break;
    pthread_mutex_unlock(&w->mu);
    checkpoint(w);
    pthread_mutex_lock(&w->mu);
    if (w->wal_full) catch_up(w);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

// ---- starting and stopping (through db_attach / db_close)

static void writer_free(usage_writer *w) {
  sqlite3_finalize(w->insert);
  sqlite3_close(w->conn);
  sqlite3_close(w->ckpt_conn);
  pthread_cond_destroy(&w->ckpt_wake);
  pthread_cond_destroy(&w->ckpt_turn);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->idle);
  free(w);
}

// WAL_LIMIT_BYTES in frames of this database's page size (a database made
// before page_size=1024 keeps its 4 KiB pages), or -1.
static int limit_frames(store_db *db, sqlite3 *conn) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(conn, "PRAGMA page_size", -1, &st, NULL) != SQLITE_OK)
    return db_fail(db, conn, "reading the page size");
  int page = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
  sqlite3_finalize(st);
  if (page <= 0) return db_fail(db, conn, "reading the page size");
  return WAL_LIMIT_BYTES / page;
}

static void *writer_make(store_db *db) {
  usage_writer *w = calloc(1, sizeof *w);
  if (!w) return err_set("%s: out of memory", db_path(db)), NULL;
  w->db = db;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->idle, NULL);
  pthread_cond_init(&w->ckpt_wake, NULL);
  pthread_cond_init(&w->ckpt_turn, NULL);
  if (!(w->conn = db_connect(db)) || !(w->ckpt_conn = db_connect(db))) goto fail;
  if ((w->wal_limit_frames = limit_frames(db, w->conn)) < 0) goto fail;
  sqlite3_wal_autocheckpoint(w->conn, 0);  // checkpoints are checkpoint_main's
  sqlite3_wal_hook(w->conn, wal_grown, w);
  char limit[64];
  snprintf(limit, sizeof limit, "PRAGMA journal_size_limit=%d", WAL_LIMIT_BYTES);
  if (db_exec(db, w->conn, limit) < 0 || db_exec(db, w->ckpt_conn, limit) < 0) goto fail;
  if (sqlite3_prepare_v3(w->conn,
                         "INSERT INTO usage (time_ms, key_id, model, backend, prompt_tokens, completion_tokens,"
                         " status, latency_ms, streamed) VALUES (?,?,?,?,?,?,?,?,?)",
                         -1, SQLITE_PREPARE_PERSISTENT, &w->insert, NULL) != SQLITE_OK) {
    db_fail(db, w->conn, "preparing the usage writer");
    goto fail;
  }
  // The log stays bounded only through this thread: no writer without it.
  if (pthread_create(&w->ckpt_thread, NULL, checkpoint_main, w) != 0) {
    err_set("%s: cannot start the usage checkpoint thread (out of threads?)", db_path(db));
    goto fail;
  }
  return w;
fail:
  writer_free(w);
  return NULL;
}

// Drains: waits until everything queued is committed.
static void writer_destroy(void *state) {
  usage_writer *w = state;
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_signal(&w->ckpt_wake);
  while (w->leading || w->head) pthread_cond_wait(&w->idle, &w->mu);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->ckpt_thread, NULL);
  writer_free(w);
}

// ---- recording

static int check_name(const char *what, const char *s, bool may_be_empty) {
  if (!s || (!*s && !may_be_empty)) return err_set("usage record without a %s", what), -1;
  size_t n = strlen(s);
  if (n > USAGE_NAME_MAX) return err_set("usage record: %s is %zu bytes; at most %d", what, n, USAGE_NAME_MAX), -1;
  // Invalid UTF-8 could not be carried by the JSON answers; checked in place, no allocation per request.
  for (utf8proc_ssize_t i = 0, len; i < (utf8proc_ssize_t)n; i += len) {
    utf8proc_int32_t cp;
    if ((len = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)n - i, &cp)) <= 0 || cp == 0)
      return err_set("usage record: %s is not valid UTF-8", what), -1;
  }
  return 0;
}

static int check_record(const usage_rec *r) {
  if (check_name("key id", r->key_id, false) < 0 || check_name("model", r->model, false) < 0 ||
      check_name("backend", r->backend ? r->backend : "", true) < 0)
    return -1;
  if (r->prompt_tokens < 0 || r->completion_tokens < 0 || r->prompt_tokens > USAGE_TOKENS_MAX ||
      r->completion_tokens > USAGE_TOKENS_MAX)
    return err_set("usage record: token counts must be in 0..2^40"), -1;
  if (r->status < 0 || r->status > 999) return err_set("usage record: status %d is not an HTTP status", r->status), -1;
  if (r->latency_ms < 0 || r->time_ms < 0) return err_set("usage record: negative time or latency"), -1;
  return 0;
}

int usage_record(store_db *db, const usage_rec *rec) {
  if (check_record(rec) < 0) return -1;
  usage_writer *w = db_attach(db, writer_make, writer_destroy);
  if (!w) return -1;
  pending p = {.rec = rec, .time_ms = rec->time_ms ? rec->time_ms : db_now_ms()};
  pthread_cond_init(&p.cond, NULL);
  pthread_mutex_lock(&w->mu);
  if (w->stop) {
    p.done = true, p.rc = -1;
    snprintf(p.err, sizeof p.err, "%s: the database is closing", db_path(db));
  } else {
    *(w->tail ? &w->tail->next : &w->head) = &p;
    w->tail = &p;
  }
  while (!p.done) {
    if (!w->leading && !w->ckpt_wants) lead_batch(w);  // its batch holds p unless 1024 are ahead
    else pthread_cond_wait(&p.cond, &w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  pthread_cond_destroy(&p.cond);
  if (p.rc < 0) err_set("%s", p.err);
  return p.rc;
}

// ---- reading

int usage_group_parse(const char *s, usage_group *out) {
  static const char *const NAMES[] = {"none", "key", "model", "backend"};
  for (int i = 0; i < 4; i++)
    if (s && !strcmp(s, NAMES[i])) return *out = (usage_group)i, 0;
  err_set("group_by '%s' is not one of none, key, model, backend", s ? s : "");
  return -1;
}

// The statement's text comes only from the fixed fragments here; values are
// bound, never pasted in.
static void query_sql(char *sql, size_t size, bool by_key, bool by_model, usage_group g) {
  static const char *const COLUMN[] = {"NULL", "key_id", "model", "backend"};
  const char *col = COLUMN[g];
  int n = snprintf(sql, size,
                   "SELECT %s, COUNT(*), COALESCE(SUM(status >= 400), 0), COALESCE(SUM(streamed), 0),"
                   " COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),"
                   " COALESCE(AVG(latency_ms), 0), COALESCE(MAX(latency_ms), 0)"
                   " FROM usage WHERE time_ms >= ?1 AND time_ms < ?2%s%s",
                   col, by_key ? " AND key_id = ?3" : "", by_model ? " AND model = ?4" : "");
  if (g != USAGE_GROUP_NONE) snprintf(sql + n, size - (size_t)n, " GROUP BY %s ORDER BY %s", col, col);
}

static json_t *row_json(sqlite3_stmt *st, usage_group g) {
  static const char *const FIELD[] = {NULL, "key_id", "model", "backend"};
  json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:I}", "requests", (json_int_t)sqlite3_column_int64(st, 1),
                        "errors", (json_int_t)sqlite3_column_int64(st, 2), "streamed",
                        (json_int_t)sqlite3_column_int64(st, 3), "prompt_tokens",
                        (json_int_t)sqlite3_column_int64(st, 4), "completion_tokens",
                        (json_int_t)sqlite3_column_int64(st, 5), "latency_ms_mean", sqlite3_column_double(st, 6),
                        "latency_ms_max", (json_int_t)sqlite3_column_int64(st, 7));
  if (o && g != USAGE_GROUP_NONE) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    json_object_set_new(o, FIELD[g], json_string(v ? v : ""));
  }
  return o;
}

static json_t *run_query(store_db *db, sqlite3 *conn, sqlite3_stmt *st, usage_group g) {
  json_t *arr = json_array();
  int s;
  while (arr && (s = sqlite3_step(st)) == SQLITE_ROW) {
    json_t *o = row_json(st, g);
    if (!o || json_array_append_new(arr, o) < 0) {
      err_set("out of memory building the usage answer");
      json_decref(arr);
      return NULL;
    }
  }
  if (!arr) return err_set("out of memory building the usage answer"), NULL;
  if (s != SQLITE_DONE) {
    db_fail(db, conn, "querying usage");
    json_decref(arr);
    return NULL;
  }
  return arr;
}

json_t *usage_query(store_db *db, const char *key_id, const char *model, int64_t from_ms, int64_t to_ms,
                    usage_group group) {
  if ((unsigned)group > USAGE_GROUP_BACKEND) return err_set("unknown usage grouping %d", (int)group), NULL;
  char sql[512];
  query_sql(sql, sizeof sql, key_id != NULL, model != NULL, group);
  sqlite3 *conn = db_lock(db);
  sqlite3_stmt *st;
  json_t *out = NULL;
  if (sqlite3_prepare_v2(conn, sql, -1, &st, NULL) != SQLITE_OK) {
    db_fail(db, conn, "querying usage");
    goto done;
  }
  sqlite3_bind_int64(st, 1, from_ms);
  sqlite3_bind_int64(st, 2, to_ms);
  if (key_id) sqlite3_bind_text(st, 3, key_id, -1, SQLITE_STATIC);
  if (model) sqlite3_bind_text(st, 4, model, -1, SQLITE_STATIC);
  out = run_query(db, conn, st, group);
  sqlite3_finalize(st);
done:
  db_unlock(db);
  return out;
}

int64_t usage_tokens_since(store_db *db, const char *key_id, int64_t since_ms) {
  if (!key_id) return err_set("usage_tokens_since: no key id"), -1;
  sqlite3 *conn = db_lock(db);
  sqlite3_stmt *st;
  int64_t total = -1;
  if (sqlite3_prepare_v2(conn,
                         "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage"
                         " WHERE key_id = ? AND time_ms >= ?",
                         -1, &st, NULL) != SQLITE_OK) {
    db_fail(db, conn, "reading a key's usage");
    goto done;
  }
  sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, since_ms);
  if (sqlite3_step(st) == SQLITE_ROW)
    total = sqlite3_column_int64(st, 0);
  else
    db_fail(db, conn, "reading a key's usage");
  sqlite3_finalize(st);
done:
  db_unlock(db);
  return total;
}
