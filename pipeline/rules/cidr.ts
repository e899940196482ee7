import { ipToBytes } from '../../lib/ip.js';

// CIDR tests for v4 and v6. Addresses arrive as text in ECS documents; the
// parsed bytes of recently seen addresses are cached because a fleet talks to
// a small working set of peers and parsing dominates the test otherwise.

interface Net {
  bytes: Buffer;
  prefix: number;
}

export function parseCidr(text: string): Net {
  const [addr, len, extra] = text.split('/');
  if (extra !== undefined || addr === undefined) throw new Error(`not a CIDR: ${JSON.stringify(text)}`);
  let bytes: Buffer;
  try {
    bytes = ipToBytes(addr);
  } catch {
    throw new Error(`not a CIDR: ${JSON.stringify(text)} (bad address)`);
  }
  const max = bytes.length * 8;
  const prefix = len === undefined ? max : Number(len);
  if (!/^\d+$/.test(len ?? String(max)) || prefix > max) throw new Error(`not a CIDR: ${JSON.stringify(text)} (prefix must be 0..${max})`);
  return { bytes, prefix };
}

const cache = new Map<string, Buffer | null>();
const CACHE_MAX = 65_536;

function bytesOf(ip: string): Buffer | null {
  let b = cache.get(ip);
  if (b !== undefined) return b;
  try {
    b = ipToBytes(ip);
  } catch {
    b = null;
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(ip, b);
  return b;
}

function inNet(b: Buffer, n: Net): boolean {
  if (b.length !== n.bytes.length) return false;
  const full = n.prefix >> 3;
  for (let i = 0; i < full; i++) if (b[i] !== n.bytes[i]) return false;
  const rest = n.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((b[full]! ^ n.bytes[full]!) & mask) === 0;
}

export function cidrMatcher(cidrs: string[]): (ip: unknown) => boolean {
  const nets = cidrs.map(parseCidr);
  return (ip) => {
    if (typeof ip !== 'string') return false;
    const b = bytesOf(ip);
    if (!b) return false;
    for (const n of nets) if (inNet(b, n)) return true;
    return false;
  };
}
