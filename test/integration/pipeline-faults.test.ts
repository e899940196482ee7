import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeConnection } from '../../lib/avro.js';
import { kafkaConfig } from '../../lib/connect.js';
import { TOPIC_DLQ } from '../../lib/names.js';
import type { ConnectionRecord } from '../../lib/record.js';
import type { AdminServer } from '../../lib/metrics.js';
import { runPipeline } from '../../pipeline/run.js';
import { skipUnless } from '../helpers/env.js';
import { endOffsets, groupAt, prepareTopics } from '../helpers/kafka.js';
import { countConnections, esClient, readDlq, searchAlerts } from '../helpers/pipeline-io.js';
import { record } from '../helpers/records.js';

// Fault tests of the pipeline on the real shared Kafka and Elasticsearch. Each
// case pushes a known number of records, then counts what came out: documents
// indexed (by its own host name) plus messages in connaudit.dlq (from the
// offset the case started at). in = indexed + dead-lettered, 0 lost.

const run = randomBytes(4).toString('hex');
const log = pino({ level: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const kafka = new Kafka({ ...kafkaConfig(`itest-faults-${run}`), logLevel: logLevel.NOTHING });
const es = esClient();

const pipe = (topic: string, group: string, extra: Partial<Parameters<typeof runPipeline>[0]> = {}) =>
  runPipeline({ config: {}, group, topics: { connections: topic, agentHealth: healthTopic }, exitWhenIdleS: 3, log, restartOnFailure: false, bulkOptions: { attempts: 2, baseDelayMs: 50 }, ...extra });

// Each case reads a topic of its own: any other pipeline running on this
// machine reads connaudit.connections too, and would index (or overwrite) a
// case's records before the pipeline under test sees them.
const healthTopic = `itest-faults-${run}-health`;
const created: string[] = [];
const caseTopic = (name: string) => `itest-faults-${run}-${name}`;

/** Produces the records with one key, so they share one partition, in order; returns where the case's consumer group must start. */
async function produce(topic: string, key: string, recs: ConnectionRecord[]) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const missing = [topic, healthTopic].filter((t) => !created.includes(t));
    if (missing.length > 0) await admin.createTopics({ topics: missing.map((t) => ({ topic: t, numPartitions: t === healthTopic ? 1 : 6 })), waitForLeaders: true });
    created.push(...missing);
  } finally {
    await admin.disconnect();
  }
  await prepareTopics(kafka);
  const from = { [topic]: await endOffsets(kafka, topic), [healthTopic]: await endOffsets(kafka, healthTopic) };
  const dlqFrom = await endOffsets(kafka, TOPIC_DLQ);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, messages: recs.map((r) => ({ key, value: encodeConnection(r) })) });
  await producer.disconnect();
  return { from, dlqFrom };
}

describe('pipeline fault tests (real Kafka and Elasticsearch)', () => {
  afterAll(async () => {
    const admin = kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics: created }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await es.close();
  });

  it('a poison document (event.id over 512 bytes) in the middle of a partition: all others indexed, the poison dead-lettered with its reason', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const host = `faults-${run}-poison`;
    const poisonId = `P${'x'.repeat(600)}`;
    const recs = [...Array.from({ length: 20 }, (_, i) => record(i, { host })), record(20, { host, event_id: poisonId }), ...Array.from({ length: 20 }, (_, i) => record(21 + i, { host }))];
    const topic = caseTopic('poison');
    const { from, dlqFrom } = await produce(topic, host, recs);
    const group = await groupAt(kafka, `itest-faults-${run}-poison`, from);
    expect(await pipe(topic, group)).toBe(0);
    const indexed = await countConnections(es, host);
    // The topic is this case's own, so every dead letter from it is the poison.
    const dead = await readDlq(kafka, dlqFrom, (h) => h['source-topic'] === topic);
    expect({ in: recs.length, indexed, deadLettered: dead.length }).toEqual({ in: 41, indexed: 40, deadLettered: 1 });
    // The record's range check at decode refuses it before any bulk request
    // (the bulk sink's own id_too_long guard stays for documents from other paths).
    expect(dead[0]!.headers['dlq-reason']).toBe('bad_record');
    expect(dead[0]!.headers['dlq-error']).toMatch(/event\.id \(event_id\) must be at most 512 bytes/);
  }, 120_000);

  it('conflicting documents with the same id: the stored document is kept, the redelivery is a no-op, the rewrite is dead-lettered with an alert and counted', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const host = `faults-${run}-conflict`;
    const genuine = Array.from({ length: 10 }, (_, i) => record(i, { host }));
    const topic = caseTopic('conflict');
    const first = await produce(topic, host, genuine);
    expect(await pipe(topic, await groupAt(kafka, `itest-faults-${run}-conflict-1`, first.from))).toBe(0);
    expect(await countConnections(es, host)).toBe(10);

    // The same 10 again (a replay), and 3 forged rewrites of stored connections (another port, other bytes).
    const forged = [2, 5, 7].map((i) => ({ ...genuine[i]!, dst_port: 4444, dst_bytes: 1 }));
    const second = await produce(topic, host, [...genuine, ...forged]);
    // /metrics is scraped while the pipeline runs; the last scrape falls in its idle time before it stops, after the last batch.
    let scraped = '';
    const healthz = new Set<number>();
    let scraper: NodeJS.Timeout | undefined;
    const code = await pipe(topic, await groupAt(kafka, `itest-faults-${run}-conflict-2`, second.from), {
      metrics: { port: 0 },
      lagIntervalMs: 500,
      onAdminServer: (s) => {
        scraper = setInterval(() => {
          fetch(`http://127.0.0.1:${s.port}/metrics`).then((r) => r.text()).then((t) => { scraped = t; }, () => undefined);
          fetch(`http://127.0.0.1:${s.port}/healthz`).then((r) => { healthz.add(r.status); }, () => undefined);
        }, 300);
      },
    });
    clearInterval(scraper);
    expect(code).toBe(0);
    const indexed = await countConnections(es, host);
    const dead = await readDlq(kafka, second.dlqFrom, (h) => h['source-topic'] === topic && h['dlq-reason'] === 'id_conflict' && forged.some((f) => (h['dlq-error'] ?? '').includes(f.event_id)));
    expect({ in: 23, indexed, conflictsDeadLettered: dead.length }).toEqual({ in: 23, indexed: 10, conflictsDeadLettered: 3 });
    // The stored documents are the genuine ones.
    expect(await countConnections(es, host, [{ term: { 'destination.port': 4444 } }])).toBe(0);
    const alerts = await searchAlerts(es, { bool: { filter: [{ term: { 'rule.id': 'connaudit-document-id-conflict' } }, { term: { 'host.name': host } }] } });
    expect(alerts.map((a) => ((a.connaudit as { alert: { event_ids: string[] } }).alert.event_ids[0])).sort()).toEqual(forged.map((f) => f.event_id).sort());
    expect(scraped).toMatch(/connaudit_pipeline_id_conflicts_total\{component="pipeline"\} 3/);
    expect(scraped).toMatch(/connaudit_pipeline_duplicates_total\{component="pipeline"\} 10/);
    expect(scraped).toMatch(/connaudit_pipeline_dlq_total\{reason="id_conflict",component="pipeline"\} 3/);
    expect(scraped).toMatch(/connaudit_pipeline_records_in_total\{topic="itest-faults-[0-9a-f]+-conflict",component="pipeline"\} 13/);
    expect(scraped).toMatch(/connaudit_pipeline_consumer_lag\{group="itest-faults-[0-9a-f]+-conflict-2",topic="itest-faults-[0-9a-f]+-conflict",partition="\d",component="pipeline"\} \d+/);
    expect(scraped).toMatch(/connaudit_pipeline_bulk_request_seconds_count\{component="pipeline",outcome="ok"\} [1-9]/);
    // Read from the broker for every partition of the group, not only those this run had batches on.
    expect(scraped.match(/connaudit_pipeline_consumer_lag\{group="itest-faults-[0-9a-f]+-conflict-2",topic="itest-faults-[0-9a-f]+-conflict"/g)).toHaveLength(6);
    expect(healthz.has(200)).toBe(true);
  }, 180_000);

  it('a far-future record: dead-lettered as future_event_time, every other record indexed', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const host = `faults-${run}-future`;
    const nowUs = Date.now() * 1000;
    const recs = Array.from({ length: 21 }, (_, i) => (i === 10
      ? record(i, { host, start_us: Date.parse('2027-06-01T00:00:00Z') * 1000, end_us: Date.parse('2027-06-01T00:00:01Z') * 1000 })
      : record(i, { host, start_us: nowUs - 60_000_000 + i * 1000, end_us: nowUs - 30_000_000 + i * 1000 })));
    const topic = caseTopic('future');
    const { from, dlqFrom } = await produce(topic, host, recs);
    expect(await pipe(topic, await groupAt(kafka, `itest-faults-${run}-future`, from))).toBe(0);
    const indexed = await countConnections(es, host);
    const dead = await readDlq(kafka, dlqFrom, (h) => h['source-topic'] === topic && (h['dlq-error'] ?? '').includes(recs[10]!.event_id));
    expect({ in: 21, indexed, deadLettered: dead.length }).toEqual({ in: 21, indexed: 20, deadLettered: 1 });
    expect(dead[0]!.headers['dlq-reason']).toBe('future_event_time');
    expect(dead[0]!.headers['dlq-error']).toMatch(/2027-06-01.*ahead of the pipeline clock/);
  }, 120_000);

  it('waits for Elasticsearch at start, saying so in /healthz and the log, and indexes everything once it answers', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const host = `faults-${run}-esdown`;
    const recs = Array.from({ length: 12 }, (_, i) => record(i, { host }));
    const topic = caseTopic('esdown');
    const { from } = await produce(topic, host, recs);
    // A port with nothing behind it yet; a TCP relay to the real Elasticsearch opens there later.
    const relayPort = await freePort();
    const lines: string[] = [];
    const logSink = pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } }));
    let server: AdminServer | undefined;
    const running = pipe(topic, await groupAt(kafka, `itest-faults-${run}-esdown`, from), {
      env: { ...process.env, ES_URL: `http://127.0.0.1:${relayPort}` }, log: logSink, metrics: { port: 0 }, onAdminServer: (s) => { server = s; },
    });
    await waitUntil(() => lines.some((l) => l.includes('waiting for Elasticsearch at http://127.0.0.1:')), 20_000);
    const h = await fetch(`http://127.0.0.1:${server!.port}/healthz`);
    expect(h.status).toBe(503);
    expect(((await h.json()) as { detail: { waitingFor: string } }).detail.waitingFor).toBe('Elasticsearch');
    const relay = tcpRelay(relayPort, 9200);
    try {
      expect(await running).toBe(0);
    } finally {
      relay.close();
    }
    expect(await countConnections(es, host)).toBe(12);
    expect(lines.some((l) => l.includes('Elasticsearch is reachable; starting'))).toBe(true);
  }, 180_000);

  it('a batch Elasticsearch refuses is re-read from its first offset and indexed once ES accepts again: exact count, one retry layer', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const host = `faults-${run}-reread`;
    const topic = caseTopic('reread');
    const recs = Array.from({ length: 30 }, (_, i) => record(i, { host }));
    const { from } = await produce(topic, host, recs);
    // Elasticsearch behind a proxy that answers the first 3 bulk requests with 503.
    let bulks = 0;
    const proxy = http.createServer((req, res) => {
      if (req.url?.includes('_bulk') && ++bulks <= 3) {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"type":"unavailable","reason":"test proxy refuses bulk"},"status":503}');
        return;
      }
      const up = http.request({ host: '127.0.0.1', port: 9200, path: req.url, method: req.method, headers: { ...req.headers, connection: 'close' } }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', (err) => res.writeHead(502).end(String(err)));
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const code = await pipe(topic, await groupAt(kafka, `itest-faults-${run}-reread`, from), {
        env: { ...process.env, ES_URL: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}` },
        restartOnFailure: true, maxBatch: 100, exitWhenIdleS: 6,
      });
      expect(code).toBe(0);
    } finally {
      proxy.close();
    }
    expect(await countConnections(es, host)).toBe(30);
    // 2 attempts fail, the chunk is re-read, 1 more fails, the next succeeds: 4 bulk requests, not 6 × 2 as kafkajs's own retry would add.
    expect(bulks).toBe(4);
  }, 180_000);

  it('waits for Kafka at start, naming it, and stops cleanly when asked while waiting', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const port = await freePort();
    const lines: string[] = [];
    const logSink = pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } }));
    const ac = new AbortController();
    const running = pipe(caseTopic('kafkadown'), `itest-faults-${run}-kafkadown`, { env: { ...process.env, KAFKA_BROKERS: `127.0.0.1:${port}` }, log: logSink, signal: ac.signal });
    await waitUntil(() => lines.filter((l) => l.includes(`waiting for Kafka at 127.0.0.1:${port}`)).length >= 2, 60_000);
    ac.abort();
    expect(await running).toBe(0);
    expect(lines.some((l) => l.includes('stopped before start: was waiting for a service'))).toBe(true);
  }, 120_000);
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function tcpRelay(listenPort: number, targetPort: number): net.Server {
  const server = net.createServer((c) => {
    const up = net.connect(targetPort, '127.0.0.1');
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  server.listen(listenPort, '127.0.0.1');
  return server;
}

async function waitUntil(pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
