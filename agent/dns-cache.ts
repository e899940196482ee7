import { LRUCache } from 'lru-cache';
import { getDomain } from 'tldts';
import { ipToString } from '../lib/ip.js';

// Address -> name, per network namespace (each namespace is its own host with
// its own resolver view), from the A/AAAA answers the sensor saw. A later
// TCP or UDP record to that address in that namespace gets the name the
// process asked for (the question, not the end of a CNAME chain: that is
// what it meant to reach). An entry holds for the answer's TTL, measured
// against the connection's start on the same boot clock, so a connection
// made after the TTL ran out is not named by a stale answer. Bounded: the
// least recently used entries go first, and evictions are counted.

export interface DnsName { domain: string; registeredDomain: string | null }

interface Entry extends DnsName { fromNs: bigint; untilNs: bigint }

export interface DnsCacheOptions {
  maxEntries: number;
  /** Floor for the TTL: an answer with TTL 0 still names the connection its client opens right after. */
  minTtlS: number;
}

export class DnsCache {
  private readonly lru: LRUCache<string, Entry>;
  evictions = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly opts: DnsCacheOptions) {
    this.lru = new LRUCache<string, Entry>({
      max: opts.maxEntries,
      dispose: (_v, _k, reason) => { if (reason === 'evict') this.evictions++; },
    });
  }

  static registeredDomain(name: string): string | null {
    return getDomain(name, { allowPrivateDomains: false }) ?? null;
  }

  /** Remembers the A/AAAA addresses of one answer seen at `atNs` (boot clock). */
  add(netns: number, domain: string, addresses: Buffer[], ttlS: number, atNs: bigint): void {
    const untilNs = atNs + BigInt(Math.max(ttlS, this.opts.minTtlS)) * 1_000_000_000n;
    const registeredDomain = DnsCache.registeredDomain(domain);
    for (const a of addresses) this.lru.set(`${netns}|${ipToString(a)}`, { domain, registeredDomain, fromNs: atNs, untilNs });
  }

  /** The name of `addr` for a connection that started at `atNs`, or null. */
  lookup(netns: number, addr: Buffer, atNs: bigint): DnsName | null {
    const e = this.lru.get(`${netns}|${ipToString(addr)}`);
    // A connection that started before the answer came was not made to this name.
    if (!e || atNs < e.fromNs || atNs > e.untilNs) { this.misses++; return null; }
    this.hits++;
    return { domain: e.domain, registeredDomain: e.registeredDomain };
  }

  get size(): number {
    return this.lru.size;
  }
}
