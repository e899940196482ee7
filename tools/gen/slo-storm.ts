import { recordToDoc, type ConnectionDoc } from '../../lib/ecs.js';
import { connUid, eventId } from '../../lib/ids.js';
import { ipToBytes } from '../../lib/ip.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { recordDefaults } from '../../lib/record-fields.js';
import { rng } from './rng.js';

// The seed's example as data: the order service calls inventory and payments
// from three node groups. For `stormMinutes`, pool-b's calls to inventory get
// slow connects, climbing retransmits and resets; pool-a and pool-c stay
// healthy. Before the storm, pool-c sees a retransmit burst on otherwise fine
// connections: a degradation that stays in the infrastructure layer.
// Deterministic (seeded), so tests and CI replay the same storm. Matches
// config/services.yaml.

export interface StormOptions {
  /** ISO time of the first minute. */
  start?: string;
  baselineMinutes?: number;
  stormMinutes?: number;
  afterMinutes?: number;
  /** Outbound calls per host per minute (plus one inbound request). */
  callsPerHostMinute?: number;
  seed?: number;
}

export interface Storm {
  docs: ConnectionDoc[];
  service: 'order';
  badGroup: 'pool-b';
  upstream: 'inventory';
  stormStart: string;
  stormEnd: string;
  from: string;
  to: string;
}

const GROUPS = [
  { group: 'pool-a', prefix: 'order-a', net: 1, hosts: 3 },
  { group: 'pool-b', prefix: 'order-b', net: 2, hosts: 3 },
  { group: 'pool-c', prefix: 'order-c', net: 3, hosts: 2 },
];
const INVENTORY = ['10.40.0.10', '10.40.0.11', '10.40.0.12'];
const PAYMENTS = '10.50.0.20';
const LOAD_BALANCER = '10.0.0.5';


type Shape = Pick<ConnectionRecord, 'conn_state' | 'close_reason' | 'connect_latency_us' | 'retransmits' | 'syn_retransmits' | 'rst_received'>;

export function generateStorm(opts: StormOptions = {}): Storm {
  const start = Date.parse(opts.start ?? '2025-03-14T08:00:00.000Z');
  const baseline = opts.baselineMinutes ?? 120;
  const storm = opts.stormMinutes ?? 45;
  const after = opts.afterMinutes ?? 45;
  const calls = opts.callsPerHostMinute ?? 3;
  const r = rng(opts.seed ?? 42);
  const between = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const records: ConnectionRecord[] = [];
  const stormFrom = baseline;
  const stormTo = baseline + storm;

  const healthy = (): Shape => ({
    conn_state: 'SF', close_reason: 'fin', connect_latency_us: between(400, 4_000),
    retransmits: r() < 0.05 ? 1 : 0, syn_retransmits: 0, rst_received: 0,
  });
  // The storm on pool-b -> inventory: the mix the seed describes.
  const stormy = (): Shape => {
    const x = r();
    if (x < 0.3) return { conn_state: 'RSTR', close_reason: 'rst_received', connect_latency_us: between(2_000, 400_000), retransmits: between(3, 9), syn_retransmits: 0, rst_received: 1 };
    if (x < 0.45) return { conn_state: 'SF', close_reason: 'fin', connect_latency_us: between(1_000_000, 1_100_000), retransmits: between(2, 6), syn_retransmits: 1, rst_received: 0 };
    if (x < 0.85) return { conn_state: 'SF', close_reason: 'fin', connect_latency_us: between(180_000, 600_000), retransmits: between(3, 9), syn_retransmits: 0, rst_received: 0 };
    return { conn_state: 'SF', close_reason: 'fin', connect_latency_us: between(5_000, 40_000), retransmits: between(1, 2), syn_retransmits: 0, rst_received: 0 };
  };

  for (let minute = 0; minute < baseline + storm + after; minute++) {
    for (const g of GROUPS) {
      for (let h = 1; h <= g.hosts; h++) {
        const host = `${g.prefix}-${h}`;
        const hostIp = `10.10.${g.net}.${h}`;
        const pid = 4000 + g.net * 10 + h;
        const base = (): Identity & { host: string } => ({ host, pid, tid: pid, ppid: 1, uid: 1000, comm: 'order-svc', executable: '/usr/local/bin/order-svc', parent_name: 'systemd', environment: 'prod' });
        for (let c = 0; c < calls; c++) {
          const toInventory = r() < 0.6;
          const dst = toInventory ? INVENTORY[between(0, INVENTORY.length - 1)]! : PAYMENTS;
          let shape = healthy();
          if (g.group === 'pool-b' && toInventory && minute >= stormFrom && minute < stormTo) shape = stormy();
          else if (g.group === 'pool-c' && !toInventory && minute >= 30 && minute < 50) shape = { ...shape, retransmits: between(3, 6) };
          else if (r() < 0.0005) shape = { ...shape, conn_state: 'RSTR', close_reason: 'rst_received', rst_received: 1 };
          records.push(record(start, minute, r, between, { ...base(), direction: 'egress', src: hostIp, sport: between(32768, 60999), dst, dport: toInventory ? 5432 : 443, ...shape }));
        }
        records.push(record(start, minute, r, between, { ...base(), direction: 'ingress', src: LOAD_BALANCER, sport: between(32768, 60999), dst: hostIp, dport: 8080, ...healthy() }));
      }
    }
  }
  const docs = records.sort((a, b) => a.end_us - b.end_us || a.event_id.localeCompare(b.event_id)).map(recordToDoc);
  const iso = (m: number): string => new Date(start + m * 60_000).toISOString();
  return {
    docs, service: 'order', badGroup: 'pool-b', upstream: 'inventory',
    stormStart: iso(stormFrom), stormEnd: iso(stormTo), from: iso(0), to: iso(baseline + storm + after),
  };
}

type Identity = Partial<Pick<ConnectionRecord, 'pid' | 'tid' | 'ppid' | 'uid' | 'comm' | 'executable' | 'parent_name' | 'environment'>>;

interface Draft extends Identity, Shape {
  host: string;
  direction: 'egress' | 'ingress';
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

function record(startMs: number, minute: number, r: () => number, between: (lo: number, hi: number) => number, d: Draft): ConnectionRecord {
  const startUs = (startMs + minute * 60_000 + Math.floor(r() * 59_000)) * 1000 + between(0, 999);
  const durationUs = (d.connect_latency_us ?? 0) + between(20_000, 400_000);
  const uid = connUid(d.host, 'storm-boot', `${d.src}:${d.sport}>${d.dst}:${d.dport}`, startUs);
  const endUs = startUs + durationUs;
  return {
    ...recordDefaults(),
    event_id: eventId(uid, 'final', endUs),
    conn_uid: uid,
    kind: 'final',
    start_us: startUs,
    end_us: endUs,
    host: d.host,
    netns: 4026531840,
    direction: d.direction,
    family: 'ipv4',
    src_ip: ipToBytes(d.src),
    src_port: d.sport,
    dst_ip: ipToBytes(d.dst),
    dst_port: d.dport,
    conn_state: d.conn_state,
    close_reason: d.close_reason,
    connect_latency_us: d.connect_latency_us,
    srtt_us: between(200, 3_000),
    retransmits: d.retransmits,
    syn_retransmits: d.syn_retransmits,
    rst_sent: 0,
    rst_received: d.rst_received,
    src_bytes: between(200, 4_000),
    dst_bytes: between(500, 40_000),
    pid: d.pid ?? null,
    tid: d.tid ?? null,
    ppid: d.ppid ?? null,
    uid: d.uid ?? null,
    comm: d.comm ?? null,
    executable: d.executable ?? null,
    parent_name: d.parent_name ?? null,
    cgroup_id: null,
    container_id: null,
    environment: d.environment ?? null,
    node_group: null,
    labels: {},
    agent_version: 'storm-generator',
  };
}
