import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaSink } from '../../agent/kafka-sink.js';
import { runReplay, type OutcomeListener } from '../../agent/replay.js';
import { Spool } from '../../agent/spool.js';
import { decodeConnection } from '../../lib/avro.js';
import { recordToDoc } from '../../lib/ecs.js';
import { kafkaConfig } from '../../lib/kafka.js';
import { createLogger } from '../../lib/log.js';
import { TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_DLQ } from '../../lib/names.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { skipUnless } from '../helpers/env.js';
import { ThrowawayBroker } from '../helpers/throwaway-broker.js';
import { record } from '../helpers/records.js';

// Fault test: the broker is killed (SIGKILL) in the middle of
// `agent --replay`. The replay parks what Kafka did not acknowledge in the
// agent's spool, waits, and sends it once the broker is back. Count in,
// count out: every line is consumed, none is lost; a record too large for the
// broker goes to the DLQ without failing its batch.

const PORT = 19192;
const CONTROLLER_PORT = 19193;
const N = 30_000;
const KILL_AFTER = 5_000;
const log = createLogger('test.replay-kill', 'warn');
const progress = (text: string): void => { process.stderr.write(`[replay-broker-kill] ${text}\n`); };
const run = randomBytes(4).toString('hex');
const HOST = `it-kill-${run}`;

const rec = (i: number): ConnectionRecord => record(i, { host: HOST });

const tmp = mkdtempSync(join(tmpdir(), 'replay-kill-it-'));
const broker = new ThrowawayBroker({ dir: join(tmp, 'kafka'), port: PORT, controllerPort: CONTROLLER_PORT });
const env = { ...process.env, KAFKA_BROKERS: broker.brokers };
afterAll(async () => {
  await broker.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 90_000);

async function countTopic(topic: string): Promise<Array<{ key: string; value: Buffer; headers: Record<string, string> }>> {
  const admin = new Kafka({ ...kafkaConfig('connaudit-test', env), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = offsets.reduce((a, o) => a + Number(o.high) - Number(o.low), 0);
  const consumer = new Kafka({ ...kafkaConfig('connaudit-test', env), logLevel: logLevel.NOTHING }).consumer({ groupId: `it-kill-${topic}-${run}` });
  const got: Array<{ key: string; value: Buffer; headers: Record<string, string> }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    const finished = new Promise<void>((r) => { finish = r; });
    if (total === 0) finish();
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        got.push({ key: message.key!.toString(), value: message.value!, headers });
        if (got.length >= total) finish();
      },
    });
    await Promise.race([finished, new Promise((r) => setTimeout(r, 60_000))]);
  } finally {
    await consumer.disconnect();
  }
  return got;
}

describe('agent --replay while the broker is killed', () => {
  it(`delivers all ${N} lines exactly once each after a SIGKILL mid-replay, and dead-letters the oversized one`, async (ctx) => {
    if (await skipUnless(ctx, 'kafka')) return;
    progress(`starting a throwaway broker at ${broker.brokers}`);
    broker.format();
    await broker.start();
    const admin = new Kafka({ ...kafkaConfig('connaudit-test', env), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [TOPIC_CONNECTIONS, TOPIC_DLQ, TOPIC_AGENT_HEALTH].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })), waitForLeaders: true });
    await admin.disconnect();

    // Line 101 holds a 1.2 MB executable: above the broker's 1 MB message limit.
    const OVERSIZED = 101;
    const lines = Array.from({ length: N }, (_, i) => {
      const r = rec(i);
      if (i + 1 === OVERSIZED) r.executable = `/opt/${'x'.repeat(1_200_000)}`;
      return JSON.stringify(recordToDoc(r));
    });
    const file = join(tmp, 'in.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);

    let sent = 0;
    let killed: Promise<void> | null = null;
    let restarted: Promise<void> | null = null;
    const spool = Spool.open({ dir: join(tmp, 'spool'), maxBytes: 256 << 20, log });
    const t0 = Date.now();
    const res = await runReplay(file, {
      log,
      waitMs: 180_000,
      makeSink: (on: OutcomeListener) => new KafkaSink({
        env, spool, health: false, log, retryIntervalMs: 500,
        onOutcome: (m, o) => {
          on(m, o);
          if (o === 'sent' && m.kind === 'record' && ++sent === KILL_AFTER) {
            progress(`${sent} acknowledged after ${Date.now() - t0} ms: SIGKILL to the broker`);
            killed = broker.kill().then(async () => {
              await new Promise((r) => setTimeout(r, 3000));
              progress(`restarting the broker (spool holds ${spool.records} messages)`);
              restarted = broker.start();
              await restarted;
              progress('broker answering again');
            });
          }
        },
      }),
    });
    await killed;
    await restarted;
    progress(`replay finished after ${Date.now() - t0} ms: ${JSON.stringify({ read: res.read, sent: res.sent, deadLettered: res.deadLettered, failed: res.failed.length, waiting: res.waiting.length, refused: res.errors.length })}`);
    expect(killed).not.toBeNull();
    expect(res).toMatchObject({ read: N, sent: N - 1, deadLettered: [OVERSIZED], failed: [], waiting: [], errors: [] });

    const out = await countTopic(TOPIC_CONNECTIONS);
    const ids = out.map((m) => decodeConnection(m.value).event_id);
    const distinct = new Set(ids);
    const expected = Array.from({ length: N }, (_, i) => rec(i).event_id).filter((_, i) => i + 1 !== OVERSIZED);
    const lost = expected.filter((id) => !distinct.has(id));
    progress(`consumed ${out.length} messages, ${distinct.size} distinct, ${lost.length} lost, ${out.length - distinct.size} duplicates`);
    expect(lost).toEqual([]);
    expect(distinct.size).toBe(N - 1);
    // At least once: only the batch whose acknowledgement died with the broker may come twice (2000 records at most).
    expect(out.length - distinct.size).toBeLessThanOrEqual(2000);
    // One partition: the first copy of each record arrives in file order.
    const seen = new Set<string>();
    const firstSeen = ids.filter((id) => !seen.has(id) && seen.add(id) !== undefined);
    expect(firstSeen).toEqual(expected);

    const dlq = await countTopic(TOPIC_DLQ);
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.headers).toMatchObject({ 'dlq-reason': 'too_large', 'source-location': `${file}:${OVERSIZED}` });
    expect(dlq[0]!.value.length).toBeLessThan(10_000);
  }, 400_000);
});
