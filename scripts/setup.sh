#!/usr/bin/env bash
# Install what keyrot needs on a fresh machine: npm packages (including a Node 22 binary in
# node_modules/.bin, which npm scripts and bin/keyrot use first) and moto in a project venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages..." >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ ! -x .venv/bin/moto_server ]; then
  echo "setup: installing moto[server] into .venv..." >&2
  python3 -m venv .venv
  .venv/bin/pip install --quiet 'moto[server]>=5.2,<5.3'
fi
