import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { decodeConnection, encodeConnection } from '../lib/avro.js';
import { checkRecord } from '../lib/record-check.js';
import { createLogger } from '../lib/log.js';
import type { ConnectionRecord } from '../lib/record.js';
import { DNS_FLAG, type DnsEvent } from './dns-decoder.js';
import { DnsTracker } from './dns-tracker.js';
import type { BuildContext } from './record-builder.js';

// The agent's DNS path on hand-made kernel events: messages from dns-packet,
// records checked by the same range checks and Avro schema the pipeline uses.

const S = 1_000_000_000n;
const ctx: BuildContext = {
  cfg: { host: 'root', netnsHosts: new Map([[7, 'client-host']]), environment: null, nodeGroup: null, labels: {} },
  bootId: 'boot', agentVersion: 'test',
  toWallUs: (ns) => Number(ns / 1000n) + 1_700_000_000_000_000,
  proc: () => ({ executable: '/usr/bin/curl', parentName: 'bash', containerId: null }),
};
const cfg = { enabled: true, timeoutS: 2, maxPending: 100, cacheEntries: 100, cacheMinTtlS: 1, ringBufferBytes: 1 << 20 };
const RESOLVER = Buffer.from([10, 0, 0, 53]);
const ADDR = '192.0.2.80';

function ev(ts: bigint, msg: Buffer, answer: boolean, over: Partial<DnsEvent> = {}): DnsEvent {
  return {
    ts_ns: ts, cookie: 77n, cgroup_id: 5n, netns: 7, pid: 300, tid: 300, ppid: 1, uid: 1000,
    flags: DNS_FLAG.CA_DNS_F_OWNER | (answer ? DNS_FLAG.CA_DNS_F_ANSWER : 0), lport: 40000, rport: 53, family: 2,
    wire_len: msg.length, laddr: Buffer.from([10, 0, 0, 1]), raddr: RESOLVER, comm: 'curl', msg, ...over,
  };
}
const q = (id: number, name: string) => dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name }] });
const a = (id: number, name: string, rcode = 0, data = ADDR) => dnsPacket.encode({
  type: 'response', id, flags: rcode, questions: [{ type: 'A', name }], answers: rcode ? [] : [{ type: 'A', name, ttl: 30, data }],
});

const valid = (r: ConnectionRecord): ConnectionRecord => {
  expect(checkRecord(r)).toEqual([]);
  return decodeConnection(encodeConnection(r));
};

describe('DnsTracker', () => {
  const log = createLogger('test', 'silent');

  it('an answered query becomes one valid dns record with the process, question, rcode, addresses and answers', () => {
    const t = new DnsTracker(cfg, ctx, log);
    expect(t.onEvents([ev(10n * S, q(5, 'api.shop.example.co.uk'), false)], 10n * S)).toEqual([]);
    const [r] = t.onEvents([ev(10n * S + 2_000_000n, a(5, 'api.shop.example.co.uk'), true)], 10n * S);
    const back = valid(r!);
    expect(back).toMatchObject({
      kind: 'dns', host: 'client-host', transport: 'udp', conn_state: 'SF', close_reason: 'answered', direction: 'egress',
      pid: 300, comm: 'curl', executable: '/usr/bin/curl', dst_port: 53, src_packets: 1, dst_packets: 1,
      dns_id: 5, dns_qname: 'api.shop.example.co.uk', dns_qtype: 'A', dns_registered_domain: 'example.co.uk', dns_rcode: 'NOERROR',
      dns_answers: [{ name: 'api.shop.example.co.uk', type: 'A', ttl: 30, data: ADDR }],
    });
    expect(back.dns_resolved_ips.map((b) => [...b].join('.'))).toEqual([ADDR]);
    expect(back.end_us - back.start_us).toBe(2000);
  });

  it('names a later egress connection to the resolved address, in the same namespace and TTL only', () => {
    const t = new DnsTracker(cfg, ctx, log);
    t.onEvents([ev(10n * S, q(1, 'db.example.com'), false), ev(10n * S + 1000n, a(1, 'db.example.com'), true)], 10n * S);
    const conn = (netns: number, direction: 'egress' | 'ingress') =>
      ({ kind: 'final', direction, dst_ip: Buffer.from(ADDR.split('.').map(Number)), dst_domain: null, dst_registered_domain: null, netns } as unknown as ConnectionRecord);
    const named = conn(7, 'egress');
    t.nameDestination(named, 7, 11n * S);
    expect(named).toMatchObject({ dst_domain: 'db.example.com', dst_registered_domain: 'example.com' });
    const otherNs = conn(8, 'egress');
    t.nameDestination(otherNs, 8, 11n * S);
    expect(otherNs.dst_domain).toBeNull();
    const ingress = conn(7, 'ingress');
    t.nameDestination(ingress, 7, 11n * S);
    expect(ingress.dst_domain).toBeNull();
    const late = conn(7, 'egress');
    t.nameDestination(late, 7, 41n * S);
    expect(late.dst_domain).toBeNull();
    expect(t.counters().named).toBe(1);
  });

  it('NXDOMAIN is answered with no address and caches nothing; a silent query times out as S0', () => {
    const t = new DnsTracker(cfg, ctx, log);
    const [nx] = t.onEvents([ev(1n * S, q(2, 'nope.example.com'), false), ev(1n * S + 5n, a(2, 'nope.example.com', 3), true)], 1n * S);
    expect(valid(nx!)).toMatchObject({ dns_rcode: 'NXDOMAIN', dns_resolved_ips: [], conn_state: 'SF' });
    expect(t.counters().cacheEntries).toBe(0);
    t.onEvents([ev(5n * S, q(3, 'silent.example.com'), false)], 5n * S);
    expect(t.expire(6n * S)).toEqual([]);
    const [to] = t.expire(7n * S);
    expect(valid(to!)).toMatchObject({ conn_state: 'S0', close_reason: 'timeout', dns_rcode: null, dst_packets: 0, dst_bytes: 0, pid: 300 });
    expect(to!.end_us - to!.start_us).toBe(2_000_000);
  });

  it('a query without a known process and an unreadable message are accounted, not lost silently', () => {
    const t = new DnsTracker(cfg, ctx, log);
    t.onEvents([ev(1n, q(4, 'x.example.com'), false, { flags: 0, pid: 0, comm: '' })], 1n);
    const [r] = t.drain(3n);
    expect(valid(r!)).toMatchObject({ pid: null, comm: null, process_unknown_reason: 'dns_socket_before_agent', close_reason: 'unknown' });
    expect(t.onEvents([ev(2n, Buffer.alloc(12), false)], 2n)).toEqual([]);
    expect(t.counters()).toMatchObject({ unreadable: 1, join: { stopped: 1 } });
  });
});
