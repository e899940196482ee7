import { ipToBytes } from './ip.js';

// CIDR matching for IPv4 and IPv6 on raw address bytes, so both families (and
// v4-mapped IPv6, which ipToBytes folds to 4 bytes) share one code path. Used
// by the pipeline's enrichment (zones, internal ranges), the rule engine's
// `cidr` operator and the service catalogue's endpoints.

export interface Cidr {
  readonly text: string;
  readonly bytes: Buffer;
  readonly prefix: number;
}

/** Parses "addr/len" (a bare address is a /32 or /128); the error names the text. */
export function parseCidr(text: string): Cidr {
  const [addr, len, extra] = text.split('/');
  if (extra !== undefined || !addr) throw new Error(`not a CIDR: ${JSON.stringify(text)}`);
  let bytes: Buffer;
  try {
    bytes = ipToBytes(addr);
  } catch {
    throw new Error(`not a CIDR: ${JSON.stringify(text)} (bad address)`);
  }
  const max = bytes.length * 8;
  if (len !== undefined && !/^\d+$/.test(len)) throw new Error(`not a CIDR: ${JSON.stringify(text)} (prefix must be 0..${max})`);
  const prefix = len === undefined ? max : Number(len);
  if (prefix > max) throw new Error(`not a CIDR: ${JSON.stringify(text)} (prefix must be 0..${max})`);
  return { text, bytes, prefix };
}

export function bytesInCidr(addr: Buffer, cidr: Cidr): boolean {
  if (addr.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[full]! ^ cidr.bytes[full]!) & mask) === 0;
}

// Parsed bytes of recently seen addresses: a fleet talks to a small working
// set of peers, and parsing the text would otherwise dominate every test.
const cache = new Map<string, Buffer | null>();
const CACHE_MAX = 65_536;

/** The bytes of an address text (cached), or null for anything that is not an address. */
export function bytesOf(ip: string): Buffer | null {
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

/** True when `ip` (text) lies in `cidr`; false for anything that is not an address. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const b = bytesOf(ip);
  return b !== null && bytesInCidr(b, cidr);
}

/** One predicate over several CIDRs, for hot paths. */
export function cidrMatcher(cidrs: readonly string[]): (ip: unknown) => boolean {
  const nets = cidrs.map(parseCidr);
  return (ip) => {
    if (typeof ip !== 'string') return false;
    const b = bytesOf(ip);
    if (!b) return false;
    for (const n of nets) if (bytesInCidr(b, n)) return true;
    return false;
  };
}

export class CidrSet {
  private readonly match: (ip: unknown) => boolean;
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    this.match = cidrMatcher(cidrs);
    this.size = cidrs.length;
  }

  has(ip: string): boolean {
    return this.match(ip);
  }
}
