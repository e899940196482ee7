import { defineConfig } from 'vitest/config';
import { ES9_HTTP_PORT } from './services/layout.js';

// Three projects:
//  - unit: fast specs beside the code (*.test.ts), pure logic, in-memory sinks.
//  - integration: test/integration/*, real kernel, Kafka and Elasticsearch
//    (the default versions: Kafka 4.x, Elasticsearch 8.19).
//    Files run one at a time because they share the local broker and cluster.
//  - e2e-es9: the end-to-end subset again, against the Elasticsearch 9.x node
//    that scripts/test.sh starts beside the 8.19 one, so a template, query or
//    bulk call that 9.x rejects fails CI. Same broker.
const E2E_SUBSET = [
  'test/integration/pipeline.test.ts',
  'test/integration/e2e-sensor-to-es.test.ts',
  'test/integration/e2e-slo-storm.test.ts',
  'test/integration/report.test.ts',
  'test/integration/lifecycle.test.ts',
  'test/integration/rollout-report.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{lib,agent,pipeline,cli,services,schemas,rules,tools,test,deploy}/**/*.test.ts'],
          exclude: ['test/integration/**', 'node_modules/**', 'dist/**', '.cache/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 240_000,
        },
      },
      {
        test: {
          name: 'e2e-es9',
          include: E2E_SUBSET,
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 240_000,
          env: { ES_URL: process.env.ES9_URL ?? `http://127.0.0.1:${ES9_HTTP_PORT}` },
        },
      },
    ],
  },
});
