import { recordToDoc, type ConnectionDoc } from '../../lib/ecs.js';
import { connUid, eventId } from '../../lib/ids.js';
import { ipToBytes } from '../../lib/ip.js';
import type { CloseReason, ConnState, ConnectionRecord } from '../../lib/record.js';
import { recordDefaults } from '../../lib/record-fields.js';

// Builds enriched connection documents (the shape the rule stage sees after
// pipeline enrichment) from a short description. Used to write the rule
// fixtures (rule-fixtures.ts) and the benchmark input (tools/bench/fleet-gen.ts), so both
// have every field a real pipeline document has.

export interface ConnSpec {
  /** event time of the connection's end, ms */
  t: number;
  host: string;
  src: string;
  dst: string;
  dport: number;
  sport?: number;
  dir?: 'egress' | 'ingress';
  proc?: string;
  state?: ConnState;
  durationMs?: number;
  latencyMs?: number;
  synRetrans?: number;
  rstReceived?: number;
  rstSent?: number;
  service?: string;
  owner?: string;
  srcZone?: string;
  dstZone?: string;
  external?: boolean;
  nodeGroup?: string;
  /** distinguishes otherwise identical connections (ids are derived from it) */
  seq?: number;
}

const CLOSE: Record<string, CloseReason> = { SF: 'fin', S1: 'open', S0: 'syn_timeout', REJ: 'refused', RSTO: 'rst_sent', RSTR: 'rst_received', RSTOS0: 'rst_sent', RSTRH: 'rst_received' };

/** The record the spec describes; synthDoc maps it with the pipeline's own recordToDoc. */
export function synthRecord(s: ConnSpec): ConnectionRecord {
  const state = s.state ?? 'SF';
  const dur = s.durationMs ?? 120;
  const startMs = s.t - dur;
  const sport = s.sport ?? 32768 + ((s.seq ?? 0) * 7919 + s.dport) % 28000;
  const uid = connUid(s.host, 'synthetic-boot', `${s.src}:${sport}>${s.dst}:${s.dport}#${s.seq ?? 0}`, startMs);
  const good = state === 'SF' || state === 'S1';
  return {
    ...recordDefaults(),
    event_id: eventId(uid, 'final', s.t * 1000),
    conn_uid: uid,
    kind: 'final',
    start_us: startMs * 1000,
    end_us: s.t * 1000,
    host: s.host,
    netns: 4026531840,
    direction: s.dir ?? 'egress',
    family: s.src.includes(':') ? 'ipv6' : 'ipv4',
    src_ip: ipToBytes(s.src),
    src_port: sport,
    dst_ip: ipToBytes(s.dst),
    dst_port: s.dport,
    conn_state: state,
    close_reason: CLOSE[state] ?? 'unknown',
    connect_latency_us: good ? Math.round((s.latencyMs ?? 0.4) * 1000) : null,
    srtt_us: null,
    retransmits: 0,
    syn_retransmits: s.synRetrans ?? 0,
    rst_sent: s.rstSent ?? 0,
    rst_received: s.rstReceived ?? 0,
    src_bytes: null,
    dst_bytes: null,
    pid: 1000 + ((s.seq ?? 0) % 30000),
    tid: null,
    ppid: null,
    uid: null,
    comm: s.proc ?? 'app',
    executable: `/usr/bin/${s.proc ?? 'app'}`,
    parent_name: null,
    cgroup_id: null,
    container_id: null,
    environment: null,
    node_group: s.nodeGroup ?? null,
    labels: {},
  };
}

/** The enriched document: recordToDoc, then what pipeline/enrich would add. */
export function synthDoc(s: ConnSpec): ConnectionDoc {
  const doc = recordToDoc(synthRecord(s));
  const c = doc.connaudit;
  c.destination_external = s.external ?? false;
  if (s.srcZone) c.source_zone = s.srcZone;
  if (s.dstZone) c.destination_zone = s.dstZone;
  if (s.owner) c.service_owner = s.owner;
  if (s.service) doc.service = { name: s.service };
  return doc;
}
