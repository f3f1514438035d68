#!/usr/bin/env bash
# Backend of the Grafana datasource plugin (datasource/, docs/datasource.md): its tests with
# -race (query model, golden frames of every query type against a provisiond stack,
# alertable/logs/trace frame checks, the SDK's gRPC server via datasourcetest), the
# binaries for every platform and the installable zip (mage plugin:package, with the SDK's
# build package), the zip's layout, and the real binary from the unzipped plugin driven
# through Grafana's go-plugin handshake against a provisiond stack with demo data.
# Runs from the repository root on a fresh clone (CI=true, no stdin). The frontend build
# (datasource/dist/module.js) comes from .ci/frontend.sh, run here when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
log() { printf '\n--- datasource: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
mage() { go run github.com/magefile/mage@v1.17.2 "$@"; }

log "gofmt, go vet"
unformatted=$(gofmt -l datasource/pkg Magefile.go)
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
go vet ./datasource/...
go vet -tags mage ./Magefile.go

log "tests (-race)"
go test -race -count=1 ./datasource/...

log "frontend build"
if [ ! -s datasource/dist/module.js ]; then
  bash .ci/frontend.sh
fi

log "mage plugin:package (backend for linux, darwin, windows; zip)"
mage -v plugin:package
version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' datasource/plugin.json | head -n1)
zip="dist/provisiond-provisioning-datasource-$version.zip"
test -s "$zip" || { echo "datasource: $zip was not written" >&2; exit 1; }
ls -l datasource/dist "$zip"

log "zip layout and the unzipped binary through Grafana's go-plugin handshake"
PROVISIOND_PLUGIN_E2E=1 PROVISIOND_PLUGIN_ZIP="$PWD/$zip" \
  go test -race -count=1 -v -run 'TestPackage|TestHandshake' ./datasource/pkg/ 2>&1 | tail -n 40

log "done"
