import { communityId } from './community-id.js';
import { ipToBytes, ipToString } from './ip.js';
import type { CloseReason, ConnState, ConnectionRecord } from './record.js';

// The nested ECS document for one connection record. The agent prints it
// (`agent --output jsonl`), `agent --replay` reads it back, the rule engine and
// the SLO annotator read it, and the pipeline indexes it. Field meanings are in
// README.md ("Field reference") and the types in schemas/elasticsearch/.

export interface ConnectionDoc {
  '@timestamp': string;
  event: {
    id: string;
    kind: 'event';
    category: ['network'];
    type: string[];
    action: 'connection-closed' | 'connection-interim';
    outcome: 'success' | 'failure' | 'unknown';
    start: string;
    end: string;
    /** nanoseconds, as ECS wants. */
    duration: number;
    dataset: 'connaudit.connections';
    module: 'connaudit';
    ingested?: string;
  };
  host: { name: string };
  process?: {
    pid?: number;
    name?: string;
    executable?: string;
    thread?: { id: number };
    parent?: { pid?: number; name?: string };
  };
  user?: { id: string };
  container?: { id: string };
  source: { ip: string; port: number; bytes?: number };
  destination: { ip: string; port: number; bytes?: number };
  network: {
    transport: 'tcp';
    iana_number: '6';
    type: 'ipv4' | 'ipv6';
    direction: 'egress' | 'ingress';
    community_id: string;
  };
  service?: { name?: string; environment?: string };
  labels?: Record<string, string>;
  connaudit: {
    conn_uid: string;
    record_kind: 'final' | 'interim';
    conn_state: ConnState;
    close_reason: CloseReason;
    connect_latency_ms?: number;
    srtt_ms?: number;
    retransmits: number;
    syn_retransmits: number;
    rst_sent: number;
    rst_received: number;
    netns: number;
    sampled?: boolean;
    started_before_agent?: boolean;
    process_unknown_reason?: string;
    cgroup_id?: number;
    node_group?: string;
    agent_version?: string;
    /** Filled by the pipeline's enrichment (pipeline/enrich). */
    service_owner?: string;
    source_zone?: string;
    destination_zone?: string;
    destination_service?: string;
    /** true when the destination is outside every internal CIDR the pipeline knows. */
    destination_external?: boolean;
  };
  /** SLO annotation, filled by the pipeline (pipeline/slo). */
  slo?: Record<string, unknown>;
}

const isoFromMicros = (us: number): string => new Date(Math.floor(us / 1000)).toISOString().replace(/\.(\d{3})Z$/, (_m, ms: string) => `.${ms}${String(us % 1000).padStart(3, '0')}Z`);

function microsFromIso(iso: string): number {
  const m = /\.(\d+)Z$/.exec(iso);
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not an ISO-8601 timestamp: ${JSON.stringify(iso)}`);
  const frac = m ? m[1]!.padEnd(6, '0').slice(3, 6) : '000';
  return ms * 1000 + Number(frac);
}

const GOOD_STATES: ReadonlySet<ConnState> = new Set(['SF', 'S1']);

export function recordToDoc(r: ConnectionRecord): ConnectionDoc {
  const src = ipToString(r.src_ip);
  const dst = ipToString(r.dst_ip);
  const doc: ConnectionDoc = {
    '@timestamp': isoFromMicros(r.end_us),
    event: {
      id: r.event_id,
      kind: 'event',
      category: ['network'],
      type: r.kind === 'final' ? ['connection', 'end'] : ['connection', 'info'],
      action: r.kind === 'final' ? 'connection-closed' : 'connection-interim',
      outcome: GOOD_STATES.has(r.conn_state) ? 'success' : 'failure',
      start: isoFromMicros(r.start_us),
      end: isoFromMicros(r.end_us),
      duration: Math.max(0, r.end_us - r.start_us) * 1000,
      dataset: 'connaudit.connections',
      module: 'connaudit',
    },
    host: { name: r.host },
    source: { ip: src, port: r.src_port },
    destination: { ip: dst, port: r.dst_port },
    network: {
      transport: 'tcp',
      iana_number: '6',
      type: r.family,
      direction: r.direction,
      community_id: communityId({ proto: 6, saddr: src, daddr: dst, sport: r.src_port, dport: r.dst_port }),
    },
    connaudit: {
      conn_uid: r.conn_uid,
      record_kind: r.kind,
      conn_state: r.conn_state,
      close_reason: r.close_reason,
      retransmits: r.retransmits,
      syn_retransmits: r.syn_retransmits,
      rst_sent: r.rst_sent,
      rst_received: r.rst_received,
      netns: r.netns,
    },
  };
  if (r.sampled) doc.connaudit.sampled = true;
  if (r.started_before_agent) doc.connaudit.started_before_agent = true;
  if (r.process_unknown_reason != null) doc.connaudit.process_unknown_reason = r.process_unknown_reason;
  if (r.src_bytes != null) doc.source.bytes = r.src_bytes;
  if (r.dst_bytes != null) doc.destination.bytes = r.dst_bytes;
  const proc: NonNullable<ConnectionDoc['process']> = {};
  if (r.pid != null) proc.pid = r.pid;
  if (r.comm != null) proc.name = r.comm;
  if (r.executable != null) proc.executable = r.executable;
  if (r.tid != null) proc.thread = { id: r.tid };
  if (r.ppid != null || r.parent_name != null) {
    proc.parent = {};
    if (r.ppid != null) proc.parent.pid = r.ppid;
    if (r.parent_name != null) proc.parent.name = r.parent_name;
  }
  if (Object.keys(proc).length > 0) doc.process = proc;
  if (r.uid != null) doc.user = { id: String(r.uid) };
  if (r.container_id != null) doc.container = { id: r.container_id };
  if (r.environment != null) doc.service = { environment: r.environment };
  if (Object.keys(r.labels).length > 0) doc.labels = { ...r.labels };
  const c = doc.connaudit;
  if (r.connect_latency_us != null) c.connect_latency_ms = r.connect_latency_us / 1000;
  if (r.srtt_us != null) c.srtt_ms = r.srtt_us / 1000;
  if (r.cgroup_id != null) c.cgroup_id = r.cgroup_id;
  if (r.node_group != null) c.node_group = r.node_group;
  if (r.agent_version) c.agent_version = r.agent_version;
  return doc;
}

/** Where a field is missing or has the wrong type, the message names it. */
export class DocError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'DocError';
  }
}

type Json = Record<string, unknown>;

function get(doc: Json, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[part];
  }
  return cur;
}

function need<T>(doc: Json, path: string, kind: 'string' | 'number'): T {
  const v = get(doc, path);
  if (typeof v !== kind) throw new DocError(path, v === undefined ? 'is required' : `must be a ${kind}, got ${JSON.stringify(v)}`);
  return v as T;
}

function opt<T>(doc: Json, path: string, kind: 'string' | 'number' | 'boolean'): T | null {
  const v = get(doc, path);
  if (v === undefined || v === null) return null;
  if (typeof v !== kind) throw new DocError(path, `must be a ${kind}, got ${JSON.stringify(v)}`);
  return v as T;
}

function oneOf<T extends string>(doc: Json, path: string, allowed: readonly T[], fallback?: T): T {
  const v = get(doc, path);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new DocError(path, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}

function ip(doc: Json, path: string): Buffer {
  const v = need<string>(doc, path, 'string');
  try {
    return ipToBytes(v);
  } catch (err) {
    throw new DocError(path, (err as Error).message);
  }
}

/**
 * The inverse of recordToDoc, for `agent --replay` and backtests: reads a
 * nested ECS connection document back into a wire record. Pipeline-added
 * fields (service.name, slo.*) are not part of the record and are dropped.
 */
export function docToRecord(input: unknown, agentVersion = ''): ConnectionRecord {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new DocError('(document)', 'must be a JSON object');
  const d = input as Json;
  const src = ip(d, 'source.ip');
  const dst = ip(d, 'destination.ip');
  if (src.length !== dst.length) throw new DocError('destination.ip', 'has a different address family from source.ip');
  const start = microsFromIso(need<string>(d, 'event.start', 'string'));
  const end = microsFromIso(need<string>(d, 'event.end', 'string'));
  const latencyMs = opt<number>(d, 'connaudit.connect_latency_ms', 'number');
  const srttMs = opt<number>(d, 'connaudit.srtt_ms', 'number');
  const uid = opt<string>(d, 'user.id', 'string');
  const labels = get(d, 'labels');
  const kind = oneOf(d, 'connaudit.record_kind', ['final', 'interim'] as const, 'final');
  return {
    event_id: need<string>(d, 'event.id', 'string'),
    conn_uid: need<string>(d, 'connaudit.conn_uid', 'string'),
    kind,
    start_us: start,
    end_us: end,
    host: need<string>(d, 'host.name', 'string'),
    netns: opt<number>(d, 'connaudit.netns', 'number') ?? 0,
    direction: oneOf(d, 'network.direction', ['egress', 'ingress'] as const),
    family: src.length === 4 ? 'ipv4' : 'ipv6',
    src_ip: src,
    src_port: need<number>(d, 'source.port', 'number'),
    dst_ip: dst,
    dst_port: need<number>(d, 'destination.port', 'number'),
    conn_state: oneOf(d, 'connaudit.conn_state', ['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'] as const),
    close_reason: oneOf(d, 'connaudit.close_reason', ['fin', 'refused', 'syn_timeout', 'rst_sent', 'rst_received', 'aborted', 'open', 'unknown'] as const, 'unknown'),
    connect_latency_us: latencyMs == null ? null : Math.round(latencyMs * 1000),
    srtt_us: srttMs == null ? null : Math.round(srttMs * 1000),
    retransmits: opt<number>(d, 'connaudit.retransmits', 'number') ?? 0,
    syn_retransmits: opt<number>(d, 'connaudit.syn_retransmits', 'number') ?? 0,
    rst_sent: opt<number>(d, 'connaudit.rst_sent', 'number') ?? 0,
    rst_received: opt<number>(d, 'connaudit.rst_received', 'number') ?? 0,
    src_bytes: opt<number>(d, 'source.bytes', 'number'),
    dst_bytes: opt<number>(d, 'destination.bytes', 'number'),
    pid: opt<number>(d, 'process.pid', 'number'),
    tid: opt<number>(d, 'process.thread.id', 'number'),
    ppid: opt<number>(d, 'process.parent.pid', 'number'),
    uid: uid == null ? null : Number(uid),
    comm: opt<string>(d, 'process.name', 'string'),
    executable: opt<string>(d, 'process.executable', 'string'),
    parent_name: opt<string>(d, 'process.parent.name', 'string'),
    cgroup_id: opt<number>(d, 'connaudit.cgroup_id', 'number'),
    container_id: opt<string>(d, 'container.id', 'string'),
    environment: opt<string>(d, 'service.environment', 'string'),
    node_group: opt<string>(d, 'connaudit.node_group', 'string'),
    labels: labels && typeof labels === 'object' ? Object.fromEntries(Object.entries(labels as Json).map(([k, v]) => [k, String(v)])) : {},
    agent_version: opt<string>(d, 'connaudit.agent_version', 'string') ?? agentVersion,
    sampled: opt<boolean>(d, 'connaudit.sampled', 'boolean') ?? false,
    started_before_agent: opt<boolean>(d, 'connaudit.started_before_agent', 'boolean') ?? false,
    process_unknown_reason: opt<string>(d, 'connaudit.process_unknown_reason', 'string'),
  };
}
