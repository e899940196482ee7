import { communityId } from '../../lib/community-id.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { connUid, eventId } from '../../lib/ids.js';
import type { ConnState } from '../../lib/record.js';

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

const CLOSE: Record<string, ConnectionDoc['connaudit']['close_reason']> = { SF: 'fin', S1: 'open', S0: 'syn_timeout', REJ: 'refused', RSTO: 'rst_sent', RSTR: 'rst_received', RSTOS0: 'rst_sent', RSTRH: 'rst_received' };

export function synthDoc(s: ConnSpec): ConnectionDoc {
  const state = s.state ?? 'SF';
  const dur = s.durationMs ?? 120;
  const startMs = s.t - dur;
  const sport = s.sport ?? 32768 + ((s.seq ?? 0) * 7919 + s.dport) % 28000;
  const uid = connUid(s.host, 'synthetic-boot', `${s.src}:${sport}>${s.dst}:${s.dport}#${s.seq ?? 0}`, startMs);
  const v6 = s.src.includes(':');
  const doc: ConnectionDoc = {
    '@timestamp': new Date(s.t).toISOString(),
    event: {
      id: eventId(uid, 'final', s.t * 1000),
      kind: 'event',
      category: ['network'],
      type: ['connection', 'end'],
      action: 'connection-closed',
      outcome: state === 'SF' || state === 'S1' ? 'success' : 'failure',
      start: new Date(startMs).toISOString(),
      end: new Date(s.t).toISOString(),
      duration: dur * 1e6,
      dataset: 'connaudit.connections',
      module: 'connaudit',
    },
    host: { name: s.host },
    process: { pid: 1000 + ((s.seq ?? 0) % 30000), name: s.proc ?? 'app', executable: `/usr/bin/${s.proc ?? 'app'}` },
    source: { ip: s.src, port: sport },
    destination: { ip: s.dst, port: s.dport },
    network: {
      transport: 'tcp',
      iana_number: '6',
      type: v6 ? 'ipv6' : 'ipv4',
      direction: s.dir ?? 'egress',
      community_id: communityId({ proto: 6, saddr: s.src, daddr: s.dst, sport, dport: s.dport }),
    },
    connaudit: {
      conn_uid: uid,
      record_kind: 'final',
      conn_state: state,
      close_reason: CLOSE[state] ?? 'unknown',
      retransmits: 0,
      syn_retransmits: s.synRetrans ?? 0,
      rst_sent: s.rstSent ?? 0,
      rst_received: s.rstReceived ?? 0,
      netns: 4026531840,
      destination_external: s.external ?? false,
    },
  };
  const c = doc.connaudit;
  if (state === 'SF' || state === 'S1') c.connect_latency_ms = s.latencyMs ?? 0.4;
  if (s.nodeGroup) c.node_group = s.nodeGroup;
  if (s.srcZone) c.source_zone = s.srcZone;
  if (s.dstZone) c.destination_zone = s.dstZone;
  if (s.owner) c.service_owner = s.owner;
  if (s.service) doc.service = { name: s.service };
  return doc;
}
