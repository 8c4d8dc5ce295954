#!/usr/bin/env bash
# The README's first command: set up, then rotate a demo user's key against a local AWS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node_modules/.bin/node bin/keyrot.js demo "$@"
