import { connUid, eventId } from '../lib/ids.js';
import type { ConnectionRecord } from '../lib/record.js';
import { DnsCache } from './dns-cache.js';
import { DNS_FLAG, type DnsEvent } from './dns-decoder.js';
import type { DnsTransaction } from './dns-join.js';
import { AF_INET } from './event-decoder.js';
import { ownerFields, type BuildContext } from './record-builder.js';

// One DNS transaction (agent/dns-join.ts) -> one record of kind `dns`. It has
// the shape of a connection from the client to the resolver (the 5-tuple, the
// querying process, transport udp/tcp) plus the dns_* fields. conn_state SF
// is an answered query, S0 an unanswered one, SHR an answer whose query the
// agent did not see (sent before it started).

/** connaudit.process_unknown_reason of a DNS record without a process. */
export const DNS_PROCESS_UNKNOWN = {
  /** The socket connect()ed or first sent to port 53 before the agent attached its hooks. */
  socketBeforeAgent: 'dns_socket_before_agent',
} as const;

const STATE: Record<DnsTransaction['outcome'], { conn_state: ConnectionRecord['conn_state']; close_reason: ConnectionRecord['close_reason'] }> = {
  answered: { conn_state: 'SF', close_reason: 'answered' },
  orphan: { conn_state: 'SHR', close_reason: 'answered' },
  timeout: { conn_state: 'S0', close_reason: 'timeout' },
  // Recorded before the timeout to keep the pending table bounded: unanswered so far.
  overflow: { conn_state: 'S0', close_reason: 'timeout' },
  // The agent stopped while the query waited: whether it was answered is not known.
  stopped: { conn_state: 'S0', close_reason: 'unknown' },
};

const ownerOf = (tx: DnsTransaction): DnsEvent | null => {
  for (const side of [tx.query, tx.answer]) if (side && (side.ev.flags & DNS_FLAG.CA_DNS_F_OWNER) !== 0 && side.ev.pid > 0) return side.ev;
  return null;
};

export function buildDnsRecord(tx: DnsTransaction, ctx: BuildContext, timeoutNs: bigint, nowNs: bigint): ConnectionRecord {
  const first = (tx.query ?? tx.answer)!;
  const ev = first.ev;
  const msg = first.msg;
  const answer = tx.answer?.msg ?? null;
  const host = ctx.cfg.netnsHosts.get(ev.netns) ?? ctx.cfg.host;
  const startNs = ev.ts_ns;
  const endNs = tx.answer ? tx.answer.ev.ts_ns : tx.outcome === 'timeout' ? startNs + timeoutNs : nowNs;
  // The socket cookie is unique for the boot, the id within the socket.
  const uid = connUid(host, ctx.bootId, `dns:${ev.cookie}:${msg.id}`, startNs);
  const end_us = ctx.toWallUs(endNs);
  const owner = ownerOf(tx);
  return {
    event_id: eventId(uid, 'dns', end_us),
    conn_uid: uid,
    kind: 'dns',
    start_us: ctx.toWallUs(startNs),
    end_us,
    host,
    netns: ev.netns,
    direction: 'egress',
    family: ev.family === AF_INET ? 'ipv4' : 'ipv6',
    src_ip: ev.laddr,
    src_port: ev.lport,
    dst_ip: ev.raddr,
    dst_port: ev.rport,
    ...STATE[tx.outcome],
    connect_latency_us: null,
    srtt_us: null,
    // A query sent again with the same id (the resolver's retry).
    retransmits: Math.max(0, tx.sends - 1),
    syn_retransmits: 0,
    rst_sent: 0,
    rst_received: 0,
    src_bytes: tx.query ? tx.query.ev.wire_len * tx.sends : null,
    dst_bytes: tx.answer ? tx.answer.ev.wire_len : 0,
    ...ownerFields(owner, ctx),
    sampled: false,
    started_before_agent: false,
    process_unknown_reason: owner ? null : DNS_PROCESS_UNKNOWN.socketBeforeAgent,
    transport: (ev.flags & DNS_FLAG.CA_DNS_F_TCP) !== 0 ? 'tcp' : 'udp',
    src_packets: tx.query ? tx.sends : 0,
    dst_packets: tx.answer ? 1 : 0,
    dst_domain: null,
    dst_registered_domain: null,
    dns_id: msg.id,
    dns_qname: msg.qname,
    dns_qtype: msg.qtype,
    dns_registered_domain: DnsCache.registeredDomain(msg.qname),
    dns_rcode: answer ? answer.rcode : null,
    dns_resolved_ips: answer ? answer.addresses : [],
    dns_answers: answer ? answer.answers : [],
  };
}
