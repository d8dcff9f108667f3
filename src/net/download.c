// download: see download.h.
#include "net/download.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "core/timing.h"
#include "llmux.h"

#define HF_DEFAULT_ENDPOINT "https://huggingface.co"
#define HASH_CHUNK (1 << 20)
#define REPORT_EVERY_S 0.1
#define MAX_BACKOFF_MS 30000
#define MAX_RESTARTS 2

// ---- small helpers: formatting, env, paths

// snprintf that reports truncation instead of silently cutting a path short.
__attribute__((format(printf, 3, 4))) static bool fmt(char *buf, size_t n, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  int k = vsnprintf(buf, n, f, ap);
  va_end(ap);
  return k >= 0 && (size_t)k < n;
}

static const char *env_nonempty(const char *name) {
  const char *v = getenv(name);
  return v && v[0] ? v : NULL;
}

static void hex_encode(const unsigned char *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = 0;
}

bool download_parse_sha256(const char *hex, char out[65]) {
  if (!hex || strlen(hex) != 64) return false;
  for (int i = 0; i < 64; i++) {
    if (!isxdigit((unsigned char)hex[i])) return false;
    out[i] = (char)tolower((unsigned char)hex[i]);
  }
  out[64] = 0;
  return true;
}

// An ETag value such as `"abc..."` or `W/"abc..."`: keeps it only if it is a
// SHA-256 (Hugging Face uses the file's SHA-256 as the ETag of LFS files; other
// servers and CDNs send MD5s or opaque tokens, which say nothing we can check).
static void etag_to_sha256(const char *v, size_t n, char out[65]) {
  char tmp[80];
  out[0] = 0;
  if (n >= 2 && v[0] == 'W' && v[1] == '/') v += 2, n -= 2;
  while (n && (*v == '"' || isspace((unsigned char)*v))) v++, n--;
  while (n && (v[n - 1] == '"' || isspace((unsigned char)v[n - 1]))) n--;
  if (n != 64) return;
  memcpy(tmp, v, n);
  tmp[n] = 0;
  download_parse_sha256(tmp, out);
}

static void human_bytes(int64_t b, char *buf, size_t n) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)b;
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, u++;
  if (u == 0) snprintf(buf, n, "%lld B", (long long)b);
  else snprintf(buf, n, "%.1f %s", v, units[u]);
}

// mkdir -p for the folder that will hold path (everything before the last '/').
static int mkdir_parents(const char *path) {
  char buf[4096];
  if (!fmt(buf, sizeof buf, "%s", path)) return -1;
  char *slash = strrchr(buf, '/');
  if (!slash || slash == buf) return 0;
  *slash = 0;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

static void dirname_of(const char *path, char *out, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(out, n, ".");
  else if (slash == path) snprintf(out, n, "/");
  else snprintf(out, n, "%.*s", (int)(slash - path), path);
}

// Free bytes for an unprivileged writer in the folder holding path, -1 if unknown.
static int64_t free_space(const char *path) {
  char dir[4096];
  struct statvfs vfs;
  dirname_of(path, dir, sizeof dir);
  if (statvfs(dir, &vfs) != 0) return -1;
  return (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// ---- resolving a source (hf:// or URL) to a URL and a destination path

int download_models_dir(char *buf, size_t n) {
  const char *v = env_nonempty("LLMUX_MODELS");
  if (v) return fmt(buf, n, "%s", v) ? 0 : DOWNLOAD_ERR_ARGS;
  v = env_nonempty("XDG_CACHE_HOME");
  if (v && v[0] == '/') return fmt(buf, n, "%s/llmux/models", v) ? 0 : DOWNLOAD_ERR_ARGS;
  v = env_nonempty("HOME");
  if (!v) {
    struct passwd *pw = getpwuid(getuid());
    v = pw && pw->pw_dir ? pw->pw_dir : "/tmp";
  }
  return fmt(buf, n, "%s/.cache/llmux/models", v) ? 0 : DOWNLOAD_ERR_ARGS;
}

// A path segment that becomes a file or folder name on disk.
static bool segment_ok(const char *s, size_t n) {
  if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' || s[i] == '\\') return false;
  return true;
}

// Percent-encodes s[0..n) into out at *pos; '/' is kept when keep_slash.
static bool url_encode(const char *s, size_t n, bool keep_slash, char *out, size_t cap, size_t *pos) {
  static const char digits[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bool plain = isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (*pos + (plain ? 1 : 3) >= cap) return false;
    if (plain) {
      out[(*pos)++] = (char)c;
    } else {
      out[(*pos)++] = '%';
      out[(*pos)++] = digits[c >> 4];
      out[(*pos)++] = digits[c & 15];
    }
  }
  out[*pos] = 0;
  return true;
}

static int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)tolower((unsigned char)c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool url_decode(const char *s, size_t n, char *out, size_t cap, size_t *len) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (k + 1 >= cap) return false;
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = hex_val(s[i + 1])) >= 0 && (lo = hex_val(s[i + 2])) >= 0) {
      out[k++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      out[k++] = s[i];
    }
  }
  out[k] = 0;
  *len = k;
  return true;
}

static void hf_endpoint(char *buf, size_t n) {
  const char *e = env_nonempty("LLMUX_HF_ENDPOINT");
  if (!e) e = env_nonempty("HF_ENDPOINT");
  if (!e) e = HF_DEFAULT_ENDPOINT;
  snprintf(buf, n, "%s", e);
  size_t len = strlen(buf);
  while (len > 0 && buf[len - 1] == '/') buf[--len] = 0;
}

// "refs/pr/1" -> "refs_pr_1": a revision as one safe folder-name suffix.
static void revision_dirname(const char *rev, char *out, size_t n) {
  size_t k = 0;
  for (; *rev && k + 1 < n; rev++) {
    unsigned char c = (unsigned char)*rev;
    out[k++] = (isalnum(c) || c == '.' || c == '-' || c == '_') ? (char)c : '_';
  }
  out[k] = 0;
}

static int resolve_hf(const char *spec, const char *rev, const char *dir, download_target *t) {
  const char *p = spec + strlen("hf://");
  int nseg = 0;
  for (const char *s = p;; nseg++) {
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (!segment_ok(s, len)) {
      err_set("bad source '%s': empty, '.' or '..' path segment or control character", spec);
      return DOWNLOAD_ERR_ARGS;
    }
    if (!e) break;
    s = e + 1;
  }
  if (nseg < 2) {
    err_set("bad source '%s': expected hf://OWNER/REPO/FILE (FILE may contain folders)", spec);
    return DOWNLOAD_ERR_ARGS;
  }
  const char *owner = p, *repo = strchr(owner, '/') + 1, *file = strchr(repo, '/') + 1;
  size_t owner_n = (size_t)(repo - 1 - owner), repo_n = (size_t)(file - 1 - repo);
  for (const char *c = rev; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
      err_set("bad revision '%s'", rev);
      return DOWNLOAD_ERR_ARGS;
    }
  char endpoint[1024], revdir[256];
  size_t pos = 0;
  hf_endpoint(endpoint, sizeof endpoint);
  revision_dirname(rev, revdir, sizeof revdir);
  bool ok = fmt(t->url, sizeof t->url, "%s/", endpoint);
  pos = strlen(t->url);
  ok = ok && url_encode(owner, owner_n + 1 + repo_n, true, t->url, sizeof t->url, &pos) &&
       url_encode("/resolve/", 9, true, t->url, sizeof t->url, &pos) &&
       url_encode(rev, strlen(rev), false, t->url, sizeof t->url, &pos) &&
       url_encode("/", 1, true, t->url, sizeof t->url, &pos) &&
       url_encode(file, strlen(file), true, t->url, sizeof t->url, &pos);
  ok = ok && fmt(t->path, sizeof t->path, "%s/%.*s/%.*s%s%s/%s", dir, (int)owner_n, owner, (int)repo_n, repo,
                 strcmp(rev, "main") ? "@" : "", strcmp(rev, "main") ? revdir : "", file);
  if (!ok) {
    err_set("source '%s' is too long", spec);
    return DOWNLOAD_ERR_ARGS;
  }
  t->is_hf = true;
  return DOWNLOAD_OK;
}

static int resolve_url(const char *url, const char *dir, download_target *t) {
  for (const char *c = url; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
      err_set("bad URL '%s': spaces or control characters must be percent-encoded", url);
      return DOWNLOAD_ERR_ARGS;
    }
  const char *host = strstr(url, "://") + 3;
  size_t end = strcspn(host, "?#");
  const char *slash = memchr(host, '/', end);
  const char *last = slash;
  for (const char *c = slash; c && c < host + end; c++)
    if (*c == '/') last = c;
  char name[1024];
  size_t name_n = 0;
  if (!last || !url_decode(last + 1, (size_t)(host + end - last - 1), name, sizeof name, &name_n) ||
      !segment_ok(name, name_n) || strlen(name) != name_n) {
    err_set("cannot take a file name from URL '%s'; give one with --output", url);
    return DOWNLOAD_ERR_ARGS;
  }
  char endpoint[1024];
  hf_endpoint(endpoint, sizeof endpoint);
  size_t ep_n = strlen(endpoint);
  if (!fmt(t->url, sizeof t->url, "%s", url) || !fmt(t->path, sizeof t->path, "%s/%s", dir, name)) {
    err_set("URL '%s' is too long", url);
    return DOWNLOAD_ERR_ARGS;
  }
  t->is_hf = !strncmp(url, endpoint, ep_n) && url[ep_n] == '/';
  return DOWNLOAD_OK;
}

int download_resolve(const char *source, const char *revision, const char *models_dir,
                     download_target *t) {
  char dir[4096];
  memset(t, 0, sizeof *t);
  if (!source || !source[0]) {
    err_set("no source given");
    return DOWNLOAD_ERR_ARGS;
  }
  if (models_dir && !fmt(dir, sizeof dir, "%s", models_dir)) {
    err_set("models folder path is too long");
    return DOWNLOAD_ERR_ARGS;
  }
  if (!models_dir && download_models_dir(dir, sizeof dir) != 0) {
    err_set("models folder path is too long");
    return DOWNLOAD_ERR_ARGS;
  }
  size_t dn = strlen(dir);
  while (dn > 1 && dir[dn - 1] == '/') dir[--dn] = 0;
  if (!strncmp(source, "hf://", 5)) return resolve_hf(source, revision ? revision : "main", dir, t);
  if (revision) {
    err_set("--revision only applies to hf:// sources");
    return DOWNLOAD_ERR_ARGS;
  }
  if (!strncasecmp(source, "http://", 7) || !strncasecmp(source, "https://", 8))
    return resolve_url(source, dir, t);
  err_set("unknown source '%s': use hf://OWNER/REPO/FILE.gguf or an http(s):// URL", source);
  return DOWNLOAD_ERR_ARGS;
}

// ---- download state

// What the write callback stopped the transfer for (it returns 0 to stop it).
enum stop_reason { STOP_NONE, STOP_HTTP_STATUS, STOP_RANGE_MISMATCH, STOP_DISK, STOP_NO_SPACE, STOP_ABORT };

// One HTTP request. Header fields are those of the last response seen (a
// redirect's are replaced by its target's), except linked_etag: Hugging Face
// puts X-Linked-Etag on the redirect, not on the CDN's answer.
typedef struct attempt {
  int64_t offset;          // Range start; 0 for a plain GET
  long status;             // HTTP status of the last response
  int64_t content_length;  // -1 unknown
  int64_t range_start;     // Content-Range: bytes START-END/TOTAL, -1 unknown
  int64_t range_total;
  int retry_after_s;
  char etag[65];           // ETag, if it is a SHA-256
  char linked_etag[65];    // X-Linked-Etag, if it is a SHA-256
  char server_msg[200];    // X-Error-Message, else the start of an error body
  bool body_started;
  enum stop_reason stop;
} attempt;

enum outcome { OUT_DONE, OUT_RETRY, OUT_RESTART, OUT_FATAL };

typedef struct dl {
  const char *url, *dest;
  const download_opts *opts;
  download_result *res;
  char want[65];       // expected SHA-256 from the caller, "" if none
  char part_path[4104];
  int fd;                          // the .part; -1 when closed
  bool locked;                     // we hold its flock (so it is ours to remove)
  bool part_regular;               // a plain file (not, say, a link to a device)
  int64_t size;                    // bytes in the .part, all of them hashed
  crypto_hash_sha256_state hash;   // over those bytes
  int64_t total;                   // full size, -1 unknown
  attempt at;
  int status;                      // the download_status of a fatal outcome
  int write_errno;
  double t0, last_report, rate, rate_t;
  int64_t rate_bytes;
  char curl_err[CURL_ERROR_SIZE];
} dl;

static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static int g_init_status;

static void global_init(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || sodium_init() < 0) g_init_status = -1;
}

void download_opts_init(download_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_retries = 4;
  o->retry_delay_ms = 1000;
  o->connect_timeout_s = 20;
  o->low_speed_bytes = 1024;
  o->low_speed_time_s = 60;
}

// Calls the progress callback at most every REPORT_EVERY_S unless forced.
// Returns non-zero when the caller asked to stop.
static int report(dl *d, enum download_phase phase, int64_t done, int64_t total, bool force) {
  double now = time_s();
  if (phase == DOWNLOAD_PHASE_FETCH && now - d->rate_t >= 0.5) {
    double inst = (double)(d->res->fetched - d->rate_bytes) / (now - d->rate_t);
    d->rate = d->rate == 0 ? inst : 0.6 * d->rate + 0.4 * inst;
    d->rate_t = now;
    d->rate_bytes = d->res->fetched;
  }
  if (!d->opts->progress || (!force && now - d->last_report < REPORT_EVERY_S)) return 0;
  d->last_report = now;
  double rate = d->rate;
  if (rate == 0 && now - d->rate_t > 0.05) rate = (double)(d->res->fetched - d->rate_bytes) / (now - d->rate_t);
  download_progress p = {phase, done, total, d->res->resumed_from, rate, now - d->t0, NULL};
  return d->opts->progress(&p, d->opts->progress_user);
}

// Tells the caller about an event: through the progress callback when there
// is one (a progress bar must not be written over), else as a log warning.
__attribute__((format(printf, 2, 3))) static void note(dl *d, const char *f, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, f);
  vsnprintf(msg, sizeof msg, f, ap);
  va_end(ap);
  if (!d->opts->progress) {
    log_warn("%s", msg);
    return;
  }
  download_progress p = {DOWNLOAD_PHASE_FETCH, d->size, d->total, d->res->resumed_from, d->rate,
                         time_s() - d->t0, msg};
  d->opts->progress(&p, d->opts->progress_user);  // a note cannot stop the download; the next report can
}

// Hashes fd's first `size` bytes into h, reporting VERIFY progress.
static int hash_fd(dl *d, int fd, int64_t size, crypto_hash_sha256_state *h, const char *path) {
  unsigned char *buf = malloc(HASH_CHUNK);
  if (!buf) {
    err_set("out of memory");
    return DOWNLOAD_ERR_DISK;
  }
  int64_t done = 0;
  int rc = DOWNLOAD_OK;
  while (done < size) {
    size_t want = size - done < HASH_CHUNK ? (size_t)(size - done) : HASH_CHUNK;
    ssize_t n = pread(fd, buf, want, done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err_set("cannot read %s: %s", path, n < 0 ? strerror(errno) : "file shrank while reading");
      rc = DOWNLOAD_ERR_DISK;
      break;
    }
    crypto_hash_sha256_update(h, buf, (unsigned long long)n);
    done += n;
    if (report(d, DOWNLOAD_PHASE_VERIFY, done, size, done == size)) {
      err_set("download of %s stopped by the caller", d->dest);
      rc = DOWNLOAD_ERR_ABORTED;
      break;
    }
  }
  free(buf);
  return rc;
}

// ---- DEST that already exists

// Returns 1 when dest does not exist, else the final status of the call.
static int check_existing(dl *d) {
  struct stat st;
  if (stat(d->dest, &st) != 0) return 1;
  if (S_ISDIR(st.st_mode)) {
    err_set("%s is a folder", d->dest);
    return DOWNLOAD_ERR_ARGS;
  }
  d->res->already_complete = true;
  d->res->size = st.st_size;
  if (!d->want[0]) return DOWNLOAD_OK;
  int fd = open(d->dest, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err_set("cannot open %s: %s", d->dest, strerror(errno));
    return DOWNLOAD_ERR_DISK;
  }
  crypto_hash_sha256_state h;
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_init(&h);
  int rc = hash_fd(d, fd, st.st_size, &h, d->dest);
  close(fd);
  if (rc != DOWNLOAD_OK) return rc;
  crypto_hash_sha256_final(&h, digest);
  hex_encode(digest, sizeof digest, d->res->sha256);
  if (strcmp(d->res->sha256, d->want)) {
    err_set("existing %s does not match the expected SHA-256 (expected %s, file has %s); remove it to download "
            "it again",
            d->dest, d->want, d->res->sha256);
    return DOWNLOAD_ERR_CHECKSUM;
  }
  d->res->verified_by = "--sha256";
  return DOWNLOAD_OK;
}

// ---- the .part file

static int part_open(dl *d) {
  if (!fmt(d->part_path, sizeof d->part_path, "%s.part", d->dest)) {
    err_set("destination path is too long");
    return DOWNLOAD_ERR_ARGS;
  }
  if (mkdir_parents(d->dest) != 0) {
    err_set("cannot create the folder for %s: %s", d->dest, strerror(errno));
    return DOWNLOAD_ERR_DISK;
  }
  d->fd = open(d->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (d->fd < 0) {
    err_set("cannot create %s: %s", d->part_path, strerror(errno));
    return DOWNLOAD_ERR_DISK;
  }
  if (flock(d->fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK) err_set("another download of %s is in progress (%s is locked)", d->dest, d->part_path);
    else err_set("cannot lock %s: %s", d->part_path, strerror(e));
    return e == EWOULDBLOCK ? DOWNLOAD_ERR_BUSY : DOWNLOAD_ERR_DISK;
  }
  d->locked = true;
  struct stat st;
  if (fstat(d->fd, &st) != 0) {
    err_set("cannot stat %s: %s", d->part_path, strerror(errno));
    return DOWNLOAD_ERR_DISK;
  }
  d->part_regular = S_ISREG(st.st_mode);
  d->size = d->part_regular ? st.st_size : 0;
  return DOWNLOAD_OK;
}

static void part_close(dl *d, bool remove) {
  if (d->fd < 0) return;
  if (remove) unlink(d->part_path);
  close(d->fd);
  d->fd = -1;
}

// Empties the .part: the next bytes start the file again.
static int part_reset(dl *d) {
  struct stat st;
  if (fstat(d->fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(d->fd, 0) != 0) {
    d->write_errno = errno;
    return -1;
  }
  d->size = 0;
  d->res->resumed_from = 0;
  crypto_hash_sha256_init(&d->hash);
  return 0;
}

static int part_append(dl *d, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = pwrite(d->fd, buf, n, d->size);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      d->write_errno = w < 0 ? errno : ENOSPC;
      return -1;
    }
    crypto_hash_sha256_update(&d->hash, (const unsigned char *)buf, (unsigned long long)w);
    d->size += w;
    buf += w;
    n -= (size_t)w;
  }
  return 0;
}

// ---- one HTTP attempt: libcurl callbacks

static bool header_is(const char *line, size_t n, const char *name, const char **value, size_t *vn) {
  size_t k = strlen(name);
  if (n <= k || strncasecmp(line, name, k) || line[k] != ':') return false;
  const char *v = line + k + 1, *end = line + n;
  while (v < end && isspace((unsigned char)*v)) v++;
  while (end > v && isspace((unsigned char)end[-1])) end--;
  *value = v;
  *vn = (size_t)(end - v);
  return true;
}

static int64_t parse_i64(const char *s, size_t n, const char **end) {
  int64_t v = 0;
  size_t i = 0;
  for (; i < n && isdigit((unsigned char)s[i]) && v < INT64_MAX / 10 - 10; i++) v = v * 10 + (s[i] - '0');
  if (end) *end = s + i;
  return i ? v : -1;
}

// "bytes 100-199/1000", "bytes 100-199/*", "bytes */1000"
static void parse_content_range(attempt *a, const char *v, size_t n) {
  const char *e = v + n, *p;
  if (n < 6 || strncasecmp(v, "bytes ", 6)) return;
  v += 6;
  if (v < e && *v == '*') {
    p = v + 1;
  } else {
    a->range_start = parse_i64(v, (size_t)(e - v), &p);
    p = memchr(p, '/', (size_t)(e - p));
    if (!p) return;
  }
  if (p < e && *p == '/') p++;
  a->range_total = parse_i64(p, (size_t)(e - p), NULL);
}

// Copies the first line of server text for an error message, with anything
// unprintable (terminal escapes included) replaced by '?'.
static void keep_printable(char *out, size_t cap, const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < cap; i++) {
    if (s[i] == '\n' || s[i] == '\r') {
      if (k) break;
      continue;
    }
    out[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
  }
  out[k] = 0;
}

static void attempt_reset_response(attempt *a) {
  a->status = 0;
  a->content_length = a->range_start = a->range_total = -1;
  a->retry_after_s = 0;
  a->etag[0] = a->server_msg[0] = 0;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *user) {
  attempt *a = &((dl *)user)->at;
  size_t n = size * nitems;
  const char *v;
  size_t vn;
  if (n > 5 && !strncmp(line, "HTTP/", 5)) {
    attempt_reset_response(a);
    const char *sp = memchr(line, ' ', n);
    if (sp) a->status = (long)parse_i64(sp + 1, n - (size_t)(sp + 1 - line), NULL);
  } else if (header_is(line, n, "content-length", &v, &vn)) {
    a->content_length = parse_i64(v, vn, NULL);
  } else if (header_is(line, n, "content-range", &v, &vn)) {
    parse_content_range(a, v, vn);
  } else if (header_is(line, n, "etag", &v, &vn)) {
    etag_to_sha256(v, vn, a->etag);
  } else if (header_is(line, n, "x-linked-etag", &v, &vn)) {
    etag_to_sha256(v, vn, a->linked_etag);
  } else if (header_is(line, n, "x-error-message", &v, &vn)) {
    keep_printable(a->server_msg, sizeof a->server_msg, v, vn);
  } else if (header_is(line, n, "retry-after", &v, &vn)) {
    int64_t s = parse_i64(v, vn, NULL);
    a->retry_after_s = s < 0 ? 0 : s > 60 ? 60 : (int)s;
  }
  return n;
}

// First body byte (or end of an empty body) of a 2xx response: decides where
// the bytes go. A 200 to a Range request means the server sent the whole file.
static bool body_begin(dl *d) {
  attempt *a = &d->at;
  a->body_started = true;
  d->rate_t = time_s();  // the speed counts from here, not from hashing the .part or a backoff
  d->rate_bytes = d->res->fetched;
  if (a->status == 206) {
    if (a->range_start != a->offset) {
      a->stop = STOP_RANGE_MISMATCH;
      return false;
    }
    d->total = a->range_total >= 0 ? a->range_total
               : a->content_length >= 0 ? a->offset + a->content_length : -1;
  } else {
    if (d->size > 0) {
      note(d, "%s: the server ignored the range request; restarting from zero", d->url);
      if (part_reset(d) != 0) {
        a->stop = STOP_DISK;
        return false;
      }
      d->res->restarted = true;
    }
    d->total = a->content_length;
  }
  int64_t avail = d->total > d->size ? free_space(d->part_path) : -1;
  if (avail >= 0 && avail < d->total - d->size) {
    a->stop = STOP_NO_SPACE;
    return false;
  }
  return true;
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *user) {
  dl *d = user;
  attempt *a = &d->at;
  size_t n = size * nitems;
  if (!a->body_started) {
    if (a->status < 200 || a->status > 299) {
      a->body_started = true;
      a->stop = STOP_HTTP_STATUS;
      if (!a->server_msg[0]) keep_printable(a->server_msg, sizeof a->server_msg, buf, n);
      return 0;
    }
    if (!body_begin(d)) return 0;
  }
  if (part_append(d, buf, n) != 0) {
    a->stop = STOP_DISK;
    return 0;
  }
  d->res->fetched += (int64_t)n;
  return n;
}

static int on_xferinfo(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  dl *d = user;
  if (!d->at.body_started) return 0;
  if (report(d, DOWNLOAD_PHASE_FETCH, d->size, d->total, false)) {
    d->at.stop = STOP_ABORT;
    return 1;
  }
  return 0;
}

// ---- one HTTP attempt: what its outcome means

static enum outcome fatal(dl *d, int status) {
  d->status = status;
  return OUT_FATAL;
}

static enum outcome http_failure(dl *d) {
  attempt *a = &d->at;
  char said[240] = "";
  if (a->server_msg[0]) snprintf(said, sizeof said, " (server says: %s)", a->server_msg);
  if (a->status == 401 || a->status == 403) {
    if (d->opts->bearer_token)
      err_set("access denied (HTTP %ld) to %s%s with the HF_TOKEN given: check the token can read this "
              "repository (gated models need their terms accepted on the model page)",
              a->status, d->url, said);
    else
      err_set("access denied (HTTP %ld) to %s%s: the repository may be gated or private; set HF_TOKEN to a "
              "Hugging Face access token (https://huggingface.co/settings/tokens) that can read it",
              a->status, d->url, said);
    return fatal(d, DOWNLOAD_ERR_AUTH);
  }
  if (a->status == 404 || a->status == 410) {
    err_set("not found (HTTP %ld): %s%s; check the repository, the file name and the revision", a->status,
            d->url, said);
    return fatal(d, DOWNLOAD_ERR_NOT_FOUND);
  }
  err_set("server answered HTTP %ld for %s%s", a->status, d->url, said);
  if (a->status == 408 || a->status == 429 || a->status >= 500) {
    d->status = DOWNLOAD_ERR_HTTP;
    return OUT_RETRY;
  }
  return fatal(d, DOWNLOAD_ERR_HTTP);
}

static bool curl_transient(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT: case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
  case CURLE_GOT_NOTHING: case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
    return true;
  default:
    return false;
  }
}

static enum outcome disk_failure(dl *d) {
  int e = d->write_errno;
  if (e == ENOSPC || e == EDQUOT)
    err_set("disk full writing %s (%s); free some space and run again to resume", d->part_path, strerror(e));
  else
    err_set("cannot write %s: %s", d->part_path, strerror(e));
  return fatal(d, DOWNLOAD_ERR_DISK);
}

static enum outcome attempt_finish(dl *d, CURLcode rc) {
  attempt *a = &d->at;
  switch (a->stop) {
  case STOP_ABORT:
    err_set("download of %s stopped by the caller; run again to resume", d->dest);
    return fatal(d, DOWNLOAD_ERR_ABORTED);
  case STOP_DISK: return disk_failure(d);
  case STOP_NO_SPACE: {
    char need[32], have[32];
    human_bytes(d->total - d->size, need, sizeof need);
    human_bytes(free_space(d->part_path), have, sizeof have);
    err_set("disk full: %s needs %s more but only %s is free", d->dest, need, have);
    return fatal(d, DOWNLOAD_ERR_DISK);
  }
  case STOP_RANGE_MISMATCH: return OUT_RESTART;
  default: break;
  }
  if (rc == CURLE_OK && !a->body_started && a->status >= 200 && a->status <= 299 && !body_begin(d))
    return attempt_finish(d, rc);
  if (a->status == 416) {
    if (a->range_total >= 0 && a->range_total == d->size) {  // the .part already held everything
      d->total = d->size;
      return OUT_DONE;
    }
    return OUT_RESTART;
  }
  if (a->status >= 400) return http_failure(d);
  if (rc != CURLE_OK) {
    err_set("network error fetching %s: %s", d->url, d->curl_err[0] ? d->curl_err : curl_easy_strerror(rc));
    d->status = DOWNLOAD_ERR_NETWORK;
    return curl_transient(rc) ? OUT_RETRY : OUT_FATAL;
  }
  if (a->status < 200 || a->status > 299) {
    err_set("unexpected HTTP %ld from %s (a redirect without a target?)", a->status, d->url);
    return fatal(d, DOWNLOAD_ERR_HTTP);
  }
  if (d->total >= 0 && d->size != d->total) {
    err_set("network error fetching %s: transfer ended at %lld of %lld bytes", d->url, (long long)d->size,
            (long long)d->total);
    d->status = DOWNLOAD_ERR_NETWORK;
    return OUT_RETRY;
  }
  return OUT_DONE;
}

static enum outcome attempt_run(dl *d, CURL *curl) {
  char range[48];
  memset(&d->at, 0, sizeof d->at);
  attempt_reset_response(&d->at);
  d->at.offset = d->size;
  d->curl_err[0] = 0;
  snprintf(range, sizeof range, "%lld-", (long long)d->size);
  curl_easy_setopt(curl, CURLOPT_RANGE, d->size > 0 ? range : NULL);
  d->res->attempts++;
  log_info("GET %s%s%s", d->url, d->size > 0 ? " from byte " : "", d->size > 0 ? range : "");
  CURLcode rc = curl_easy_perform(curl);
  return attempt_finish(d, rc);
}

// ---- the fetch loop: retries, backoff, restarts

static CURL *curl_setup(dl *d, struct curl_slist **headers) {
  CURL *c = curl_easy_init();
  if (!c) return NULL;
  const download_opts *o = d->opts;
  char ua[64];
  snprintf(ua, sizeof ua, "llmux/%s", llmux_version());
  if (o->bearer_token) {
    char auth[4096];
    if (fmt(auth, sizeof auth, "Authorization: Bearer %s", o->bearer_token))
      *headers = curl_slist_append(*headers, auth);
    sodium_memzero(auth, sizeof auth);
  }
  curl_easy_setopt(c, CURLOPT_URL, d->url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
  curl_easy_setopt(c, CURLOPT_USERAGENT, o->user_agent ? o->user_agent : ua);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->curl_err);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  return c;
}

// Waits ms before a retry, still letting the caller stop the download.
static int backoff(dl *d, int ms) {
  for (int waited = 0; waited < ms; waited += 100) {
    sleep_ms(ms - waited < 100 ? ms - waited : 100);
    if (report(d, DOWNLOAD_PHASE_FETCH, d->size, d->total, false)) {
      err_set("download of %s stopped by the caller; run again to resume", d->dest);
      return DOWNLOAD_ERR_ABORTED;
    }
  }
  return DOWNLOAD_OK;
}

static int fetch(dl *d) {
  struct curl_slist *headers = NULL;
  CURL *curl = curl_setup(d, &headers);
  if (!curl) {
    err_set("cannot start libcurl");
    return DOWNLOAD_ERR_NETWORK;
  }
  int retries_left = d->opts->max_retries, delay = d->opts->retry_delay_ms, restarts = 0, rc = DOWNLOAD_OK;
  for (;;) {
    int64_t before = d->size;
    enum outcome o = attempt_run(d, curl);
    if (o == OUT_DONE) break;
    if (o == OUT_FATAL) {
      rc = d->status;
      break;
    }
    if (o == OUT_RESTART) {
      if (++restarts > MAX_RESTARTS) {
        err_set("%s: the server's byte ranges do not match its file; giving up", d->url);
        rc = DOWNLOAD_ERR_HTTP;
        break;
      }
      note(d, "%s: the server cannot resume this .part; restarting from zero", d->url);
      if (part_reset(d) != 0) {
        disk_failure(d);
        rc = DOWNLOAD_ERR_DISK;
        break;
      }
      d->res->restarted = true;
      continue;
    }
    if (d->size > before) {  // progress was made: the budget starts again
      retries_left = d->opts->max_retries;
      delay = d->opts->retry_delay_ms;
    }
    if (retries_left-- <= 0) {
      char kept[32];
      human_bytes(d->size, kept, sizeof kept);
      char msg[600];
      snprintf(msg, sizeof msg, "%s", err_get());
      err_set("%s (gave up after %d attempts%s%s)", msg, d->res->attempts,
              d->size > 0 ? "; run again to resume from " : "", d->size > 0 ? kept : "");
      rc = d->status;
      break;
    }
    int wait = d->at.retry_after_s * 1000 > delay ? d->at.retry_after_s * 1000 : delay;
    note(d, "%s; retrying in %.1f s", err_get(), wait / 1000.0);
    if ((rc = backoff(d, wait)) != DOWNLOAD_OK) break;
    delay = delay * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay * 2;
  }
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);
  return rc;
}

// ---- finishing: digest check, fsync, rename

static int part_finish(dl *d) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&d->hash, digest);
  hex_encode(digest, sizeof digest, d->res->sha256);
  report(d, DOWNLOAD_PHASE_FETCH, d->size, d->size, true);
  const char *want = d->want, *by = "--sha256";
  if (!want[0]) want = d->at.linked_etag, by = "X-Linked-Etag";
  if (!want[0]) want = d->at.etag, by = "ETag";
  if (d->want[0] && d->at.linked_etag[0] && strcmp(d->want, d->at.linked_etag))
    note(d, "%s: the server's X-Linked-Etag %s differs from --sha256", d->url, d->at.linked_etag);
  if (want[0] && strcmp(want, d->res->sha256)) {
    err_set("SHA-256 mismatch for %s: expected %s (%s), got %s; the partial file was removed, run again to "
            "download it afresh",
            d->dest, want, by, d->res->sha256);
    part_close(d, true);
    return DOWNLOAD_ERR_CHECKSUM;
  }
  d->res->verified_by = want[0] ? by : NULL;
  d->res->size = d->size;
  if (fsync(d->fd) != 0 && errno != EINVAL) {
    d->write_errno = errno;
    disk_failure(d);
    return DOWNLOAD_ERR_DISK;
  }
  // The written pages sit in the page cache in small folios; dropped now
  // (clean after the fsync), the first load reads the model straight into
  // the 2 MiB pages it maps (core/filemap.h) instead of reading it twice.
  (void)posix_fadvise(d->fd, 0, 0, POSIX_FADV_DONTNEED);
  if (rename(d->part_path, d->dest) != 0) {
    err_set("cannot rename %s to %s: %s", d->part_path, d->dest, strerror(errno));
    return DOWNLOAD_ERR_DISK;
  }
  char dir[4096];
  dirname_of(d->dest, dir, sizeof dir);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {  // makes the rename itself durable; best effort
    (void)fsync(dfd);
    close(dfd);
  }
  return DOWNLOAD_OK;
}

// ---- download_file

static int download_run(dl *d) {
  int rc = check_existing(d);
  if (rc != 1) return rc;
  if ((rc = part_open(d)) != DOWNLOAD_OK) return rc;
  if (access(d->dest, F_OK) == 0) {  // another process finished it while we opened the .part
    part_close(d, d->part_regular && d->size == 0);
    return check_existing(d);
  }
  crypto_hash_sha256_init(&d->hash);
  if (d->size > 0) {
    log_info("checking the %lld bytes already in %s", (long long)d->size, d->part_path);
    if ((rc = hash_fd(d, d->fd, d->size, &d->hash, d->part_path)) != DOWNLOAD_OK) return rc;
    d->res->resumed_from = d->size;
  }
  if ((rc = fetch(d)) != DOWNLOAD_OK) return rc;
  return part_finish(d);
}

int download_file(const char *url, const char *dest_path, const download_opts *opts, download_result *res) {
  download_opts defaults;
  download_result local;
  if (!opts) download_opts_init(&defaults), opts = &defaults;
  if (!res) res = &local;
  memset(res, 0, sizeof *res);
  pthread_once(&g_init_once, global_init);
  if (g_init_status != 0) {
    err_set("cannot initialise libcurl or libsodium");
    return DOWNLOAD_ERR_NETWORK;
  }
  if (!url || !url[0] || !dest_path || !dest_path[0]) {
    err_set("download_file: empty URL or destination");
    return DOWNLOAD_ERR_ARGS;
  }
  dl d = {.url = url, .dest = dest_path, .opts = opts, .res = res, .fd = -1, .total = -1};
  if (opts->sha256 && !download_parse_sha256(opts->sha256, d.want)) {
    err_set("bad SHA-256 '%s': expected 64 hex digits", opts->sha256);
    return DOWNLOAD_ERR_ARGS;
  }
  d.t0 = d.rate_t = time_s();
  int rc = download_run(&d);
  // A failure that left nothing worth resuming leaves no empty .part behind.
  part_close(&d, rc != DOWNLOAD_OK && d.locked && d.part_regular && d.size == 0);
  res->seconds = time_s() - d.t0;
  return rc;
}
