import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ProducerBatch, ProducerRecord, RecordMetadata } from 'kafkajs';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeConnection, fingerprintOf } from '../lib/avro.js';
import { TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_DLQ } from '../lib/names.js';
import { CompressionTypes } from 'kafkajs';
import { frame, unframe } from './kafka-message.js';
import { ipToBytes } from '../lib/ip.js';
import { connectionType, type ConnectionRecord } from '../lib/record.js';
import { recordDefaults } from '../lib/record-fields.js';
import { agentHealthCodec as healthCodec, type AgentHealth } from '../lib/agent-health.js';
import { CONNECTION_CONTENT_TYPE, KafkaSink, type ProducerLike } from './kafka-sink.js';
import { Spool } from './spool.js';

// An in-memory broker: producers made by the factory share it, and the test
// switches it up and down. Fakes are allowed here only; test/integration runs
// the same sink against a real broker.
class FakeBroker {
  up = true;
  /** Like the broker's max.message.bytes: a batch holding a larger value is refused as a whole. */
  maxValueBytes = Infinity;
  records: ProducerRecord[] = [];
  producersMade = 0;
  factory = (): ProducerLike => {
    this.producersMade++;
    let connected = false;
    return {
      connect: async () => { if (!this.up) throw new Error('ECONNREFUSED'); connected = true; },
      disconnect: async () => { connected = false; },
      sendBatch: async (b: ProducerBatch): Promise<RecordMetadata[]> => {
        await new Promise((res) => setImmediate(res));
        if (!this.up || !connected) throw new Error('Connection error: ECONNREFUSED');
        if ((b.topicMessages ?? []).some((t) => t.messages.some((m) => (m.value as Buffer).length > this.maxValueBytes))) {
          throw Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { type: 'MESSAGE_TOO_LARGE' });
        }
        for (const t of b.topicMessages ?? []) this.records.push({ topic: t.topic, messages: t.messages, acks: b.acks, compression: b.compression });
        return [];
      },
    };
  };
  values(topic = TOPIC_CONNECTIONS): string[] {
    return this.records.filter((r) => r.topic === topic).flatMap((r) => r.messages.map((m) => decodeConnection(m.value as Buffer).event_id));
  }
}

function memLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

function sampleRecord(over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    ...recordDefaults(),
    event_id: 'e1', conn_uid: 'Cabc', kind: 'final', start_us: 1_763_770_000_000_123, end_us: 1_763_770_001_500_456,
    host: 'web-1', netns: 4026531840, direction: 'egress', family: 'ipv4',
    src_ip: ipToBytes('10.0.0.1'), src_port: 40000, dst_ip: ipToBytes('10.0.0.2'), dst_port: 443,
    conn_state: 'SF', close_reason: 'fin', connect_latency_us: 1234, srtt_us: 800,
    retransmits: 0, syn_retransmits: 0, rst_sent: 0, rst_received: 0, src_bytes: 100, dst_bytes: 2000,
    pid: 4242, tid: 4242, ppid: 1, uid: 0, comm: 'curl', executable: '/usr/bin/curl', parent_name: 'bash',
    cgroup_id: null, container_id: null, environment: 'test', node_group: null, labels: {}, agent_version: '0.1.0', sampled: false, started_before_agent: false, process_unknown_reason: null,
    ...over,
  };
}

let dir: string;
let broker: FakeBroker;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'kafka-sink-test-')); broker = new FakeBroker(); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

describe('KafkaSink batching and message format', () => {
  it('sends records written within the linger time as one batch, keyed by host with both headers and acks=-1', async () => {
    const { log } = memLog();
    const sink = new KafkaSink({ producerFactory: broker.factory, health: false, lingerMs: 20, log });
    await sink.write(sampleRecord({ event_id: 'a', host: 'web-1' }));
    await sink.write(sampleRecord({ event_id: 'b', host: 'web-2' }));
    await sink.write(sampleRecord({ event_id: 'c', host: 'web-1' }));
    await sink.flush();
    expect(broker.records).toHaveLength(1);
    const req = broker.records[0]!;
    expect(req.topic).toBe(TOPIC_CONNECTIONS);
    expect(req.acks).toBe(-1);
    expect(req.messages.map((m) => m.key)).toEqual(['web-1', 'web-2', 'web-1']);
    const fp = fingerprintOf(connectionType).toString('hex');
    for (const m of req.messages) expect(m.headers).toEqual({ 'content-type': CONNECTION_CONTENT_TYPE, 'schema-fingerprint': fp });
    expect(decodeConnection(req.messages[1]!.value as Buffer)).toEqual(sampleRecord({ event_id: 'b', host: 'web-2' }));
    expect(sink.counters()).toMatchObject({ accepted: 3, produced: 3, kafkaErrors: 0 });
    await sink.close();
  });

  it('never sends more than batchMax per request and keeps the write order', async () => {
    const sink = new KafkaSink({ producerFactory: broker.factory, health: false, batchMax: 4, lingerMs: 1000, log: memLog().log });
    for (let i = 0; i < 10; i++) await sink.write(sampleRecord({ event_id: `e${i}` }));
    await sink.flush();
    expect(broker.records.every((r) => r.messages.length <= 4)).toBe(true);
    expect(broker.values()).toEqual(Array.from({ length: 10 }, (_, i) => `e${i}`));
    await sink.close();
  });

  it('rejects a record that does not fit the schema and names the field', async () => {
    const sink = new KafkaSink({ producerFactory: broker.factory, health: false, log: memLog().log });
    await expect(sink.write(sampleRecord({ event_id: 'bad', dst_port: 1.5 }))).rejects.toThrow(/record bad .*dst_port=1.5/);
    await sink.close();
  });
});

describe('KafkaSink with messages too large for the broker', () => {
  const huge = () => sampleRecord({ event_id: 'big', executable: `/opt/${'x'.repeat(2000)}` });

  it('sends a record above maxMessageBytes to the DLQ at once, truncated and flagged, and the rest of its batch normally', async () => {
    const outcomes: Array<[string, number | undefined, string]> = [];
    const sink = new KafkaSink({ producerFactory: broker.factory, health: false, lingerMs: 5, maxMessageBytes: 1000, log: memLog().log, onOutcome: (m, o) => outcomes.push([m.kind, m.tag, o]) });
    await sink.write(sampleRecord({ event_id: 'a' }), 1);
    await sink.write(huge(), 2, 'in.jsonl:2');
    await sink.write(sampleRecord({ event_id: 'c' }), 3);
    await sink.flush();
    expect(broker.values()).toEqual(['a', 'c']);
    const dlq = broker.records.filter((r) => r.topic === TOPIC_DLQ).flatMap((r) => r.messages);
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.headers).toMatchObject({ 'dlq-reason': 'too_large', 'source-location': 'in.jsonl:2' });
    const body = JSON.parse(String(dlq[0]!.value)) as { record: { event_id: string; executable: string }; error: string };
    expect(body.record.event_id).toBe('big');
    expect(body.record.executable).toHaveLength(256);
    expect(body.error).toMatch(/exceeds the 1000-byte message limit; truncated: executable \(2005 chars\)/);
    expect(outcomes).toEqual([['record', 1, 'sent'], ['dlq', 2, 'sent'], ['record', 3, 'sent']]);
    expect(sink.counters()).toMatchObject({ produced: 2, deadLettered: 1, failed: 0 });
    await sink.close();
  });

  it('when the broker refuses a batch as too large, splits it, dead-letters only the culprit and delivers the rest in order', async () => {
    broker.maxValueBytes = 1800;
    const spool = Spool.open({ dir, maxBytes: 1 << 20 });
    const sink = new KafkaSink({ producerFactory: broker.factory, spool, health: false, lingerMs: 5, log: memLog().log });
    for (const id of ['a', 'b', 'c']) await sink.write(sampleRecord({ event_id: id }));
    await sink.write(huge());
    for (const id of ['e', 'f']) await sink.write(sampleRecord({ event_id: id }));
    await sink.flush();
    expect(broker.values()).toEqual(['a', 'b', 'c', 'e', 'f']);
    expect(broker.records.filter((r) => r.topic === TOPIC_DLQ).flatMap((r) => r.messages).map((m) => m.headers?.['dlq-reason'])).toEqual(['too_large']);
    expect(sink.counters()).toMatchObject({ produced: 5, deadLettered: 1, kafkaErrors: 0, kafkaConnected: true });
    expect(spool.records).toBe(0);
    await sink.close();
  });
});

describe('KafkaSink compression and spool frames', () => {
  it('asks kafkajs for zstd batches by default and for the configured codec otherwise', async () => {
    const a = new KafkaSink({ producerFactory: broker.factory, health: false, lingerMs: 1, log: memLog().log });
    await a.write(sampleRecord());
    await a.close();
    const b = new KafkaSink({ producerFactory: broker.factory, health: false, lingerMs: 1, compression: 'lz4', log: memLog().log });
    await b.write(sampleRecord());
    await b.close();
    expect(broker.records.map((r) => r.compression)).toEqual([CompressionTypes.ZSTD, CompressionTypes.LZ4]);
  });

  it('reads spool frames written by an older agent (no topic in the frame) as connection records', () => {
    const value = Buffer.from([0xc3, 1, 1, 2, 3, 4, 5, 6, 7, 8, 42]);
    const old = Buffer.concat([Buffer.from([0, 5]), Buffer.from('web-1'), value]);
    expect(unframe(old)).toEqual({ kind: 'record', key: 'web-1', value });
    const h = { kind: 'health' as const, key: 'web-1', value, headers: { 'content-type': 'x' } };
    expect(unframe(frame(h))).toEqual(h);
  });
});

describe('KafkaSink while Kafka is down', () => {
  it('spools agent-health records too, in order with the records, and sends them when Kafka is back', async () => {
    const spool = Spool.open({ dir, maxBytes: 1 << 20 });
    broker.up = false;
    const sink = new KafkaSink({ producerFactory: broker.factory, spool, health: { host: 'web-1', agentVersion: '1' }, lingerMs: 1, retryIntervalMs: 30, log: memLog().log });
    await sink.write(sampleRecord({ event_id: 'a' }));
    await sink.flush();
    await sink.reportHealth({ ringbufDropsPerCpu: [0], recordsTotal: 1, sampledOut: 0, filtered: 0 });
    await sink.flush();
    expect(spool.records).toBe(2);
    broker.up = true;
    await until(() => spool.records === 0);
    const health = broker.records.filter((r) => r.topic === TOPIC_AGENT_HEALTH).flatMap((r) => r.messages);
    expect(health).toHaveLength(1);
    expect((healthCodec().decode(health[0]!.value as Buffer) as AgentHealth).kafka_connected).toBe(false);
    expect(broker.values()).toEqual(['a']);
    await sink.close();
  });

  it('spools what Kafka refused, spools later records behind it, and replays all in order once Kafka is back', async () => {
    const { log, lines } = memLog();
    const spool = Spool.open({ dir, maxBytes: 1 << 20 });
    broker.up = false;
    const sink = new KafkaSink({ producerFactory: broker.factory, spool, health: false, lingerMs: 1, batchMax: 3, retryIntervalMs: 30, log });
    for (let i = 0; i < 5; i++) await sink.write(sampleRecord({ event_id: `e${i}` }));
    await sink.flush();
    expect(spool.records).toBe(5);
    expect(broker.values()).toEqual([]);
    expect(sink.counters().kafkaErrors).toBeGreaterThan(0);
    expect(sink.counters().kafkaConnected).toBe(false);
    expect(lines.some((l) => l.level === 50 && String(l.msg).includes('stay in the on-disk spool'))).toBe(true);

    broker.up = true;
    // written after Kafka is back but before the retry: must still queue behind the spool
    for (let i = 5; i < 8; i++) await sink.write(sampleRecord({ event_id: `e${i}` }));
    await until(() => broker.values().length === 8);
    expect(broker.values()).toEqual(Array.from({ length: 8 }, (_, i) => `e${i}`));
    expect(spool.records).toBe(0);
    expect(sink.counters()).toMatchObject({ produced: 8, kafkaConnected: true });
    // a failed send throws the producer away, so the next one starts a fresh idempotent session
    expect(broker.producersMade).toBeGreaterThan(1);
    await sink.close();
  });

  it('counts records past the spool bound as spool_dropped', async () => {
    const one = 5 + 'web-1'.length + 4 + 8 + (await import('../lib/avro.js')).encodeConnection(sampleRecord()).length;
    const spool = Spool.open({ dir, maxBytes: 3 * one + 8 });
    broker.up = false;
    const sink = new KafkaSink({ producerFactory: broker.factory, spool, health: false, lingerMs: 1, retryIntervalMs: 60_000, log: memLog().log });
    for (let i = 0; i < 7; i++) await sink.write(sampleRecord({ event_id: `e${i}` }));
    await sink.flush();
    expect(sink.transportCounters()).toMatchObject({ spoolRecords: 3, spoolDropped: 4, recordsProduced: 0 });
    await sink.close();
  });

  it('without a spool, flush() rejects and says how many records Kafka did not take', async () => {
    broker.up = false;
    const sink = new KafkaSink({ producerFactory: broker.factory, health: false, lingerMs: 1, log: memLog().log });
    await sink.write(sampleRecord({ event_id: 'x' }));
    await sink.write(sampleRecord({ event_id: 'y' }));
    await expect(sink.flush()).rejects.toThrow(/did not acknowledge 2 record\(s\): .*ECONNREFUSED/);
    expect(sink.counters().failed).toBe(2);
    await sink.close();
  });

  it('leaves spooled records on disk at close and sends them first on the next start', async () => {
    broker.up = false;
    const first = new KafkaSink({ producerFactory: broker.factory, spool: Spool.open({ dir, maxBytes: 1 << 20 }), health: false, lingerMs: 1, log: memLog().log });
    await first.write(sampleRecord({ event_id: 'old1' }));
    await first.write(sampleRecord({ event_id: 'old2' }));
    await first.close();

    broker.up = true;
    const second = new KafkaSink({ producerFactory: broker.factory, spool: Spool.open({ dir, maxBytes: 1 << 20 }), health: false, lingerMs: 1, log: memLog().log });
    await second.write(sampleRecord({ event_id: 'new1' }));
    await second.flush();
    expect(broker.values()).toEqual(['old1', 'old2', 'new1']);
    await second.close();
  });
});

describe('KafkaSink health reports', () => {
  const healthOf = () => broker.records.filter((r) => r.topic === TOPIC_AGENT_HEALTH).map((r) => {
    const m = r.messages[0]!;
    return { key: m.key, rec: healthCodec().decode(m.value as Buffer) as AgentHealth };
  });

  it('sends one AgentHealth record per reportHealth, keyed by host, with the sensor and transport counters', async () => {
    const sink = new KafkaSink({ producerFactory: broker.factory, health: { host: 'web-9', agentVersion: '9.9.9', intervalS: 15 }, lingerMs: 1, log: memLog().log });
    await sink.write(sampleRecord({ event_id: 'a' }));
    await sink.flush();
    await sink.reportHealth({ ringbufDropsPerCpu: [1, 2], recordsTotal: 1, sampledOut: 0, filtered: 4 });
    await sink.flush();
    const sent = healthOf();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.key).toBe('web-9');
    expect(sent[0]!.rec).toMatchObject({ host: 'web-9', agent_version: '9.9.9', interval_s: 15, records_total: 1, records_produced: 1, ringbuf_drops: 3, filtered: 4, kafka_connected: true });
    // nothing changed since: close adds no duplicate report
    await sink.close();
    expect(healthOf()).toHaveLength(1);
  });

  it('reports once more at close when the final flush changed the counters (as agent/run.ts calls it)', async () => {
    const sink = new KafkaSink({ producerFactory: broker.factory, health: { host: 'web-9', agentVersion: '9.9.9' }, lingerMs: 1000, log: memLog().log });
    await sink.write(sampleRecord({ event_id: 'a' }));
    await sink.reportHealth({ ringbufDropsPerCpu: [0], recordsTotal: 1, sampledOut: 0, filtered: 0 });
    await sink.close();
    const sent = healthOf();
    expect(sent.map((h) => h.rec.records_produced)).toEqual([0, 1]);
    expect(new Set(sent.map((h) => h.rec.event_id)).size).toBe(2);
  });
});
