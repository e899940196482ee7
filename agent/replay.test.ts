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
import { runReplay, type OutcomeListener, type ReplaySink } from './replay.js';

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

/** In-memory sink: records what it got, acknowledges on flush. */
class MemorySink implements ReplaySink {
  got: ConnectionRecord[] = [];
  private tags: number[] = [];
  flushed = 0;
  closed = false;
  spooled = 0;
  constructor(private readonly on: OutcomeListener = () => undefined) {}
  async write(r: ConnectionRecord, tag: number): Promise<void> { this.got.push(r); this.tags.push(tag); }
  async flush(): Promise<void> {
    for (const tag of this.tags.splice(0)) this.on({ kind: 'record', tag }, 'sent');
    this.flushed = this.got.length;
  }
  async close(): Promise<void> { this.closed = true; }
}
const memSink = () => { const box: { sink?: MemorySink } = {}; return { box, makeSink: (on: OutcomeListener) => (box.sink = new MemorySink(on)) }; };

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'replay-test-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

describe('runReplay', () => {
  it('sends every document as the record it came from and flushes before resolving', async () => {
    const file = join(dir, 'ok.jsonl');
    const records = [0, 1, 2].map((i) => rec(i));
    writeFileSync(file, `${records.map((r) => JSON.stringify(recordToDoc(r))).join('\n')}\n\n`);
    const { box, makeSink } = memSink();
    const res = await runReplay(file, { makeSink, log: memLog().log });
    expect(res).toEqual({ read: 3, sent: 3, errors: [], deadLettered: [], failed: [], waiting: [] });
    expect(box.sink!.got).toEqual(records);
    expect(box.sink!.flushed).toBe(3);
    expect(box.sink!.closed).toBe(true);
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
    const { box, makeSink } = memSink();
    const res = await runReplay(file, { makeSink, log });
    expect(res.read).toBe(6);
    expect(res.sent).toBe(3);
    expect(box.sink!.got.map((r) => r.event_id)).toEqual(['e0', 'e3', 'e4']);
    expect(res.errors.map((e) => [e.line, e.field])).toEqual([[2, '(json)'], [3, 'host.name'], [5, 'destination.port']]);
    expect(res.errors[1]!.message).toBe('is required');
    const warned = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warned).toContain(`${file}:3: host.name: is required`);
    expect(warned).toContain(`${file}:5: destination.port: must be a number, got "443"`);
  });

  it('names a record the Avro schema refuses (a sink that validates, like KafkaSink)', async () => {
    const file = join(dir, 'port.jsonl');
    writeFileSync(file, `${JSON.stringify(recordToDoc(rec(0)))}\n`);
    const refusing: ReplaySink = {
      write: async () => { throw new Error('record e0 does not match schemas/avro/connection.avsc: labels=1'); },
      flush: async () => undefined,
      close: async () => undefined,
      spooled: 0,
    };
    const res = await runReplay(file, { makeSink: () => refusing, log: memLog().log });
    expect(res.sent).toBe(0);
    expect(res.errors).toEqual([{ line: 1, field: '(record)', message: expect.stringContaining('labels=1') }]);
  });

  it('reports progress on long files', async () => {
    const file = join(dir, 'big.jsonl');
    writeFileSync(file, Array.from({ length: 20_001 }, (_, i) => JSON.stringify(recordToDoc(rec(i)))).join('\n'));
    const seen: number[] = [];
    const res = await runReplay(file, { makeSink: memSink().makeSink, log: memLog().log, onProgress: (n) => seen.push(n) });
    expect(res.sent).toBe(20_001);
    expect(seen).toContain(10_000);
    expect(seen).toContain(20_000);
    expect(seen[seen.length - 1]).toBe(20_001);
  });

  it('fails with the path and what to do when the file cannot be read', async () => {
    await expect(runReplay(join(dir, 'missing.jsonl'), { makeSink: memSink().makeSink, log: memLog().log })).rejects.toThrow(/missing\.jsonl: cannot read \(ENOENT\); check the path given to --replay/);
  });

  it('refuses port 70000, negative byte counts and an end before the start with FILE:LINE and the field', async () => {
    const file = join(dir, 'hostile.jsonl');
    const port = recordToDoc(rec(0)) as unknown as { destination: { port: number } };
    port.destination.port = 70000;
    const neg = recordToDoc(rec(1)) as unknown as { source: { bytes: number } };
    neg.source.bytes = -5;
    const rev = recordToDoc(rec(2, { start_us: 1_763_770_001_000_000, end_us: 1_763_770_000_000_000 }));
    writeFileSync(file, [port, neg, rev, recordToDoc(rec(3))].map((d) => JSON.stringify(d)).join('\n'));
    const res = await runReplay(file, { makeSink: memSink().makeSink, log: memLog().log });
    expect(res.sent).toBe(1);
    expect(res.errors.map((e) => [e.line, e.field])).toEqual([[1, 'destination.port'], [2, 'source.bytes'], [3, 'event.end']]);
  });

  it('lists the lines that were dead-lettered, failed or are still waiting in the spool', async () => {
    const file = join(dir, 'fates.jsonl');
    writeFileSync(file, [0, 1, 2, 3].map((i) => JSON.stringify(recordToDoc(rec(i)))).join('\n'));
    let on: OutcomeListener = () => undefined;
    const sink: ReplaySink = {
      write: async (_r, tag) => {
        if (tag === 2) on({ kind: 'dlq', tag }, 'sent');
        else if (tag === 3) on({ kind: 'record', tag }, 'spool_dropped');
        else if (tag === 1) on({ kind: 'record', tag }, 'sent');
      },
      flush: async () => undefined,
      close: async () => undefined,
      spooled: 1,
    };
    const res = await runReplay(file, { makeSink: (l) => { on = l; return sink; }, waitMs: 300, log: memLog().log });
    expect(res).toMatchObject({ read: 4, sent: 1, deadLettered: [2], failed: [3], waiting: [4] });
  });
});
