import { isIPv4, isIPv6 } from 'node:net';

// Addresses travel as 4 or 16 raw bytes in Avro and as text in ECS documents.

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** 16-byte IPv6 that is really a v4-mapped address comes back as its 4 IPv4 bytes. */
export function unmapV4(addr: Buffer): Buffer {
  if (addr.length === 16 && addr.subarray(0, 12).equals(V4_MAPPED_PREFIX)) return Buffer.from(addr.subarray(12));
  return addr;
}

export function ipToString(addr: Buffer): string {
  const a = unmapV4(addr);
  if (a.length === 4) return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
  if (a.length !== 16) throw new Error(`an IP address is 4 or 16 bytes, got ${a.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(a.readUInt16BE(i));
  // RFC 5952: compress the longest run (length >= 2) of zero groups, leftmost on ties.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function ipToBytes(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split('.').map((p) => Number(p)));
  if (!isIPv6(text)) throw new Error(`not an IP address: ${JSON.stringify(text)}`);
  let t = text;
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (quad) {
    const b = ipToBytes(quad[1]!);
    t = `${t.slice(0, quad.index)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = t.includes('::') ? t.split('::') as [string, string] : [t, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - tl.length;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...tl];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return unmapV4(out);
}

export function familyOf(text: string): 'ipv4' | 'ipv6' {
  return ipToBytes(text).length === 4 ? 'ipv4' : 'ipv6';
}
