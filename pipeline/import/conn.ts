import { createHash } from 'node:crypto';
import { communityId } from '../../lib/community-id.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { eventId } from '../../lib/ids.js';
import { ipToBytes } from '../../lib/ip.js';
import { CLOSE_REASONS, CONN_STATES, type CloseReason, type ConnState, type RecordKind } from '../../lib/record.js';

// What every importer (Zeek, other shippers' ECS) produces: one connection as
// another tool saw it, normalised, and the connaudit document built from it.
// The document is complete (conn_uid, event.id, record_kind, close_reason), so
// `agent --replay`, `rules backtest` and `report` take it unchanged.

export interface ImportedConn {
  startUs: number;
  /** absent when the tool did not measure the duration */
  durationUs: number | null;
  /** the host the record is written for (see each importer for how it is chosen) */
  host: string;
  direction: 'egress' | 'ingress';
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  connState: ConnState;
  closeReason?: CloseReason;
  kind: RecordKind;
  communityId?: string;
  srcBytes?: number;
  dstBytes?: number;
  retransmits?: number;
  rstSent?: number;
  rstReceived?: number;
  process?: ConnectionDoc['process'];
  user?: ConnectionDoc['user'];
  /** kept when the document already is a connaudit document */
  connUid?: string;
  /** provenance, kept as labels (labels.import_source, labels.zeek_uid, ...) */
  labels: Record<string, string>;
}

/** A line or document that cannot be judged: counted and reported, never silently dropped. */
export class ImportReject extends Error {
  /**
   * `skip`: a record of a kind connaudit has no place for (UDP, a start event
   * whose end event carries the connection): counted as skipped, not an error.
   */
  constructor(readonly field: string, message: string, readonly reason = field, readonly skip = false) {
    super(`${field}: ${message}`);
    this.name = 'ImportReject';
  }
}

const CLOSE_BY_STATE: Partial<Record<ConnState, CloseReason>> = {
  SF: 'fin', S1: 'open', S2: 'fin', S3: 'fin', S0: 'syn_timeout', REJ: 'refused', RSTO: 'rst_sent', RSTOS0: 'rst_sent', RSTR: 'rst_received', RSTRH: 'rst_received',
};

export function connState(v: unknown, field: string): ConnState {
  if (typeof v !== 'string' || !(CONN_STATES as readonly string[]).includes(v)) throw new ImportReject(field, `${JSON.stringify(v)} is not a Zeek connection state (${CONN_STATES.join(', ')})`, `${field} unknown`);
  return v as ConnState;
}

export function closeReason(v: unknown): CloseReason | undefined {
  return typeof v === 'string' && (CLOSE_REASONS as readonly string[]).includes(v) ? (v as CloseReason) : undefined;
}

export function checkIp(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new ImportReject(field, v === undefined ? 'is missing' : `must be an address, got ${JSON.stringify(v)}`, `${field} missing`);
  try {
    ipToBytes(v);
  } catch {
    throw new ImportReject(field, `${JSON.stringify(v)} is not an IP address`, `${field} invalid`);
  }
  return v;
}

export function checkPort(v: unknown, field: string): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw new ImportReject(field, v === undefined ? 'is missing' : `${JSON.stringify(v)} is not a port`, `${field} invalid`);
  return n;
}

/**
 * conn_uid for a connection another tool recorded: the community_id (the same
 * for both directions and for every sensor that saw the flow) plus the start
 * time in microseconds. Importing the same log twice, or the Zeek and the
 * Packetbeat view of one connection, gives the same id.
 */
export function importedConnUid(community: string, startUs: number): string {
  return `C${createHash('sha256').update(`import|${community}|${startUs}`).digest('base64url').slice(0, 22)}`;
}

/** ISO 8601 with microseconds, as recordToDoc writes it (…T11:06:40.123456Z). */
const iso = (us: number): string => `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 23)}${String(us % 1000).padStart(3, '0')}Z`;

export function buildDoc(c: ImportedConn): ConnectionDoc {
  // the addresses were checked by the importer: a colon tells the family
  const v6 = c.srcIp.includes(':');
  if (v6 !== c.dstIp.includes(':')) throw new ImportReject('destination.ip', `${c.dstIp} is not of the same address family as ${c.srcIp}`, 'mixed address families');
  const community = c.communityId ?? communityId({ proto: 6, saddr: c.srcIp, daddr: c.dstIp, sport: c.srcPort, dport: c.dstPort });
  const uid = c.connUid ?? importedConnUid(community, c.startUs);
  const endUs = c.startUs + Math.max(0, c.durationUs ?? 0);
  const state = c.connState;
  // Asserted rather than annotated: related.* is being added to the shared
  // document type, and this literal must compile before and after that.
  const doc = {
    '@timestamp': iso(endUs),
    event: {
      id: eventId(uid, c.kind, endUs),
      kind: 'event',
      category: ['network'],
      type: c.kind === 'final' ? ['connection', 'end'] : ['connection', 'info'],
      action: c.kind === 'final' ? 'connection-closed' : 'connection-interim',
      outcome: state === 'SF' || state === 'S1' ? 'success' : 'failure',
      start: iso(c.startUs),
      end: iso(endUs),
      duration: Math.max(0, endUs - c.startUs) * 1000,
      dataset: 'connaudit.connections',
      module: 'connaudit',
    },
    host: { name: c.host },
    source: { ip: c.srcIp, port: c.srcPort },
    destination: { ip: c.dstIp, port: c.dstPort },
    network: { transport: 'tcp', iana_number: '6', type: v6 ? 'ipv6' : 'ipv4', direction: c.direction, community_id: community },
    connaudit: {
      conn_uid: uid,
      record_kind: c.kind,
      conn_state: state,
      close_reason: c.closeReason ?? CLOSE_BY_STATE[state] ?? 'unknown',
      retransmits: c.retransmits ?? 0,
      syn_retransmits: 0,
      rst_sent: c.rstSent ?? 0,
      rst_received: c.rstReceived ?? 0,
      netns: 0,
      agent_version: `import-${c.labels.import_source ?? 'unknown'}`,
    },
    // ECS related.*, as the pipeline writes it for the agent's own records
    related: { ip: c.srcIp === c.dstIp ? [c.srcIp] : [c.srcIp, c.dstIp], hosts: [c.host], ...(c.user ? { user: [c.user.id] } : {}) },
  } as ConnectionDoc;
  if (c.srcBytes !== undefined) doc.source.bytes = c.srcBytes;
  if (c.dstBytes !== undefined) doc.destination.bytes = c.dstBytes;
  if (c.process && Object.keys(c.process).length) doc.process = c.process;
  if (c.user) doc.user = c.user;
  doc.labels = { ...c.labels };
  return doc;
}
