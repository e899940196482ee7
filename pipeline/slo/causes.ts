import type { ConnectionDoc } from '../../lib/ecs.js';
import type { ConnState } from '../../lib/record.js';
import type { SloSpec } from './catalogue.js';

// What went wrong on the wire, one cause per connection, in the order an SRE
// would name it: a refusal or a SYN that was never answered explains
// everything after it; a reset ends the connection whatever its latency; a
// resent SYN is why a connect was slow; otherwise slowness, then loss.

export const CAUSES = ['refused', 'syn_timeout', 'reset', 'retransmits', 'slow_connect', 'other'] as const;
export type Cause = (typeof CAUSES)[number];

const RESET_STATES: ReadonlySet<ConnState> = new Set(['RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SHR']);

/**
 * Data retransmits below this are ordinary TCP life on any busy link; from
 * here on they are worth an SRE's look.
 */
export const RETRANSMIT_ANOMALY = 3;

/** The network anomaly this connection shows, or undefined for a clean connection. */
export function anomalyCause(doc: ConnectionDoc, slowConnectMs: number): Cause | undefined {
  const c = doc.connaudit;
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
export function recordKind(doc: ConnectionDoc): 'final' | 'interim' | 'missing' {
  const k = (doc.connaudit as { record_kind?: unknown }).record_kind;
  if (k === undefined || k === null) return 'missing';
  return k === 'final' ? 'final' : 'interim';
}

/**
 * Whether a document is a good or bad event of one SLO. Interim records are
 * not counted: the connection's final record will be, and counting both would
 * weigh long connections twice. A latency SLO counts only connections that
 * were established (have a connect latency); refusals and timeouts are the
 * availability SLO's bad events.
 */
export function verdict(doc: ConnectionDoc, slo: SloSpec): Verdict {
  if (recordKind(doc) === 'interim') return 'not_counted';
  if (slo.direction !== 'any' && doc.network.direction !== slo.direction) return 'not_counted';
  if (slo.type === 'availability') return slo.goodStates.has(doc.connaudit.conn_state) ? 'good' : 'bad';
  const ms = doc.connaudit.connect_latency_ms;
  if (ms === undefined) return 'not_counted';
  return ms < slo.thresholdMs! ? 'good' : 'bad';
}
