import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordToDoc } from '../lib/ecs.js';
import { ipToBytes } from '../lib/ip.js';
import type { ConnectionRecord } from '../lib/record.js';
import { recordDefaults } from '../lib/record-fields.js';
import { runReplay } from './replay.js';
import type { HealthCounters, RecordSink } from './sink.js';

function memLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

function rec(i: number, over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    ...recordDefaults(),
    event_id: `e${i}`, conn_uid: `C${i}`, kind: 'final', start_us: 1_763_770_000_000_123 + i, end_us: 1_763_770_001_500_456 + i,
    host: `host-${i % 2}`, netns: 4026531840, direction: 'egress', family: 'ipv4',
    src_ip: ipToBytes('10.0.0.1'), src_port: 40000 + i, dst_ip: ipToBytes('10.0.0.2'), dst_port: 443,
    conn_state: 'SF', close_reason: 'fin', connect_latency_us: 1234, srtt_us: 800,
    retransmits: 0, syn_retransmits: 0, rst_sent: 0, rst_received: 0, src_bytes: 100, dst_bytes: 2000,
    pid: 4242, tid: 4242, ppid: 1, uid: 0, comm: 'curl', executable: '/usr/bin/curl', parent_name: 'bash',
    cgroup_id: null, container_id: null, environment: 'test', node_group: null, labels: {}, agent_version: '0.1.0', sampled: false, started_before_agent: false, process_unknown_reason: null,
    ...over,
  };
}

/** In-memory sink: records what it got and whether replay waited for the acknowledgement. */
class MemorySink implements RecordSink {
  got: ConnectionRecord[] = [];
  flushed = 0;
  closed = false;
  async write(r: ConnectionRecord): Promise<void> { this.got.push(r); }
  async reportHealth(_h: HealthCounters): Promise<void> { /* replay sends no health */ }
  async flush(): Promise<void> { this.flushed = this.got.length; }
  async close(): Promise<void> { this.closed = true; }
}

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'replay-test-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

describe('runReplay', () => {
  it('sends every document as the record it came from and flushes before resolving', async () => {
    const file = join(dir, 'ok.jsonl');
    const records = [0, 1, 2].map((i) => rec(i));
    writeFileSync(file, `${records.map((r) => JSON.stringify(recordToDoc(r))).join('\n')}\n\n`);
    const sink = new MemorySink();
    const res = await runReplay(file, { sink, log: memLog().log });
    expect(res).toEqual({ read: 3, sent: 3, errors: [] });
    expect(sink.got).toEqual(records);
    expect(sink.flushed).toBe(3);
    expect(sink.closed).toBe(false); // a sink handed in belongs to the caller
  });

  it('reports each bad line as FILE:LINE: field: message and goes on', async () => {
    const file = join(dir, 'mixed.jsonl');
    const good = JSON.stringify(recordToDoc(rec(0)));
    const noHost = recordToDoc(rec(1)) as unknown as { host?: unknown };
    delete noHost.host;
    const badPort = recordToDoc(rec(2)) as unknown as { destination: { port: unknown } };
    badPort.destination.port = '443';
    const ipv6 = recordToDoc(rec(3, { family: 'ipv6', src_ip: ipToBytes('fd00::1'), dst_ip: ipToBytes('fd00::2') }));
    writeFileSync(file, [good, '{not json', JSON.stringify(noHost), '', JSON.stringify(badPort), JSON.stringify(ipv6), JSON.stringify(recordToDoc(rec(4)))].join('\n'));
    const { log, lines } = memLog();
    const sink = new MemorySink();
    const res = await runReplay(file, { sink, log });
    expect(res.read).toBe(6);
    expect(res.sent).toBe(3);
    expect(sink.got.map((r) => r.event_id)).toEqual(['e0', 'e3', 'e4']);
    expect(res.errors.map((e) => [e.line, e.field])).toEqual([[2, '(json)'], [3, 'host.name'], [5, 'destination.port']]);
    expect(res.errors[1]!.message).toBe('is required');
    const warned = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warned).toContain(`${file}:3: host.name: is required`);
    expect(warned).toContain(`${file}:5: destination.port: must be a number, got "443"`);
  });

  it('names a record the Avro schema refuses (a sink that validates, like KafkaSink)', async () => {
    const file = join(dir, 'port.jsonl');
    writeFileSync(file, `${JSON.stringify(recordToDoc(rec(0)))}\n`);
    const refusing: RecordSink = {
      write: async () => { throw new Error('record e0 does not match schemas/avro/connection.avsc: src_port=70000'); },
      reportHealth: async () => undefined,
      close: async () => undefined,
    };
    const res = await runReplay(file, { sink: refusing, log: memLog().log });
    expect(res.sent).toBe(0);
    expect(res.errors).toEqual([{ line: 1, field: '(record)', message: expect.stringContaining('src_port=70000') }]);
  });

  it('reports progress on long files', async () => {
    const file = join(dir, 'big.jsonl');
    writeFileSync(file, Array.from({ length: 20_001 }, (_, i) => JSON.stringify(recordToDoc(rec(i)))).join('\n'));
    const seen: number[] = [];
    const res = await runReplay(file, { sink: new MemorySink(), log: memLog().log, onProgress: (n) => seen.push(n) });
    expect(res.sent).toBe(20_001);
    expect(seen).toContain(10_000);
    expect(seen).toContain(20_000);
    expect(seen[seen.length - 1]).toBe(20_001);
  });

  it('fails with the path and what to do when the file cannot be read', async () => {
    await expect(runReplay(join(dir, 'missing.jsonl'), { sink: new MemorySink(), log: memLog().log })).rejects.toThrow(/missing\.jsonl: cannot read \(ENOENT\); check the path given to --replay/);
  });
});
