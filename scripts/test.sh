#!/usr/bin/env bash
# The README's test command: set up, check types, lint, synthesize (bundling with local
# esbuild, cdk-nag at synth), then unit, infra, integration and browser (e2e) tests. Each integration test
# file starts its own moto server on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"

echo "== typecheck" && tsc --noEmit -p .
echo "== lint" && eslint . && prettier --check . --log-level=warn
echo "== cdk synth" && cdk synth --quiet >/dev/null
echo "== tests"
node --import tsx --test --test-concurrency=2 --test-timeout=300000 \
  "test/unit/**/*.test.ts" "test/infra/**/*.test.ts" "test/integration/**/*.test.ts" "test/e2e/**/*.test.ts"
