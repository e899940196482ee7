import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { docToRecord, recordToDoc } from '../../lib/ecs.js';
import { fromRoot } from '../../lib/paths.js';
import { importedConnUid } from './conn.js';
import { runImport, type ImportFormat } from './run.js';

// The importers against the sample files in test/fixtures/import (written by
// tools/gen/import-samples.ts): counts in = counts out, what Zeek measured is
// kept, ids are deterministic, and every document survives the replay decode
// path (docToRecord -> Avro record -> recordToDoc) with its meaning intact.

const F = (f: string) => fromRoot('test', 'fixtures', 'import', f);

async function load(format: ImportFormat, file: string, host?: string) {
  const docs: ConnectionDoc[] = [];
  const stats = await runImport(format, F(file), (d) => { docs.push(d); }, { host });
  return { docs, stats };
}

const zeekRows = (): Array<Record<string, unknown>> => readFileSync(F('zeek-conn.json'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('import zeek', () => {
  it('accounts for every record: written + skipped + rejected = read, rejects named with their line', async () => {
    const { docs, stats } = await load('zeek', 'zeek-conn.tsv');
    const skipped = [...stats.skipped.values()].reduce((a, b) => a + b, 0);
    expect(stats.records).toBe(10);
    expect(stats.written + skipped + stats.rejected.length).toBe(stats.records);
    expect(docs).toHaveLength(stats.written);
    expect(stats.written).toBe(6);
    expect([...stats.skipped]).toEqual([['not TCP (udp)', 1]]);
    expect(stats.rejected.map((r) => [r.line, r.field])).toEqual([[15, 'conn_state'], [16, '(columns)'], [17, 'id.orig_h']]);
  });

  it('TSV and JSON writers give the same documents', async () => {
    const tsv = await load('zeek', 'zeek-conn.tsv');
    const json = await load('zeek', 'zeek-conn.json');
    expect(json.docs).toEqual(tsv.docs);
  });

  it('keeps conn_state, duration, bytes and community_id, and derives a deterministic conn_uid and a final record_kind', async () => {
    const { docs } = await load('zeek', 'zeek-conn.json');
    const byUid = new Map(zeekRows().map((r) => [r.uid, r]));
    for (const d of docs) {
      const z = byUid.get(d.labels!.zeek_uid)!;
      expect(d.connaudit.conn_state).toBe(z.conn_state);
      expect(d.network.community_id).toBe(z.community_id);
      expect(d.source.bytes).toBe(z.orig_bytes);
      expect(d.destination.bytes).toBe(z.resp_bytes);
      expect(d.event.duration).toBe(z.duration === undefined ? 0 : Math.round((z.duration as number) * 1e6) * 1000);
      expect(d.connaudit.record_kind).toBe('final');
      expect(d.connaudit.conn_uid).toBe(importedConnUid(d.network.community_id, Math.round((z.ts as number) * 1e6)));
      expect(d.event.start).toBe(new Date((z.ts as number) * 1000).toISOString().replace('Z', '000Z'));
    }
    const again = await load('zeek', 'zeek-conn.json');
    expect(again.docs.map((d) => d.event.id)).toEqual(docs.map((d) => d.event.id));
  });

  it('writes each connection for the host that opened it, or for the accepting host when it came from outside', async () => {
    const { docs } = await load('zeek', 'zeek-conn.tsv');
    const inbound = docs.find((d) => d.source.ip === '198.51.100.23')!;
    expect([inbound.host.name, inbound.network.direction]).toEqual(['10.1.0.10', 'ingress']);
    const out = docs.find((d) => d.labels!.zeek_uid === 'CzA6')!;
    expect([out.host.name, out.network.direction, out.connaudit.rst_sent, out.connaudit.close_reason]).toEqual(['10.2.0.8', 'egress', 1, 'rst_sent']);
    expect((await load('zeek', 'zeek-conn.tsv', 'sensor-1')).docs.every((d) => d.host.name === 'sensor-1')).toBe(true);
  });
});

describe('import ecs', () => {
  it('Packetbeat flows: final and interim records, states inferred from packet counts and labelled, export lines unwrapped', async () => {
    const { docs, stats } = await load('ecs', 'packetbeat-flows.jsonl');
    expect(stats.records).toBe(6);
    expect([stats.written, [...stats.skipped], stats.rejected.map((r) => [r.line, r.reason])]).toEqual([4, [['not TCP (udp)', 1]], [[6, 'not JSON']]]);
    expect(docs.map((d) => [d.source.port, d.connaudit.record_kind, d.connaudit.conn_state])).toEqual([
      [51001, 'final', 'SF'], [51002, 'final', 'S0'], [51003, 'interim', 'S1'], [51004, 'final', 'SF'],
    ]);
    expect(stats.inferred).toBe(4);
    for (const d of docs) expect(d.labels!.conn_state_inferred).toBe('packet-counts');
  });

  it('Elastic Defend: the end event becomes the connection (start time from its start event), start events are skipped, a document without an address is rejected', async () => {
    const { docs, stats } = await load('ecs', 'defend-network.jsonl');
    expect([stats.records, stats.written, [...stats.skipped.values()][0], stats.rejected.map((r) => [r.line, r.field])]).toEqual([4, 2, 1, [[4, 'destination.ip']]]);
    const [d] = docs;
    expect(d!.event.duration).toBe(2e9);
    expect([d!.process!.name, d!.process!.parent!.name, d!.user!.id, d!.connaudit.conn_state]).toEqual(['curl', 'bash', '1000', 'SF']);
    expect(docs[1]!.user).toBeUndefined(); // a Windows SID is not a uid
  });
});

describe('replay decode path', () => {
  it('every imported document becomes a wire record and back without losing what was imported', async () => {
    const all = [...(await load('zeek', 'zeek-conn.tsv')).docs, ...(await load('ecs', 'packetbeat-flows.jsonl')).docs, ...(await load('ecs', 'defend-network.jsonl')).docs];
    expect(all.length).toBe(12);
    for (const d of all) {
      const back = recordToDoc(docToRecord(structuredClone(d)));
      expect(back.connaudit.conn_uid).toBe(d.connaudit.conn_uid);
      expect(back.event.id).toBe(d.event.id);
      expect(back.connaudit.conn_state).toBe(d.connaudit.conn_state);
      expect(back.connaudit.record_kind).toBe(d.connaudit.record_kind);
      expect(back.network.community_id).toBe(d.network.community_id);
      expect([back.source.bytes, back.destination.bytes]).toEqual([d.source.bytes, d.destination.bytes]);
      expect(back.labels).toEqual(d.labels);
      expect(back.event.start).toBe(d.event.start);
      expect(back.event.end).toBe(d.event.end);
    }
  });
});
