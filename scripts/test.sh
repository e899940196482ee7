#!/usr/bin/env bash
# The README's test command runs this: set up everything, then every test.
# Under CI=true nothing is skipped: tests that lack root, BPF, Kafka or
# Elasticsearch fail instead (see test/helpers/env.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

mkdir -p .run/test-results
status=0

printf '\n==> type check (strict, tests included)\n' >&2
npx tsc -p tsconfig.test.json || status=1

printf '\n==> unit tests\n' >&2
npx vitest run --project unit --reporter=default --reporter=json --outputFile=.run/test-results/unit.json || status=1

printf '\n==> rule content: connaudit rules validate && connaudit rules test\n' >&2
node bin/connaudit.js rules validate rules/ || status=1
node bin/connaudit.js rules test rules/ || status=1

printf '\n==> integration tests (real kernel, Kafka, Elasticsearch; one file at a time)\n' >&2
npx vitest run --project integration --reporter=default --reporter=json --outputFile=.run/test-results/integration.json || status=1

node scripts/summarize-tests.mjs .run/test-results/unit.json .run/test-results/integration.json || status=1
exit $status
