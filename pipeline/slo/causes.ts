import type { ConnectionDoc } from '../../lib/ecs.js';
import type { ConnState } from '../../lib/record.js';
import type { SloSpec } from './catalogue.js';

// What went wrong on the wire, one cause per connection, in the order an SRE
// would name it: a refusal or a SYN that was never answered explains
// everything after it; a reset ends the connection whatever its latency; a
// resent SYN is why a connect was slow; otherwise slowness, then loss.
//
// A lookup that fails never becomes a connection, so without its DNS record
// the attempt would be invisible to the SLO: a failed lookup (the resolver
// answered SERVFAIL, or nothing came back within the DNS timeout) is itself a
// bad event of the service's availability SLO, with its own cause. Answered
// lookups are not counted: the connection they lead to is, once.

export const CAUSES = ['refused', 'syn_timeout', 'reset', 'retransmits', 'slow_connect', 'dns_servfail', 'dns_timeout', 'other'] as const;
export type Cause = (typeof CAUSES)[number];

const RESET_STATES: ReadonlySet<ConnState> = new Set(['RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SHR']);

/**
 * Data retransmits below this are ordinary TCP life on any busy link; from
 * here on they are worth an SRE's look.
 */
export const RETRANSMIT_ANOMALY = 3;

/** The DNS failure a DNS record shows (SERVFAIL, or no answer), or undefined. */
export function dnsFailure(doc: ConnectionDoc): 'dns_servfail' | 'dns_timeout' | undefined {
  if (doc.connaudit.record_kind !== 'dns') return undefined;
  if (doc.dns?.response_code === 'SERVFAIL') return 'dns_servfail';
  if (doc.dns?.response_code === undefined && (doc.connaudit.close_reason === 'timeout' || doc.connaudit.conn_state === 'S0')) return 'dns_timeout';
  return undefined;
}

/** The network anomaly this connection (or DNS lookup) shows, or undefined for a clean one. */
export function anomalyCause(doc: ConnectionDoc, slowConnectMs: number): Cause | undefined {
  const c = doc.connaudit;
  if (c.record_kind === 'dns') return dnsFailure(doc);
  // A UDP flow has no handshake: S0 is a peer that never sent anything back, not a SYN timeout.
  if (doc.network.transport === 'udp') return undefined;
  if (c.conn_state === 'REJ' || c.close_reason === 'refused') return 'refused';
  if (c.conn_state === 'S0' || c.close_reason === 'syn_timeout') return 'syn_timeout';
  if (RESET_STATES.has(c.conn_state) || c.close_reason === 'rst_sent' || c.close_reason === 'rst_received') return 'reset';
  if (c.syn_retransmits > 0) return 'retransmits';
  if (c.connect_latency_ms !== undefined && c.connect_latency_ms >= slowConnectMs) return 'slow_connect';
  if (c.retransmits >= RETRANSMIT_ANOMALY) return 'retransmits';
  return undefined;
}

export type Verdict = 'good' | 'bad' | 'not_counted';

/**
 * Which record of its connection a document is. Documents from other shippers
 * (Packetbeat flows, imported archives) carry no connaudit.record_kind; each
 * describes a whole connection, so they are judged as final records, and the
 * stage counts them (no_record_kind) and says so once in its log, instead of
 * leaving them out of every SLO without a word.
 */
export function recordKind(doc: ConnectionDoc): 'final' | 'interim' | 'dns' | 'missing' {
  const k = (doc.connaudit as { record_kind?: unknown }).record_kind;
  if (k === undefined || k === null) return 'missing';
  return k === 'final' || k === 'dns' ? k : 'interim';
}

/**
 * Whether a document is a good or bad event of one SLO. Interim records are
 * not counted: the connection's final record will be, and counting both would
 * weigh long connections twice. A latency SLO counts only connections that
 * were established (have a connect latency); refusals and timeouts are the
 * availability SLO's bad events, and so are failed DNS lookups (see above).
 * UDP flows are not counted.
 */
export function verdict(doc: ConnectionDoc, slo: SloSpec): Verdict {
  const kind = recordKind(doc);
  if (kind === 'interim') return 'not_counted';
  if (slo.direction !== 'any' && doc.network.direction !== slo.direction) return 'not_counted';
  if (kind === 'dns') return slo.type === 'availability' && dnsFailure(doc) !== undefined ? 'bad' : 'not_counted';
  // The SLOs' good states are TCP's; a UDP flow has no connect to succeed or fail.
  if (doc.network.transport === 'udp') return 'not_counted';
  if (slo.type === 'availability') return slo.goodStates.has(doc.connaudit.conn_state) ? 'good' : 'bad';
  const ms = doc.connaudit.connect_latency_ms;
  if (ms === undefined) return 'not_counted';
  return ms < slo.thresholdMs! ? 'good' : 'bad';
}
