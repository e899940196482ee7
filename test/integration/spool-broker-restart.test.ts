import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaSink } from '../../agent/kafka-sink.js';
import { Spool } from '../../agent/spool.js';
import { decodeConnection, encodeConnection } from '../../lib/avro.js';
import { kafkaConfig } from '../../lib/connect.js';
import { ipToBytes } from '../../lib/ip.js';
import { createLogger } from '../../lib/log.js';
import { TOPIC_CONNECTIONS } from '../../lib/names.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { recordDefaults } from '../../lib/record-fields.js';
import { skipUnless } from '../helpers/env.js';
import { ThrowawayBroker } from '../helpers/throwaway-broker.js';

// The spool's promise: "When Kafka is unreachable, the agent writes records to a bounded
// on-disk spool and replays them in order when Kafka returns ... Test this with
// a real broker that you stop and restart."
//
// The shared broker on 9092 serves every other test, so this test runs its own
// throwaway KRaft broker (same jars and settings as `connaudit services up`) on
// 19092/19093 with a data dir under /tmp, and stops and restarts that one.

const PORT = 19092;
const CONTROLLER_PORT = 19093;
const BROKERS = `127.0.0.1:${PORT}`;
const env = { ...process.env, KAFKA_BROKERS: BROKERS };
const log = createLogger('test.spool-broker', 'warn');
const progress = (text: string): void => { process.stderr.write(`[spool-broker-restart] ${text}\n`); };

const run = randomBytes(4).toString('hex');
const HOST = `it-spool-${run}`;
const TINY_HOST = `it-spool-tiny-${run}`;

function rec(i: number, host = HOST): ConnectionRecord {
  return {
    ...recordDefaults(),
    event_id: `${run}-${host === HOST ? 'm' : 't'}${String(i).padStart(3, '0')}`, conn_uid: `C${run}${i}`, kind: 'final',
    start_us: 1_763_770_000_000_000 + i * 1000, end_us: 1_763_770_000_400_000 + i * 1000,
    host, netns: 4026531840, direction: 'egress', family: 'ipv4',
    src_ip: ipToBytes('10.78.0.1'), src_port: 30000 + i, dst_ip: ipToBytes('10.78.0.2'), dst_port: 443,
    conn_state: 'SF', close_reason: 'fin', connect_latency_us: 200, srtt_us: 100,
    retransmits: 0, syn_retransmits: 0, rst_sent: 0, rst_received: 0, src_bytes: 1, dst_bytes: 2,
    pid: 7, tid: 7, ppid: 1, uid: 0, comm: 'curl', executable: '/usr/bin/curl', parent_name: 'sh',
    cgroup_id: null, container_id: null, environment: 'it', node_group: null, labels: {}, agent_version: '0.1.0',
  };
}

async function writeAll(sink: KafkaSink, ids: number[], host = HOST): Promise<void> {
  for (const i of ids) await sink.write(rec(i, host));
  await sink.flush();
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function consumeAll(expected: number): Promise<KafkaMessage[]> {
  const kafka = new Kafka({ ...kafkaConfig('connaudit-test', env), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `connaudit-test-spool-${run}` });
  const got: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPIC_CONNECTIONS, fromBeginning: true });
    let finish!: () => void;
    const finished = new Promise<void>((r) => { finish = r; });
    await consumer.run({ eachMessage: async ({ message }) => { got.push(message); if (got.length >= expected) finish(); } });
    await Promise.race([finished, new Promise((r) => setTimeout(r, 30_000))]);
    // Anything beyond `expected` would be a duplicate; give it a moment to show up.
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    await consumer.disconnect();
  }
  return got;
}

const tmp = mkdtempSync(join(tmpdir(), 'spool-broker-it-'));
const broker = new ThrowawayBroker({ dir: join(tmp, 'kafka'), port: PORT, controllerPort: CONTROLLER_PORT });
const sinks: KafkaSink[] = [];
afterAll(async () => {
  for (const s of sinks) await s.close().catch(() => undefined);
  await broker.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 90_000);

describe('spool with a real broker that is stopped and restarted', () => {
  it('spools while the broker is down, survives an agent restart, replays in order, and counts overflow as spool_dropped', async (ctx) => {
    // The throwaway broker uses the jars `services up` fetched; a running local broker means they are there.
    if (await skipUnless(ctx, 'kafka')) return;
    const spoolDir = join(tmp, 'spool');
    const tinyDir = join(tmp, 'spool-tiny');
    const oneFrame = 8 + 5 + Buffer.byteLength(TINY_HOST) + 4 + encodeConnection(rec(0, TINY_HOST)).length;

    progress(`starting a throwaway broker at ${BROKERS}`);
    broker.format();
    await broker.start();
    const admin = new Kafka({ ...kafkaConfig('connaudit-test', env), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: TOPIC_CONNECTIONS, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const first = new KafkaSink({ env, spool: Spool.open({ dir: spoolDir, maxBytes: 1 << 20, log }), health: false, retryIntervalMs: 500, log });
    sinks.push(first);
    await writeAll(first, range(0, 10));
    expect(first.counters()).toMatchObject({ produced: 10, kafkaErrors: 0 });

    progress('stopping the broker');
    await broker.stop();
    let t0 = Date.now();
    await writeAll(first, range(10, 20));
    progress(`first failed send took ${Date.now() - t0} ms to give up and spool`);
    expect(first.transportCounters()).toMatchObject({ recordsProduced: 10, spoolRecords: 10, kafkaConnected: false });
    expect(first.counters().kafkaErrors).toBeGreaterThan(0);

    progress('restarting the agent while the broker is still down');
    await first.close();
    const second = new KafkaSink({ env, spool: Spool.open({ dir: spoolDir, maxBytes: 1 << 20, log }), health: false, retryIntervalMs: 500, log });
    sinks.push(second);
    expect(second.transportCounters().spoolRecords).toBe(10);
    await writeAll(second, range(20, 25));
    expect(second.transportCounters().spoolRecords).toBe(15);

    // A spool bound of three records: the other seven are counted, not lost silently.
    const tiny = new KafkaSink({ env, spool: Spool.open({ dir: tinyDir, maxBytes: 3 * oneFrame + oneFrame / 2, log }), health: false, retryIntervalMs: 500, log });
    sinks.push(tiny);
    await writeAll(tiny, range(0, 10), TINY_HOST);
    expect(tiny.transportCounters()).toMatchObject({ spoolRecords: 3, spoolDropped: 7, recordsProduced: 0 });

    progress('starting the broker again');
    await broker.start();
    t0 = Date.now();
    await waitFor('both spools to drain', () => second.transportCounters().spoolRecords === 0 && tiny.transportCounters().spoolRecords === 0, 90_000);
    progress(`spools drained ${Date.now() - t0} ms after the broker answered`);
    await writeAll(second, range(25, 30));
    expect(second.transportCounters()).toMatchObject({ recordsProduced: 20, kafkaConnected: true, spoolDropped: 0 });

    const got = await consumeAll(30 + 3);
    const byHost = (h: string) => got.filter((m) => m.key?.toString() === h).map((m) => decodeConnection(m.value!).event_id);
    // One partition: offset order is arrival order. Nothing lost, nothing twice, nothing out of order.
    expect(byHost(HOST)).toEqual(range(0, 30).map((i) => rec(i).event_id));
    expect(byHost(TINY_HOST)).toEqual(range(0, 3).map((i) => rec(i, TINY_HOST).event_id));
    expect(got).toHaveLength(33);
  }, 400_000);
});
