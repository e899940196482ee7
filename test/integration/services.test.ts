import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { allStatus, type ServiceStatus } from '../../services/status.js';
import { ensureTopics, TOPIC_LAYOUT as TOPICS } from '../../lib/topics.js';
import { ES_VERSION, esDefaultInstanceDir, KAFKA_VERSION, RUN_DIR } from '../../services/layout.js';

// `connaudit services` against the real local Kafka and Elasticsearch. The
// test brings them up itself (a no-op when they already run) and never stops
// them: other integration tests share the same broker and node.

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c) => { stdout += String(c); return true; });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c) => { stderr += String(c); return true; });
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    if (stderr) process.stderr.write(stderr.replace(/^(?=.)/gm, '  | '));
  }
}

const byName = (list: ServiceStatus[], name: string) => list.find((s) => s.service === name)!;
const admin = () => new Kafka({ brokers: ['127.0.0.1:9092'], clientId: 'services-test', logLevel: logLevel.NOTHING }).admin();

describe('connaudit services', () => {
  beforeAll(async () => {
    const r = await cli(['services', 'up', '--timeout', '200']);
    expect(r.code, r.stderr).toBe(0);
  }, 420_000);

  afterEach(() => vi.restoreAllMocks());

  it('status --json reports both services running and healthy, with version, JDK and data dir', async () => {
    const r = await cli(['services', 'status', '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as ServiceStatus[];
    const kafka = byName(list, 'kafka');
    const es = byName(list, 'elasticsearch');
    expect(kafka).toMatchObject({ managed: true, running: true, healthy: true, endpoint: '127.0.0.1:9092' });
    expect(es).toMatchObject({ managed: true, running: true, healthy: true, endpoint: 'http://127.0.0.1:9200' });
    expect(es.version).toBe(ES_VERSION);
    // Pid, JDK, data dir and log are known only for services this checkout started
    // (always so in CI), not for ones found already answering on the ports.
    if (kafka.pid !== undefined) {
      expect(kafka).toMatchObject({ version: KAFKA_VERSION, dataDir: join(RUN_DIR, 'kafka', 'data') });
      expect(kafka.jdk).toMatch(/^17\./);
      expect(kafka.logFile).toMatch(/server\.log$/);
    }
    if (es.pid !== undefined) {
      expect(es.dataDir).toBe(join(esDefaultInstanceDir, 'data'));
      expect(es.jdk).toMatch(/^(25|21|17)\./);
      expect(es.logFile).toMatch(/connaudit-local\.log$/);
    }
    expect(['green', 'yellow']).toContain((es.detail as { clusterStatus: string }).clusterStatus);
  });

  it('Kafka has the pipeline topics with at least the specified partitions', async () => {
    const a = admin();
    await a.connect();
    try {
      const md = await a.fetchTopicMetadata({ topics: TOPICS.map((t) => t.topic) });
      for (const t of TOPICS) {
        const got = md.topics.find((m) => m.name === t.topic);
        expect(got, t.topic).toBeDefined();
        expect(got!.partitions.length, t.topic).toBeGreaterThanOrEqual(t.numPartitions ?? 1);
      }
    } finally {
      await a.disconnect();
    }
  });

  it('Elasticsearch cluster health is green or yellow', async () => {
    const es = new Client({ node: 'http://127.0.0.1:9200', maxRetries: 0 });
    try {
      expect(['green', 'yellow']).toContain((await es.cluster.health()).status);
    } finally {
      await es.close();
    }
  });

  it('up a second time is idempotent: same processes, says already running, exit 0', async () => {
    const before = await allStatus({});
    const r = await cli(['services', 'up']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/kafka: (already running|a broker not started from this checkout)/);
    expect(r.stderr).toMatch(/elasticsearch: (already running \(pid \d+|an Elasticsearch .* already answering)/);
    expect(r.stderr).not.toMatch(/starting Elasticsearch|formatting Kafka storage|fetching/);
    const after = await allStatus({});
    expect(byName(after, 'kafka').pid).toBe(byName(before, 'kafka').pid);
    expect(byName(after, 'elasticsearch').pid).toBe(byName(before, 'elasticsearch').pid);
  });

  it('widens a topic that exists with too few partitions (as auto-create leaves it)', async () => {
    const topic = `connaudit-test.widen-${randomBytes(4).toString('hex')}`;
    const a = admin();
    await a.connect();
    try {
      await a.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
      const changes = await ensureTopics(a, [{ topic, numPartitions: 3, replicationFactor: 1 }]);
      expect(changes).toEqual({ created: [], widened: [{ topic, from: 1, to: 3 }] });
      const md = await a.fetchTopicMetadata({ topics: [topic] });
      expect(md.topics[0]!.partitions).toHaveLength(3);
      expect(await ensureTopics(a, [{ topic, numPartitions: 3, replicationFactor: 1 }])).toEqual({ created: [], widened: [] });
    } finally {
      await a.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await a.disconnect();
    }
  });

  it('with KAFKA_BROKERS elsewhere, up starts nothing and fails clearly when that cluster is down', async () => {
    const saved = process.env.KAFKA_BROKERS;
    process.env.KAFKA_BROKERS = '127.0.0.1:1';
    try {
      const r = await cli(['services', 'up', '--kafka-only']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('KAFKA_BROKERS=127.0.0.1:1 is external; not starting a local broker');
      expect(r.stderr).toMatch(/What to do: .*KAFKA_BROKERS/);
      const st = await cli(['services', 'status', '--json']);
      expect(st.code).toBe(3);
      expect(byName(JSON.parse(st.stdout) as ServiceStatus[], 'kafka')).toMatchObject({ managed: false, healthy: false, endpoint: '127.0.0.1:1' });
    } finally {
      if (saved === undefined) delete process.env.KAFKA_BROKERS;
      else process.env.KAFKA_BROKERS = saved;
    }
  });

  it('down and status of an external Elasticsearch leave the local node alone', async () => {
    const saved = process.env.ES_URL;
    process.env.ES_URL = 'http://127.0.0.1:1';
    try {
      const r = await cli(['services', 'down', '--es-only']);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('elasticsearch: external (ES_URL), left alone');
    } finally {
      if (saved === undefined) delete process.env.ES_URL;
      else process.env.ES_URL = saved;
    }
    expect(byName(await allStatus({}), 'elasticsearch').healthy).toBe(true);
  });
});
