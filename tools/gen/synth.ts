import { recordToDoc, type ConnectionDoc } from '../../lib/ecs.js';
import { connUid, eventId } from '../../lib/ids.js';
import { ipToBytes } from '../../lib/ip.js';
import type { CloseReason, ConnState, ConnectionRecord } from '../../lib/record.js';
import { recordDefaults } from '../../lib/record-fields.js';
import { dependencyDeclared } from '../../pipeline/enrich/dependencies.js';

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
  /** A UDP flow (default: a TCP connection). */
  transport?: 'tcp' | 'udp';
  /** The name the agent's DNS cache knows for dst (destination.domain). */
  domain?: string;
  srcBytes?: number;
  dstBytes?: number;
  srcPackets?: number;
  dstPackets?: number;
  /** A DNS transaction instead of a connection: the question and, unless rcode is null, its answer. */
  dns?: DnsSpec;
  /** The owning service's declared domain dependencies (what enrichment reads from the catalogue). */
  dependencyDomains?: string[];
}

export interface DnsSpec {
  qname: string;
  qtype?: string;
  /** null: no answer (the query timed out). Default NOERROR. */
  rcode?: string | null;
  /** A/AAAA answers. */
  ips?: string[];
}

/**
 * The last two labels. The agent uses the public suffix list; the synthetic
 * names here are all under two-label registered domains, so this is the same.
 */
export function registeredDomain(name: string): string {
  return name.split('.').filter(Boolean).slice(-2).join('.');
}

const CLOSE: Record<string, CloseReason> = { SF: 'fin', S1: 'open', S0: 'syn_timeout', REJ: 'refused', RSTO: 'rst_sent', RSTR: 'rst_received', RSTOS0: 'rst_sent', RSTRH: 'rst_received' };

/** The record the spec describes; synthDoc maps it with the pipeline's own recordToDoc. */
export function synthRecord(s: ConnSpec): ConnectionRecord {
  const rec = tcpRecord(s);
  if (s.domain) Object.assign(rec, { dst_domain: s.domain, dst_registered_domain: registeredDomain(s.domain) });
  if (s.srcBytes !== undefined) rec.src_bytes = s.srcBytes;
  if (s.dstBytes !== undefined) rec.dst_bytes = s.dstBytes;
  if (s.dns) return dnsOf(rec, s.dns);
  if (s.transport !== 'udp') return rec;
  const answered = rec.conn_state !== 'S0';
  return {
    ...rec,
    transport: 'udp',
    close_reason: 'idle',
    connect_latency_us: null,
    src_packets: s.srcPackets ?? 1,
    dst_packets: s.dstPackets ?? (answered ? 1 : 0),
    dst_bytes: answered ? rec.dst_bytes : 0,
  };
}

function dnsOf(rec: ConnectionRecord, d: DnsSpec): ConnectionRecord {
  const rcode = d.rcode === undefined ? 'NOERROR' : d.rcode;
  const ips = rcode === 'NOERROR' ? d.ips ?? [] : [];
  const qtype = d.qtype ?? (ips[0]?.includes(':') ? 'AAAA' : 'A');
  return {
    ...rec,
    event_id: eventId(rec.conn_uid, 'dns', rec.end_us),
    kind: 'dns',
    transport: 'udp',
    conn_state: rcode === null ? 'S0' : 'SF',
    close_reason: rcode === null ? 'timeout' : 'answered',
    connect_latency_us: null,
    src_bytes: rec.src_bytes ?? 17 + d.qname.length,
    dst_bytes: rcode === null ? 0 : rec.dst_bytes ?? 33 + d.qname.length + ips.length * 16,
    src_packets: 1,
    dst_packets: rcode === null ? 0 : 1,
    dns_id: (rec.src_port * 31) % 65536,
    dns_qname: d.qname,
    dns_qtype: qtype,
    dns_registered_domain: registeredDomain(d.qname),
    dns_rcode: rcode,
    dns_resolved_ips: ips.map(ipToBytes),
    dns_answers: ips.map((ip) => ({ name: d.qname, type: ip.includes(':') ? 'AAAA' : 'A', ttl: 300, data: ip })),
  };
}

function tcpRecord(s: ConnSpec): ConnectionRecord {
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
  const declared = s.dependencyDomains ? dependencyDeclared(s.dependencyDomains, doc) : undefined;
  if (declared !== undefined) c.dependency_declared = declared;
  return doc;
}
