import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaSink } from '../../agent/kafka-sink.js';
import { agentHealthCodec as healthCodec, type AgentHealth } from '../../lib/agent-health.js';
import { runReplay } from '../../agent/replay.js';
import { connectionCodec, decodeConnection } from '../../lib/avro.js';
import { kafkaConfig } from '../../lib/connect.js';
import { recordToDoc } from '../../lib/ecs.js';
import { ipToBytes } from '../../lib/ip.js';
import { createLogger } from '../../lib/log.js';
import { TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS } from '../../lib/names.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { recordDefaults } from '../../lib/record-fields.js';
import { skipUnless } from '../helpers/env.js';

// agent --replay and the agent's health reports against the real local broker
// (KAFKA_BROKERS, default 127.0.0.1:9092). Other tests share the topics, so
// this run's records carry host names unique to it.

const run = randomBytes(4).toString('hex');
const hosts = [`it-replay-${run}-a`, `it-replay-${run}-b`];
const log = createLogger('test.agent-kafka', 'warn');

function rec(i: number): ConnectionRecord {
  return {
    ...recordDefaults(),
    event_id: `${run}-e${i}`, conn_uid: `C${run}${i}`, kind: 'final', start_us: 1_763_770_000_000_000 + i * 1000, end_us: 1_763_770_000_500_000 + i * 1000,
    host: hosts[i % 2]!, netns: 4026531840, direction: i % 3 === 0 ? 'ingress' : 'egress', family: 'ipv4',
    src_ip: ipToBytes('10.77.0.1'), src_port: 40000 + i, dst_ip: ipToBytes('10.77.0.2'), dst_port: 8080,
    conn_state: 'SF', close_reason: 'fin', connect_latency_us: 150 + i, srtt_us: 90,
    retransmits: 0, syn_retransmits: 0, rst_sent: 0, rst_received: 0, src_bytes: 10 * i, dst_bytes: 20 * i,
    pid: 1000 + i, tid: 1000 + i, ppid: 1, uid: 0, comm: 'curl', executable: '/usr/bin/curl', parent_name: 'bash',
    cgroup_id: 1, container_id: null, environment: 'it', node_group: null, labels: { run }, agent_version: '0.1.0',
  };
}

/** Reads `topic` from the beginning with a fresh group until `done` says enough, or the timeout. */
async function consumeUntil(topic: string, keep: (m: KafkaMessage) => boolean, done: (got: KafkaMessage[]) => boolean, timeoutMs = 30_000): Promise<KafkaMessage[]> {
  const kafka = new Kafka({ ...kafkaConfig('connaudit-test'), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `connaudit-test-${topic}-${run}-${randomBytes(3).toString('hex')}` });
  const got: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    const finished = new Promise<void>((r) => { finish = r; });
    await consumer.run({ eachMessage: async ({ message }) => { if (keep(message)) got.push(message); if (done(got)) finish(); } });
    await Promise.race([finished, new Promise((r) => setTimeout(r, timeoutMs))]);
  } finally {
    await consumer.disconnect();
  }
  return got;
}

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'agent-kafka-it-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

describe('agent --replay through the real Kafka', () => {
  it('delivers exactly the replayed records, keyed by host, with the schema fingerprint header', async (ctx) => {
    if (await skipUnless(ctx, 'kafka')) return;
    const records = Array.from({ length: 25 }, (_, i) => rec(i));
    const file = join(dir, 'replay.jsonl');
    const lines = records.map((r) => JSON.stringify(recordToDoc(r)));
    lines.splice(10, 0, '{"event": "broken"}'); // one bad line in the middle: reported, replay goes on
    writeFileSync(file, `${lines.join('\n')}\n`);

    const res = await runReplay(file, { log });
    expect(res.read).toBe(26);
    expect(res.sent).toBe(25);
    expect(res.errors).toHaveLength(1);
    expect(res.errors[0]).toMatchObject({ line: 11, field: 'source.ip' });

    const ours = (m: KafkaMessage) => m.key !== null && hosts.includes(m.key.toString());
    const got = await consumeUntil(TOPIC_CONNECTIONS, ours, (g) => g.length >= records.length);
    expect(got).toHaveLength(records.length);
    const decoded = got.map((m) => decodeConnection(m.value!));
    expect(decoded.map((r) => r.event_id).sort()).toEqual(records.map((r) => r.event_id).sort());
    for (const m of got) {
      const r = decodeConnection(m.value!);
      expect(m.key!.toString()).toBe(r.host);
      expect(m.headers?.['schema-fingerprint']?.toString()).toBe(connectionCodec().fingerprintHex);
      expect(m.headers?.['content-type']?.toString()).toBe('application/vnd.connaudit.connection+avro');
      expect(r).toEqual(records.find((x) => x.event_id === r.event_id));
    }
    // Same key -> same partition -> per-host order is the file's order.
    for (const h of hosts) {
      const ids = decoded.filter((r) => r.host === h).map((r) => r.event_id);
      expect(ids).toEqual(records.filter((r) => r.host === h).map((r) => r.event_id));
    }
  }, 90_000);
});

describe('agent health records through the real Kafka', () => {
  it('sends an AgentHealth record keyed by host with the counters of the run', async (ctx) => {
    if (await skipUnless(ctx, 'kafka')) return;
    const host = `it-health-${run}`;
    const sink = new KafkaSink({ health: { host, intervalS: 3600 }, log });
    for (let i = 0; i < 3; i++) await sink.write({ ...rec(100 + i), host });
    await sink.flush();
    await sink.reportHealth({ ringbufDropsPerCpu: [0, 2], recordsTotal: 3, sampledOut: 0, filtered: 1 });
    await sink.close(); // nothing changed since the report: no second one

    const got = await consumeUntil(TOPIC_AGENT_HEALTH, (m) => m.key?.toString() === host, (g) => g.length >= 2, 8_000);
    expect(got).toHaveLength(1);
    expect(got[0]!.headers?.['schema-fingerprint']?.toString()).toBe(healthCodec().fingerprintHex);
    const h = healthCodec().decode(got[0]!.value!) as AgentHealth;
    expect(h).toMatchObject({ host, records_total: 3, records_produced: 3, ringbuf_drops: 2, ringbuf_drops_per_cpu: [0, 2], filtered: 1, spool_dropped: 0, kafka_connected: true });
  }, 90_000);
});
