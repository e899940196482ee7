import { eventId } from '../../lib/ids.js';
import { ipToBytes } from '../../lib/ip.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { recordDefaults } from '../../lib/record-fields.js';

// Connection records for pipeline tests. Every optional field is set (unless
// overridden), so a test over recordToDoc's output sees every field it can
// produce. ids are derived like the agent's, so they are unique per (host, n).

const BASE_US = 1_763_770_000_000_000;

export function record(n: number, over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  const host = over.host ?? 'web-1';
  const conn = `C${host}-${n}`;
  const start = BASE_US + n * 1_000_000;
  return {
    ...recordDefaults(),
    event_id: eventId(conn, 'final', start + 500_000),
    conn_uid: conn,
    kind: 'final',
    start_us: start,
    end_us: start + 500_123,
    host,
    netns: 4026531840,
    direction: 'egress',
    family: 'ipv4',
    src_ip: ipToBytes('10.1.0.5'),
    src_port: 40000 + (n % 20000),
    dst_ip: ipToBytes('10.2.0.9'),
    dst_port: 443,
    conn_state: 'SF',
    close_reason: 'fin',
    connect_latency_us: 1234,
    srtt_us: 800,
    retransmits: 1,
    syn_retransmits: 0,
    rst_sent: 0,
    rst_received: 0,
    src_bytes: 100,
    dst_bytes: 2000,
    pid: 4242,
    tid: 4243,
    ppid: 1,
    uid: 1000,
    comm: 'curl',
    executable: '/usr/bin/curl',
    parent_name: 'bash',
    cgroup_id: 77,
    container_id: 'c0ffee',
    environment: 'prod',
    node_group: 'ng-a',
    labels: { team: 'payments' },
    agent_version: '0.1.0',
    sampled: false,
    started_before_agent: false,
    process_unknown_reason: null,
    ...over,
  };
}

/** A UDP flow record (both ways, SF) from the same host and process as record(n). */
export function udpFlow(n: number, over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  const base = record(n, over.host === undefined ? {} : { host: over.host });
  return {
    ...base,
    event_id: eventId(`U${base.conn_uid}`, 'final', base.end_us),
    conn_uid: `U${base.conn_uid}`,
    transport: 'udp',
    dst_port: 123,
    conn_state: 'SF',
    close_reason: 'idle',
    connect_latency_us: null,
    srtt_us: null,
    retransmits: 0,
    src_bytes: 48,
    dst_bytes: 48,
    src_packets: 1,
    dst_packets: 1,
    dst_domain: 'time.example.org',
    dst_registered_domain: 'example.org',
    ...over,
  };
}

/** A DNS transaction record: `comm` asked the resolver 10.2.0.53 for api.example.com A and got two addresses. */
export function dnsRecord(n: number, over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  const base = record(n, over.host === undefined ? {} : { host: over.host });
  return {
    ...base,
    event_id: eventId(`D${base.conn_uid}`, 'dns', base.end_us),
    conn_uid: `D${base.conn_uid}`,
    kind: 'dns',
    transport: 'udp',
    end_us: base.start_us + 1_800,
    dst_ip: ipToBytes('10.2.0.53'),
    dst_port: 53,
    conn_state: 'SF',
    close_reason: 'answered',
    connect_latency_us: null,
    srtt_us: null,
    retransmits: 0,
    src_bytes: 33,
    dst_bytes: 81,
    src_packets: 1,
    dst_packets: 1,
    dns_id: 4660 + (n % 1000),
    dns_qname: 'api.example.com',
    dns_qtype: 'A',
    dns_registered_domain: 'example.com',
    dns_rcode: 'NOERROR',
    dns_resolved_ips: [ipToBytes('93.184.216.34'), ipToBytes('93.184.216.35')],
    dns_answers: [
      { name: 'api.example.com', type: 'CNAME', ttl: 300, data: 'edge.example.com' },
      { name: 'edge.example.com', type: 'A', ttl: 60, data: '93.184.216.34' },
      { name: 'edge.example.com', type: 'A', ttl: 60, data: '93.184.216.35' },
    ],
    ...over,
  };
}
