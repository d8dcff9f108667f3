#!/usr/bin/env bash
# Every curl example in docs/API.md runs against a real `llmux serve` on
# stories260K (with an API key and an admin key) and must answer without an
# error: the documentation cannot drift from the server.
set -euo pipefail
bin=${LLMUX_BIN:?}; shared=${LLMUX_SHARED:-../shared}
here=$(cd "$(dirname "$0")" && pwd)
doc="$here/../../docs/API.md"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT

"$bin" serve -m "$shared/models/stories260K.gguf" --port 0 -t 2 --parallel 2 --ctx 256 \
  --api-key doc-key --admin-key doc-admin 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q ready "$work/log" && break; sleep 0.1; done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/log" | head -1)
[ -n "$url" ] || { cat "$work/log"; exit 1; }

# The ```sh blocks that call curl, one file each.
awk -v dir="$work" '
  /^```sh$/ { inblock = 1; n++; body = ""; next }
  /^```$/ && inblock { inblock = 0; if (body ~ /curl /) { f = dir "/ex" n ".sh"; printf "%s", body > f; close(f) }; next }
  inblock { body = body $0 "\n" }
' "$doc"

count=0
for ex in "$work"/ex*.sh; do
  count=$((count + 1))
  sed -i "s#http://localhost:8080#$url#g" "$ex"
  out=$(LLMUX_API_KEY=doc-key LLMUX_ADMIN_KEY=doc-admin LLMUX_SHARED=$shared bash -e "$ex") || {
    echo "example failed to run:"; cat "$ex"; exit 1; }
  if [ -z "$out" ] || grep -q '"error"' <<<"$out"; then
    echo "example answered with an error:"; cat "$ex"; echo "--- output:"; echo "$out"; exit 1
  fi
done
[ "$count" -ge 10 ] || { echo "only $count curl examples found in docs/API.md"; exit 1; }
echo "api doc examples: $count ran"
