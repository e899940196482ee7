import { cidrMatcher } from '../../lib/cidr.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import type { ConnState } from '../../lib/record.js';
import { DEFAULT_INTERNAL_CIDRS } from '../enrich/enrich.js';
import { checkIp, checkPort, closeReason, connState, ImportReject, type ImportedConn } from './conn.js';

// ECS connection documents from other shippers -> connaudit connections:
// - Packetbeat flows (event.dataset flow; flow.final false is a snapshot of a
//   flow still open, so it becomes an interim record);
// - Elastic Defend network events (the end event of a connection:
//   event.type end, e.g. disconnect_received; start events carry no outcome);
// - documents that already hold connaudit.* or Filebeat's zeek.connection.*.
// An Elasticsearch export line ({_index, _source}) is unwrapped first.
//
// The connection state comes from connaudit.conn_state or
// zeek.connection.state when present. Packetbeat and Defend carry no TCP
// flags, so for them it is inferred and the document says so in
// labels.conn_state_inferred: no reply packets -> S0; reply packets (or a
// disconnect event) -> SF, or S1 for a flow still open. A refused or reset
// connection is indistinguishable from a normal one there, which the import
// summary repeats. A document with no state and nothing to infer it from is
// rejected with the reason.

type Json = Record<string, unknown>;

/** Reads a.b.c from nested objects, or from a flattened "a.b.c" key, as exports from Kibana have. */
function get(d: Json, path: string): unknown {
  if (path in d) return d[path];
  let cur: unknown = d;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[p];
  }
  return cur;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const numOrU = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const isInternal = cidrMatcher(DEFAULT_INTERNAL_CIDRS);

function micros(v: unknown, field: string): number {
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw new ImportReject(field, v === undefined ? 'is missing' : `${JSON.stringify(v)} is not an ISO 8601 time`, `${field} invalid`);
  const frac = /\.(\d+)/.exec(v)?.[1] ?? '';
  return Date.parse(v) * 1000 + Number(frac.padEnd(6, '0').slice(3, 6));
}

export function unwrap(o: unknown): Json {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ImportReject('(document)', 'each line must be one JSON object', 'not JSON');
  const d = o as Json;
  return d._source && typeof d._source === 'object' ? (d._source as Json) : d;
}

/** Start times of connections whose start event was seen, by host and 5-tuple, so the end event gets its real start. */
export type StartIndex = Map<string, number>;

export function ecsToConn(d: Json, starts: StartIndex = new Map()): ImportedConn {
  const transport = get(d, 'network.transport') ?? (get(d, 'network.iana_number') === '6' ? 'tcp' : undefined);
  if (transport !== 'tcp') throw new ImportReject('network.transport', `${JSON.stringify(transport)} is not TCP: connaudit records TCP connections only`, `not TCP (${String(transport ?? 'missing')})`, transport !== undefined);
  const srcIp = checkIp(get(d, 'source.ip'), 'source.ip');
  const dstIp = checkIp(get(d, 'destination.ip'), 'destination.ip');
  const srcPort = checkPort(get(d, 'source.port'), 'source.port');
  const dstPort = checkPort(get(d, 'destination.port'), 'destination.port');
  const host = str(get(d, 'host.name')) ?? str(get(d, 'observer.hostname')) ?? str(get(d, 'agent.name'));
  if (!host) throw new ImportReject('host.name', 'is missing (and so are observer.hostname and agent.name): a record must belong to a host', 'host.name missing');

  const endUs = micros(get(d, 'event.end') ?? get(d, '@timestamp'), get(d, 'event.end') !== undefined ? 'event.end' : '@timestamp');
  const durNs = numOrU(get(d, 'event.duration'));
  const tuple = `${host}|${srcIp}|${srcPort}|${dstIp}|${dstPort}`;
  const startUs = get(d, 'event.start') !== undefined ? micros(get(d, 'event.start'), 'event.start') : durNs !== undefined ? endUs - Math.round(durNs / 1000) : starts.get(tuple) ?? endUs;
  if (startUs > endUs) throw new ImportReject('event.start', 'is after event.end', 'times reversed');

  const types = ([] as unknown[]).concat(get(d, 'event.type') ?? []);
  const action = str(get(d, 'event.action'));
  const flowFinal = get(d, 'flow.final');
  const declaredKind = get(d, 'connaudit.record_kind');
  const kind = declaredKind === 'final' || declaredKind === 'interim' ? declaredKind : flowFinal === false ? 'interim' : 'final';
  const isDefendStart = action === 'connection_attempted' || action === 'connection_accepted' || (types.includes('start') && !types.includes('end') && flowFinal === undefined);

  const labels: Record<string, string> = { import_source: 'ecs' };
  const shipper = str(get(d, 'agent.type')) ?? str(get(d, 'event.module')) ?? str(get(d, 'event.dataset'));
  if (shipper) labels.import_shipper = shipper;

  let state: ConnState;
  const own = get(d, 'connaudit.conn_state');
  const zeek = get(d, 'zeek.connection.state');
  if (own !== undefined) state = connState(own, 'connaudit.conn_state');
  else if (zeek !== undefined) state = connState(zeek, 'zeek.connection.state');
  else if (isDefendStart) {
    starts.set(tuple, endUs);
    if (starts.size > 100_000) starts.delete(starts.keys().next().value!); // bounded: oldest first
    throw new ImportReject('event.action', `a connection start event (${action ?? 'event.type start'}) carries no outcome; connaudit imports the end event of each connection (event.type end, e.g. disconnect_received)`, 'start events (their end event carries the connection)', true);
  } else {
    const replyPkts = numOrU(get(d, 'destination.packets'));
    const replyBytes = numOrU(get(d, 'destination.bytes'));
    const sentPkts = numOrU(get(d, 'source.packets'));
    const ended = types.includes('end') || action === 'disconnect_received';
    if (replyPkts !== undefined || sentPkts !== undefined) {
      const replied = (replyPkts ?? 0) > 0 || (replyBytes ?? 0) > 0;
      state = replied ? (kind === 'interim' ? 'S1' : 'SF') : 'S0';
      labels.conn_state_inferred = 'packet-counts';
    } else if (ended && (action === 'disconnect_received' || (replyBytes ?? 0) > 0)) {
      state = 'SF';
      labels.conn_state_inferred = action === 'disconnect_received' ? 'disconnect-event' : 'reply-bytes';
    } else {
      throw new ImportReject('connaudit.conn_state', 'no connection state: the document has neither connaudit.conn_state nor zeek.connection.state, nor packet counts or an end event to infer it from', 'no connection state');
    }
  }

  const dir = str(get(d, 'network.direction'));
  const hostIps = ([] as unknown[]).concat(get(d, 'host.ip') ?? []);
  const direction: 'egress' | 'ingress' =
    dir === 'egress' || dir === 'outbound' ? 'egress'
      : dir === 'ingress' || dir === 'inbound' ? 'ingress'
        : hostIps.includes(dstIp) && !hostIps.includes(srcIp) ? 'ingress'
          : !isInternal(srcIp) && isInternal(dstIp) ? 'ingress' : 'egress';

  const proc: NonNullable<ConnectionDoc['process']> = {};
  const pid = numOrU(get(d, 'process.pid'));
  if (pid !== undefined) proc.pid = pid;
  const pname = str(get(d, 'process.name'));
  if (pname) proc.name = pname;
  const exe = str(get(d, 'process.executable'));
  if (exe) proc.executable = exe;
  const ppid = numOrU(get(d, 'process.parent.pid'));
  const pparent = str(get(d, 'process.parent.name'));
  if (ppid !== undefined || pparent) proc.parent = { ...(ppid !== undefined ? { pid: ppid } : {}), ...(pparent ? { name: pparent } : {}) };
  const uid = get(d, 'user.id');
  const user = (typeof uid === 'string' && /^\d+$/.test(uid)) || typeof uid === 'number' ? { id: String(uid) } : undefined;
  const connUid = str(get(d, 'connaudit.conn_uid'));

  return {
    startUs,
    durationUs: endUs - startUs,
    host,
    direction,
    srcIp,
    srcPort,
    dstIp,
    dstPort,
    connState: state,
    closeReason: closeReason(get(d, 'connaudit.close_reason')),
    kind,
    communityId: str(get(d, 'network.community_id')),
    srcBytes: numOrU(get(d, 'source.bytes')),
    dstBytes: numOrU(get(d, 'destination.bytes')),
    retransmits: numOrU(get(d, 'connaudit.retransmits')),
    rstSent: numOrU(get(d, 'connaudit.rst_sent')),
    rstReceived: numOrU(get(d, 'connaudit.rst_received')),
    process: proc,
    user,
    connUid,
    labels,
  };
}
