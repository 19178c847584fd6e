#!/usr/bin/env bash
# Set-up of a fresh Debian 12 + Node 20 machine (run as root), and a no-op when everything is in place:
# system packages the native addon and the privileged tests need, then npm dependencies and the build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/install-system-deps.sh ]; then bash scripts/install-system-deps.sh; fi
# npm ci when node_modules is missing or older than the lockfile; otherwise just rebuild the TypeScript.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi
