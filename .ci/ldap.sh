#!/usr/bin/env bash
# Integration tier for the LDAP connector (connectors/ldap): installs OpenLDAP's slapd and
# ldap-utils from Debian without starting the packaged service, then runs the connector's
# tests against real slapd processes the tests start themselves (connectors/ldap/slapdtest:
# a generated slapd.conf in a temporary directory, loopback ports, killed on cleanup), with
# the race detector; then the daemon's LDAP wiring test and the benchmarks as a smoke test.
# Runs from the repository root on a fresh Debian machine: bash .ci/ldap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

if ! [ -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null; then
  echo "--- installing slapd and ldap-utils"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  # Keep the package from starting (and configuring a directory for) its own service: a
  # policy-rc.d that denies every start, removed afterwards if it was not there.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils </dev/null
  if [ -n "$created_policy" ]; then
    $sudo rm -f /usr/sbin/policy-rc.d
  fi
fi
/usr/sbin/slapd -VV 2>&1 | head -1

echo "--- connectors/ldap against slapd (race detector)"
PROVISIOND_SLAPD=1 go test -race -count=1 ./connectors/ldap/...

echo "--- daemon wiring of type: ldap"
PROVISIOND_SLAPD=1 go test -race -count=1 -run 'LDAP' ./cmd/provisiond/ ./config/

echo "--- LDAP benchmarks (smoke: a few iterations)"
PROVISIOND_SLAPD=1 go test -count=1 -run '^$' -bench . -benchtime 20x ./connectors/ldap/ | grep -E '^(Benchmark|ok|PASS|FAIL)'
