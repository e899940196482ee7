import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaConfig } from '../../lib/connect.js';
import { runE2e } from '../../tools/bench/e2e.js';
import { skipUnless } from '../helpers/env.js';
import { esClient } from '../helpers/pipeline-io.js';

// `connaudit bench e2e` measures what it claims: a short, slow run through a
// real `connaudit pipeline` child on the shared Kafka and Elasticsearch. What
// goes in is counted out (every record a document, none lost or
// dead-lettered), every sampled record gets a latency, the refresh interval
// the run asked for is the one its index has, and the run leaves no topic or
// index behind. No speed is asserted: that is the benchmark's job.

describe('bench e2e (real Kafka and Elasticsearch)', () => {
  it('counts records in == documents indexed, reports latencies, and cleans up', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const rate = 200;
    const seconds = 5;
    const sampleEvery = 10;
    const r = await runE2e({ rate, seconds, sampleEvery, maxLagS: 60, refreshInterval: '2s', progress: (s) => process.stderr.write(`${s}\n`) });

    expect(r.produced).toBe(rate * seconds);
    expect(r.indexed).toBe(r.produced);
    expect(r.lost).toBe(0);
    expect(r.deadLettered).toBe(0);
    // Records 0, 10, 20, … are sampled: each one has a latency, none is missing.
    expect(r.latency.samples).toBe(r.produced / sampleEvery);
    expect(r.samplesMissing).toBe(0);
    expect(r.latency.p50).toBeGreaterThan(0);
    expect(r.latency.p50).toBeLessThanOrEqual(r.latency.p99);
    expect(r.latency.p99).toBeLessThanOrEqual(r.latency.max);
    expect(r.drainS).toBeGreaterThanOrEqual(0);
    expect(r.refreshInterval).toBe('2s');
    expect(r.pipelineCpuS).toBeGreaterThan(0);
    expect(r.bulkRequests).toBeGreaterThan(0);
    expect(r.sustained).toBe(true);

    // Nothing of the run is left on the shared services.
    const es = esClient();
    const kafka = new Kafka({ ...kafkaConfig('itest-bench-e2e'), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    try {
      expect(Object.keys(await es.indices.get({ index: `${r.prefix}*`, allow_no_indices: true, expand_wildcards: 'all' }))).toEqual([]);
      await admin.connect();
      expect((await admin.listTopics()).filter((t) => t.startsWith(r.prefix))).toEqual([]);
    } finally {
      await admin.disconnect();
      await es.close();
    }
  });
});
