// api/api_util: what every HTTP handler shares: responses in the OpenAI
// shapes (JSON bodies, the error object), reading a request's JSON body, and
// validating its fields so that every bad value is a 400 naming the field.
#ifndef LLMUX_API_UTIL_H
#define LLMUX_API_UTIL_H
#include <jansson.h>
#include <stdbool.h>

#include "http/server.h"

// A field-level problem with a request; msg is shown to the client as is.
typedef struct api_err {
  int status;         // 400 unless said otherwise
  const char *type;   // OpenAI error type
  const char *code;   // NULL or a short code
  char param[64];     // the offending field, or empty
  char msg[512];
} api_err;

void api_err_set(api_err *e, int status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// {"error":{"message","type","param","code"}} with the status's usual type.
http_response *api_error(int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
http_response *api_error_from(const api_err *e);
// Serializes and steals j.
http_response *api_json(int status, json_t *j);

// Parses the body as a JSON object; NULL with e set when it is not one.
json_t *api_parse_body(http_request *rq, api_err *e);

// Rejects any key of obj that is not in allowed (NULL-terminated): a
// parameter we do not support is an error, never silently ignored.
bool api_check_keys(const json_t *obj, const char *const *allowed, const char *where, api_err *e);

// Optional fields: absent or null leaves *out as it is. A wrong type or a
// value out of [lo, hi] is an error naming the field.
bool api_get_int(const json_t *obj, const char *key, long long lo, long long hi, long long *out, api_err *e);
bool api_get_num(const json_t *obj, const char *key, double lo, double hi, double *out, api_err *e);
bool api_get_bool(const json_t *obj, const char *key, bool *out, api_err *e);
bool api_get_str(const json_t *obj, const char *key, const char **out, api_err *e);

// A random id with a prefix ("chatcmpl-" + 24 characters).
void api_random_id(const char *prefix, char *out, size_t size);
long long api_unix_time(void);

#endif
