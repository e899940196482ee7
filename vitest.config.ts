import { defineConfig } from 'vitest/config';

// Fast unit tests sit beside the code (*.test.ts). Tests that need root, the
// kernel, Kafka or Elasticsearch live in test/integration and run one file at
// a time: they share the local broker and cluster.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', '.cache/**'],
    testTimeout: 20_000,
  },
});
