#!/usr/bin/env bash
# pull.sh: `llmux pull` against tests/cli/pull_server.py on 127.0.0.1 (never the
# internet): plain, resumed, redirected, interrupted and retried downloads,
# digest checks, HTTP and disk errors, the hf:// mapping and the models folder.
# Needs LLMUX_BIN; prints one line per check and exits non-zero if any failed.
set -u

BIN=${LLMUX_BIN:?set LLMUX_BIN to the llmux binary}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/llmux-pull.XXXXXX")
SERVER_PID=

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Loopback only: no proxy, no token or endpoint or folder from the caller.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY='*' no_proxy='*'
unset HF_TOKEN HF_ENDPOINT LLMUX_HF_ENDPOINT LLMUX_MODELS XDG_CACHE_HOME LLMUX_LOG

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok   - $1"; }
fail() {
  FAILED=$((FAILED + 1))
  echo "FAIL - $1"
  for f in "$T/out" "$T/err"; do [ -s "$f" ] && sed "s|^|       $(basename "$f"): |" "$f"; done
}
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# pull ARGS...: runs `llmux pull`; stdout in $T/out, stderr in $T/err, status in $RC.
pull() {
  "$BIN" pull "$@" >"$T/out" 2>"$T/err"
  RC=$?
}
ok_to() { [ "$RC" = 0 ] && [ "$(cat "$T/out")" = "$1" ] && cmp -s "$T/model.gguf" "$1" && [ ! -e "$1.part" ]; }
failed_with() { [ "$RC" != 0 ] && [ ! -s "$T/out" ] && grep -qF -- "$1" "$T/err"; }
said() { grep -qF -- "$1" "$T/err"; }
logged() { grep -qF -- "$1" "$T/log"; }
gets() { grep -c "^GET $1 " "$T/log"; }

# ---- the served file and the server

head -c 3000017 /dev/urandom >"$T/model.gguf"
SHA=$(sha256sum "$T/model.gguf" | cut -d' ' -f1)
HALF=1500008 # what /flaky sends before it drops: half of the 3000017 bytes
python3 "$HERE/pull_server.py" --file "$T/model.gguf" --port-file "$T/port" --log "$T/log" &
SERVER_PID=$!
for _ in $(seq 100); do
  [ -s "$T/port" ] && break
  sleep 0.1
done
if [ ! -s "$T/port" ]; then
  echo "FAIL - pull_server.py did not start"
  exit 1
fi
B="http://127.0.0.1:$(cat "$T/port")"

# ---- usage

"$BIN" pull --help >"$T/out" 2>"$T/err"
check "--help prints usage on stdout" grep -q "usage: llmux pull" "$T/out"
pull
check "no source is a usage error (exit 2)" [ "$RC" = 2 ]
pull hf://owner/repo
check "hf:// without a file is rejected" failed_with "expected hf://OWNER/REPO/FILE"
pull hf://owner/repo/../../etc/x.gguf --dir "$T/x"
check "hf:// with '..' is rejected" failed_with "'..' path segment"
pull ftp://example.com/model.gguf
check "unknown scheme is rejected" failed_with "unknown source"

# ---- plain download, re-pull, --sha256 on an existing file

pull "$B/plain/model.gguf" --dir "$T/d1"
check "plain download is byte-identical, path on stdout" ok_to "$T/d1/model.gguf"
check "plain download verified the server's ETag" said "sha256 verified (ETag)"
n=$(gets /plain/model.gguf)
pull "$B/plain/model.gguf" --dir "$T/d1"
check "re-pull of a complete file downloads nothing" \
  eval '[ "$RC" = 0 ] && [ "$(gets /plain/model.gguf)" = "$n" ] && said "already downloaded"'
pull "$B/plain/model.gguf" --dir "$T/d1" --sha256 "$SHA"
check "re-pull with the right --sha256 verifies without downloading" \
  eval '[ "$RC" = 0 ] && [ "$(gets /plain/model.gguf)" = "$n" ] && said "sha256 verified"'
pull "$B/plain/model.gguf" --dir "$T/d1" --sha256 "$(printf '0%.0s' $(seq 64))"
check "re-pull with a wrong --sha256 fails and keeps the file" \
  eval 'failed_with "does not match the expected SHA-256" && cmp -s "$T/model.gguf" "$T/d1/model.gguf"'

# ---- resume

mkdir -p "$T/d2"
head -c 1048576 "$T/model.gguf" >"$T/d2/model.gguf.part"
pull "$B/plain/model.gguf" --dir "$T/d2"
check "a .part is resumed and the result is byte-identical" ok_to "$T/d2/model.gguf"
check "resume sent a Range request from the .part's end" logged "range=bytes=1048576- auth=- -> 206"
check "resume is reported" said "resumed at 1.0 MiB"

mkdir -p "$T/d2b"
cp "$T/model.gguf" "$T/d2b/model.gguf.part"
pull "$B/plain/model.gguf" --dir "$T/d2b"
check "a .part that already holds the whole file (416) is finished, not fetched again" \
  eval 'ok_to "$T/d2b/model.gguf" && logged "range=bytes=3000017- auth=- -> 416"'

mkdir -p "$T/d3"
head -c 1048576 /dev/urandom >"$T/d3/model.gguf.part"
pull "$B/plain/model.gguf" --dir "$T/d3"
check "a corrupt .part fails the digest check and is removed" \
  eval 'failed_with "SHA-256 mismatch" && [ ! -e "$T/d3/model.gguf.part" ] && [ ! -e "$T/d3/model.gguf" ]'
pull "$B/plain/model.gguf" --dir "$T/d3"
check "after a digest failure the next pull starts afresh" ok_to "$T/d3/model.gguf"

mkdir -p "$T/d4"
head -c 1048576 "$T/model.gguf" >"$T/d4/model.gguf.part"
pull "$B/norange/model.gguf" --dir "$T/d4"
check "a server that ignores Range restarts the file from zero" \
  eval 'ok_to "$T/d4/model.gguf" && said "ignored the range request" && said "restarted from zero"'

# ---- redirects and digests

pull "$B/redirect/model.gguf" --dir "$T/d5"
check "redirects (302, 301) are followed" \
  eval 'ok_to "$T/d5/model.gguf" && logged "GET /redirect2/model.gguf" && [ "$(gets /plain/model.gguf)" -ge 1 ]'
pull "$B/plain/model.gguf" --dir "$T/d6" --sha256 "$(echo "$SHA" | tr a-f A-F)"
check "--sha256 (any case) that matches passes" eval 'ok_to "$T/d6/model.gguf" && said "verified (--sha256)"'
pull "$B/plain/model.gguf" --dir "$T/d7" --sha256 "$(sha256sum </dev/null | cut -d' ' -f1)"
check "--sha256 that does not match fails and removes the .part" \
  eval 'failed_with "SHA-256 mismatch" && [ -z "$(ls -A "$T/d7")" ]'
pull "$B/plain/model.gguf" --dir "$T/d7" --sha256 abc
check "--sha256 that is not 64 hex digits is rejected" failed_with "expected 64 hex digits"
pull "$B/badetag/model.gguf" --dir "$T/d8"
check "an ETag with a wrong SHA-256 fails the download" \
  eval 'failed_with "SHA-256 mismatch" && said "(ETag)" && [ -z "$(ls -A "$T/d8")" ]'

# ---- HTTP errors

pull "$B/missing/model.gguf" --dir "$T/d9"
check "404 says not found, exits 1, leaves no .part" \
  eval '[ "$RC" = 1 ] && failed_with "not found (HTTP 404)" && [ -z "$(ls -A "$T/d9")" ]'
pull "$B/secret/model.gguf" --dir "$T/d9"
check "401 says to set HF_TOKEN, exits 1" eval '[ "$RC" = 1 ] && failed_with "set HF_TOKEN"'
HF_TOKEN=sekrit pull "$B/secret/model.gguf" --dir "$T/d9"
check "HF_TOKEN is not sent to hosts other than the HF endpoint" \
  eval 'failed_with "HTTP 401" && ! logged "auth=Bearer:sekrit"'
pull "$B/forbidden/model.gguf" --dir "$T/d9"
check "403 says access denied" failed_with "access denied (HTTP 403)"
pull "$B/busy/model.gguf" --dir "$T/d10"
check "503 is retried after Retry-After" eval 'ok_to "$T/d10/model.gguf" && said "HTTP 503" && said "retrying in 1.0 s"'

# ---- dropped connections and interruptions

pull "$B/flaky/model.gguf" --dir "$T/d11"
check "a dropped connection is retried from where it stopped" \
  eval 'ok_to "$T/d11/model.gguf" && said "retrying" && logged "GET /flaky/model.gguf range=bytes=$HALF- auth=- -> 206"'
pull "$B/flaky/model2.gguf" --dir "$T/d12" --retries 0
check "with --retries 0 a dropped connection fails and keeps the .part" \
  eval 'failed_with "run again to resume" && [ "$(stat -c %s "$T/d12/model2.gguf.part")" = "$HALF" ]'
pull "$B/flaky/model2.gguf" --dir "$T/d12"
check "the next pull resumes the interrupted download" \
  eval '[ "$RC" = 0 ] && cmp -s "$T/model.gguf" "$T/d12/model2.gguf" && logged "GET /flaky/model2.gguf range=bytes=$HALF-"'

mkdir -p "$T/d13"
"$BIN" pull "$B/slow/model.gguf" --dir "$T/d13" >/dev/null 2>&1 &
SLOW=$!
for _ in $(seq 100); do
  [ "$(stat -c %s "$T/d13/model.gguf.part" 2>/dev/null || echo 0)" -gt 200000 ] && break
  sleep 0.05
done
kill -TERM "$SLOW" 2>/dev/null # (SIGINT is ignored by background jobs of a script)
wait "$SLOW"
SLOW_RC=$?
KEPT=$(stat -c %s "$T/d13/model.gguf.part" 2>/dev/null || echo 0)
pull "$B/plain/model.gguf" --dir "$T/d13"
check "a killed download leaves a .part that the next pull resumes" \
  eval '[ "$SLOW_RC" != 0 ] && [ "$KEPT" -gt 0 ] && ok_to "$T/d13/model.gguf" && logged "GET /plain/model.gguf range=bytes=$KEPT-"'

pull "http://127.0.0.1:1/model.gguf" --dir "$T/d14" --retries 0
check "connection refused is a network error" failed_with "network error"

mkdir -p "$T/d15"
ln -s /dev/full "$T/d15/model.gguf.part"
pull "$B/plain/model.gguf" --dir "$T/d15"
check "a full disk is reported as such" eval '[ "$RC" = 1 ] && failed_with "disk full"'
rm -f "$T/d15/model.gguf.part"

mkdir -p "$T/d16"
exec 9>"$T/d16/model.gguf.part"
flock -n 9
pull "$B/plain/model.gguf" --dir "$T/d16"
check "a second pull of the same file while one runs is refused" failed_with "another download"
exec 9>&-

# ---- hf:// sources

LLMUX_HF_ENDPOINT="$B" pull hf://acme/tiny/sub/dir/model.gguf --dir "$T/hf"
check "hf:// maps to ENDPOINT/OWNER/REPO/resolve/main/PATH and DIR/OWNER/REPO/PATH" \
  eval 'ok_to "$T/hf/acme/tiny/sub/dir/model.gguf" && logged "GET /acme/tiny/resolve/main/sub/dir/model.gguf" && logged "GET /cdn/$SHA"'
check "hf:// checks X-Linked-Etag (not the CDN's MD5 ETag)" said "verified (X-Linked-Etag)"
HF_ENDPOINT="$B/" pull hf://acme/tiny/model.gguf --revision refs/pr/1 --dir "$T/hf"
check "HF_ENDPOINT and --revision (encoded; REPO@REV folder) work" \
  eval 'ok_to "$T/hf/acme/tiny@refs_pr_1/model.gguf" && logged "GET /acme/tiny/resolve/refs%2Fpr%2F1/model.gguf"'
LLMUX_HF_ENDPOINT="$B" pull hf://acme/tiny/other.gguf --dir "$T/hf"
check "hf:// missing file: not found, with the Hub's message" \
  eval '[ "$RC" = 1 ] && failed_with "not found (HTTP 404)" && said "Entry not found"'
LLMUX_HF_ENDPOINT="$B" pull hf://acme/tiny/model.gguf --revision nope --dir "$T/hf"
check "hf:// missing revision: not found" eval 'failed_with "Invalid rev id: nope"'
LLMUX_HF_ENDPOINT="$B" pull hf://gated/tiny/model.gguf --dir "$T/hf"
check "hf:// gated repo without a token says to set HF_TOKEN" \
  eval '[ "$RC" = 1 ] && failed_with "set HF_TOKEN" && said "restricted"'
HF_TOKEN=wrong LLMUX_HF_ENDPOINT="$B" pull hf://gated/tiny/model.gguf --dir "$T/hf"
check "hf:// gated repo with a refused token says so" failed_with "with the HF_TOKEN given"
HF_TOKEN=sekrit LLMUX_HF_ENDPOINT="$B" pull hf://gated/tiny/model.gguf --dir "$T/hf"
check "hf:// gated repo with HF_TOKEN downloads (token sent as bearer)" \
  eval 'ok_to "$T/hf/gated/tiny/model.gguf" && logged "GET /gated/tiny/resolve/main/model.gguf range=- auth=Bearer:sekrit -> 302"'
LLMUX_HF_ENDPOINT="$B" pull hf://broken/tiny/model.gguf --dir "$T/hf"
check "hf:// wrong X-Linked-Etag fails the download" eval 'failed_with "SHA-256 mismatch" && said "(X-Linked-Etag)"'

# ---- where files land

HOME="$T/home" pull "$B/plain/model.gguf"
check "default folder is ~/.cache/llmux/models" ok_to "$T/home/.cache/llmux/models/model.gguf"
HOME="$T/home" XDG_CACHE_HOME="$T/xdg" pull "$B/plain/model.gguf"
check "XDG_CACHE_HOME is respected" ok_to "$T/xdg/llmux/models/model.gguf"
HOME="$T/home" XDG_CACHE_HOME="$T/xdg" LLMUX_MODELS="$T/lm" pull "$B/plain/model.gguf"
check "LLMUX_MODELS beats XDG_CACHE_HOME" ok_to "$T/lm/model.gguf"
LLMUX_MODELS="$T/lm" pull "$B/plain/model.gguf" --dir "$T/d17"
check "--dir beats LLMUX_MODELS" ok_to "$T/d17/model.gguf"
pull "$B/plain/model.gguf" -o "$T/d18/renamed.bin"
check "-o writes exactly there" ok_to "$T/d18/renamed.bin"
pull "$B/plain/a%20b.gguf" --dir "$T/d19"
check "a percent-encoded URL file name is decoded" ok_to "$T/d19/a b.gguf"

# ---- the progress bar (only on a terminal)

pull "$B/plain/model.gguf" --dir "$T/d20"
check "without a terminal: exactly one summary line on stderr" \
  eval '[ "$RC" = 0 ] && [ "$(wc -l <"$T/err")" = 1 ] && ! grep -q "ETA" "$T/err"'
if script -qec true /dev/null >/dev/null 2>&1; then
  script -qec "'$BIN' pull '$B/slow/model.gguf' --dir '$T/d21'" /dev/null >"$T/tty" 2>&1
  check "on a terminal a progress bar shows percent, speed and ETA" \
    eval 'grep -q "%.*/s  ETA" "$T/tty" && cmp -s "$T/model.gguf" "$T/d21/model.gguf"'
else
  echo "skip - progress bar (no 'script' to fake a terminal)"
fi

echo "pull.sh: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && echo "PASS" || echo "FAIL"
[ "$FAILED" = 0 ]
