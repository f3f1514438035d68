#!/usr/bin/env bash
# Integration tier for the PostgreSQL store (store/postgres) and replicas: installs the
# PostgreSQL server from Debian without starting the packaged cluster, then runs, with the
# race detector, the store's tests against throwaway clusters the tests start themselves
# (store/postgres/pgtest: initdb into a temporary directory, a free loopback port, the
# socket in that directory; as the postgres user when run as root): the storetest contract
# suites, migrations under concurrency, leases and fencing, commands, and the replica test
# (three provisiond processes on one database, one killed with SIGKILL mid-cycle); then the
# daemon's wiring (two daemons, an admin action through the one not running the job) and
# the benchmarks as a smoke test.
# Runs from the repository root on a fresh Debian machine: bash .ci/postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "--- installing the PostgreSQL server"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  # Keep the package from starting its own cluster: a policy-rc.d that denies every start,
  # removed afterwards if it was not there.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql </dev/null
  if [ -n "$created_policy" ]; then
    $sudo rm -f /usr/sbin/policy-rc.d
  fi
fi
ls -d /usr/lib/postgresql/*/bin | tail -1

export PROVISIOND_POSTGRES=1

echo "--- store/postgres: contract suites, migrations, leases, replicas (race detector)"
go test -race -count=1 -timeout 20m ./store/postgres/...

echo "--- engine replicas with an in-process leaser (race detector)"
go test -race -count=1 -run 'Replica|Leaser' ./provisioning/

echo "--- daemon wiring of store.driver postgres"
go test -race -count=1 -run 'TestOpenStoreErrors|TestDaemonReplicas' ./cmd/provisiond/

echo "--- PostgreSQL benchmarks (smoke: a few iterations, 20,000 events)"
PROVISIOND_BENCH_EVENTS=20000 go test -count=1 -run '^$' -bench 'BenchmarkCommit|BenchmarkQueryEvents' -benchtime 10x ./store/postgres/ |
  grep -E '^(Benchmark|ok|PASS|FAIL)'
