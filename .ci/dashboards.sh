#!/usr/bin/env bash
# Bundled Grafana dashboards and alert rules (dashboards/, docs/dashboards.md): the
# dashboards against the Grafana Foundation SDK's schema and the layout, variable and link
# rules; every panel's queries and every alert rule's queries through the datasource
# backend's QueryData against provisiond stacks (api/apitest), the rules' reduce/math/
# threshold expressions evaluated per job, including the incident stacks (failing,
# disabling, deleting, throttled and breaker-tripping jobs) that PROVISIOND_DASHBOARD_ALERTS
# enables; the provisioning files and their UIDs; the Prometheus overview's metric names.
# Runs from the repository root on a fresh clone (CI=true, no stdin); needs only Go.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
log() { printf '\n--- dashboards: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

log "gofmt, go vet"
unformatted=$(gofmt -l dashboards)
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
go vet ./dashboards/

log "dashboards and alert rules against provisiond stacks (-race, with the incident stacks)"
PROVISIOND_DASHBOARD_ALERTS=1 go test -race -count=1 -v ./dashboards/ 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT)'
