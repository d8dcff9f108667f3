// download: fetch one file over HTTP(S) with libcurl, the way model files need
// it. Bytes go to DEST.part next to the destination; a .part left by an earlier
// run is resumed with a Range request (a server that ignores Range restarts it
// from zero); redirects are followed (Hugging Face answers with a redirect to
// its CDN); transient failures are retried with backoff; the SHA-256 is
// computed while the bytes arrive (the kept part is hashed first) and checked
// against the expected digest, given or sent by the server as a 64-hex
// X-Linked-Etag / ETag; on success the .part is renamed onto DEST atomically.
//
// Owns: DEST.part (created, locked with flock while in use, removed on a digest
// mismatch) and DEST (only ever replaced by rename). Never: writes to stdout,
// sends the bearer token anywhere the caller did not ask (libcurl drops it on a
// redirect to another host), or trusts a file it did not verify when a digest
// is known. Errors: functions return a negative download_status and set the
// thread's error message (core/error.h) to a sentence a user can act on.
//
// Limits: a DEST that exists is taken as complete without asking the server
// (it only appears through the final rename); with an expected digest it is
// hashed and checked. A .part is resumed without If-Range, so a file that
// changed on the server between two runs is caught by the digest check only.
#ifndef LLMUX_DOWNLOAD_H
#define LLMUX_DOWNLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum download_status {
  DOWNLOAD_OK = 0,
  DOWNLOAD_ERR_ARGS = -1,       // bad URL, spec, digest or path
  DOWNLOAD_ERR_AUTH = -2,       // HTTP 401 / 403
  DOWNLOAD_ERR_NOT_FOUND = -3,  // HTTP 404 / 410
  DOWNLOAD_ERR_HTTP = -4,       // any other HTTP error status
  DOWNLOAD_ERR_NETWORK = -5,    // connection, TLS, timeout, dropped transfer (after retries)
  DOWNLOAD_ERR_DISK = -6,       // cannot create, write or rename; disk full
  DOWNLOAD_ERR_CHECKSUM = -7,   // SHA-256 mismatch
  DOWNLOAD_ERR_ABORTED = -8,    // the progress callback asked to stop
  DOWNLOAD_ERR_BUSY = -9,       // another process is downloading the same DEST
};

enum download_phase {
  DOWNLOAD_PHASE_VERIFY = 0,  // hashing bytes already on disk
  DOWNLOAD_PHASE_FETCH = 1,   // receiving bytes
};

typedef struct download_progress {
  enum download_phase phase;
  int64_t done;        // bytes hashed (VERIFY) or in the .part so far (FETCH)
  int64_t total;       // full file size, -1 while unknown
  int64_t resumed_from;  // bytes kept from an earlier .part in this transfer
  double bytes_per_s;  // smoothed receive rate, 0 before it is known
  double elapsed_s;    // since download_file was called
  const char *note;    // an event worth a line of its own (a retry, a restart), else NULL
} download_progress;

// Called about ten times a second, once when a phase ends, and at once with a
// note. Returning non-zero stops the download (DOWNLOAD_ERR_ABORTED; the .part
// is kept). Without a callback, notes go to the logger as warnings.
typedef int (*download_progress_fn)(const download_progress *p, void *user);

typedef struct download_opts {
  const char *sha256;        // expected digest (64 hex), NULL: the server's, if it sends one
  const char *bearer_token;  // sent as "Authorization: Bearer ...", NULL: none
  const char *user_agent;    // NULL: "llmux/VERSION"
  int max_retries;           // retries of transient failures (default 4)
  int retry_delay_ms;        // first backoff, doubled each retry, capped at 30 s (default 1000)
  long connect_timeout_s;    // default 20
  long low_speed_bytes;      // a transfer slower than this ...          (default 1024)
  long low_speed_time_s;     // ... for this many seconds is retried    (default 60)
  download_progress_fn progress;
  void *progress_user;
} download_opts;

typedef struct download_result {
  int64_t size;           // bytes in DEST
  int64_t fetched;        // bytes received over the network by this call
  int64_t resumed_from;   // bytes of an earlier .part that were kept, 0 if none
  int attempts;           // HTTP requests started (restarts and retries included)
  double seconds;         // wall time of the call
  bool already_complete;  // DEST existed: nothing was fetched
  bool restarted;         // the server ignored Range and the .part began again
  const char *verified_by;  // "--sha256", "X-Linked-Etag", "ETag", or NULL: not verified
  char sha256[65];        // hex digest of DEST, "" when it was not computed
} download_result;

// A resolved pull source: what to fetch and where it lands.
typedef struct download_target {
  char url[4096];
  char path[4096];
  bool is_hf;  // the URL is on the Hugging Face endpoint (send HF_TOKEN there only)
} download_target;

// Fills opts with the defaults above (no token, no digest, no callback).
void download_opts_init(download_opts *opts);

// Downloads url to dest_path (parent folders are created). res may be NULL.
// Returns DOWNLOAD_OK or a negative download_status.
int download_file(const char *url, const char *dest_path, const download_opts *opts,
                  download_result *res);

// Maps a source to a URL and a destination under models_dir:
//   hf://OWNER/REPO/PATH/FILE -> ENDPOINT/OWNER/REPO/resolve/REV/PATH/FILE,
//                                models_dir/OWNER/REPO/PATH/FILE
//                                (models_dir/OWNER/REPO@REV/... when REV is not "main")
//   http(s)://HOST/.../FILE   -> the URL itself, models_dir/FILE
// ENDPOINT is $LLMUX_HF_ENDPOINT, else $HF_ENDPOINT, else https://huggingface.co.
// revision NULL means "main"; models_dir NULL means download_models_dir().
// Path segments are validated (no "", ".", ".." or control characters).
int download_resolve(const char *source, const char *revision, const char *models_dir,
                     download_target *t);

// The default models folder: $LLMUX_MODELS, else $XDG_CACHE_HOME/llmux/models,
// else ~/.cache/llmux/models. Returns 0, or DOWNLOAD_ERR_ARGS if it does not fit.
int download_models_dir(char *buf, size_t n);

// Checks that hex is 64 hex digits and writes it lowercased to out[65].
bool download_parse_sha256(const char *hex, char out[65]);

#endif
