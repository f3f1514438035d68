#!/usr/bin/env bash
# The provisiond CLI client commands (docs/cli.md):
#  1. the in-process tests against a real stack (api/apitest): golden output, JSON, exit
#     codes (PROVISIOND_CLI_TEST=1 turns them on);
#  2. the built binary against a running `provisiond demo`: the exit codes as a shell sees
#     them (through main and os.Exit), and that no token is ever printed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "--- CLI tests against a real stack (go test -race)"
PROVISIOND_CLI_TEST=1 go test -race -count=1 -run 'TestClient|TestTable|TestDurations' ./cmd/provisiond/

echo "--- CLI binary against a running demo"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/provisiond" ./cmd/provisiond
P="$work/provisiond"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PROVISIOND_READER_TOKEN=reader-cli-ci-token PROVISIOND_ADMIN_TOKEN=admin-cli-ci-token
export PROVISIOND_SERVER="http://127.0.0.1:$port"
"$P" demo --users 500 --groups 20 --interval 1h --no-progress --addr "127.0.0.1:$port" \
  --data-dir "$work/data" >"$work/demo.out" 2>"$work/demo.err" </dev/null &
pid=$!

# Wait (bounded: 60 s) for the initial cycle, through the CLI itself.
for _ in $(seq 1 300); do
  if "$P" status --job demo -o json 2>/dev/null |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["status"].get("initialCycleCompleted") else 1)' 2>/dev/null; then
    break
  fi
  sleep 0.2
done

out="$work/out"
fail=0
# expect CODE ARGS...: run the CLI, check the exit code, keep its output.
expect() {
  local want=$1 got=0
  shift
  "$P" "$@" >"$out" 2>>"$work/stderr" </dev/null || got=$?
  cat "$out" >>"$work/stdout"
  if [ "$got" != "$want" ]; then
    echo "FAIL: provisiond $* exited $got, want $want"; tail -n 3 "$work/stderr"; fail=1
  else
    echo "ok   exit $got: provisiond $*"
  fi
}

expect 0 status
expect 0 status --job demo
expect 0 cycles --job demo
expect 0 logs --job demo --limit 5
expect 0 logs --job demo --all -o ndjson
events=$(wc -l <"$out")
expect 0 logs --job demo -o csv --table steps
# A user without a name fails again when provisioned on demand (exit 6).
expect 0 logs --job demo --status failure --error-code MandatoryFieldsMissing --limit 1 -o json
failed_event=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e[0]["id"])' "$out")
failed_user=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(e[0]["sourceIdentity"]["id"])' "$out")
expect 0 logs show "$failed_event"
expect 0 provision --job demo --user E000001
expect 6 provision --job demo --user "$failed_user"
expect 3 status --job no-such-job
expect 3 logs show no-such-event
expect 2 status --no-such-flag
expect 2 restart --job demo --scope Bogus
PROVISIOND_TOKEN=$PROVISIOND_READER_TOKEN expect 4 restart --job demo
PROVISIOND_TOKEN=wrong-token expect 4 status
expect 0 restart --job demo --scope Escrows,Watermark
expect 0 pause --job demo
expect 1 sync --job demo
expect 0 start --job demo
expect 5 status --server "http://127.0.0.1:1"

echo "events streamed: $events"
if [ "$events" -lt 500 ]; then echo "FAIL: logs --all streamed $events events"; fail=1; fi
if grep -q -e "$PROVISIOND_READER_TOKEN" -e "$PROVISIOND_ADMIN_TOKEN" -e wrong-token "$work/stdout" "$work/stderr"; then
  echo "FAIL: a token was printed"; fail=1
fi
exit $fail
