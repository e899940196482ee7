import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@elastic/elasticsearch';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeConnection } from '../../lib/avro.js';
import { endpoints, esClientOptions, kafkaConfig } from '../../lib/connect.js';
import { INDEX_CONNECTIONS, TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_DLQ } from '../../lib/names.js';
import { runPipeline } from '../../pipeline/run.js';
import { skipUnless } from '../helpers/env.js';
import { endOffsets, groupAt, prepareTopics } from '../helpers/kafka.js';
import { record } from '../helpers/records.js';

// The pipeline against the real local Kafka and Elasticsearch. Each run uses
// its own host name (to count its documents) and its own consumer groups,
// positioned at the topics' current end, so neither other tests' data nor
// old messages are read.

const run = randomBytes(4).toString('hex');
const log = pino({ level: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const kafka = new Kafka({ ...kafkaConfig(`itest-pipeline-${run}`), logLevel: logLevel.NOTHING });
const es = new Client(esClientOptions());
const N = 5;
const M = 4;



async function committed(groupId: string, topic: string): Promise<Record<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries(t!.partitions.map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

async function countFor(host: string, extra: object[] = []): Promise<number> {
  await es.indices.refresh({ index: INDEX_CONNECTIONS });
  const r = await es.count({ index: INDEX_CONNECTIONS, query: { bool: { filter: [{ term: { 'host.name': host } }, ...extra] } } });
  return r.count;
}

/** Reads the DLQ from `from` until `pred` matches a message (or times out). */
async function findInDlq(from: Array<{ partition: number; offset: string }>, pred: (h: Record<string, string>) => boolean) {
  const groupId = await groupAt(kafka, `itest-dlq-reader-${run}-${randomBytes(2).toString('hex')}`, { [TOPIC_DLQ]: from });
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPIC_DLQ] });
  try {
    return await new Promise<{ key: Buffer | null; value: Buffer | null; headers: Record<string, string> } | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), 20_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
          if (pred(headers)) {
            clearTimeout(t);
            resolve({ key: message.key, value: message.value, headers });
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

const pipe = (group: string, env: NodeJS.ProcessEnv = process.env, extra: Partial<Parameters<typeof runPipeline>[0]> = {}) =>
  runPipeline({ config: {}, group, exitWhenIdleS: 3, log, env, ...extra });

describe('connaudit pipeline over real Kafka and Elasticsearch', () => {
  let ready = false;
  const host = `itest-${run}`;
  let start: Record<string, Array<{ partition: number; offset: string }>>;
  let dlqStart: Array<{ partition: number; offset: string }>;
  let garbageAt: { partition: number; offset: string } | undefined;
  const garbage = Buffer.from(`garbage ${run}`);
  /** Where the group must have committed to after the run: just past our last message. */
  let lastEnd: { partition: number; offset: number };

  let setupError: unknown;
  beforeAll(async () => {
    // Whether the services are there is decided per test by skipUnless; here a failure is only remembered.
    try {
      await setup();
    } catch (err) {
      setupError = err;
    }
  }, 60_000);

  async function setup() {
    await prepareTopics(kafka);
    start = { [TOPIC_CONNECTIONS]: await endOffsets(kafka, TOPIC_CONNECTIONS), [TOPIC_AGENT_HEALTH]: await endOffsets(kafka, TOPIC_AGENT_HEALTH) };
    dlqStart = await endOffsets(kafka, TOPIC_DLQ);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const msg = (value: Buffer) => ({ key: host, value });
    await producer.send({ topic: TOPIC_CONNECTIONS, messages: Array.from({ length: N }, (_, i) => msg(encodeConnection(record(i, { host })))) });
    const [meta] = await producer.send({ topic: TOPIC_CONNECTIONS, messages: [msg(garbage)] });
    garbageAt = { partition: meta!.partition, offset: meta!.baseOffset! };
    const [last] = await producer.send({ topic: TOPIC_CONNECTIONS, messages: Array.from({ length: M }, (_, i) => msg(encodeConnection(record(N + i, { host, conn_state: i % 2 ? 'REJ' : 'SF' })))) });
    await producer.disconnect();
    lastEnd = { partition: last!.partition, offset: Number(last!.baseOffset) + M };
    ready = true;
  }

  const needServices = async (ctx: { skip: (note?: string) => void }): Promise<boolean> => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return true;
    if (!ready) throw new Error(`test setup failed: ${(setupError as Error)?.message ?? 'unknown'}`);
    return false;
  };

  afterAll(async () => {
    await es.close();
  });

  it('(a) indexes N+M documents and dead-letters the garbage in between with its reason', async (ctx) => {
    if (await needServices(ctx)) return;
    const group = await groupAt(kafka, `itest-${run}-a`, start);
    expect(await pipe(group)).toBe(0);
    expect(await countFor(host)).toBe(N + M);
    // The seed's labels, searched under their exact names (aliases included).
    expect(await countFor(host, [{ term: { 'connection.state': 'REJ' } }])).toBe(Math.floor(M / 2));
    expect(await countFor(host, [{ range: { latency_ms: { gte: 1.2, lte: 1.3 } } }, { term: { environment: 'prod' } }, { term: { 'process.name': 'curl' } }, { term: { 'destination.port': 443 } }, { term: { 'destination.ip': '10.2.0.0/16' } }])).toBe(N + M);
    const dead = await findInDlq(dlqStart, (h) => h['source-topic'] === TOPIC_CONNECTIONS && h['source-offset'] === garbageAt!.offset && h['source-partition'] === String(garbageAt!.partition));
    expect(dead, 'garbage message not found in connaudit.dlq').toBeDefined();
    expect(dead!.headers['dlq-reason']).toBe('bad_magic');
    expect(dead!.headers['dlq-error']).toContain('single-object marker');
    expect(dead!.value).toEqual(garbage);
    expect(dead!.key?.toString()).toBe(host);
    // Others may produce to the shared topic meanwhile, so "at least past ours".
    expect(Number((await committed(group, TOPIC_CONNECTIONS))[lastEnd.partition])).toBeGreaterThanOrEqual(lastEnd.offset);
  }, 120_000);

  it('(b) redelivering the same messages to a new group still leaves exactly N+M documents', async (ctx) => {
    if (await needServices(ctx)) return;
    const group = await groupAt(kafka, `itest-${run}-b`, start);
    expect(await pipe(group)).toBe(0);
    expect(await countFor(host)).toBe(N + M);
  }, 120_000);

  it('(c) commits nothing while Elasticsearch refuses the bulk, and loses nothing after a restart', async (ctx) => {
    if (await needServices(ctx)) return;
    const host2 = `itest-${run}-c`;
    // A topic of its own: any other pipeline on this machine would index records
    // on connaudit.connections while this one is kept from doing so.
    const topic = `itest-${run}-c`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
    await admin.disconnect();
    const topics = { connections: topic, agentHealth: TOPIC_AGENT_HEALTH };
    const from = { [topic]: await endOffsets(kafka, topic), [TOPIC_AGENT_HEALTH]: await endOffsets(kafka, TOPIC_AGENT_HEALTH) };
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const [meta] = await producer.send({ topic, messages: Array.from({ length: 6 }, (_, i) => ({ key: host2, value: encodeConnection(record(i, { host: host2 })) })) });
    await producer.disconnect();
    const group = await groupAt(kafka, `itest-${run}-c`, from);
    const before = await committed(group, topic);

    // A real Elasticsearch behind a proxy that fails every _bulk with 503:
    // templates and aliases go through, indexing does not.
    const target = new URL(endpoints().esUrl);
    let bulks = 0;
    const proxy = http.createServer((req, res) => {
      if (req.url?.includes('_bulk')) {
        bulks++;
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"type":"unavailable","reason":"test proxy refuses bulk"},"status":503}');
        return;
      }
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, connection: 'close' } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (err) => res.writeHead(502).end(String(err)));
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const badEnv = { ...process.env, ES_URL: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` };
    try {
      const code = await pipe(group, badEnv, { topics, restartOnFailure: false, bulkOptions: { attempts: 2, baseDelayMs: 50 } });
      expect(code).toBe(1);
    } finally {
      proxy.close();
    }
    // One retry layer: the 2 bulk attempts, not 2 × the ES client's retries × kafkajs's batch retries.
    expect(bulks).toBe(2);
    expect(await committed(group, topic)).toEqual(before);
    expect(await countFor(host2)).toBe(0);

    expect(await pipe(group, process.env, { topics })).toBe(0);
    expect(await countFor(host2)).toBe(6);
    expect(Number((await committed(group, topic))[meta!.partition])).toBe(Number(meta!.baseOffset) + 6);
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await cleanup.disconnect();
  }, 120_000);
});
