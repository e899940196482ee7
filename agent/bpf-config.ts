import { ipToBytes } from '../lib/ip.js';
import type { FieldLayout } from './event-decoder.js';

// Builds the bytes of `const volatile struct ca_config cfg` (bpf/connaudit.h),
// written into the object's .rodata before load, so the kernel side's filters
// are constants the verifier can prune on.

export const CONFIG_LAYOUT = {
  rate_per_sec: { offset: 0, size: 8 },
  rate_burst: { offset: 8, size: 8 },
  sample_n: { offset: 16, size: 4 },
  ignore_loopback: { offset: 20, size: 4 },
  n_ports: { offset: 24, size: 4 },
  n_cidrs4: { offset: 28, size: 4 },
  n_cidrs6: { offset: 32, size: 4 },
  pad0: { offset: 36, size: 4 },
  ports: { offset: 40, size: 32 },
  cidr4_addr: { offset: 72, size: 32 },
  cidr4_mask: { offset: 104, size: 32 },
  cidr6_addr: { offset: 136, size: 128 },
  cidr6_plen: { offset: 264, size: 8 },
  n_netns: { offset: 272, size: 4 },
  netns: { offset: 276, size: 32 },
  pad1: { offset: 308, size: 4 },
} as const satisfies Record<string, FieldLayout>;

export const CONFIG_SIZE = 312;
export const MAX_NETNS = 8;
export const MAX_IGNORED_PORTS = 16;
export const MAX_IGNORED_CIDRS4 = 8;
export const MAX_IGNORED_CIDRS6 = 8;

export interface KernelFilters {
  ignoreLoopback: boolean;
  ignorePorts: number[];
  /** "10.0.0.0/8", "fd00::/8" ... matched against the remote address. */
  ignoreCidrs: string[];
  /** New tracked connections per second per CPU; 0 disables the limit. */
  ratePerSec: number;
  burst: number;
  /** Above the rate, keep 1 connection in sampleN (0: keep none). */
  sampleN: number;
  /** Network namespace inodes to watch; empty or absent: all of them. */
  onlyNetns?: number[];
}

export function parseCidr(text: string): { addr: Buffer; plen: number } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) throw new Error(`not a CIDR (want ADDRESS/PREFIX): ${JSON.stringify(text)}`);
  const addr = ipToBytes(m[1]!);
  const plen = Number(m[2]);
  if (plen > addr.length * 8) throw new Error(`prefix /${plen} is longer than the ${addr.length * 8} bits of ${m[1]}`);
  const masked = Buffer.from(addr);
  for (let i = 0; i < masked.length; i++) {
    const bits = plen - 8 * i;
    masked[i]! &= bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return { addr: masked, plen };
}

export function buildConfigBlob(f: KernelFilters): Buffer {
  if (f.ignorePorts.length > MAX_IGNORED_PORTS) throw new Error(`at most ${MAX_IGNORED_PORTS} ignored ports fit the kernel filter, got ${f.ignorePorts.length}`);
  const cidrs = f.ignoreCidrs.map(parseCidr);
  const v4 = cidrs.filter((c) => c.addr.length === 4);
  const v6 = cidrs.filter((c) => c.addr.length === 16);
  if (v4.length > MAX_IGNORED_CIDRS4) throw new Error(`at most ${MAX_IGNORED_CIDRS4} IPv4 CIDRs fit the kernel filter, got ${v4.length}`);
  if (v6.length > MAX_IGNORED_CIDRS6) throw new Error(`at most ${MAX_IGNORED_CIDRS6} IPv6 CIDRs fit the kernel filter, got ${v6.length}`);
  const only = f.onlyNetns ?? [];
  if (only.length > MAX_NETNS) throw new Error(`at most ${MAX_NETNS} namespaces fit the kernel filter, got ${only.length}`);
  const b = Buffer.alloc(CONFIG_SIZE);
  const L = CONFIG_LAYOUT;
  b.writeBigUInt64LE(BigInt(f.ratePerSec), L.rate_per_sec.offset);
  b.writeBigUInt64LE(BigInt(f.ratePerSec > 0 ? Math.max(1, f.burst) : 0), L.rate_burst.offset);
  b.writeUInt32LE(f.sampleN, L.sample_n.offset);
  b.writeUInt32LE(f.ignoreLoopback ? 1 : 0, L.ignore_loopback.offset);
  b.writeUInt32LE(f.ignorePorts.length, L.n_ports.offset);
  b.writeUInt32LE(v4.length, L.n_cidrs4.offset);
  b.writeUInt32LE(v6.length, L.n_cidrs6.offset);
  f.ignorePorts.forEach((p, i) => b.writeUInt16LE(p, L.ports.offset + 2 * i));
  v4.forEach((c, i) => {
    // Stored in network order, as the kernel compares them with skc_daddr.
    c.addr.copy(b, L.cidr4_addr.offset + 4 * i);
    const mask = c.plen === 0 ? 0 : (0xffffffff << (32 - c.plen)) >>> 0;
    b.writeUInt32BE(mask, L.cidr4_mask.offset + 4 * i);
  });
  v6.forEach((c, i) => {
    c.addr.copy(b, L.cidr6_addr.offset + 16 * i);
    b.writeUInt8(c.plen, L.cidr6_plen.offset + i);
  });
  b.writeUInt32LE(only.length, L.n_netns.offset);
  only.forEach((ino, i) => b.writeUInt32LE(ino, L.netns.offset + 4 * i));
  return b;
}
