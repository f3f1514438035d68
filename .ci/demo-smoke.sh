#!/usr/bin/env bash
# End-to-end smoke test of `provisiond demo`: the real binary, the embedded SCIM target,
# SQLite, the API; two incremental cycles; assertions over the API.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/provisiond" ./cmd/provisiond
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PROVISIOND_READER_TOKEN=reader-ci-token PROVISIOND_ADMIN_TOKEN=admin-ci-token
"$work/provisiond" demo --users 3000 --groups 40 --interval 3s --cycles 2 --no-progress \
  --addr "127.0.0.1:$port" --data-dir "$work/data" >"$work/demo.out" 2>"$work/demo.err" &
pid=$!
api="http://127.0.0.1:$port"
R=(-H "Authorization: Bearer $PROVISIOND_READER_TOKEN")
A=(-H "Authorization: Bearer $PROVISIOND_ADMIN_TOKEN")
for _ in $(seq 1 100); do curl -fsS "$api/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$api/readyz" >/dev/null
# Wait (bounded) for the initial cycle.
for _ in $(seq 1 300); do
  if curl -fsS "${R[@]}" "$api/api/v1/jobs/demo/status" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("initialCycleCompleted") else 1)'; then break; fi
  sleep 0.2
done
status=$(curl -fsS "${R[@]}" "$api/api/v1/jobs/demo/status")
echo "$status" | python3 -c '
import json,sys
s=json.load(sys.stdin)
assert s["initialCycleCompleted"], s
le=s["lastExecution"]
print("initial cycle:", le["state"], "imported", le["countImported"], "exported", le["countExported"], "failed", le["countFailed"])
assert le["countImported"] >= 3000, le
assert le["countExported"] > 2000, le
assert s["synchronizedEntryCountByType"].get("User",0) > 2000, s
assert s["code"] in ("Active",), s["code"]
'
# Auth: no token 401, reader acting 403, bad scope 400, unknown job 404.
test "$(curl -s -o /dev/null -w '%{http_code}' "$api/api/v1/jobs")" = 401
test "$(curl -s -o /dev/null -w '%{http_code}' "${R[@]}" -X POST "$api/api/v1/jobs/demo/pause")" = 403
test "$(curl -s -o /dev/null -w '%{http_code}' "${A[@]}" -X POST -d '{"criteria":{"resetScope":"Bogus"}}' "$api/api/v1/jobs/demo/restart")" = 400
test "$(curl -s -o /dev/null -w '%{http_code}' "${R[@]}" "$api/api/v1/jobs/nope")" = 404
# Provision on demand: one user, with its steps.
curl -fsS "${A[@]}" -X POST -d '{"objectType":"User","sourceId":"E000010"}' "$api/api/v1/jobs/demo/provisionOnDemand" | python3 -c '
import json,sys
r=json.load(sys.stdin)
ev=r["events"][-1]
print("on demand:", r["result"], ev["action"], ev["status"], [s["provisioningStepType"] for s in ev["provisioningSteps"]])
assert ev["sourceIdentity"]["id"]=="E000010"
assert ev["provisioningSteps"][0]["provisioningStepType"]=="import"
'
# The demo stops by itself after two incremental cycles (bounded wait).
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$pid" 2>/dev/null; then echo "demo did not stop after 2 incremental cycles"; tail -50 "$work/demo.out" "$work/demo.err"; exit 1; fi
wait "$pid"
cat "$work/demo.out"
grep -q "incremental cycle" "$work/demo.out"
echo "demo smoke: OK"
