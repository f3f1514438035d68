#!/usr/bin/env bash
# Query API integration tier (api/, docs/api.md): an independent lint of the OpenAPI
# document, the query API's tests with the race detector (golden responses, OpenAPI
# conformance, every endpoint and filter against a real stack), 1,000,000 events streamed
# as NDJSON and CSV in bounded memory, and the export throughput benchmark.
# Runs from the repository root on a fresh clone (CI=true, no stdin).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
log() { printf '\n=== query API: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

log "OpenAPI lint (Redocly CLI, independent of the Go validator in the tests)"
if ! command -v npx >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y --no-install-recommends nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -ge 20 ]; then
  # operation-4xx-response: /healthz, /readyz and /metrics answer no 4xx by design.
  npx --yes @redocly/cli@2.77.0 lint --format=summary --skip-rule=operation-4xx-response api/openapi.json
else
  echo "Node.js $node_major is too old for Redocly CLI 2 (needs 20); the Go tests still validate the document"
fi

log "tests with the race detector: golden responses, OpenAPI conformance, every endpoint and filter"
go test -race -count=1 ./api/...

log "1,000,000 events streamed as NDJSON and CSV (heap in use must stay under 64 MiB)"
PROVISIOND_STREAM_1M=1 go test -count=1 -timeout 45m -run 'TestStreamBoundedMemory' -v ./api/

log "export throughput (events/s through HTTP on loopback)"
go test -count=1 -run '^$' -bench 'BenchmarkExport' -benchtime=3x ./api/

log "done"
