import type { DnsEvent } from './dns-decoder.js';
import type { DnsMessage } from './dns-message.js';

// Joins each query the host sent with the answer it received: same network
// namespace, same socket (cookie) and same DNS id. An answer completes its
// query at once; a query without an answer completes after the DNS timeout
// as unanswered. Every query and every answer leaves here exactly once, in
// some transaction, so nothing seen is dropped silently:
//   answered     query + answer
//   unanswered   query only (timeout, pending-table overflow, or agent stop)
//   orphan       answer only (its query was sent before the agent started, or
//                was already timed out)
// A query sent again with the same id on the same socket (a resolver's retry)
// joins the first one and is counted as a retry.

export interface DnsSide { ev: DnsEvent; msg: DnsMessage }

export type DnsOutcome = 'answered' | 'timeout' | 'overflow' | 'stopped' | 'orphan';

export interface DnsTransaction {
  query: DnsSide | null;
  answer: DnsSide | null;
  outcome: DnsOutcome;
  /** Copies of the query seen (1 + retries). */
  sends: number;
}

export interface DnsJoinCounters { answered: number; timeout: number; overflow: number; stopped: number; orphan: number; retries: number }

interface Pending { query: DnsSide; sends: number; deadlineNs: bigint }

export class DnsJoin {
  private readonly pending = new Map<string, Pending>();
  readonly counters: DnsJoinCounters = { answered: 0, timeout: 0, overflow: 0, stopped: 0, orphan: 0, retries: 0 };

  constructor(private readonly timeoutNs: bigint, private readonly maxPending: number) {}

  private static key(ev: DnsEvent, msg: DnsMessage): string {
    return `${ev.netns}|${ev.cookie}|${msg.id}`;
  }

  private done(tx: DnsTransaction): DnsTransaction {
    this.counters[tx.outcome]++;
    return tx;
  }

  /** Adds one decoded event; returns the transactions it completes. */
  add(ev: DnsEvent, msg: DnsMessage): DnsTransaction[] {
    const key = DnsJoin.key(ev, msg);
    if (msg.isAnswer) {
      const p = this.pending.get(key);
      if (!p) return [this.done({ query: null, answer: { ev, msg }, outcome: 'orphan', sends: 0 })];
      this.pending.delete(key);
      return [this.done({ query: p.query, answer: { ev, msg }, outcome: 'answered', sends: p.sends })];
    }
    const p = this.pending.get(key);
    if (p) {
      p.sends++;
      this.counters.retries++;
      return [];
    }
    const out: DnsTransaction[] = [];
    if (this.pending.size >= this.maxPending) {
      // The oldest query (Map keeps insertion order) is recorded as unanswered now rather than lost.
      const [oldKey, old] = this.pending.entries().next().value as [string, Pending];
      this.pending.delete(oldKey);
      out.push(this.done({ query: old.query, answer: null, outcome: 'overflow', sends: old.sends }));
    }
    this.pending.set(key, { query: { ev, msg }, sends: 1, deadlineNs: ev.ts_ns + this.timeoutNs });
    return out;
  }

  /** Queries whose timeout passed by `nowNs` (boot clock), as unanswered transactions. */
  expire(nowNs: bigint): DnsTransaction[] {
    const out: DnsTransaction[] = [];
    for (const [key, p] of this.pending) {
      if (p.deadlineNs > nowNs) continue;
      this.pending.delete(key);
      out.push(this.done({ query: p.query, answer: null, outcome: 'timeout', sends: p.sends }));
    }
    return out;
  }

  /** At agent stop: every query still waiting, so none is lost (their outcome says they were cut short). */
  drain(): DnsTransaction[] {
    const out = [...this.pending.values()].map((p) => this.done({ query: p.query, answer: null, outcome: 'stopped', sends: p.sends }));
    this.pending.clear();
    return out;
  }

  get size(): number {
    return this.pending.size;
  }
}
