import { describe, expect, it } from 'vitest';
import type { DnsEvent } from './dns-decoder.js';
import { DnsJoin } from './dns-join.js';
import type { DnsMessage } from './dns-message.js';

const ev = (ts: bigint, cookie = 1n, netns = 100): DnsEvent => ({
  ts_ns: ts, cookie, cgroup_id: 0n, netns, pid: 1, tid: 1, ppid: 0, uid: 0, flags: 0, lport: 5000, rport: 53, family: 2,
  wire_len: 30, laddr: Buffer.from([10, 0, 0, 1]), raddr: Buffer.from([10, 0, 0, 2]), comm: 'c', msg: Buffer.alloc(12),
});
const msg = (id: number, isAnswer: boolean): DnsMessage => ({
  id, isAnswer, rcode: 'NOERROR', qdcount: 1, ancount: 0, qname: 'a.example', qtype: 'A', answers: [], addresses: [], minTtl: null, cut: false,
});
const S = 1_000_000_000n;

describe('DnsJoin', () => {
  it('joins an answer to its query by socket and id, and counts every outcome', () => {
    const j = new DnsJoin(5n * S, 100);
    expect(j.add(ev(1n), msg(7, false))).toEqual([]);
    expect(j.add(ev(2n), msg(8, false))).toEqual([]);
    const [tx] = j.add(ev(3n), msg(7, true));
    expect(tx).toMatchObject({ outcome: 'answered', sends: 1 });
    expect(tx!.query!.ev.ts_ns).toBe(1n);
    expect(j.size).toBe(1);
    // same id on another socket is another transaction
    expect(j.add(ev(4n, 2n), msg(8, true))[0]!.outcome).toBe('orphan');
    expect(j.counters).toMatchObject({ answered: 1, orphan: 1 });
  });

  it('records a query without an answer after the timeout, not before', () => {
    const j = new DnsJoin(5n * S, 100);
    j.add(ev(10n * S), msg(1, false));
    expect(j.expire(14n * S)).toEqual([]);
    const out = j.expire(15n * S);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ outcome: 'timeout', answer: null });
    expect(j.size).toBe(0);
  });

  it('counts a retried query once with its sends, and loses nothing on overflow or stop', () => {
    const j = new DnsJoin(5n * S, 2);
    j.add(ev(1n), msg(1, false));
    j.add(ev(2n), msg(1, false));
    expect(j.counters.retries).toBe(1);
    j.add(ev(3n), msg(2, false));
    const over = j.add(ev(4n), msg(3, false));
    expect(over).toHaveLength(1);
    expect(over[0]).toMatchObject({ outcome: 'overflow', sends: 2 });
    const rest = j.drain();
    expect(rest.map((t) => t.query!.msg.id)).toEqual([2, 3]);
    const c = j.counters;
    // 4 queries sent (one a retry) -> 3 transactions: 1 overflow + 2 stopped
    expect(c.overflow + c.stopped + c.timeout + c.answered).toBe(3);
  });
});
