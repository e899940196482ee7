import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { dnsRecord, record, udpFlow } from '../test/helpers/records.js';
import { SingleObjectCodec, connectionCodec, decodeConnection, encodeConnection, fingerprintOf } from './avro.js';
import { communityId } from './community-id.js';
import { docToRecord, recordToDoc } from './ecs.js';
import { ipToBytes } from './ip.js';
import { fromRoot } from './paths.js';
import { connectionType, loadSchema, type ConnectionRecord } from './record.js';
import { RecordCheckError, checkRecord } from './record-check.js';
import { decodeConnectionDoc } from './record-decode.js';

// Schema 3 (the "v2 record" of the UDP/DNS work): UDP flows and DNS
// transactions in the one connection record, and records from TCP-only agents
// still decoding to the same documents as before.

const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
const viaAvsc = (buf: Buffer): unknown => plain(recordToDoc(decodeConnection(buf)));

describe('records written by TCP-only agents (history/connection.v2.avsc)', () => {
  // Bytes encoded by the agent code of the previous schema before it changed,
  // kept as they were written: not re-encoded from today's code.
  const lines = readFileSync(fromRoot('test/fixtures/avro/connection.v2.hex'), 'utf8').trim().split('\n');
  const v2 = avro.Type.forSchema(loadSchema('history/connection.v2.avsc') as avro.Schema);

  it('carry the fingerprint of the v2 schema, which the codec knows', () => {
    expect(lines).toHaveLength(3);
    for (const hex of lines) expect(hex.slice(4, 20)).toBe(fingerprintOf(v2).toString('hex'));
    expect(fingerprintOf(v2)).not.toEqual(fingerprintOf(connectionType));
  });

  it('decode with the new fields at their defaults: tcp, no packets, no names, no DNS', () => {
    const recs = lines.map((hex) => decodeConnection(Buffer.from(hex, 'hex')));
    expect(recs.map((r) => r.event_id)).toEqual(['fixture-1', 'fixture-2', 'fixture-3']);
    for (const r of recs) {
      expect(r).toMatchObject({ transport: 'tcp', src_packets: null, dst_packets: null, dst_domain: null, dst_registered_domain: null, dns_id: null, dns_qname: null, dns_rcode: null, dns_resolved_ips: [], dns_answers: [] });
    }
    expect(recs[1]).toMatchObject({ kind: 'interim', conn_state: 'S1', close_reason: 'open' });
    expect(recs[2]).toMatchObject({ family: 'ipv6', sampled: true, process_unknown_reason: 'exited' });
  });

  it('become the same TCP documents through the pipeline decoder', () => {
    for (const hex of lines) {
      const buf = Buffer.from(hex, 'hex');
      const doc = decodeConnectionDoc(buf);
      expect(plain(doc)).toEqual(viaAvsc(buf));
      expect(doc.network).toMatchObject({ transport: 'tcp', iana_number: '6' });
      expect(doc.dns).toBeUndefined();
      expect(doc.network.protocol).toBeUndefined();
      expect(doc.destination.domain).toBeUndefined();
      expect(doc.event.type[0]).toBe('connection');
    }
  });

  it('a TCP record written today gives the same document as the same record from a v2 agent', () => {
    const rec = record(5);
    const old = new SingleObjectCodec(v2).encode(v2.clone(rec, { wrapUnions: false }));
    expect(plain(decodeConnectionDoc(old))).toEqual(plain(decodeConnectionDoc(encodeConnection(rec))));
  });
});

describe('UDP flow records', () => {
  it('map to network.transport udp, IANA 17, packets and the resolved name', () => {
    const doc = recordToDoc(udpFlow(1));
    expect(doc.network).toMatchObject({ transport: 'udp', iana_number: '17' });
    expect(doc.source).toMatchObject({ bytes: 48, packets: 1 });
    expect(doc.destination).toMatchObject({ port: 123, bytes: 48, packets: 1, domain: 'time.example.org', registered_domain: 'example.org' });
    expect(doc.connaudit.close_reason).toBe('idle');
    expect(doc.event).toMatchObject({ type: ['connection', 'end'], action: 'connection-closed', outcome: 'success' });
    expect(doc.connaudit.connect_latency_ms).toBeUndefined();
  });

  it('hash community_id with protocol 17 (not the TCP id of the same tuple)', () => {
    const doc = recordToDoc(udpFlow(1));
    const tuple = { saddr: doc.source.ip, daddr: doc.destination.ip, sport: doc.source.port, dport: doc.destination.port };
    expect(doc.network.community_id).toBe(communityId({ proto: 17, ...tuple }));
    expect(doc.network.community_id).not.toBe(communityId({ proto: 6, ...tuple }));
  });

  it('a flow the peer never answered (S0) has outcome unknown, not failure', () => {
    const doc = recordToDoc(udpFlow(2, { conn_state: 'S0', dst_bytes: 0, dst_packets: 0, close_reason: 'released' }));
    expect(doc.event.outcome).toBe('unknown');
    expect(recordToDoc(record(2, { conn_state: 'S0', close_reason: 'syn_timeout' })).event.outcome).toBe('failure');
  });

  it('interim UDP records are connection info events', () => {
    expect(recordToDoc(udpFlow(3, { kind: 'interim', close_reason: 'open' })).event).toMatchObject({ type: ['connection', 'info'], action: 'connection-interim' });
  });
});

describe('DNS records', () => {
  it('map to network.protocol dns, event.type protocol and the ECS dns.* fields', () => {
    const doc = recordToDoc(dnsRecord(1));
    expect(doc.network).toMatchObject({ transport: 'udp', iana_number: '17', protocol: 'dns' });
    expect(doc.event).toMatchObject({ type: ['protocol'], action: 'dns-query', outcome: 'success', category: ['network'] });
    expect(doc.dns).toEqual({
      id: '4661',
      question: { name: 'api.example.com', type: 'A', registered_domain: 'example.com' },
      response_code: 'NOERROR',
      resolved_ip: ['93.184.216.34', '93.184.216.35'],
      answers: [
        { name: 'api.example.com', type: 'CNAME', ttl: 300, data: 'edge.example.com' },
        { name: 'edge.example.com', type: 'A', ttl: 60, data: '93.184.216.34' },
        { name: 'edge.example.com', type: 'A', ttl: 60, data: '93.184.216.35' },
      ],
    });
    expect(doc.process?.name).toBe('curl');
    expect(doc.connaudit.record_kind).toBe('dns');
  });

  it.each<[string, Partial<ConnectionRecord>]>([
    ['NXDOMAIN', { dns_rcode: 'NXDOMAIN', dns_resolved_ips: [], dns_answers: [] }],
    ['SERVFAIL', { dns_rcode: 'SERVFAIL', dns_resolved_ips: [], dns_answers: [] }],
    ['no answer (timeout)', { dns_rcode: null, conn_state: 'S0', close_reason: 'timeout', dst_bytes: 0, dst_packets: 0, dns_resolved_ips: [], dns_answers: [] }],
  ])('a query answered %s is a failure and writes no empty arrays', (_n, over) => {
    const doc = recordToDoc(dnsRecord(2, over));
    expect(doc.event.outcome).toBe('failure');
    expect(doc.dns?.resolved_ip).toBeUndefined();
    expect(doc.dns?.answers).toBeUndefined();
    expect(doc.dns?.response_code).toBe(over.dns_rcode ?? undefined);
  });

  it('escapes hostile names from the wire and keeps the originals under connaudit.raw', () => {
    const rec = dnsRecord(3, {
      dns_qname: 'a\u202egnp.example.com',
      dns_answers: [{ name: 'a\u202egnp.example.com', type: 'CNAME', ttl: 5, data: 'x\u001b[2J.example.com' }, { name: 'x.example.com', type: 'A', ttl: 5, data: '93.184.216.34' }],
    });
    const doc = recordToDoc(rec) as unknown as { dns: { question: { name: string }; answers: Array<{ name: string; data: string }> }; connaudit: { sanitized?: boolean; raw: { dns: { question: { name: string }; answers: Array<{ name: string; data: string }> } } } };
    expect(doc.dns.question.name).toBe('a\\u202egnp.example.com');
    expect(doc.dns.answers[0]).toMatchObject({ name: 'a\\u202egnp.example.com', data: 'x\\x1b[2J.example.com' });
    expect(doc.dns.answers[1]).toMatchObject({ name: 'x.example.com' });
    expect(doc.connaudit.sanitized).toBe(true);
    expect(doc.connaudit.raw.dns.question.name).toBe('a\u202egnp.example.com');
    expect(doc.connaudit.raw.dns.answers[0]!.data).toBe('x\u001b[2J.example.com');
    expect(docToRecord(plain(doc))).toEqual(rec);
  });
});

describe('the pipeline decoder and the record path agree on UDP and DNS', () => {
  it.each<[string, ConnectionRecord]>([
    ['a UDP flow', udpFlow(1)],
    ['a silent UDP flow over IPv6', udpFlow(2, { family: 'ipv6', src_ip: ipToBytes('fd00::1'), dst_ip: ipToBytes('fd00::2'), conn_state: 'S0', dst_bytes: 0, dst_packets: 0, dst_domain: null, dst_registered_domain: null })],
    ['a DNS answer', dnsRecord(1)],
    ['a DNS answer with IPv6 addresses', dnsRecord(2, { dns_qtype: 'AAAA', dns_resolved_ips: [ipToBytes('2606:2800:220:1::1')], dns_answers: [{ name: 'api.example.com', type: 'AAAA', ttl: 4_294_967_295, data: '2606:2800:220:1::1' }] })],
    ['an unanswered query', dnsRecord(3, { dns_rcode: null, conn_state: 'S0', close_reason: 'timeout', dns_resolved_ips: [], dns_answers: [] })],
    ['a hostile answer', dnsRecord(4, { dns_answers: [{ name: 'bad\u0000name', type: 'CNAME', ttl: 1, data: '\u202e' }] })],
    ['a TCP record with a resolved destination', record(9, { dst_domain: 'db.internal.example', dst_registered_domain: 'example' })],
  ])('%s', (_n, rec) => {
    expect(checkRecord(rec)).toEqual([]);
    const buf = encodeConnection(rec);
    expect(plain(decodeConnectionDoc(buf))).toEqual(viaAvsc(buf));
    expect(docToRecord(plain(recordToDoc(rec)))).toEqual(rec);
  });

  it('reads arrays written in several blocks (as other Avro writers may)', () => {
    const rec = dnsRecord(5);
    const normal = encodeConnection(rec);
    // Re-encode dns_answers as two blocks (1 element, then 2), the first with a negative count and its byte size.
    const t = connectionType;
    const withoutAnswers = t.toBuffer({ ...rec, dns_answers: [] });
    const answerType = avro.Type.forSchema(loadSchema() as avro.Schema) as unknown as { field(n: string): { type: { itemsType: avro.Type } } };
    const item = answerType.field('dns_answers').type.itemsType;
    const a = rec.dns_answers.map((x) => item.toBuffer(x));
    const zz = (n: number) => Buffer.from(avro.Type.forSchema('long').toBuffer(n));
    const blocks = Buffer.concat([zz(-1), zz(a[0]!.length), a[0]!, zz(2), a[1]!, a[2]!, zz(0)]);
    const body = Buffer.concat([withoutAnswers.subarray(0, withoutAnswers.length - 1), blocks]);
    const buf = Buffer.concat([normal.subarray(0, 10), body]);
    expect(plain(decodeConnectionDoc(buf))).toEqual(plain(decodeConnectionDoc(normal)));
  });

  it('refuses an array count larger than the rest of the body', () => {
    const rec = dnsRecord(6, { dns_answers: [] });
    const enc = encodeConnection(rec);
    // The last byte is dns_answers' terminating 0 count: claim a million elements instead.
    const hacked = Buffer.concat([enc.subarray(0, enc.length - 1), Buffer.from([0x80, 0x89, 0x7a])]);
    expect(() => decodeConnectionDoc(hacked)).toThrow(/ends early/);
  });

  it.each<[string, Partial<ConnectionRecord>, RegExp]>([
    ['a DNS id past 65535', { dns_id: 70000 }, /dns.id \(dns_id\) must be at most 65535, got 70000/],
    ['a 300-byte question name', { dns_qname: `${'a'.repeat(296)}.com` }, /dns.question.name \(dns_qname\) must be at most 255 bytes long, got 300/],
    ['a 5-byte resolved address', { dns_resolved_ips: [Buffer.alloc(5)] }, /dns.resolved_ip \(dns_resolved_ips\) \[0\] must be a 4- or 16-byte address, got 5 bytes/],
    ['a negative TTL', { dns_answers: [{ name: 'a.example', type: 'A', ttl: -1, data: '10.0.0.1' }] }, /dns.answers \(dns_answers\) \[0\].ttl must be at least 0, got -1/],
    ['negative packets', { src_packets: -2 }, /source.packets \(src_packets\) must be at least 0/],
  ])('refuses %s, naming the field (dead-lettered as bad_record)', (_n, over, msg) => {
    const rec = dnsRecord(7, over);
    const buf = encodeConnection(rec);
    expect(() => decodeConnectionDoc(buf)).toThrow(RecordCheckError);
    expect(() => decodeConnectionDoc(buf)).toThrow(msg);
    expect(checkRecord(rec).length).toBeGreaterThan(0);
  });

  it('docToRecord names the bad element of an array', () => {
    const doc = plain(recordToDoc(dnsRecord(8))) as { dns: { answers: Array<Record<string, unknown>>; resolved_ip: unknown[] } };
    doc.dns.answers[1]!.ttl = '60';
    expect(() => docToRecord(doc)).toThrow('dns.answers[1].ttl: must be a number, got "60"');
    doc.dns.answers[1]!.ttl = 60;
    doc.dns.resolved_ip[0] = 'not-an-ip';
    expect(() => docToRecord(doc)).toThrow(/dns.resolved_ip\[0\]: not an IP address/);
  });

  it('the codec still knows every older writer schema', () => {
    const known = connectionCodec().knownFingerprints();
    for (const v of ['v0', 'v1', 'v2']) {
      expect(known).toContain(fingerprintOf(avro.Type.forSchema(loadSchema(`history/connection.${v}.avsc`) as avro.Schema)).toString('hex'));
    }
  });
});
