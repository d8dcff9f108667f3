// gateway/access: who a request comes from and what it may do: the API key
// (looked up in the store by its hash, cached briefly), its allowed models,
// its limits (the limiter, in-process or shared through Redis) and its
// usage records. The gateway's handlers see only this interface.
#ifndef LLMUX_GATEWAY_ACCESS_H
#define LLMUX_GATEWAY_ACCESS_H
#include <stdbool.h>
#include <stddef.h>

#include "gateway/config.h"

typedef struct gw_access gw_access;

typedef struct {
  bool anonymous;    // no key needed (require_keys: false)
  char key_id[64];
  char key_name[128];
  struct gw_key_info *info;  // limits and allowed models (owned by the caller struct)
} gw_caller;

typedef enum { ACC_OK = 0, ACC_NO_KEY, ACC_BAD_KEY, ACC_REVOKED, ACC_EXPIRED, ACC_ERROR } acc_status;

typedef struct {
  const char *which;  // the limit that refused: "requests", "tokens", "parallel", "budget"
  double retry_after_s;
  long long limit_requests, remaining_requests, limit_tokens, remaining_tokens;
  double reset_requests_s, reset_tokens_s;
} gw_limit_info;

gw_access *gw_access_new(const gw_config *cfg, char *err, size_t err_size);
void gw_access_free(gw_access *a);

// bearer: the key the request presented, or NULL.
acc_status gw_access_identify(gw_access *a, const char *bearer, gw_caller *out);
void gw_caller_free(gw_caller *c);
bool gw_access_model_allowed(const gw_caller *c, const char *model);
// Admits one request (rpm, parallel, tpm and budget not used up); false
// with info set when a limit refuses. info is filled either way (headers).
bool gw_access_acquire(gw_access *a, const gw_caller *c, gw_limit_info *info);
// The request ended having used `tokens`: frees its parallel slot, charges them.
void gw_access_release(gw_access *a, const gw_caller *c, long long tokens);
// Records a finished request; returns once it is durable.
void gw_access_usage(gw_access *a, const gw_caller *c, const char *model, const char *backend, int status,
                     long long prompt_tokens, long long completion_tokens, double latency_ms, bool streamed);

// Drops a key from the lookup cache (after revoking it).
void gw_access_forget(gw_access *a, const char *key_id);
// The store of keys and usage, for the admin routes.
struct store_db;
struct store_db *gw_access_db(gw_access *a);

#endif
