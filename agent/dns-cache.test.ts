import { describe, expect, it } from 'vitest';
import { DnsCache } from './dns-cache.js';

const S = 1_000_000_000n;
const A = Buffer.from([192, 0, 2, 10]);

describe('DnsCache', () => {
  it('names an address for the answer TTL, per namespace, with the registered domain', () => {
    const c = new DnsCache({ maxEntries: 10, minTtlS: 1 });
    c.add(1, 'api.eu.example.co.uk', [A], 60, 100n * S);
    expect(c.lookup(1, A, 101n * S)).toEqual({ domain: 'api.eu.example.co.uk', registeredDomain: 'example.co.uk' });
    expect(c.lookup(2, A, 101n * S)).toBeNull(); // another namespace resolved nothing
    expect(c.lookup(1, A, 161n * S)).toBeNull(); // TTL ran out
    expect(c.lookup(1, A, 99n * S)).toBeNull(); // connection older than the answer
  });

  it('keeps a TTL-0 answer for the floor, and evicts the least recently used beyond its bound', () => {
    const c = new DnsCache({ maxEntries: 2, minTtlS: 1 });
    c.add(1, 'zero.example.com', [A], 0, 0n);
    expect(c.lookup(1, A, S / 2n)?.domain).toBe('zero.example.com');
    c.add(1, 'b.example.com', [Buffer.from([192, 0, 2, 11])], 60, 0n);
    c.add(1, 'c.example.com', [Buffer.from([192, 0, 2, 12])], 60, 0n);
    expect(c.size).toBe(2);
    expect(c.evictions).toBe(1);
    expect(c.lookup(1, A, 1n)).toBeNull();
  });

  it('has no registered domain for a bare public suffix or a single label', () => {
    expect(DnsCache.registeredDomain('co.uk')).toBeNull();
    expect(DnsCache.registeredDomain('localhost')).toBeNull();
    expect(DnsCache.registeredDomain('a.b.example.com')).toBe('example.com');
  });
});
