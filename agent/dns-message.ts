import { ipToString } from '../lib/ip.js';

// Reads the parts of a DNS message (RFC 1035 section 4) that connaudit
// records, from the bytes the kernel kept (header, question and answer
// sections; bpf/dns.h): id, QR, RCODE, the counts, the first question's name
// and type, and the A, AAAA and CNAME answers. Nothing else is decoded: other
// answer types are stepped over by their RDLENGTH without looking inside.

export interface DnsAnswer { name: string; type: string; ttl: number; data: string }

export interface DnsMessage {
  id: number;
  isAnswer: boolean;
  rcode: string;
  qdcount: number;
  ancount: number;
  qname: string;
  qtype: string;
  answers: DnsAnswer[];
  /** Addresses of the A/AAAA answers (4 or 16 bytes each). */
  addresses: Buffer[];
  /** Smallest TTL among the A/AAAA answers (seconds), for the address cache. */
  minTtl: number | null;
  /** Answers that did not fit in the bytes kept were not read. */
  cut: boolean;
}

export class DnsParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsParseError';
  }
}

/** IANA DNS parameters: the types a rule author is likely to name; others read TYPEnn (RFC 3597). */
const TYPES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR',
  43: 'DS', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 52: 'TLSA', 64: 'SVCB', 65: 'HTTPS', 99: 'SPF', 255: 'ANY', 257: 'CAA',
};
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

export const typeName = (t: number): string => TYPES[t] ?? `TYPE${t}`;
export const rcodeName = (r: number): string => RCODES[r] ?? `RCODE${r}`;

const MAX_NAME = 255;

/**
 * The name at `off`, following compression pointers backwards only (a
 * pointer forward or to itself is a loop), and the offset just past it.
 * Label bytes outside printable ASCII, dots and backslashes are escaped as
 * \DDD (RFC 4343), so a name never carries control characters into a document.
 */
export function readName(m: Buffer, off: number): { name: string; next: number } {
  const labels: string[] = [];
  let next = -1;
  let pos = off;
  let total = 0;
  for (let hops = 0; hops < 128; hops++) {
    if (pos >= m.length) throw new DnsParseError(`name at ${off} runs past the ${m.length} bytes kept`);
    const len = m[pos]!;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      // Escapes can make the text longer than the 255 wire bytes the record
      // allows; the cut keeps the leading labels, which is where a tunnel's
      // payload is, rather than losing the record.
      const text = labels.length ? labels.join('.') : '.';
      return { name: text.length > MAX_NAME ? text.slice(0, MAX_NAME) : text, next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= m.length) throw new DnsParseError(`compression pointer at ${pos} is cut`);
      const target = ((len & 0x3f) << 8) | m[pos + 1]!;
      if (target >= pos) throw new DnsParseError(`compression pointer at ${pos} points forward to ${target}`);
      if (next < 0) next = pos + 2;
      pos = target;
      continue;
    }
    if (len & 0xc0) throw new DnsParseError(`label type 0x${(len & 0xc0).toString(16)} at ${pos} is not supported`);
    if (pos + 1 + len > m.length) throw new DnsParseError(`label at ${pos} runs past the bytes kept`);
    total += len + 1;
    if (total > MAX_NAME) throw new DnsParseError(`name at ${off} is longer than ${MAX_NAME} bytes`);
    let label = '';
    for (let i = pos + 1; i < pos + 1 + len; i++) {
      const c = m[i]!;
      label += c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c ? String.fromCharCode(c) : `\\${c.toString().padStart(3, '0')}`;
    }
    labels.push(label.toLowerCase());
    pos += 1 + len;
  }
  throw new DnsParseError(`name at ${off} has too many compression hops`);
}

export function parseDnsMessage(m: Buffer, maxAnswers = 16): DnsMessage {
  if (m.length < 12) throw new DnsParseError(`message of ${m.length} bytes has no complete header`);
  const id = m.readUInt16BE(0);
  const flags = m.readUInt16BE(2);
  const qdcount = m.readUInt16BE(4);
  const ancount = m.readUInt16BE(6);
  if (qdcount < 1) throw new DnsParseError('message has no question');
  const q = readName(m, 12);
  if (q.next + 4 > m.length) throw new DnsParseError('question type and class are cut');
  const out: DnsMessage = {
    id, isAnswer: (flags & 0x8000) !== 0, rcode: rcodeName(flags & 0xf), qdcount, ancount,
    qname: q.name, qtype: typeName(m.readUInt16BE(q.next)), answers: [], addresses: [], minTtl: null, cut: false,
  };
  if (!out.isAnswer) return out;
  let off = q.next + 4;
  for (let i = 1; i < qdcount; i++) off = readName(m, off).next + 4; // further questions: stepped over
  for (let i = 0; i < ancount; i++) {
    if (i >= maxAnswers || off >= m.length) { out.cut = true; break; }
    let name: { name: string; next: number };
    try { name = readName(m, off); } catch { out.cut = true; break; }
    if (name.next + 10 > m.length) { out.cut = true; break; }
    const type = m.readUInt16BE(name.next);
    const ttl = m.readUInt32BE(name.next + 4);
    const rdlen = m.readUInt16BE(name.next + 8);
    const rdata = name.next + 10;
    if (rdata + rdlen > m.length) { out.cut = true; break; }
    if ((type === 1 && rdlen === 4) || (type === 28 && rdlen === 16)) {
      const addr = Buffer.from(m.subarray(rdata, rdata + rdlen));
      out.addresses.push(addr);
      out.answers.push({ name: name.name, type: typeName(type), ttl, data: ipToString(addr) });
      out.minTtl = out.minTtl === null ? ttl : Math.min(out.minTtl, ttl);
    } else if (type === 5) {
      out.answers.push({ name: name.name, type: 'CNAME', ttl, data: readName(m, rdata).name });
    }
    off = rdata + rdlen;
  }
  return out;
}
