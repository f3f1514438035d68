#!/usr/bin/env bash
# Integration tier for out-of-process connector plugins (connectors/plugin, examples/).
# `go test ./...` already runs the plugin suite with the plugins built normally; this runs
# it again with the race detector in the plugin processes too (PROVISIOND_PLUGIN_RACE=1),
# and runs each benchmark a few iterations so that they keep working.
# Runs from the repository root: bash .ci/plugin.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

echo "--- plugin suite, race detector in host and plugins"
PROVISIOND_PLUGIN_RACE=1 go test -race -count=1 ./connectors/plugin/... ./examples/...

echo "--- plugin benchmarks (smoke: a few iterations)"
go test -count=1 -run '^$' -bench . -benchtime 3x ./connectors/plugin/ | grep -E '^(Benchmark|ok|PASS|FAIL)'
