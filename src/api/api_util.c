// api/api_util: see api_util.h.
#include "api/api_util.h"

#include <math.h>

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *type_of(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

void api_err_set(api_err *e, int status, const char *param, const char *fmt, ...) {
  e->status = status;
  e->type = type_of(status);
  e->code = NULL;
  snprintf(e->param, sizeof e->param, "%s", param ? param : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}

http_response *api_json(int status, json_t *j) {
  char *body = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
  json_decref(j);
  if (!body) return http_response_text(500, "application/json", "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
  return http_response_new(status, "application/json", body, strlen(body));
}

static http_response *error_response(int status, const char *type, const char *param, const char *code,
                                     const char *msg) {
  json_t *err = json_pack("{s:s,s:s,s:o,s:o}", "message", msg, "type", type, "param",
                          param && *param ? json_string(param) : json_null(), "code",
                          code ? json_string(code) : json_null());
  return api_json(status, json_pack("{s:o}", "error", err));
}

http_response *api_error(int status, const char *param, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return error_response(status, type_of(status), param, code, msg);
}

http_response *api_error_from(const api_err *e) {
  return error_response(e->status ? e->status : 400, e->type ? e->type : type_of(e->status), e->param, e->code,
                        e->msg);
}

json_t *api_parse_body(http_request *rq, api_err *e) {
  size_t len;
  const char *body = http_body(rq, &len);
  json_error_t je;
  json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    api_err_set(e, 400, NULL, "the request body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                je.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    api_err_set(e, 400, NULL, "the request body must be a JSON object");
    return NULL;
  }
  return j;
}

bool api_check_keys(const json_t *obj, const char *const *allowed, const char *where, api_err *e) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool ok = false;
    for (int i = 0; allowed[i] && !ok; i++) ok = !strcmp(key, allowed[i]);
    if (!ok) {
      api_err_set(e, 400, key, "unsupported parameter '%s'%s%s", key, where ? " in " : "", where ? where : "");
      e->code = "unsupported_parameter";
      return false;
    }
  }
  return true;
}

static json_t *field(const json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return v && !json_is_null(v) ? v : NULL;
}

bool api_get_int(const json_t *obj, const char *key, long long lo, long long hi, long long *out, api_err *e) {
  json_t *v = field(obj, key);
  if (!v) return true;
  double d = json_is_real(v) ? json_real_value(v) : 0;
  if (!json_is_integer(v) && !(json_is_real(v) && isfinite(d) && d == floor(d))) {
    api_err_set(e, 400, key, "'%s' must be an integer", key);
    return false;
  }
  // A whole real outside the range is refused before it is converted (3e29
  // does not fit a long long: converting it is undefined, found by fuzz_request).
  if (json_is_real(v) && (!(d >= (double)lo && d <= (double)hi) || fabs(d) >= 9e18)) {
    api_err_set(e, 400, key, "'%s' is %g; it must be between %lld and %lld", key, d, lo, hi);
    return false;
  }
  long long x = json_is_integer(v) ? json_integer_value(v) : (long long)d;
  if (x < lo || x > hi) {
    api_err_set(e, 400, key, "'%s' is %lld; it must be between %lld and %lld", key, x, lo, hi);
    return false;
  }
  *out = x;
  return true;
}

bool api_get_num(const json_t *obj, const char *key, double lo, double hi, double *out, api_err *e) {
  json_t *v = field(obj, key);
  if (!v) return true;
  if (!json_is_number(v)) {
    api_err_set(e, 400, key, "'%s' must be a number", key);
    return false;
  }
  double x = json_number_value(v);
  if (!(x >= lo && x <= hi)) {
    api_err_set(e, 400, key, "'%s' is %g; it must be between %g and %g", key, x, lo, hi);
    return false;
  }
  *out = x;
  return true;
}

bool api_get_bool(const json_t *obj, const char *key, bool *out, api_err *e) {
  json_t *v = field(obj, key);
  if (!v) return true;
  if (!json_is_boolean(v)) {
    api_err_set(e, 400, key, "'%s' must be true or false", key);
    return false;
  }
  *out = json_is_true(v);
  return true;
}

bool api_get_str(const json_t *obj, const char *key, const char **out, api_err *e) {
  json_t *v = field(obj, key);
  if (!v) return true;
  if (!json_is_string(v)) {
    api_err_set(e, 400, key, "'%s' must be a string", key);
    return false;
  }
  *out = json_string_value(v);
  return true;
}

void api_random_id(const char *prefix, char *out, size_t size) {
  static const char ALNUM[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  unsigned char rnd[24];
  randombytes_buf(rnd, sizeof rnd);
  size_t n = strlen(prefix);
  if (n + 25 > size) n = size > 25 ? size - 25 : 0;
  memcpy(out, prefix, n);
  for (int i = 0; i < 24; i++) out[n + (size_t)i] = ALNUM[rnd[i] % 62];
  out[n + 24] = 0;
}

long long api_unix_time(void) { return (long long)time(NULL); }
