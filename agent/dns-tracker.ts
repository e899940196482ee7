import type { ConnectionRecord } from '../lib/record.js';
import type { Logger } from '../lib/log.js';
import type { AgentConfig } from './config.js';
import { DnsCache } from './dns-cache.js';
import type { DnsEvent } from './dns-decoder.js';
import { DnsJoin, type DnsJoinCounters, type DnsTransaction } from './dns-join.js';
import { DnsParseError, parseDnsMessage } from './dns-message.js';
import { buildDnsRecord } from './dns-record.js';
import type { BuildContext } from './record-builder.js';
import type { DnsStatsSnapshot } from './sensor-worker.js';

// The agent's DNS side in one place: DNS events in, DNS records out, and the
// address -> name cache that names the connection records. Everything here
// is counted (DnsCounters, on /metrics) so a DNS message the kernel saw
// either became part of a record or shows up in a counter.

export interface DnsCounters {
  /** The kernel programs' counters (bpf/dns.h), cumulative; null before the first walk. */
  kernel: DnsStatsSnapshot | null;
  /** Messages the kernel passed that the agent could not read (no record; see the log). */
  unreadable: number;
  join: DnsJoinCounters;
  pending: number;
  cacheEntries: number;
  cacheEvictions: number;
  /** Connection records that got destination.domain. */
  named: number;
}


export class DnsTracker {
  private readonly join: DnsJoin;
  private readonly cache: DnsCache;
  private readonly timeoutNs: bigint;
  private kernel: DnsStatsSnapshot | null = null;
  private unreadable = 0;
  private named = 0;

  constructor(private readonly cfg: AgentConfig['dns'], private readonly ctx: BuildContext, private readonly log: Logger) {
    this.timeoutNs = BigInt(Math.round(cfg.timeoutS * 1e9));
    this.join = new DnsJoin(this.timeoutNs, cfg.maxPending);
    this.cache = new DnsCache({ maxEntries: cfg.cacheEntries, minTtlS: cfg.cacheMinTtlS });
  }

  private build(txs: DnsTransaction[], nowNs: bigint): ConnectionRecord[] {
    return txs.map((tx) => buildDnsRecord(tx, this.ctx, this.timeoutNs, nowNs));
  }

  /** Events in kernel order; returns the DNS records they complete. */
  onEvents(evs: DnsEvent[], nowNs: bigint): ConnectionRecord[] {
    const done: DnsTransaction[] = [];
    for (const ev of evs) {
      let msg;
      try {
        msg = parseDnsMessage(ev.msg);
      } catch (e) {
        if (!(e instanceof DnsParseError)) throw e;
        this.unreadable++;
        this.log.debug({ err: e.message, netns: ev.netns, pid: ev.pid }, 'DNS message not readable; counted in dns unreadable');
        continue;
      }
      // Read /proc while the querying process is alive: an unanswered
      // query's record is built seconds later, often after it exited.
      if (!msg.isAnswer && ev.pid > 0) this.ctx.proc(ev.pid, ev.ppid || null);
      if (msg.isAnswer && msg.rcode === 'NOERROR' && msg.addresses.length > 0) {
        this.cache.add(ev.netns, msg.qname, msg.addresses, msg.minTtl ?? 0, ev.ts_ns);
      }
      done.push(...this.join.add(ev, msg));
    }
    return this.build(done, nowNs);
  }

  /** Unanswered queries past the timeout at `nowNs` (boot clock). */
  expire(nowNs: bigint): ConnectionRecord[] {
    return this.build(this.join.expire(nowNs), nowNs);
  }

  /** At stop: every query still waiting. */
  drain(nowNs: bigint): ConnectionRecord[] {
    return this.build(this.join.drain(), nowNs);
  }

  setKernelCounters(k: DnsStatsSnapshot | null): void {
    if (k) this.kernel = k;
  }

  /**
   * Names an outgoing connection record after the answer that resolved its
   * destination in the same namespace, if the connection started within
   * that answer's TTL. Incoming connections are not named: their remote
   * end is the source, which this host did not resolve.
   */
  nameDestination(rec: ConnectionRecord, netns: number, startNs: bigint): void {
    if (rec.kind === 'dns' || rec.direction !== 'egress') return;
    const n = this.cache.lookup(netns, rec.dst_ip, startNs);
    if (!n) return;
    rec.dst_domain = n.domain;
    rec.dst_registered_domain = n.registeredDomain;
    this.named++;
  }

  counters(): DnsCounters {
    return {
      kernel: this.kernel, unreadable: this.unreadable, join: { ...this.join.counters }, pending: this.join.size,
      cacheEntries: this.cache.size, cacheEvictions: this.cache.evictions, named: this.named,
    };
  }
}
