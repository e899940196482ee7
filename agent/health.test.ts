import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fingerprintOf } from '../lib/avro.js';
import { loadSchema } from '../lib/record.js';
import { agentHealthCodec as healthCodec } from '../lib/agent-health.js';
import { HEALTH_CONTENT_TYPE, HealthReporter, agentVersion, buildHealth, type HealthMessage, type TransportCounters } from './health.js';
import type { HealthCounters } from './sink.js';

function memLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const sensor = (over: Partial<HealthCounters> = {}): HealthCounters => ({ ringbufDropsPerCpu: [0, 0], recordsTotal: 10, sampledOut: 1, filtered: 2, ...over });
const transport = (over: Partial<TransportCounters> = {}): TransportCounters => ({
  recordsProduced: 9, spoolRecords: 0, spoolBytes: 0, spoolDropped: 0, kafkaErrors: 0, kafkaConnected: true, deadLettered: 0, wireBytes: 558, ...over,
});
const base = { host: 'web-1', agentVersion: '0.1.0', startedUs: 1_700_000_000_000_000, intervalS: 30, tsUs: 1_700_000_030_000_000 };

afterEach(() => { vi.useRealTimers(); });

describe('AgentHealth record', () => {
  it('has exactly the fields of schemas/avro/agent-health.avsc', () => {
    const fields = (loadSchema('agent-health.avsc') as { fields: Array<{ name: string }> }).fields.map((f) => f.name).sort();
    const rec = buildHealth({ ...base, seq: 0, sensor: sensor(), transport: transport() });
    expect(Object.keys(rec).sort()).toEqual(fields);
  });

  it('sums per-CPU drops and round-trips through the single-object codec', () => {
    const rec = buildHealth({ ...base, seq: 3, sensor: sensor({ ringbufDropsPerCpu: [4, 0, 7] }), transport: transport({ spoolDropped: 5, kafkaConnected: false }) });
    expect(rec.ringbuf_drops).toBe(11);
    expect(rec.ring_unread_at_stop).toBe(0);
    // The stop's count of records left in the kernel ring reaches the report as a loss counter.
    expect(buildHealth({ ...base, seq: 4, sensor: sensor({ ringUnreadAtStop: 14_794 }), transport: transport() }).ring_unread_at_stop).toBe(14_794);
    const buf = healthCodec().encode(rec);
    expect(buf.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]));
    expect(buf.subarray(2, 10)).toEqual(fingerprintOf(healthCodec().type));
    expect(healthCodec().decode(buf)).toEqual(rec);
  });

  it('has a deterministic event_id from host, agent start and sequence', () => {
    const a = buildHealth({ ...base, seq: 1, sensor: sensor(), transport: transport() });
    const again = buildHealth({ ...base, seq: 1, tsUs: base.tsUs + 5, sensor: sensor({ recordsTotal: 99 }), transport: transport() });
    expect(again.event_id).toBe(a.event_id);
    const ids = new Set([
      a.event_id,
      buildHealth({ ...base, seq: 2, sensor: sensor(), transport: transport() }).event_id,
      buildHealth({ ...base, seq: 1, host: 'web-2', sensor: sensor(), transport: transport() }).event_id,
      buildHealth({ ...base, seq: 1, startedUs: base.startedUs + 1, sensor: sensor(), transport: transport() }).event_id,
    ]);
    expect(ids.size).toBe(4);
  });

  it('reads the agent version from package.json', () => {
    expect(agentVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('HealthReporter', () => {
  it('publishes keyed by host with content-type and fingerprint headers, and logs the same counters', async () => {
    const { log, lines } = memLog();
    const sent: HealthMessage[] = [];
    const r = new HealthReporter({ host: 'web-1', agentVersion: '0.1.0', sensor: () => sensor(), transport: () => transport(), publish: async (m) => { sent.push(m); }, log });
    const rec = await r.report();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.key).toBe('web-1');
    expect(sent[0]!.headers).toEqual({ 'content-type': HEALTH_CONTENT_TYPE, 'schema-fingerprint': healthCodec().fingerprintHex });
    expect(healthCodec().decode(sent[0]!.value)).toEqual(rec);
    const line = lines.find((l) => l.msg === 'agent health');
    expect(line?.level).toBe(30);
    expect(line?.health).toMatchObject({ records_total: 10, records_produced: 9, event_id: rec.event_id });
  });

  it('logs at warn when ring-buffer or spool drops grew since the last report, info when not', async () => {
    const { log, lines } = memLog();
    let s = sensor();
    let t = transport();
    const r = new HealthReporter({ host: 'h', agentVersion: '0', sensor: () => s, transport: () => t, log });
    await r.report();
    s = sensor({ ringbufDropsPerCpu: [0, 3] });
    await r.report();
    await r.report(); // unchanged drops: back to info
    t = transport({ spoolDropped: 1 });
    await r.report();
    const levels = lines.map((l) => [l.level, String(l.msg)]);
    expect(levels[0]![0]).toBe(30);
    expect(levels[1]![0]).toBe(40);
    expect(levels[1]![1]).toMatch(/ring-buffer drops grew/);
    expect(levels[2]![0]).toBe(30);
    expect(levels[3]![0]).toBe(40);
    expect(levels[3]![1]).toMatch(/spool drops grew/);
  });

  it('counts a failed publish instead of throwing, and increments the sequence', async () => {
    const { log, lines } = memLog();
    const r = new HealthReporter({ host: 'h', agentVersion: '0', sensor: () => sensor(), transport: () => transport(), publish: async () => { throw new Error('broker down'); }, log });
    const a = await r.report();
    const b = await r.report();
    expect(r.publishErrors).toBe(2);
    expect(a.event_id).not.toBe(b.event_id);
    expect(lines.some((l) => l.level === 40 && String(l.err).includes('broker down'))).toBe(true);
  });

  it('reports every interval once started, and not after stop()', async () => {
    vi.useFakeTimers();
    const { log } = memLog();
    const sent: HealthMessage[] = [];
    const r = new HealthReporter({ host: 'h', agentVersion: '0', intervalS: 5, sensor: () => sensor(), transport: () => transport(), publish: async (m) => { sent.push(m); }, log });
    r.start();
    await vi.advanceTimersByTimeAsync(15_000);
    expect(sent).toHaveLength(3);
    r.stop();
    await vi.advanceTimersByTimeAsync(15_000);
    expect(sent).toHaveLength(3);
    const decoded = sent.map((m) => healthCodec().decode(m.value) as { interval_s: number });
    expect(decoded.every((d) => d.interval_s === 5)).toBe(true);
  });

  it('rejects a non-positive interval', () => {
    const { log } = memLog();
    expect(() => new HealthReporter({ host: 'h', agentVersion: '0', intervalS: 0, sensor: () => sensor(), transport: () => transport(), log })).toThrow(/positive/);
  });
});
