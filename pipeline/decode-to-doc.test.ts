import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { encodeConnection } from '../lib/avro.js';
import type { ConnectionDoc } from '../lib/ecs.js';
import { INDEX_CONNECTIONS, TOPIC_CONNECTIONS, TOPIC_DLQ } from '../lib/names.js';
import type { ConnectionRecord } from '../lib/record.js';
import { record } from '../test/helpers/records.js';
import { decodeToDoc, handleConnectionBatch } from './batch.js';
import type { RawBulk } from './bulk.js';
import { createEnricher } from './enrich/enrich.js';
import type { InMessage, OutMessage } from './messages.js';
import { primaryStages } from './stage-set.js';

// Hostile values reaching the pipeline from a producer that skipped the
// agent's checks: each one is either indexed (escaped and flagged) or
// dead-lettered with the field named. Counted in and out: none is lost.

const msg = (value: Buffer, offset: number): InMessage => ({ topic: TOPIC_CONNECTIONS, partition: 0, offset: String(offset), key: null, value });

describe('decodeToDoc', () => {
  it.each<[string, Partial<ConnectionRecord>, RegExp]>([
    ['port 70000', { dst_port: 70000 }, /destination\.port \(dst_port\) must be at most 65535, got 70000/],
    ['negative bytes', { dst_bytes: -100 }, /destination\.bytes \(dst_bytes\) must be at least 0/],
    ['negative latency', { connect_latency_us: -1 }, /connect_latency_us/],
    ['an end before the start', { start_us: 1_763_770_001_000_000, end_us: 1_763_770_000_000_000 }, /event\.end \(end_us\) is before the start/],
  ])('dead-letters a record with %s as bad_record, naming the field', (_n, over, error) => {
    const r = record(1, over);
    const out = decodeToDoc(msg(encodeConnection(r), 7));
    expect(out).toMatchObject({ reason: 'bad_record' });
    expect((out as { error: string }).error).toMatch(error);
    expect((out as { error: string }).error).toContain(`record ${r.event_id}`);
  });

  it('indexes hostile names escaped, flagged and with the original kept', () => {
    const doc = decodeToDoc(msg(encodeConnection(record(1, { comm: 'gnp\u202eexe.png' })), 1)) as ConnectionDoc;
    expect(doc.process?.name).toBe('gnp\\u202eexe.png');
    expect(doc.connaudit.sanitized).toBe(true);
    expect(doc.connaudit.raw).toEqual({ process: { name: 'gnp\u202eexe.png' } });
  });
});

describe('a batch mixing good, hostile and refused records', () => {
  it('indexes or dead-letters every message: in = indexed + dead-lettered', async () => {
    const recs: ConnectionRecord[] = [];
    for (let i = 0; i < 60; i++) {
      const k = i % 6;
      recs.push(record(i, k === 1 ? { src_port: 70000 } : k === 2 ? { src_bytes: -1 } : k === 3 ? { comm: `evil\u0000${i}` } : k === 4 ? { end_us: 1 } : {}));
    }
    const indexed = new Map<string, object>();
    const bulk: RawBulk = async (ops) => ops.map((o) => (indexed.set(`${o.index}/${o.id}`, o.doc), { status: 201 }));
    const dlq: OutMessage[] = [];
    const producer = { async send(topic: string, m: OutMessage[]) { if (topic === TOPIC_DLQ) dlq.push(...m); } };
    const stats = await handleConnectionBatch(recs.map((r, i) => msg(encodeConnection(r), i)), {
      bulk, producer, log: pino({ level: 'silent' }), enrich: createEnricher({}), stages: primaryStages([]),
    });
    expect(stats.messages).toBe(60);
    expect(indexed.size).toBe(30);
    expect(dlq).toHaveLength(30);
    expect(indexed.size + dlq.length).toBe(recs.length);
    expect(dlq.every((m) => m.headers['dlq-reason'] === 'bad_record')).toBe(true);
    const sanitized = [...indexed.values()].filter((d) => (d as ConnectionDoc).connaudit.sanitized);
    expect(sanitized).toHaveLength(10);
    expect([...indexed.keys()].every((k) => k.startsWith(`${INDEX_CONNECTIONS}/`))).toBe(true);
  });
});
