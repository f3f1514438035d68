#!/usr/bin/env bash
# Telemetry end to end: builds an OpenTelemetry Collector (builder v0.165.0: otlp receiver,
# batch processor, contrib file exporter), runs `provisiond demo` exporting OTLP to it,
# scrapes /metrics while the demo runs, then asserts from the collector's OTLP-JSON file
# (exporter/e2e_test.go, behind env vars).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OCB_VERSION=v0.165.0
cache="${PROVISIOND_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provisiond/otelcol-$OCB_VERSION}"
col="$cache/otelcol-file"
work=$(mktemp -d)
cpid=""; dpid=""
cleanup() {
  [ -n "$dpid" ] && kill "$dpid" 2>/dev/null || true
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)

# 1. The collector (cached between runs). The file exporter's test-only dependency is not
# on the module proxy, so: core build first, then add fileexporter with go get (which
# skips test dependencies) — see docs/telemetry.md and the reference.
if [ ! -x "$col" ]; then
  mkdir -p "$cache"
  b="$cache/build"; rm -rf "$b"; mkdir -p "$b/bin"
  ( cd "$b" && GOFLAGS= GOBIN="$b/bin" timeout 600 go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION" )
  providers='providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider v1.71.0
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider v1.71.0
  - gomod: go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.71.0'
  cat >"$b/core.yaml" <<YAML
dist: {name: otelcol-file, description: provisiond e2e collector, output_path: $b/core}
receivers: [{gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OCB_VERSION}]
processors: [{gomod: go.opentelemetry.io/collector/processor/batchprocessor $OCB_VERSION}]
exporters: [{gomod: go.opentelemetry.io/collector/exporter/debugexporter $OCB_VERSION}]
$providers
YAML
  cat >"$b/file.yaml" <<YAML
dist: {name: otelcol-file, description: provisiond e2e collector, output_path: $b/file}
receivers: [{gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OCB_VERSION}]
processors: [{gomod: go.opentelemetry.io/collector/processor/batchprocessor $OCB_VERSION}]
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $OCB_VERSION
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $OCB_VERSION
$providers
YAML
  ( cd "$b" && GOFLAGS= timeout 900 ./bin/builder --config=core.yaml --skip-compilation )
  ( cd "$b" && GOFLAGS= timeout 300 ./bin/builder --config=file.yaml --skip-get-modules --skip-compilation )
  cp "$b/core/go.mod" "$b/core/go.sum" "$b/file/"
  ( cd "$b/file" && GOFLAGS= timeout 600 go get "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter@$OCB_VERSION" \
      && GOFLAGS= timeout 900 go build -trimpath -ldflags='-s -w' -o "$col" . )
  rm -rf "$b"
fi
echo "collector ready ($(( $(date +%s) - start ))s)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
grpc=$(free_port); http=$(free_port); api_port=$(free_port)
out="$work/otel-out.jsonl"
cat >"$work/otelcol.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$grpc}
      http: {endpoint: 127.0.0.1:$http}
processors:
  batch: {timeout: 200ms}
exporters:
  file: {path: $out}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [file]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [file]}
    logs: {receivers: [otlp], processors: [batch], exporters: [file]}
YAML
"$col" --config="$work/otelcol.yaml" >"$work/otelcol.log" 2>&1 &
cpid=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$http) 2>/dev/null && break; sleep 0.1; done

# 2. The demo, exporting OTLP/HTTP to the collector.
go build -o "$work/provisiond" ./cmd/provisiond
export PROVISIOND_READER_TOKEN=reader-ci-token PROVISIOND_ADMIN_TOKEN=admin-ci-token
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$http" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
OTEL_BSP_SCHEDULE_DELAY=200 OTEL_BLRP_SCHEDULE_DELAY=200 OTEL_METRIC_EXPORT_INTERVAL=1000 \
  "$work/provisiond" demo --users 800 --groups 10 --interval 2s --cycles 1 --no-progress \
  --addr "127.0.0.1:$api_port" --data-dir "$work/data" >"$work/demo.out" 2>"$work/demo.err" &
dpid=$!
api="http://127.0.0.1:$api_port"
for _ in $(seq 1 100); do curl -fsS "$api/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 1 300); do
  if curl -fsS -H "Authorization: Bearer $PROVISIOND_READER_TOKEN" "$api/api/v1/jobs/demo/status" \
     | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("initialCycleCompleted") else 1)'; then break; fi
  sleep 0.2
done
# Provision on demand returns the operation's trace id and span id.
ondemand=$(curl -fsS -H "Authorization: Bearer $PROVISIOND_ADMIN_TOKEN" -X POST -d '{"objectType":"User","sourceId":"E000010"}' \
  "$api/api/v1/jobs/demo/provisionOnDemand" | python3 -c '
import json,sys
ev=json.load(sys.stdin)["events"][-1]
assert len(ev.get("traceId",""))==32 and len(ev.get("spanId",""))==16, ev
print(ev["traceId"])')
echo "on-demand trace $ondemand"
# Scrape /metrics while the demo runs; parse it with the Prometheus text parser.
curl -fsS "$api/metrics" >"$work/metrics.txt"
PROVISIOND_METRICS_FILE="$work/metrics.txt" go test -count=1 -run '^TestPrometheusScrape$' -v ./exporter 2>&1 | tail -n 5
# The demo stops after one incremental cycle, flushing telemetry on shutdown.
for _ in $(seq 1 600); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$dpid" 2>/dev/null; then echo "demo did not stop"; tail -30 "$work/demo.err"; exit 1; fi
wait "$dpid"; dpid=""
sleep 1
kill "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=""
ls -l "$out"
PROVISIOND_OTEL_FILE="$out" PROVISIOND_ONDEMAND_TRACE="$ondemand" \
  go test -count=1 -run '^TestCollectorFileOutput$' -v ./exporter 2>&1 | tail -n 8
echo "otel e2e: OK ($(( $(date +%s) - start ))s)"
