#!/usr/bin/env bash
# The README's test command: set up, check types, lint, synthesize (bundling with local
# esbuild, cdk-nag at synth), then unit, infra, integration and browser (e2e) tests on jest. Each
# integration test file starts its own moto server on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
export PATH="$PWD/node_modules/.bin:$PATH"

echo "== typecheck" && tsc --noEmit -p .
echo "== lint" && eslint . && prettier --check . --log-level=warn
echo "== cdk synth" && cdk synth --quiet >/dev/null
echo "== tests"
# jest runs the TypeScript sources as ES modules (jest.config.js); its workers inherit the flag.
jest=(node --experimental-vm-modules --disable-warning=ExperimentalWarning node_modules/jest/bin/jest.js)
# Every AWS call a handler makes in these runs is written to the call ledger...
export KEYROT_LEDGER_DIR="$PWD/test-artifacts/ledger"
rm -rf "$KEYROT_LEDGER_DIR"
# Unit, infra, integration and browser files, two workers; no bound depends on the machine's
# speed (per-test bound 600 s, jest.config.js), so the suite stays green beside a busy process.
"${jest[@]}"
echo "== permissions (the call ledger against the synthesized roles)"
# ...which is then evaluated against each handler's role as synthesized, in every variant.
"${jest[@]}" --testMatch '<rootDir>/test/permissions/**/*.test.ts'
