// store/usage: one record per finished gateway request (key, model, backend,
// tokens, status, latency) in the store, and the aggregates /admin/usage and
// budgets read back. Owns the usage writer: a connection that the calling
// threads take turns on, each turn committing every record queued since the
// last in one transaction (group commit), so many request threads share each
// commit's cost and a lone request pays no hand-off to another thread.
//
// Durability: usage_record returns only once its record's transaction is
// committed to the write-ahead log, so a process killed at any moment after
// that (kill -9 included) keeps it. A power cut may still lose the last
// commits (synchronous=NORMAL, see db.c).
//
// Errors: functions that fail return NULL or -1 and set the calling thread's
// last error (core/error.h, err_get()).
#ifndef LLMUX_STORE_USAGE_H
#define LLMUX_STORE_USAGE_H
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store/db.h"

#define USAGE_NAME_MAX 256   // bytes of key_id, model, backend
#define USAGE_BATCH_MAX 1024 // records per transaction at most

typedef struct usage_rec {
  int64_t time_ms;            // when the request finished; 0 = now
  const char *key_id;         // the key's public id (never a secret)
  const char *model;          // the model name the client asked for
  const char *backend;        // which backend served it ("" if none did)
  int64_t prompt_tokens;
  int64_t completion_tokens;
  int status;                 // HTTP status sent (>= 400 counts as an error)
  int64_t latency_ms;         // request start to last byte
  bool streamed;
} usage_rec;

typedef enum { USAGE_GROUP_NONE, USAGE_GROUP_KEY, USAGE_GROUP_MODEL, USAGE_GROUP_BACKEND } usage_group;

// Queues the record and blocks until the transaction holding it is
// committed: 0, or -1 (invalid record, or the commit failed: then no record
// of that transaction is stored). Safe from any number of threads. The first
// call on a db opens its writer; db_close waits for what is queued and
// closes it, so every usage_record must have returned before db_close is called.
int usage_record(store_db *db, const usage_rec *rec);

// Aggregates of the records with from_ms <= time_ms < to_ms (INT64_MAX: no
// end), of one key and one model when given (NULL: all), one object per
// group value in ascending order (USAGE_GROUP_NONE: exactly one object):
//   {"key_id"|"model"|"backend": value (grouped only), "requests", "errors",
//    "streamed", "prompt_tokens", "completion_tokens", "latency_ms_mean",
//    "latency_ms_max"}
// A new reference to a JSON array, or NULL.
json_t *usage_query(store_db *db, const char *key_id, const char *model, int64_t from_ms, int64_t to_ms,
                    usage_group group);
// Prompt + completion tokens of a key's records since since_ms (inclusive),
// errors included: what a budget period has spent. -1 on error.
int64_t usage_tokens_since(store_db *db, const char *key_id, int64_t since_ms);

// "none", "key", "model", "backend" -> 0, else -1 with the error set.
int usage_group_parse(const char *s, usage_group *out);

#endif
