import { readFileSync } from 'node:fs';
import { connUid, eventId } from '../lib/ids.js';
import type { ConnectionRecord } from '../lib/record.js';
import { classify } from './conn-state.js';
import type { AgentConfig } from './config.js';
import { AF_INET, F_ACTIVE, F_ALL_ACKED, F_BYTES_FRESH, F_NO_OWNER, F_OWNER_GONE, F_PEER_FIN, F_PREEXISTING, F_SAMPLED, F_UDP, TCP, visited, type CaEvent } from './event-decoder.js';
import type { ProcInfo } from './proc.js';

// Kernel event (C names) -> the wire record (lib/record.ts). ECS semantics:
// source is always the initiator and destination the responder, so an
// ingress record swaps the socket's local/remote view.

/**
 * connaudit.process_unknown_reason: why a record carries no process. Every
 * record without a pid has exactly one of these.
 */
export const PROCESS_UNKNOWN = {
  /** Accepted on a port whose listen() the agent never saw: neither the hook nor the start-up scan found it. */
  noListenerOwner: 'listener_not_seen',
  /** Open before the agent started and already closed by its process (orphaned socket, no fd left). */
  ownerGone: 'closed_by_owner_before_agent',
  /** Open before the agent started, but no /proc/PID/fd entry held it at the scan (fd passed on, or /proc hidden). */
  ownerNotFound: 'no_fd_at_agent_start',
  /** Opened from kernel context (pid 0). */
  kernel: 'kernel_context',
  /** A UDP socket no connect/sendmsg/recvmsg of the agent's time has touched (set up before the agent, or only recv() without an address). */
  udpSocketNotSeen: 'udp_socket_not_seen',
} as const;

export function processUnknownReason(ev: Pick<CaEvent, 'flags' | 'pid'>): string | null {
  if ((ev.flags & F_NO_OWNER) === 0 && ev.pid > 0) return null;
  if ((ev.flags & F_UDP) !== 0) return PROCESS_UNKNOWN.udpSocketNotSeen;
  if ((ev.flags & F_PREEXISTING) !== 0) return (ev.flags & F_OWNER_GONE) !== 0 ? PROCESS_UNKNOWN.ownerGone : PROCESS_UNKNOWN.ownerNotFound;
  if ((ev.flags & F_NO_OWNER) !== 0) return PROCESS_UNKNOWN.noListenerOwner;
  return PROCESS_UNKNOWN.kernel;
}

export interface BuildContext {
  cfg: Pick<AgentConfig, 'host' | 'netnsHosts' | 'environment' | 'nodeGroup' | 'labels'>;
  bootId: string;
  agentVersion: string;
  toWallUs(bootNs: bigint): number;
  proc(pid: number, ppid: number | null): ProcInfo;
}

export function readBootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/**
 * Payload bytes from the tcp_sock's sequence-space counters: bytes_acked
 * includes our SYN (active opener only: a passive child starts at ISN+1) and
 * our FIN once acked; bytes_received includes the peer's FIN.
 */
export function payloadBytes(ev: CaEvent): { sent: number; received: number } {
  // A UDP flow's counters are datagram payload already (bpf/udp.bpf.c).
  if ((ev.flags & F_UDP) !== 0) return { sent: Number(ev.bytes_acked), received: Number(ev.bytes_received) };
  const active = (ev.flags & F_ACTIVE) !== 0;
  const synAcked = active && visited(ev, TCP.ESTABLISHED) ? 1n : 0n;
  const ourFinSent = visited(ev, TCP.FIN_WAIT1) || visited(ev, TCP.LAST_ACK) || visited(ev, TCP.CLOSING);
  const finAcked = ourFinSent && (ev.flags & F_ALL_ACKED) !== 0 ? 1n : 0n;
  const peerFin = (ev.flags & F_PEER_FIN) !== 0 ? 1n : 0n;
  const clamp = (v: bigint): number => Number(v < 0n ? 0n : v);
  return { sent: clamp(ev.bytes_acked - synAcked - finAcked), received: clamp(ev.bytes_received - peerFin) };
}

const usBetween = (from: bigint, to: bigint): number => Number((to - from) / 1000n);

/**
 * `snapshotNs` is the boot-time of an interim snapshot. Interim byte counts are
 * cumulative since the start of the connection as of the last refresh_bytes run
 * (just before the walk); without a refresh they are null rather than stale.
 */
/** The ids of a socket's owner as the kernel recorded them (a connection event or a DNS owner). */
export type OwnerIds = Pick<CaEvent, 'pid' | 'tid' | 'ppid' | 'uid' | 'comm' | 'cgroup_id'>;

/**
 * The process and deployment fields of a record, from the socket's owner
 * (null: none known) and /proc. Shared by connection and DNS records so both
 * name a process the same way.
 */
export function ownerFields(owner: OwnerIds | null, ctx: BuildContext) {
  const info: ProcInfo = owner ? ctx.proc(owner.pid, owner.ppid || null) : { executable: null, parentName: null, containerId: null };
  return {
    pid: owner ? owner.pid : null,
    tid: owner ? owner.tid : null,
    ppid: owner && owner.ppid > 0 ? owner.ppid : null,
    uid: owner ? owner.uid : null,
    comm: owner && owner.comm ? owner.comm : null,
    executable: info.executable,
    parent_name: info.parentName,
    cgroup_id: owner && owner.cgroup_id > 0n ? Number(owner.cgroup_id) : null,
    container_id: info.containerId,
    environment: ctx.cfg.environment,
    node_group: ctx.cfg.nodeGroup,
    labels: { ...ctx.cfg.labels },
    agent_version: ctx.agentVersion,
  } satisfies Partial<ConnectionRecord>;
}

export function buildRecord(ev: CaEvent, kind: 'final' | 'interim', ctx: BuildContext, snapshotNs?: bigint): ConnectionRecord {
  const active = (ev.flags & F_ACTIVE) !== 0;
  const udp = (ev.flags & F_UDP) !== 0;
  const host = ctx.cfg.netnsHosts.get(ev.netns) ?? ctx.cfg.host;
  // One UDP socket has a flow per peer: the peer is part of its identity.
  const uid = connUid(host, ctx.bootId, udp ? `udp:${ev.sock_id}:${ev.daddr.toString('hex')}:${ev.dport}` : ev.sock_id, ev.start_ns);
  // A UDP flow ends with its last datagram, whether it was released or went idle.
  const endNs = kind === 'final' ? (udp ? ev.last_ns : ev.end_ns) : (snapshotNs ?? ev.start_ns);
  const end_us = ctx.toWallUs(endNs);
  const established = visited(ev, TCP.ESTABLISHED);
  // A socket that predates the agent has no handshake time: latency stays null.
  const handshakeSeen = established && ev.established_ns > 0n;
  // UDP counters live in the flow map itself, so every snapshot is current.
  const bytesKnown = kind === 'final' || udp || (ev.flags & F_BYTES_FRESH) !== 0;
  const unknownReason = processUnknownReason(ev);
  const { connState, closeReason } = classify(ev, kind);
  const bytes = bytesKnown ? payloadBytes(ev) : null;

  let connectLatency: number | null = null;
  if (handshakeSeen) connectLatency = active ? usBetween(ev.syn_ns, ev.established_ns) : ev.handshake_us > 0 ? ev.handshake_us : null;

  const built = {
    event_id: eventId(uid, kind, end_us),
    conn_uid: uid,
    kind,
    start_us: ctx.toWallUs(ev.start_ns),
    end_us,
    host,
    netns: ev.netns,
    direction: active ? 'egress' : 'ingress',
    family: ev.family === AF_INET ? 'ipv4' : 'ipv6',
    src_ip: active ? ev.saddr : ev.daddr,
    src_port: active ? ev.sport : ev.dport,
    dst_ip: active ? ev.daddr : ev.saddr,
    dst_port: active ? ev.dport : ev.sport,
    conn_state: connState,
    close_reason: closeReason,
    connect_latency_us: connectLatency,
    srtt_us: bytesKnown && established && ev.srtt_us > 0 ? ev.srtt_us : null,
    src_bytes: bytes ? (active ? bytes.sent : bytes.received) : null,
    dst_bytes: bytes ? (active ? bytes.received : bytes.sent) : null,
    transport: udp ? 'udp' as const : 'tcp' as const,
    // Packets are counted for UDP only; a TCP record carries none.
    src_packets: udp ? Number(active ? ev.pkts_sent : ev.pkts_received) : null,
    dst_packets: udp ? Number(active ? ev.pkts_received : ev.pkts_sent) : null,
    ...ownerFields(unknownReason === null ? ev : null, ctx),
    sampled: (ev.flags & F_SAMPLED) !== 0,
    started_before_agent: (ev.flags & F_PREEXISTING) !== 0,
    process_unknown_reason: unknownReason,
    // No resolved name or DNS fields here (the DNS cache and DNS records fill them).
    dst_domain: null, dst_registered_domain: null,
    dns_id: null, dns_qname: null, dns_qtype: null, dns_registered_domain: null, dns_rcode: null, dns_resolved_ips: [], dns_answers: [],
  } satisfies Partial<ConnectionRecord>;
  // Every other record field is a counter the kernel fills and the record
  // carries as it is (EVENT_LAYOUT `record`); the type says so, so a record
  // field that is neither built here nor passed through fails to compile.
  return { ...built, ...(ev.passthrough as Omit<ConnectionRecord, keyof typeof built>) };
}
