import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { synthDoc, type ConnSpec } from './synth.js';

// Writes the evidence that ships with each rule (rules/<rule>.fixtures/) and
// the shared benign corpus (test/fixtures/benign/). The cases are written here
// as short specs so a reviewer reads the scenario, not 300 lines of JSON; the
// JSONL files are the committed output. Run: node dist/tools/gen/rule-fixtures.js [repoRoot]

const T0 = Date.parse('2025-03-03T00:00:00Z');
const MIN = 60_000;
const DAY = 86_400_000;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

type Case = ConnSpec[];
const web = (o: Partial<ConnSpec>): ConnSpec => ({ t: T0, host: 'web-1', src: '10.10.0.11', dst: '93.184.216.34', dport: 443, proc: 'curl', external: true, ...o });

/** A connection of an order-service instance (to the payment gateway unless told otherwise); with `dns`, its query to the internal resolver. */
const order = (o: Partial<ConnSpec>): ConnSpec => web({ host: 'order-a-1', src: '10.20.0.1', service: 'order', proc: 'order-svc', ...(o.dns ? { dst: '10.0.0.53', dport: 53, external: false } : { dst: '198.51.100.20', dport: 443, external: true }), ...o });
/** A DNS query from web-1 to the internal resolver. */
const resolve = (o: Partial<ConnSpec>): ConnSpec => web({ dst: '10.0.0.53', dport: 53, external: false, proc: 'curl', ...o });

/** Baseline (inside the learning period) followed by events four days later. */
const afterLearning = (baseline: Case, later: Case): Case => [...baseline, ...later.map((s) => ({ ...s, t: s.t + 4 * DAY }))];

const cases: Record<string, { positive: Case; negative: Case }> = {
  unexpected_outbound_first_seen_external_destination: {
    positive: afterLearning([web({ seq: 1 })], [web({ seq: 2, dst: '203.0.113.77' })]),
    negative: afterLearning([web({ seq: 1 })], [web({ seq: 2 }), web({ seq: 3, dst: '10.20.0.5', external: false })]),
  },
  unexpected_outbound_process_outside_service_allowlist: {
    positive: [web({ service: 'order', proc: 'python3', host: 'order-a-1' })],
    negative: [web({ service: 'order', proc: 'order-svc', host: 'order-a-1' }), web({ service: 'order', proc: 'apt-get', seq: 2 }), web({ proc: 'python3', seq: 3 })],
  },
  unexpected_outbound_non_standard_port: {
    positive: [web({ dport: 4444, proc: 'bash' }), web({ dport: 4444, proc: 'bash', seq: 2, t: T0 + MIN })],
    negative: [web({ dport: 443 }), web({ dport: 8443, dst: '10.20.0.9', external: false, seq: 2 }), web({ host: 'ntp-1', dport: 4460, dst: '162.159.200.1', proc: 'chronyd', seq: 3 })],
  },
  unexpected_outbound_dns_unapproved_resolver: {
    positive: [
      web({ dport: 53, dst: '8.8.8.8', proc: 'dig' }),
      // DNS over UDP: the query's DNS record and its UDP flow, one alert for the pair
      web({ host: 'web-2', src: '10.10.0.12', dport: 53, dst: '1.1.1.1', proc: 'python3', dns: { qname: 'c2.badcdn.example', ips: ['203.0.113.66'] }, seq: 5 }),
      web({ host: 'web-2', src: '10.10.0.12', dport: 53, dst: '1.1.1.1', proc: 'python3', transport: 'udp', srcBytes: 35, dstBytes: 51, seq: 5 }),
    ],
    // any internal resolver (no list to maintain), and a resolver daemon forwarding upstream over DoT
    negative: [
      web({ dport: 53, dst: '10.0.0.53', proc: 'dig', external: false }),
      web({ dport: 853, dst: 'fd00::53', src: 'fd00::11', proc: 'systemd-resolve', external: false, seq: 2 }),
      web({ dport: 53, dst: '10.99.7.53', proc: 'systemd-resolve', external: false, seq: 3 }),
      web({ host: 'dns-1', src: '10.0.0.53', dport: 853, dst: '9.9.9.9', proc: 'unbound', seq: 4 }),
      web({ dport: 53, dst: '10.0.0.53', proc: 'python3', external: false, dns: { qname: 'api.paygw.example', ips: ['198.51.100.20'] }, seq: 6 }),
      web({ host: 'dns-1', src: '10.0.0.53', dport: 53, dst: '9.9.9.9', proc: 'unbound', transport: 'udp', dns: { qname: 'api.paygw.example', ips: ['198.51.100.20'] }, seq: 7 }),
    ],
  },
  unexpected_outbound_first_seen_registered_domain: {
    positive: afterLearning([order({ dns: { qname: 'api.paygw.example', ips: ['198.51.100.20'] } })], [order({ seq: 2, dns: { qname: 'upload.newsaas.example', ips: ['203.0.113.80'] } })]),
    negative: afterLearning([order({ dns: { qname: 'api.paygw.example', ips: ['198.51.100.20'] } })], [
      order({ seq: 2, dns: { qname: 'eu.api.paygw.example', ips: ['198.51.100.21'] } }),
      order({ seq: 3, dns: { qname: 'db-1.svc.cluster.local', ips: ['10.40.0.5'] } }),
      order({ seq: 4, dns: { qname: 'typo.nosuch.example', rcode: 'NXDOMAIN' } }),
      web({ seq: 5, dport: 53, dst: '10.0.0.53', external: false, dns: { qname: 'www.other.example', ips: ['203.0.113.81'] } }),
    ]),
  },
  unexpected_outbound_undeclared_domain_dependency: {
    positive: [order({ dst: '203.0.113.50', dport: 443, domain: 'upload.filedrop.example', dependencyDomains: ['paygw.example'], srcBytes: 9_000_000 })],
    negative: [
      order({ dst: '198.51.100.20', dport: 443, domain: 'api.paygw.example', dependencyDomains: ['paygw.example'], seq: 2 }),
      order({ dst: '198.51.100.21', dport: 443, domain: 'paygw.example', dependencyDomains: ['paygw.example'], seq: 3 }),
      // a service that declares nothing, an internal name, an address without a name
      web({ domain: 'upload.filedrop.example', dst: '203.0.113.50', service: 'reports', seq: 4 }),
      order({ dst: '10.40.0.5', dport: 5432, domain: 'db-1.corp.example', dependencyDomains: ['paygw.example'], external: false, seq: 5 }),
      order({ dst: '203.0.113.51', dport: 443, dependencyDomains: ['paygw.example'], seq: 6 }),
    ],
  },
  unexpected_outbound_dns_long_query_name: {
    positive: range(3).map((i) => resolve({ seq: i, t: T0 + i * 1000, proc: 'python3', dns: { qname: `${'mzxw6ytboi4dcmrt'.repeat(3)}${i}.x.tunnel.example`, qtype: 'TXT', ips: [] } })),
    negative: [
      resolve({ dns: { qname: 'api.paygw.example', ips: ['198.51.100.20'] } }),
      resolve({ seq: 2, dns: { qname: `${'a'.repeat(39)}.cdn.example`, ips: ['203.0.113.9'] } }),
      resolve({ seq: 3, dns: { qname: `order-svc-${'7f9c8d6b5'.repeat(5)}.order.svc.cluster.local`, ips: ['10.244.1.9'] } }),
    ],
  },
  unexpected_outbound_dns_many_subdomains: {
    positive: range(45).map((i) => resolve({ seq: i, t: T0 + i * 10_000, proc: 'curl', dns: { qname: `${(0x3a7f1c + i * 7919).toString(16)}.t.tunnel.example`, rcode: 'NXDOMAIN' } })),
    negative: [
      // a chatty client that asks the same few names again (5 distinct)
      ...range(45).map((i) => resolve({ seq: i, t: T0 + i * 10_000, dns: { qname: `api${i % 5}.paygw.example`, ips: ['198.51.100.20'] } })),
      // 45 distinct names, but spread over more than seven hours
      ...range(45).map((i) => resolve({ seq: 100 + i, t: T0 + i * 10 * MIN, dns: { qname: `shard${i}.cdn.example`, ips: ['203.0.113.9'] } })),
    ],
  },
  unexpected_outbound_dns_nxdomain_rate: {
    positive: range(35).map((i) => resolve({ seq: i, t: T0 + i * 4000, proc: 'updater', dns: { qname: `${(0xbeef + i * 104729).toString(36)}.example`, rcode: 'NXDOMAIN' } })),
    negative: [
      // search-list expansions of a Kubernetes pod (ndots:5)
      ...range(35).map((i) => resolve({ seq: i, t: T0 + i * 4000, dns: { qname: `api.paygw.example.${['default.svc', 'svc', ''][i % 3]}.cluster.local`.replace('..', '.'), rcode: 'NXDOMAIN' } })),
      // 29 public NXDOMAINs in 5 minutes: under the threshold
      ...range(29).map((i) => resolve({ seq: 100 + i, t: T0 + i * 10_000, dns: { qname: `wpad${i}.example`, rcode: 'NXDOMAIN' } })),
    ],
  },
  unexpected_outbound_udp_high_volume_external: {
    positive: [web({ transport: 'udp', dst: '203.0.113.9', dport: 9999, proc: 'python3', srcBytes: 48_000_000, srcPackets: 40_000, dstBytes: 0, state: 'S0', durationMs: 10 * MIN })],
    negative: [
      web({ transport: 'udp', dst: '10.0.4.20', dport: 514, proc: 'rsyslogd', srcBytes: 90_000_000, srcPackets: 200_000, state: 'S0', external: false, seq: 2 }),
      web({ transport: 'udp', dst: '203.0.113.9', dport: 443, proc: 'chrome', srcBytes: 5_000_000, dstBytes: 80_000_000, seq: 3 }),
      web({ transport: 'udp', dst: '198.51.100.77', dport: 1194, proc: 'openvpn', srcBytes: 300_000_000, dstBytes: 900_000_000, seq: 4 }),
      web({ transport: 'udp', dst: '162.159.200.1', dport: 123, proc: 'chronyd', srcBytes: 48, dstBytes: 48, seq: 5 }),
    ],
  },
  unexpected_outbound_accept_only_process_initiates: {
    positive: afterLearning(
      [{ t: T0, host: 'db-1', src: '10.30.0.7', dst: '10.30.0.1', dport: 5432, dir: 'ingress', proc: 'postgres' }],
      [{ t: T0, host: 'db-1', src: '10.30.0.1', dst: '198.51.100.9', dport: 4444, proc: 'postgres', external: true }],
    ),
    negative: afterLearning(
      [{ t: T0, host: 'db-1', src: '10.30.0.1', dst: '10.30.0.2', dport: 5432, proc: 'postgres' }],
      [{ t: T0, host: 'db-1', src: '10.30.0.1', dst: '10.30.0.2', dport: 5432, proc: 'postgres', seq: 2 }, { t: T0, host: 'db-1', src: '10.30.0.7', dst: '10.30.0.1', dport: 5432, dir: 'ingress', proc: 'postgres', seq: 3 }],
    ),
  },
  lateral_movement_admin_port_fanout: {
    // 12 targets in 4 minutes, seen half from the attacker's egress and half from targets' ingress
    positive: range(12).map((i) => ({ t: T0 + i * 20_000, host: i % 2 ? `srv-${i}` : 'ws-7', dir: i % 2 ? 'ingress' : 'egress', src: '10.50.0.7', dst: `10.60.0.${10 + i}`, dport: [22, 445, 3389][i % 3]!, proc: i % 2 ? 'sshd' : 'ssh', seq: i })),
    // the same spread over 40 minutes, and a bastion's routine SSH
    negative: [
      ...range(12).map((i) => ({ t: T0 + i * 4 * MIN, host: 'ws-7', src: '10.50.0.7', dst: `10.60.0.${10 + i}`, dport: 22, proc: 'ssh', seq: i })),
      ...range(15).map((i) => ({ t: T0 + i * 10_000, host: 'bastion-1', src: '10.0.0.5', dst: `10.60.0.${40 + i}`, dport: 22, proc: 'ssh', seq: 100 + i })),
    ],
  },
  lateral_movement_internal_scan_failed_connections: {
    positive: range(25).map((i) => ({ t: T0 + i * 2000, host: 'ws-9', src: '10.50.0.9', dst: `10.60.1.${i % 5}`, dport: 20 + i, proc: 'nmap', state: i % 2 ? 'REJ' : 'S0', seq: i })),
    negative: range(25).map((i) => ({ t: T0 + i * 2000, host: 'mon-1', src: '10.0.2.1', dst: `10.60.1.${i}`, dport: 9100, proc: 'prometheus', state: i === 3 ? 'S0' : 'SF', seq: i })),
  },
  lateral_movement_admin_pivot_chain: {
    // A -> B (ssh), then B -> C (ssh) 5 minutes later; each hop seen by both ends
    positive: [
      { t: T0 + 20 * MIN, durationMs: 20 * MIN, host: 'ws-3', src: '10.50.0.3', dst: '10.60.0.20', dport: 22, proc: 'ssh', seq: 1 },
      { t: T0 + 20 * MIN, durationMs: 20 * MIN, host: 'app-20', dir: 'ingress', src: '10.50.0.3', dst: '10.60.0.20', dport: 22, proc: 'sshd', seq: 1 },
      { t: T0 + 10 * MIN, durationMs: 5 * MIN, host: 'app-20', src: '10.60.0.20', dst: '10.70.0.30', dport: 445, proc: 'smbclient', seq: 2 },
    ],
    // user -> bastion -> host is routine; two unrelated hops; a second hop too late
    negative: [
      { t: T0 + 20 * MIN, durationMs: 20 * MIN, host: 'laptop-1', src: '10.80.0.4', dst: '10.0.0.5', dport: 22, proc: 'ssh', seq: 1 },
      { t: T0 + 10 * MIN, durationMs: 5 * MIN, host: 'bastion-1', src: '10.0.0.5', dst: '10.60.0.21', dport: 22, proc: 'ssh', seq: 2 },
      { t: T0 + MIN, durationMs: 30_000, host: 'ws-4', src: '10.50.0.4', dst: '10.60.0.22', dport: 22, proc: 'ssh', seq: 3 },
      { t: T0 + 3 * 60 * MIN, durationMs: 60_000, host: 'app-22', src: '10.60.0.22', dst: '10.70.0.31', dport: 22, proc: 'ssh', seq: 4 },
    ],
  },
  lateral_movement_zone_pair_violation: {
    positive: [
      { t: T0, host: 'dev-1', src: '10.90.0.1', dst: '10.60.0.40', dport: 22, proc: 'ssh', srcZone: 'dev', dstZone: 'prod', seq: 1 },
      { t: T0, host: 'app-40', dir: 'ingress', src: '10.90.0.1', dst: '10.60.0.40', dport: 22, proc: 'sshd', srcZone: 'dev', dstZone: 'prod', seq: 1 },
    ],
    negative: [
      { t: T0, host: 'dev-1', src: '10.90.0.1', dst: '10.60.0.40', dport: 443, proc: 'curl', srcZone: 'dev', dstZone: 'prod', seq: 2 },
      { t: T0, host: 'app-41', src: '10.60.0.41', dst: '10.60.0.40', dport: 22, proc: 'ssh', srcZone: 'prod', dstZone: 'prod', seq: 3 },
    ],
  },
  lateral_movement_first_seen_admin_connection: {
    positive: afterLearning(
      [{ t: T0, host: 'app-1', src: '10.60.0.1', dst: '10.60.0.2', dport: 22, proc: 'ssh' }],
      [
        { t: T0, host: 'app-1', src: '10.60.0.1', dst: '10.60.0.3', dport: 445, proc: 'smbclient', seq: 2 },
        { t: T0, host: 'app-3', dir: 'ingress', src: '10.60.0.1', dst: '10.60.0.3', dport: 445, proc: 'smbd', seq: 2 },
      ],
    ),
    negative: afterLearning(
      [{ t: T0, host: 'app-1', src: '10.60.0.1', dst: '10.60.0.2', dport: 22, proc: 'ssh' }],
      [{ t: T0, host: 'app-1', src: '10.60.0.1', dst: '10.60.0.2', dport: 22, proc: 'ssh', seq: 2 }, { t: T0, host: 'bastion-1', src: '10.0.0.5', dst: '10.60.0.9', dport: 22, proc: 'ssh', seq: 3 }],
    ),
  },
  network_health_retry_storm: {
    positive: range(60).map((i) => ({ t: T0 + i * 500, host: `order-a-${i % 6}`, src: `10.20.0.${i % 6}`, dst: '10.40.0.5', dport: 5432, proc: 'order-svc', state: i % 3 ? 'S0' : 'REJ', synRetrans: 2, seq: i })),
    negative: range(60).map((i) => ({ t: T0 + i * 5000, host: `order-a-${i % 6}`, src: `10.20.0.${i % 6}`, dst: '10.40.0.5', dport: 5432, proc: 'order-svc', state: i % 2 ? 'S0' : 'SF', seq: i })),
  },
  network_health_connection_reset_burst: {
    positive: range(35).map((i) => ({ t: T0 + i * 1000, host: 'api-2', src: '10.20.1.2', dst: `10.40.0.${i % 4}`, dport: 8080, proc: 'envoy', state: i % 2 ? 'RSTR' : 'RSTO', rstReceived: 1, seq: i })),
    negative: range(35).map((i) => ({ t: T0 + i * 1000, host: `api-${i % 4}`, src: `10.20.1.${i % 4}`, dst: '10.40.0.1', dport: 8080, proc: 'envoy', state: i % 2 ? 'RSTR' : 'SF', seq: i })),
  },
  network_health_connect_latency_spike: {
    positive: range(25).map((i) => ({ t: T0 + i * 2000, host: `order-b-${i % 3}`, src: `10.21.0.${i % 3}`, dst: '10.40.0.9', dport: 8080, proc: 'order-svc', latencyMs: 650 + i, nodeGroup: 'pool-b', seq: i })),
    negative: range(25).map((i) => ({ t: T0 + i * 2000, host: `order-b-${i % 3}`, src: `10.21.0.${i % 3}`, dst: '10.40.0.9', dport: 8080, proc: 'order-svc', latencyMs: i % 3 ? 3 : 700, nodeGroup: 'pool-b', seq: i })),
  },
};

/** A quiet hour of a healthy fleet, including what must not alert: monitoring fan-out and bastion SSH. */
function benign(): Record<string, Case> {
  const monitoring = range(4).flatMap((round) => range(40).map((h) => ({ t: T0 + round * 15_000 + h * 50, host: 'mon-1', src: '10.0.2.1', dst: `10.60.2.${h}`, dport: h % 4 === 0 ? 9115 : 9100, proc: 'prometheus', seq: round * 100 + h })));
  const bastion = range(30).flatMap((i) => [
    { t: T0 + i * 8000, durationMs: 60_000, host: 'bastion-1', src: '10.0.0.5', dst: `10.60.3.${i}`, dport: 22, proc: 'ssh', seq: 500 + i },
    { t: T0 + i * 8000, durationMs: 60_000, host: `app-3${i}`, dir: 'ingress' as const, src: '10.0.0.5', dst: `10.60.3.${i}`, dport: 22, proc: 'sshd', seq: 500 + i },
  ]);
  const users = range(20).map((i) => ({ t: T0 + i * 30_000, durationMs: 10 * MIN, host: `laptop-${i}`, src: `10.80.0.${i}`, dst: '10.0.0.5', dport: 22, proc: 'ssh', seq: 700 + i }));
  const services = range(300).map((i) => ({ t: T0 + i * 1000, host: `order-a-${i % 5}`, src: `10.20.0.${i % 5}`, dst: i % 2 ? '10.40.0.5' : '10.40.0.6', dport: i % 2 ? 5432 : 8443, proc: 'order-svc', service: 'order', latencyMs: 1 + (i % 7), nodeGroup: 'pool-a', seq: 1000 + i }));
  const egress = range(100).map((i) => ({ t: T0 + i * 20_000, host: `order-a-${i % 5}`, src: `10.20.0.${i % 5}`, dst: '93.184.216.34', dport: 443, proc: 'order-svc', service: 'order', external: true, seq: 2000 + i }));
  const system = range(30).map((i) => ({ t: T0 + i * 60_000, host: `app-${i}`, src: `10.60.4.${i}`, dst: i % 2 ? '10.0.0.53' : '10.0.1.53', dport: i % 3 ? 53 : 853, proc: 'systemd-resolve', seq: 3000 + i }));
  const updates = range(10).map((i) => ({ t: T0 + i * 90_000, host: `app-${i}`, src: `10.60.4.${i}`, dst: '151.101.2.132', dport: 80, proc: 'apt-get', service: 'order', external: true, seq: 4000 + i }));
  return { 'monitoring-fanout': monitoring, 'bastion-ssh': [...bastion, ...users], 'service-traffic': [...services, ...egress, ...system, ...updates] };
}

const toJsonl = (c: Case): string => `${[...c].sort((a, b) => a.t - b.t).map((s) => JSON.stringify(synthDoc(s))).join('\n')}\n`;

export function writeFixtures(root: string): number {
  let files = 0;
  for (const [rule, c] of Object.entries(cases)) {
    const dir = join(root, 'rules', `${rule}.fixtures`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'positive.jsonl'), toJsonl(c.positive));
    writeFileSync(join(dir, 'negative.jsonl'), toJsonl(c.negative));
    files += 2;
  }
  const bdir = join(root, 'test', 'fixtures', 'benign');
  mkdirSync(bdir, { recursive: true });
  for (const [name, c] of Object.entries(benign())) {
    writeFileSync(join(bdir, `${name}.jsonl`), toJsonl(c));
    files++;
  }
  return files;
}

if (process.argv[1]?.endsWith('rule-fixtures.js')) {
  const n = writeFixtures(process.argv[2] ?? process.cwd());
  process.stderr.write(`wrote ${n} fixture files\n`);
}
