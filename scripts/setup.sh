#!/usr/bin/env bash
# Install what keyrot needs on a fresh machine: npm packages (including a Node 22 binary in
# node_modules/.bin, which npm scripts and bin/keyrot use first), moto in a project venv and,
# with --with-browser, Debian's Chromium.
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

# The end-to-end approval test drives Debian's Chromium (no browser download); only the tests
# ask for it (--with-browser): the demo and the benchmarks need no browser.
if [ "${1:-}" = --with-browser ] && [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_PATH:-}" ]; then
  echo "setup: installing Debian's chromium for the browser tests..." >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
