// store/keys: the gateway's API keys in the store. Owns the secret format,
// making secrets, hashing them, validating a key's limits and the key
// records' table. A secret exists in memory only while keys_create returns
// it and while keys_lookup_secret hashes it: it is never stored (only its
// BLAKE2b-256 hex is), never logged, and never part of a key_record.
//
// Errors: functions that fail return -1 and set the calling thread's last
// error (core/error.h, err_get()) to one line a user can act on.
#ifndef LLMUX_STORE_KEYS_H
#define LLMUX_STORE_KEYS_H
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store/db.h"

// "sk-lmx-" + 40 base62 characters (238 random bits).
#define KEY_SECRET_PREFIX "sk-lmx-"
#define KEY_SECRET_LEN 47
#define KEY_SECRET_SIZE (KEY_SECRET_LEN + 1)
// Public id: "key_" + 12 base62 characters.
#define KEY_ID_LEN 16
#define KEY_ID_SIZE (KEY_ID_LEN + 1)
// Display prefix: the secret's first 12 characters ("sk-lmx-" + 5).
#define KEY_PREFIX_LEN 12
#define KEY_PREFIX_SIZE (KEY_PREFIX_LEN + 1)

#define KEY_NAME_MAX 64          // bytes of UTF-8, no control characters
#define KEY_MODELS_MAX 1023      // bytes of the comma-separated pattern list
#define KEY_MODEL_PATTERNS_MAX 32
#define KEY_METADATA_MAX 1023    // bytes of the compact JSON object
#define KEY_LIMIT_MAX 1000000000000000LL  // 10^15: any rpm/tpm/parallel/budget

typedef enum { KEY_PERIOD_NONE, KEY_PERIOD_DAY, KEY_PERIOD_MONTH, KEY_PERIOD_TOTAL } key_period;
typedef enum { KEY_ACTIVE, KEY_REVOKED, KEY_EXPIRED } key_state;

// What keys_create is asked for. Zero means "no limit" for every limit; NULL
// strings mean "none".
typedef struct key_spec {
  const char *name;           // up to KEY_NAME_MAX bytes; NULL = ""
  int64_t rpm;                // requests per minute
  int64_t tpm;                // tokens (prompt + completion) per minute
  int64_t max_parallel;       // requests in flight at once
  int64_t budget_tokens;      // tokens per budget period; needs budget_period
  const char *budget_period;  // "day" (UTC), "month" (UTC) or "total"
  const char *models;         // "a,b*": names, or prefixes ending in '*'; NULL = all
  int64_t expires;            // Unix seconds, must be in the future; 0 = never
  int64_t expires_in;         // or seconds after creation (when expires is 0); 0 = never
  const char *metadata;       // a JSON object as text; NULL = {}
} key_spec;

// A key as stored: a plain value (no pointers), copyable with `=`, so a cache
// can hold copies.
typedef struct key_record {
  char id[KEY_ID_SIZE];
  char prefix[KEY_PREFIX_SIZE];
  char name[KEY_NAME_MAX + 1];
  int64_t created;     // Unix seconds
  int64_t expires;     // Unix seconds; 0 = never
  bool revoked;
  int64_t revoked_at;  // Unix seconds when revoked
  int64_t rpm, tpm, max_parallel, budget_tokens;  // 0 = unlimited
  key_period budget_period;                       // NONE when budget_tokens is 0
  char models[KEY_MODELS_MAX + 1];                // "" = every model
  char metadata[KEY_METADATA_MAX + 1];            // compact JSON object
} key_record;

// Validates spec, makes a secret and an id, stores the key. On success writes
// the secret (NUL-terminated) to secret, the stored record to *out (may be
// NULL) and returns 0. The caller shows the secret once and forgets it.
int keys_create(store_db *db, const key_spec *spec, char secret[KEY_SECRET_SIZE], key_record *out);
// The key whose secret this is: 1 found (revoked and expired keys too: ask
// keys_status), 0 none (also for text not shaped like a secret, without
// touching the database), -1 error. No constant-time compare is needed: the
// secret is never compared with anything, its hash is found through an
// index, and how long that search takes tells an attacker at most about
// hashes, from which no secret can be derived.
int keys_lookup_secret(store_db *db, const char *secret, key_record *out);
// By public id: 1 found, 0 none, -1 error.
int keys_get(store_db *db, const char *id, key_record *out);
// Every key, oldest first, in a malloc'd array (free() it; NULL when *n is 0).
int keys_list(store_db *db, key_record **out, int *n);
// 0 revoked now, 1 it already was (the first revocation time stays),
// -1 no such key or error.
int keys_revoke(store_db *db, const char *id);

key_state keys_status(const key_record *r, int64_t now_s);
const char *keys_state_name(key_state s);    // "active", "revoked", "expired"
const char *keys_period_name(key_period p);  // "", "day", "month", "total"
// Whether the key may use model: its list is empty, or a pattern equals the
// model, or a pattern "p*" and the model starts with p ("*" alone: any).
bool keys_model_allowed(const key_record *r, const char *model);
// When the budget period holding now_ms began (ms): the UTC day's or
// month's start, 0 for "total" and for no budget. The tokens spent in the
// period are usage_tokens_since(db, id, that).
int64_t keys_budget_start_ms(const key_record *r, int64_t now_ms);
// The record as a JSON object (never any secret): id, name, prefix, status,
// created, expires, revoked_at, rpm, tpm, max_parallel, budget_tokens,
// budget_period, models (array), metadata (object). NULL if out of memory.
json_t *keys_record_json(const key_record *r, int64_t now_s);

// Whether text has the shape of a secret (prefix, length, alphabet).
bool keys_secret_well_formed(const char *secret);

#endif
