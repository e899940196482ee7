import { ipToBytes } from '../../lib/ip.js';

// Prefix matching on raw address bytes, so IPv4 and IPv6 (and v4-mapped IPv6,
// which ipToBytes folds back to 4 bytes) share one code path.

export interface Cidr {
  readonly text: string;
  readonly bytes: Buffer;
  readonly prefix: number;
}

export function parseCidr(text: string): Cidr {
  const slash = text.lastIndexOf('/');
  if (slash < 0) throw new Error(`not a CIDR (address/prefix): ${JSON.stringify(text)}`);
  const bytes = ipToBytes(text.slice(0, slash));
  const prefix = Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) {
    throw new Error(`prefix length of ${JSON.stringify(text)} must be 0..${bytes.length * 8}`);
  }
  return { text, bytes, prefix };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  let addr: Buffer;
  try {
    addr = ipToBytes(ip);
  } catch {
    return false;
  }
  if (addr.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[full]! ^ cidr.bytes[full]!) & mask) === 0;
}
