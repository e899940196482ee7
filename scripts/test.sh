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

# The end-to-end subset again against Elasticsearch 9.x: a second node on its
# own ports and state dir (.run/elasticsearch-<version>, see services/layout.ts), started here and stopped at
# the end, so the default 8.19 node on 9200 is never touched.
# Version and ports are defined once, in services/layout.ts (ES9_*).
if read -r es9_version es9_port es9_transport < <(node --input-type=module -e "const m = await import('./dist/services/layout.js'); console.log(m.ES9_VERSION, m.ES9_HTTP_PORT, m.ES9_TRANSPORT_PORT)"); then
  es9_env=(CONNAUDIT_ES_VERSION="$es9_version" CONNAUDIT_ES_PORT="$es9_port" CONNAUDIT_ES_TRANSPORT_PORT="$es9_transport" ES_URL="http://127.0.0.1:$es9_port")
  printf '\n==> end-to-end subset against Elasticsearch %s (http://127.0.0.1:%s)\n' "$es9_version" "$es9_port" >&2
  if env "${es9_env[@]}" node bin/connaudit.js services up --es-only --timeout 300; then
    npx vitest run --project e2e-es9 --reporter=default --reporter=json --outputFile=.run/test-results/e2e-es9.json || status=1
  else
    status=1
  fi
  env "${es9_env[@]}" node bin/connaudit.js services down --es-only || true
else
  echo "test.sh: cannot read the Elasticsearch 9.x version from dist/services/layout.js (did the build fail?)" >&2
  status=1
fi

node scripts/summarize-tests.mjs .run/test-results/unit.json .run/test-results/integration.json .run/test-results/e2e-es9.json || status=1
exit $status
