import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { DnsParseError, parseDnsMessage, readName } from './dns-message.js';

// Messages built by dns-packet (an independent encoder), then read back by our parser.

const query = (name: string, type: 'A' | 'AAAA' | 'TXT' = 'A', id = 4242): Buffer =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });

describe('parseDnsMessage', () => {
  it('reads id, QR, the question name and type of a query', () => {
    const m = parseDnsMessage(query('Svc.Example.COM', 'AAAA', 7));
    expect(m).toMatchObject({ id: 7, isAnswer: false, qname: 'svc.example.com', qtype: 'AAAA', rcode: 'NOERROR', qdcount: 1, ancount: 0, answers: [], cut: false });
  });

  it('reads A, AAAA and CNAME answers with TTL, and the smallest address TTL', () => {
    const buf = dnsPacket.encode({
      type: 'response', id: 9, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: [{ type: 'A', name: 'www.example.com' }],
      answers: [
        { type: 'CNAME', name: 'www.example.com', ttl: 300, data: 'edge.cdn.example.net' },
        { type: 'A', name: 'edge.cdn.example.net', ttl: 60, data: '192.0.2.10' },
        { type: 'AAAA', name: 'edge.cdn.example.net', ttl: 30, data: '2001:db8::10' },
        { type: 'TXT', name: 'edge.cdn.example.net', ttl: 5, data: 'secret-token' },
      ],
    });
    const m = parseDnsMessage(buf);
    expect(m.isAnswer).toBe(true);
    expect(m.answers).toEqual([
      { name: 'www.example.com', type: 'CNAME', ttl: 300, data: 'edge.cdn.example.net' },
      { name: 'edge.cdn.example.net', type: 'A', ttl: 60, data: '192.0.2.10' },
      { name: 'edge.cdn.example.net', type: 'AAAA', ttl: 30, data: '2001:db8::10' },
    ]);
    expect(m.addresses.map((a) => a.length)).toEqual([4, 16]);
    expect(m.minTtl).toBe(30);
    expect(JSON.stringify(m)).not.toContain('secret-token');
  });

  it('names the rcode of an NXDOMAIN answer and an unknown type', () => {
    const buf = dnsPacket.encode({ type: 'response', id: 1, flags: 3 /* RCODE NXDOMAIN */, questions: [{ type: 'A', name: 'nope.example' }] });
    expect(parseDnsMessage(buf)).toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
    const q = query('x.example');
    q.writeUInt16BE(65280, q.length - 4); // private-use type
    expect(parseDnsMessage(q).qtype).toBe('TYPE65280');
  });

  it('follows compression pointers backwards and refuses loops and forward pointers', () => {
    // header + "a.example" at 12, then a name "b" + pointer to "example" (offset 14)
    const m = Buffer.concat([Buffer.alloc(12), Buffer.from([1, 0x61, 7, ...Buffer.from('example'), 0]), Buffer.from([1, 0x62, 0xc0, 14])]);
    expect(readName(m, 12).name).toBe('a.example');
    expect(readName(m, 23)).toEqual({ name: 'b.example', next: 27 });
    const loop = Buffer.concat([Buffer.alloc(12), Buffer.from([0xc0, 12])]);
    expect(() => readName(loop, 12)).toThrow(DnsParseError);
  });

  it('escapes bytes that are not printable in a label', () => {
    const m = Buffer.concat([Buffer.alloc(12), Buffer.from([3, 0x61, 0x0a, 0x2e, 2, 0x63, 0x6f, 0])]);
    expect(readName(m, 12).name).toBe('a\\010\\046.co');
  });

  it('marks answers cut when the kept bytes end inside the answer section', () => {
    const buf = dnsPacket.encode({ type: 'response', id: 2, questions: [{ type: 'A', name: 'a.example' }], answers: [
      { type: 'A', name: 'a.example', ttl: 1, data: '192.0.2.1' }, { type: 'A', name: 'a.example', ttl: 1, data: '192.0.2.2' }] });
    const m = parseDnsMessage(buf.subarray(0, buf.length - 3));
    expect(m.answers).toHaveLength(1);
    expect(m.cut).toBe(true);
  });

  it('rejects a message without a header or a question', () => {
    expect(() => parseDnsMessage(Buffer.alloc(11))).toThrow(/no complete header/);
    expect(() => parseDnsMessage(Buffer.alloc(12))).toThrow(/no question/);
  });
});

describe('readName limits', () => {
  it('cuts an escaped name to the 255 bytes a record field holds', () => {
    const label = Buffer.alloc(63, 0x01); // 63 control bytes -> 252 characters escaped
    const m = Buffer.concat([Buffer.alloc(12), Buffer.from([63]), label, Buffer.from([63]), label, Buffer.from([0])]);
    const { name } = readName(m, 12);
    expect(name.length).toBe(255);
    expect(name.startsWith('\\001\\001')).toBe(true);
  });
});
