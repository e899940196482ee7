import { describe, expect, it } from 'vitest';
import { buildConfigBlob, CONFIG_LAYOUT as L, CONFIG_SIZE, parseCidr } from './bpf-config.js';

const base = { ignoreLoopback: true, ignorePorts: [], ignoreCidrs: [], ratePerSec: 0, burst: 0, sampleN: 0 };

describe('buildConfigBlob', () => {
  it('writes filters where struct ca_config has them', () => {
    const b = buildConfigBlob({ ...base, ignorePorts: [22, 9092], ignoreCidrs: ['10.1.2.3/16', 'fd00:200::/32'], ratePerSec: 100, burst: 0, sampleN: 10 });
    expect(b.length).toBe(CONFIG_SIZE);
    expect(b.readBigUInt64LE(L.rate_per_sec.offset)).toBe(100n);
    expect(b.readBigUInt64LE(L.rate_burst.offset)).toBe(1n); // a rate without burst still admits one at a time
    expect(b.readUInt32LE(L.sample_n.offset)).toBe(10);
    expect(b.readUInt32LE(L.ignore_loopback.offset)).toBe(1);
    expect(b.readUInt32LE(L.n_ports.offset)).toBe(2);
    expect(b.readUInt16LE(L.ports.offset + 2)).toBe(9092);
    expect(b.readUInt32LE(L.n_cidrs4.offset)).toBe(1);
    expect([...b.subarray(L.cidr4_addr.offset, L.cidr4_addr.offset + 4)]).toEqual([10, 1, 0, 0]); // host bits cleared
    expect(b.readUInt32BE(L.cidr4_mask.offset)).toBe(0xffff0000);
    expect(b.readUInt32LE(L.n_cidrs6.offset)).toBe(1);
    expect(b.subarray(L.cidr6_addr.offset, L.cidr6_addr.offset + 16).toString('hex')).toBe('fd000200000000000000000000000000');
    expect(b.readUInt8(L.cidr6_plen.offset)).toBe(32);
  });

  it('refuses more entries than the kernel arrays hold', () => {
    expect(() => buildConfigBlob({ ...base, ignorePorts: Array.from({ length: 17 }, (_, i) => i + 1) })).toThrow(/at most 16 ignored ports/);
  });

  it('parses CIDRs and rejects bad ones', () => {
    expect(parseCidr('192.168.1.77/24')).toEqual({ addr: Buffer.from([192, 168, 1, 0]), plen: 24 });
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/prefix \/33 is longer than the 32 bits/);
    expect(() => parseCidr('10.0.0.0')).toThrow(/not a CIDR/);
  });
});
