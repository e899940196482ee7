import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { record } from '../test/helpers/records.js';
import { DecodeError, SingleObjectCodec, connectionCodec, encodeConnection, decodeConnection } from './avro.js';
import { recordToDoc } from './ecs.js';
import { ipToBytes } from './ip.js';
import { loadSchema, type ConnectionRecord } from './record.js';
import { RecordCheckError } from './record-check.js';
import { decodeConnectionDoc } from './record-decode.js';

// The pipeline's straight decode must give exactly the document that avsc's
// decode + recordToDoc gives, for every kind of record, and refuse what
// either the Avro encoding or the edge checks refuse.

const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
const viaAvsc = (buf: Buffer) => plain(recordToDoc(decodeConnection(buf)));

describe('decodeConnectionDoc', () => {
  it.each<[string, Partial<ConnectionRecord>]>([
    ['a complete record', {}],
    ['every optional field null', { connect_latency_us: null, srtt_us: null, src_bytes: null, dst_bytes: null, pid: null, tid: null, ppid: null, uid: null, comm: null, executable: null, parent_name: null, cgroup_id: null, container_id: null, environment: null, node_group: null, agent_version: '' }],
    ['ipv6', { family: 'ipv6', src_ip: ipToBytes('2001:db8::1'), dst_ip: ipToBytes('fd00::2') }],
    ['an interim record', { kind: 'interim', conn_state: 'S1', close_reason: 'open' }],
    ['many labels and non-ASCII text', { labels: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, `välue-${i}-日本`])), comm: 'wörker' }],
    ['hostile display values', { comm: 'gnp\u202eexe.png', executable: '/x/\u001b[2J', parent_name: 'a\u0000b', host: 'h\u200b' }],
    ['large numbers', { netns: 4026531840, cgroup_id: 2 ** 52 + 7, src_bytes: 2 ** 50, connect_latency_us: 123_456_789, start_us: 4_102_444_799_000_000, end_us: 4_102_444_799_999_999 }],
    ['the largest long avsc writes (2^52)', { cgroup_id: 2 ** 52, src_bytes: 2 ** 52 - 1 }],
    ['the new fields set', { sampled: true, started_before_agent: true, process_unknown_reason: 'exited' }],
    ['ports at the limits', { src_port: 0, dst_port: 65535 }],
  ])('gives the same document as avsc + recordToDoc for %s', (_n, over) => {
    const buf = encodeConnection(record(7, over));
    expect(plain(decodeConnectionDoc(buf))).toEqual(viaAvsc(buf));
  });

  it('decodes records of older writer schemas through avsc resolution', () => {
    for (const v of ['v0', 'v1']) {
      const old = avro.Type.forSchema(loadSchema(`history/connection.${v}.avsc`) as avro.Schema);
      const buf = new SingleObjectCodec(old).encode(old.clone(record(3), { fieldHook: undefined }));
      const doc = decodeConnectionDoc(buf);
      expect(plain(doc)).toEqual(viaAvsc(buf));
      expect(doc.connaudit.sampled).toBe(false);
    }
  });

  const body = (buf: Buffer) => buf.subarray(10);
  const withBody = (buf: Buffer, b: Buffer) => Buffer.concat([buf.subarray(0, 10), b]);

  it('names the reason for broken bodies (dead-lettered as bad_body)', () => {
    const good = encodeConnection(record(1));
    const cases: Array<[Buffer, RegExp]> = [
      [good.subarray(0, 40), /ends early/],
      [withBody(good, Buffer.concat([body(good), Buffer.from([0])])), /1 bytes after the last field/],
    ];
    for (const [buf, msg] of cases) {
      let err: unknown;
      try { decodeConnectionDoc(buf); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(DecodeError);
      expect((err as DecodeError).reason).toBe('bad_body');
      expect((err as Error).message).toMatch(msg);
    }
  });

  it('refuses an enum index past the symbols and a bad union branch, naming the field', () => {
    // event_id "e", conn_uid "c", then the kind enum with index 5 (zig-zag 10).
    const raw = Buffer.from([2, 0x65, 2, 0x63, 10]);
    const buf = withBody(encodeConnection(record(1)), raw);
    expect(() => decodeConnectionDoc(buf)).toThrow(/at field kind: enum index 5/);
  });

  it('refuses a 64-bit value that a double cannot hold', () => {
    const t = connectionCodec().type;
    const rec = record(1);
    const buf = encodeConnection(rec);
    // Re-encode netns as the zig-zag varint of 2^60 by hand: find it after host.
    const enc = t.toBuffer(rec);
    const prefixLen = enc.length - t.toBuffer({ ...rec, netns: 0 }).length + 1;
    expect(prefixLen).toBeGreaterThan(1);
    const big = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]); // 2^63 zig-zag
    const at = enc.indexOf(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x1e])); // 4026531840 zig-zag starts 80 80 80 80 1e
    expect(at).toBeGreaterThan(0);
    const hacked = Buffer.concat([enc.subarray(0, at), big, enc.subarray(at + 5)]);
    expect(() => decodeConnectionDoc(withBody(buf, hacked))).toThrow(/beyond 2\^53/);
  });

  it.each<[string, Partial<ConnectionRecord>, RegExp]>([
    ['port 70000', { dst_port: 70000 }, /destination.port \(dst_port\) must be at most 65535, got 70000/],
    ['negative bytes', { src_bytes: -1 }, /source.bytes \(src_bytes\) must be at least 0/],
    ['a negative latency', { connect_latency_us: -5 }, /connaudit.connect_latency_ms \(connect_latency_us\) must be at least 0/],
    ['an end before the start', { end_us: 1_000, start_us: 2_000 }, /event.end \(end_us\) is before the start/],
    ['an event id over 512 bytes', { event_id: 'é'.repeat(300) }, /event.id \(event_id\) must be at most 512 bytes long, got 600/],
  ])('refuses a record with %s, naming the field (dead-lettered as bad_record)', (_n, over, msg) => {
    const buf = encodeConnection(record(1, over));
    expect(() => decodeConnectionDoc(buf)).toThrow(RecordCheckError);
    expect(() => decodeConnectionDoc(buf)).toThrow(msg);
  });

  it('refuses the same out-of-range values from older writers', () => {
    const v1 = avro.Type.forSchema(loadSchema('history/connection.v1.avsc') as avro.Schema);
    const buf = new SingleObjectCodec(v1).encode(v1.clone(record(1, { dst_port: 70000 })));
    expect(() => decodeConnectionDoc(buf)).toThrow(/destination.port \(dst_port\) must be at most 65535/);
  });
});
