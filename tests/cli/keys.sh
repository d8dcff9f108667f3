#!/usr/bin/env bash
# llmux keys: create prints a well-formed secret once on stdout; list, show
# and --json show the display prefix and never the secret; revoke; the
# database is private and never holds the secret; every error exits
# non-zero with a message.
set -uo pipefail
BIN=${LLMUX_BIN:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
unset LLMUX_GATEWAY_DB
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
# expect_err RC PATTERN ARGS...: llmux keys ARGS exits RC, says PATTERN on stderr, prints nothing.
expect_err() {
  local want=$1 pattern=$2; shift 2
  "$BIN" keys "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ "$rc" = "$want" ] && grep -q -- "$pattern" "$tmp/err" && [ ! -s "$tmp/out" ]; then
    ok "keys $*: $(head -1 "$tmp/err")"
  else
    bad "keys $* (exit $rc, wanted $want and '$pattern'): $(cat "$tmp/err" "$tmp/out")"
  fi
}

# create: one line on stdout, the secret; the id on stderr; default ./llmux-gateway.db.
secret=$("$BIN" keys create --name "ci bot" --rpm 60 --tpm 5000 --parallel 2 --budget 100000 --period month \
  --models 'gpt-*,llama-3' --expires 30d --metadata '{"team":"infra"}' 2>"$tmp/err")
rc=$?
[ $rc -eq 0 ] && [[ "$secret" =~ ^sk-lmx-[0-9A-Za-z]{40}$ ]] && ok "create prints a secret" || bad "create: rc $rc '$secret' $(cat "$tmp/err")"
id=$(grep -o 'key_[0-9A-Za-z]\{12\}' "$tmp/err" | head -1)
[ -n "$id" ] && grep -q "shown only this once" "$tmp/err" && ok "create names the id ($id)" || bad "create stderr: $(cat "$tmp/err")"
prefix=${secret:0:12}; rest=${secret:12}
[ -f llmux-gateway.db ] && [ "$(stat -c %a llmux-gateway.db)" = 600 ] && ok "default database, mode 600" || bad "default db"

# list and show: the prefix, never the secret.
"$BIN" keys list >"$tmp/list" 2>"$tmp/err" && grep -q "$id  $prefix  active" "$tmp/list" && grep -q "ci bot" "$tmp/list" \
  && ok "list shows id, prefix, status" || bad "list: $(cat "$tmp/list" "$tmp/err")"
"$BIN" keys show "$id" >"$tmp/show" 2>"$tmp/err" && grep -q "^prefix: *$prefix$" "$tmp/show" \
  && grep -q "^budget: *100000 tokens per month$" "$tmp/show" && grep -q "^models: *gpt-\*,llama-3$" "$tmp/show" \
  && grep -q "^rpm: *60$" "$tmp/show" && grep -q "^parallel: *2$" "$tmp/show" && ok "show" || bad "show: $(cat "$tmp/show" "$tmp/err")"
"$BIN" keys list --json >"$tmp/list.json" && "$BIN" keys show "$id" --json >"$tmp/show.json" &&
python3 - "$tmp/list.json" "$tmp/show.json" "$id" <<'PY' && ok "list and show --json" || bad "--json"
import json, sys
lst, one, kid = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
assert len(lst) == 1 and lst[0] == one, (lst, one)
assert one["id"] == kid and one["status"] == "active" and one["tpm"] == 5000 and one["max_parallel"] == 2
assert one["models"] == ["gpt-*", "llama-3"] and one["metadata"] == {"team": "infra"} and "secret" not in one
assert one["expires"] - one["created"] == 30 * 86400, one
PY
cat "$tmp/list" "$tmp/show" "$tmp/list.json" "$tmp/show.json" | grep -q -- "$rest" && bad "the secret was printed again" \
  || ok "list and show never print the secret"
grep -q -a -- "$rest" llmux-gateway.db* && bad "the secret is in the database" || ok "the secret is not in the database"

# create --json: the record and its secret; --db and $LLMUX_GATEWAY_DB pick the file.
LLMUX_GATEWAY_DB="$tmp/env.db" "$BIN" keys create --json >"$tmp/c.json" 2>"$tmp/err" &&
python3 -c 'import json,re,sys; j=json.load(open(sys.argv[1])); assert re.fullmatch(r"sk-lmx-[0-9A-Za-z]{40}", j["secret"]) and j["prefix"] == j["secret"][:12] and j["models"] == [] and j["budget_period"] == ""' "$tmp/c.json" \
  && [ -f "$tmp/env.db" ] && ok "create --json into \$LLMUX_GATEWAY_DB" || bad "create --json: $(cat "$tmp/c.json" "$tmp/err")"
"$BIN" keys create --db "$tmp/other.db" >/dev/null 2>&1 && LLMUX_GATEWAY_DB="$tmp/env.db" "$BIN" keys list --db "$tmp/other.db" \
  | grep -c '^key_' | grep -qx 1 && ok "--db wins over the environment" || bad "--db"
future=$(( $(date +%s) + 7200 ))
"$BIN" keys create --expires "$future" --json 2>/dev/null | grep -q "\"expires\": $future" && ok "--expires UNIX" || bad "--expires UNIX"

# revoke: once, then "already"; the status follows.
"$BIN" keys revoke "$id" >"$tmp/out" 2>"$tmp/err" && grep -q "revoked $id" "$tmp/out" && ok "revoke" || bad "revoke: $(cat "$tmp/err")"
"$BIN" keys show "$id" | grep -q "^status: *revoked$" && "$BIN" keys list | grep -q "$id  $prefix  revoked" \
  && ok "revoked in show and list" || bad "status after revoke"
"$BIN" keys revoke "$id" >/dev/null 2>"$tmp/err" && grep -q "already revoked" "$tmp/err" && ok "revoke twice" || bad "revoke twice"

# Errors.
expect_err 1 "budget period 'weekly' is not one of day, month, total" create --budget 10 --period weekly
expect_err 1 "a budget needs a period" create --budget 10
expect_err 1 "a budget period needs a budget" create --period day
expect_err 1 "rpm must not be negative" create --rpm -1
expect_err 1 "max parallel must not be negative" create --parallel -3
expect_err 1 "'\*' may only end a pattern" create --models 'a*b'
expect_err 1 "empty model name" create --models 'a,,b'
expect_err 1 "key name is 65 bytes long" create --name "$(printf 'x%.0s' $(seq 65))"
expect_err 1 "metadata must be a JSON object" create --metadata '[1]'
expect_err 1 "in the past" create --expires 1000
expect_err 2 "--expires wants" create --expires 3w
expect_err 2 "needs an integer, got 'ten'" create --rpm ten
expect_err 2 "needs a value" create --name
expect_err 2 "unknown option or extra argument '--rpm'" list --rpm 5
expect_err 2 "unknown option or extra argument 'extra'" show "$id" extra
expect_err 2 "which key?" show
expect_err 2 "which key?" revoke
expect_err 2 "unknown command 'delete'" delete "$id"
expect_err 1 "no key 'key_000000000000'" show key_000000000000
expect_err 1 "no key 'nope'" revoke nope
expect_err 1 "no such database" list --db "$tmp/missing.db"
[ ! -e "$tmp/missing.db" ] && ok "list does not create a database" || bad "list created a database"
printf 'not a database, only text long enough to fill a header...........................' > "$tmp/junk.db"
expect_err 1 "junk.db: .*not a database" list --db "$tmp/junk.db"
"$BIN" keys >"$tmp/out" 2>"$tmp/err"; [ $? = 2 ] && grep -q "usage: llmux keys" "$tmp/err" && ok "no command: usage" \
  || bad "llmux keys without a command"
"$BIN" keys --help | grep -q "revoke ID" && ok "--help" || bad "--help"
"$BIN" --help | grep -q "keys" && ok "listed in llmux --help" || bad "llmux --help"
exit $fail
