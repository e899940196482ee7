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
