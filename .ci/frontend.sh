#!/usr/bin/env bash
# Frontend of the Grafana datasource plugin (datasource/): install the locked packages,
# typecheck, unit and component tests, production build, then check dist/module.js is the
# AMD module Grafana loads and use the built plugin (src/dist.test.tsx).
# Runs from the repository root on a fresh clone (CI=true, no stdin); needs Node.js >= 20.19
# and npm, and reaches only the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n--- frontend: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "frontend: node and npm are required (Node.js >= 20.19)" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "frontend: Node.js >= 20.19 is required (Vite 8), found $(node --version)" >&2
  exit 1
fi
echo "node $(node --version), npm $(npm --version)"

cd datasource
export CI=true NO_COLOR=1

log "npm ci"
npm ci --no-audit --no-fund --loglevel=error

log "typecheck"
npm run --silent typecheck

log "unit and component tests"
npm test --silent

log "build"
npm run --silent build

log "check dist/"
test -s dist/module.js || { echo "frontend: dist/module.js is missing or empty" >&2; exit 1; }
if [ "$(head -c 7 dist/module.js)" != "define(" ]; then
  echo "frontend: dist/module.js is not an AMD module (does not start with define()):" >&2
  head -c 200 dist/module.js >&2
  exit 1
fi
test -s dist/plugin.json || { echo "frontend: dist/plugin.json is missing" >&2; exit 1; }
ls -l dist
npm run --silent test:dist

log "done"
