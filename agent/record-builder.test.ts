import { describe, expect, it } from 'vitest';
import { passthroughOf, EVENT_SIZE, F_ACTIVE, F_ALL_ACKED, F_BYTES_FRESH, F_CLOSED, F_DIR_GUESSED, F_NO_OWNER, F_OWNER_GONE, F_PEER_FIN, F_PREEXISTING, F_SAMPLED, F_UDP, TCP, type CaEvent } from './event-decoder.js';
import { buildRecord, payloadBytes, PROCESS_UNKNOWN, processUnknownReason, type BuildContext } from './record-builder.js';

const S = (...states: number[]): number => states.reduce((m, s) => m | (1 << s), 0);

function ev(over: Partial<CaEvent>): CaEvent {
  const e: Omit<CaEvent, 'passthrough'> = {
    sock_id: 0xffff0000n, start_ns: 10_000_000_000n, syn_ns: 10_000_000_000n, established_ns: 10_000_400_000n, end_ns: 12_000_000_000n,
    cgroup_id: 9n, bytes_acked: 0n, bytes_received: 0n, netns: 111, pid: 50, tid: 51, ppid: 1, uid: 0, srtt_us: 300,
    retransmits: 0, syn_retransmits: 0, rst_sent: 0, rst_received: 0, states: 0, flags: 0, handshake_us: 0, sport: 40000, dport: 80,
    family: 2, sk_err: 0, saddr: Buffer.from([10, 0, 0, 1]), daddr: Buffer.from([10, 0, 0, 2]), comm: 'curl', pkts_sent: 0n, pkts_received: 0n, last_ns: 0n,
    ...over,
  };
  return { ...e, passthrough: over.passthrough ?? passthroughOf(e) };
}

const ctx: BuildContext = {
  cfg: { host: 'root', netnsHosts: new Map([[111, 'host-a']]), environment: 'prod', nodeGroup: 'web', labels: { team: 'x' } },
  bootId: 'boot', agentVersion: '0.1.0',
  toWallUs: (ns) => Number(ns / 1000n) + 1_700_000_000_000_000,
  proc: () => ({ executable: '/usr/bin/curl', parentName: 'bash', containerId: null }),
};

describe('payloadBytes', () => {
  it('subtracts the active opener SYN, our acked FIN and the peer FIN', () => {
    const e = ev({ flags: F_ACTIVE | F_ALL_ACKED | F_PEER_FIN, states: S(TCP.SYN_SENT, TCP.ESTABLISHED, TCP.FIN_WAIT1, TCP.FIN_WAIT2), bytes_acked: 1002n, bytes_received: 2001n });
    expect(payloadBytes(e)).toEqual({ sent: 1000, received: 2000 });
  });
  it('keeps everything when no FIN was sent or received (reset)', () => {
    const e = ev({ flags: F_ALL_ACKED, states: S(TCP.SYN_RECV, TCP.ESTABLISHED), bytes_acked: 500n, bytes_received: 10n });
    expect(payloadBytes(e)).toEqual({ sent: 500, received: 10 });
  });
});

describe('buildRecord', () => {
  it('egress: local side is the source, host from the netns map, deterministic ids', () => {
    const e = ev({ flags: F_ACTIVE | F_ALL_ACKED | F_PEER_FIN, states: S(TCP.SYN_SENT, TCP.ESTABLISHED, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.CLOSE), bytes_acked: 1002n, bytes_received: 2001n });
    const r = buildRecord(e, 'final', ctx);
    expect(r).toMatchObject({
      host: 'host-a', direction: 'egress', src_port: 40000, dst_port: 80, conn_state: 'SF', close_reason: 'fin',
      connect_latency_us: 400, src_bytes: 1000, dst_bytes: 2000, pid: 50, comm: 'curl', executable: '/usr/bin/curl',
      environment: 'prod', node_group: 'web', labels: { team: 'x' }, end_us: 1_700_000_012_000_000,
    });
    expect([...r.src_ip]).toEqual([10, 0, 0, 1]);
    expect(buildRecord(e, 'final', ctx).event_id).toBe(r.event_id);
  });

  it('ingress: the peer is the source; unknown netns falls back to the agent host; no owner -> null process', () => {
    const e = ev({ netns: 999, flags: F_NO_OWNER, states: S(TCP.SYN_RECV, TCP.ESTABLISHED, TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.CLOSE), handshake_us: 70, sport: 80, dport: 40000 });
    const r = buildRecord(e, 'final', ctx);
    expect(r).toMatchObject({ host: 'root', direction: 'ingress', src_port: 40000, dst_port: 80, connect_latency_us: 70, pid: null, comm: null, executable: null });
    expect([...r.src_ip]).toEqual([10, 0, 0, 2]);
  });

  it('interim: S1/open at the snapshot time, bytes only when refreshed', () => {
    const open = ev({ flags: F_ACTIVE, states: S(TCP.SYN_SENT, TCP.ESTABLISHED), bytes_acked: 101n });
    const stale = buildRecord(open, 'interim', ctx, 14_000_000_000n);
    expect(stale).toMatchObject({ kind: 'interim', conn_state: 'S1', close_reason: 'open', src_bytes: null, end_us: 1_700_000_014_000_000 });
    const fresh = buildRecord({ ...open, flags: F_ACTIVE | F_BYTES_FRESH }, 'interim', ctx, 16_000_000_000n);
    expect(fresh.src_bytes).toBe(100);
    expect(fresh.event_id).not.toBe(stale.event_id);
    expect(fresh.conn_uid).toBe(stale.conn_uid);
  });
});

describe('UDP flows', () => {
  const flow = (over: Partial<CaEvent>): CaEvent => ev({
    flags: F_UDP | F_ACTIVE, states: 0, syn_ns: 0n, established_ns: 0n, end_ns: 0n, srtt_us: 0, sport: 40000, dport: 53,
    bytes_acked: 120n, bytes_received: 480n, pkts_sent: 2n, pkts_received: 2n, last_ns: 11_500_000_000n, ...over,
  });

  it('egress, released: transport udp, payload bytes and packets as counted, no TCP timings, ends at the last datagram', () => {
    const r = buildRecord(flow({ flags: F_UDP | F_ACTIVE | F_CLOSED, end_ns: 11_500_000_000n }), 'final', ctx);
    expect(r).toMatchObject({
      transport: 'udp', direction: 'egress', conn_state: 'SF', close_reason: 'released', src_port: 40000, dst_port: 53,
      src_bytes: 120, dst_bytes: 480, src_packets: 2, dst_packets: 2, connect_latency_us: null, srtt_us: null, pid: 50, comm: 'curl',
      end_us: 1_700_000_011_500_000,
    });
  });

  it('ingress, idle: the peer is the source and its counters are the source\'s', () => {
    const r = buildRecord(flow({ flags: F_UDP, sport: 53, dport: 40000, pkts_sent: 0n, bytes_acked: 0n, pkts_received: 3n, bytes_received: 90n }), 'final', ctx);
    expect(r).toMatchObject({ direction: 'ingress', conn_state: 'S0', close_reason: 'idle', src_port: 40000, dst_port: 53, src_bytes: 90, src_packets: 3, dst_bytes: 0, dst_packets: 0 });
  });

  it('two peers of one socket are two connections; interim and final of one flow share conn_uid', () => {
    const a = flow({});
    const b = flow({ dport: 123 });
    expect(buildRecord(a, 'final', ctx).conn_uid).not.toBe(buildRecord(b, 'final', ctx).conn_uid);
    const interim = buildRecord(a, 'interim', ctx, 11_000_000_000n);
    expect(interim).toMatchObject({ kind: 'interim', close_reason: 'open', src_bytes: 120, src_packets: 2 });
    expect(interim.conn_uid).toBe(buildRecord(a, 'final', ctx).conn_uid);
  });

  it('TCP records say transport tcp and carry no packet counts', () => {
    expect(buildRecord(ev({ flags: F_ACTIVE, states: S(TCP.SYN_SENT, TCP.ESTABLISHED, TCP.CLOSE) }), 'final', ctx)).toMatchObject({ transport: 'tcp', src_packets: null, dst_packets: null });
  });

  it('a UDP socket no hook saw: no process, and the reason says so', () => {
    const r = buildRecord(flow({ flags: F_UDP | F_NO_OWNER, pid: 0 }), 'final', ctx);
    expect(r).toMatchObject({ pid: null, process_unknown_reason: PROCESS_UNKNOWN.udpSocketNotSeen });
  });
});

it('EVENT_SIZE matches the C header define', () => {
  expect(EVENT_SIZE).toBe(200);
});

describe('pre-existing, sampled and ownerless connections', () => {
  it('a connection open before the agent: started_before_agent, no latency, srtt and bytes still known', () => {
    const e = ev({ flags: F_ACTIVE | F_PREEXISTING | F_DIR_GUESSED | F_ALL_ACKED | F_PEER_FIN, established_ns: 0n, syn_ns: 0n, states: S(TCP.ESTABLISHED, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.CLOSE), bytes_acked: 1002n, bytes_received: 2001n });
    const r = buildRecord(e, 'final', ctx);
    expect(r).toMatchObject({ started_before_agent: true, connect_latency_us: null, srtt_us: 300, src_bytes: 1000, dst_bytes: 2000, conn_state: 'SF', pid: 50, process_unknown_reason: null, sampled: false });
  });

  it('F_SAMPLED reaches the record', () => {
    expect(buildRecord(ev({ flags: F_ACTIVE | F_SAMPLED, states: S(TCP.SYN_SENT, TCP.ESTABLISHED, TCP.CLOSE) }), 'final', ctx).sampled).toBe(true);
  });

  it.each([
    ['accepted on a listener nobody saw', F_NO_OWNER, 50, PROCESS_UNKNOWN.noListenerOwner],
    ['pre-existing, closed by its process before the agent', F_NO_OWNER | F_PREEXISTING | F_OWNER_GONE, 0, PROCESS_UNKNOWN.ownerGone],
    ['pre-existing, no fd found', F_NO_OWNER | F_PREEXISTING, 0, PROCESS_UNKNOWN.ownerNotFound],
    ['kernel context', F_ACTIVE, 0, PROCESS_UNKNOWN.kernel],
  ] as const)('no process (%s): the record says why', (_n, flags, pid, reason) => {
    const r = buildRecord(ev({ flags, pid, states: S(TCP.ESTABLISHED, TCP.CLOSE) }), 'final', ctx);
    expect(r).toMatchObject({ pid: null, comm: null, process_unknown_reason: reason });
    expect(processUnknownReason(ev({ flags, pid }))).toBe(reason);
  });
});
