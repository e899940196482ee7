import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeConnection } from '../../lib/avro.js';
import { kafkaConfig } from '../../lib/connect.js';
import { TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_DLQ } from '../../lib/names.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { runPipeline } from '../../pipeline/run.js';
import { skipUnless } from '../helpers/env.js';
import { endOffsets, groupAt, prepareTopics } from '../helpers/kafka.js';
import { countConnections, esClient, readDlq } from '../helpers/pipeline-io.js';
import { record } from '../helpers/records.js';

// Fault tests of the pipeline on the real shared Kafka and Elasticsearch. Each
// case pushes a known number of records, then counts what came out: documents
// indexed (by its own host name) plus messages in connaudit.dlq (from the
// offset the case started at). in = indexed + dead-lettered, 0 lost.

const run = randomBytes(4).toString('hex');
const log = pino({ level: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const kafka = new Kafka({ ...kafkaConfig(`itest-faults-${run}`), logLevel: logLevel.NOTHING });
const es = esClient();

const pipe = (group: string, extra: Partial<Parameters<typeof runPipeline>[0]> = {}) =>
  runPipeline({ config: {}, group, exitWhenIdleS: 3, stateDir: mkdtempSync(join(tmpdir(), 'ca-faults-')), log, restartOnFailure: false, bulkOptions: { attempts: 2, baseDelayMs: 50 }, ...extra });

/** Produces the records with one key, so they share one partition, in order; returns where the case's consumer group must start. */
async function produce(key: string, recs: ConnectionRecord[]) {
  await prepareTopics(kafka);
  const from = { [TOPIC_CONNECTIONS]: await endOffsets(kafka, TOPIC_CONNECTIONS), [TOPIC_AGENT_HEALTH]: await endOffsets(kafka, TOPIC_AGENT_HEALTH) };
  const dlqFrom = await endOffsets(kafka, TOPIC_DLQ);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic: TOPIC_CONNECTIONS, messages: recs.map((r) => ({ key, value: encodeConnection(r) })) });
  await producer.disconnect();
  return { from, dlqFrom };
}

describe('pipeline fault tests (real Kafka and Elasticsearch)', () => {
  afterAll(async () => {
    await es.close();
  });

  it('a poison document (event.id over 512 bytes) in the middle of a partition: all others indexed, the poison dead-lettered with its reason', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const host = `faults-${run}-poison`;
    const poisonId = `P${'x'.repeat(600)}`;
    const recs = [...Array.from({ length: 20 }, (_, i) => record(i, { host })), record(20, { host, event_id: poisonId }), ...Array.from({ length: 20 }, (_, i) => record(21 + i, { host }))];
    const { from, dlqFrom } = await produce(host, recs);
    const group = await groupAt(kafka, `itest-faults-${run}-poison`, from);
    expect(await pipe(group)).toBe(0);
    const indexed = await countConnections(es, host);
    const dead = await readDlq(kafka, dlqFrom, (h) => h['source-topic'] === TOPIC_CONNECTIONS && (h['dlq-error'] ?? '').includes(poisonId.slice(0, 40)));
    expect({ in: recs.length, indexed, deadLettered: dead.length }).toEqual({ in: 41, indexed: 40, deadLettered: 1 });
    expect(dead[0]!.headers['dlq-reason']).toBe('id_too_long');
    expect(dead[0]!.headers['dlq-error']).toMatch(/512 bytes/);
  }, 120_000);
});
