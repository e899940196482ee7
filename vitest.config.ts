import { defineConfig } from 'vitest/config';

// Two projects:
//  - unit: fast specs beside the code (*.test.ts), pure logic, in-memory sinks.
//  - integration: test/integration/*, real kernel, Kafka and Elasticsearch.
//    Files run one at a time because they share the local broker and cluster.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{lib,agent,pipeline,cli,services,schemas,rules,tools,test}/**/*.test.ts'],
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
    ],
  },
});
