import { describe, expect, it } from 'vitest';
import { recordToDoc, type ConnectionDoc } from '../../lib/ecs.js';
import { ipToBytes } from '../../lib/ip.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { recordDefaults } from '../../lib/record-fields.js';
import { UserError } from '../../lib/errors.js';
import { CatalogueError, loadCatalogue, matchDestinationService, matchService, nodeGroupOf, parseCatalogue } from './catalogue.js';

const cat = loadCatalogue(new URL('../../config/services.yaml', import.meta.url).pathname);

function doc(over: Partial<ConnectionRecord> & { src?: string; dst?: string }): ConnectionDoc {
  const r: ConnectionRecord = {
    ...recordDefaults(),
    event_id: 'e1', conn_uid: 'C1', kind: 'final', start_us: 1_700_000_000_000_000, end_us: 1_700_000_000_500_000,
    host: 'order-b-2', netns: 1, direction: 'egress', family: 'ipv4', src_ip: ipToBytes(over.src ?? '10.10.2.2'), src_port: 40000,
    dst_ip: ipToBytes(over.dst ?? '10.40.0.10'), dst_port: 5432, conn_state: 'SF', close_reason: 'fin', connect_latency_us: 900,
    srtt_us: null, retransmits: 0, syn_retransmits: 0, rst_sent: 0, rst_received: 0, src_bytes: null, dst_bytes: null,
    pid: 1, tid: 1, ppid: null, uid: null, comm: 'order-svc', executable: null, parent_name: null, cgroup_id: null,
    container_id: null, environment: null, node_group: null, labels: {}, agent_version: 't',
  };
  const { src: _s, dst: _d, ...rest } = over;
  return recordToDoc({ ...r, ...rest });
}

describe('matching connections to services', () => {
  it('finds the owner by process name, the upstream by CIDR and port, the node group by host pattern', () => {
    const d = doc({});
    expect(matchService(cat, d)).toEqual({ name: 'order', owner: 'team-checkout', environment: 'prod', dependencyDomains: ['paygw.example'] });
    expect(matchDestinationService(cat, d)?.name).toBe('inventory');
    expect(nodeGroupOf(cat, 'order-b-2')).toBe('pool-b');
    expect(nodeGroupOf(cat, 'db-7')).toBe('data');
    expect(nodeGroupOf(cat, 'somewhere', { tier: 'data' })).toBe('data');
    expect(nodeGroupOf(cat, 'somewhere', { tier: 'web' })).toBeUndefined();
  });

  it('gives an accepted connection to the service listening on its port, not to the client', () => {
    const d = doc({ direction: 'ingress', host: 'db-1', comm: 'unknownd', src: '10.10.1.1', dst: '10.40.0.10', dst_port: 5432 });
    expect(matchService(cat, d)?.name).toBe('inventory');
    // The same port on egress is a call *to* inventory, which the caller owns.
    expect(matchService(cat, doc({ comm: 'psql' }))).toBeUndefined();
  });

  it('requires the port as well as the CIDR when the endpoint lists ports, and handles IPv6 CIDRs', () => {
    expect(matchDestinationService(cat, doc({ dst_port: 6432 }))).toBeUndefined();
    expect(matchDestinationService(cat, doc({ family: 'ipv6', src: 'fd00:10::1', dst: 'fd00:50::20', dst_port: 443 }))?.name).toBe('payments');
    expect(matchDestinationService(cat, doc({ family: 'ipv6', src: 'fd00:10::1', dst: 'fd00:51::20', dst_port: 443 }))).toBeUndefined();
  });

  it('prefers the node group the agent reported over the catalogue pattern', () => {
    const d = doc({ node_group: 'rack-9' });
    const c = parseCatalogue(`
services:
  - name: order
    match: { process_names: [order-svc], node_groups: [rack-9] }
`);
    expect(matchService(c, d)?.name).toBe('order');
    expect(matchService(c, doc({}))).toBeUndefined();
  });
});

describe('catalogue errors name file:line:col and the field', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown field', `services:\n  - name: a\n    match: { process_names: [x] }\n    ownr: me\n`, /^svc\.yaml:4:5: services\.0\.ownr: unknown key \(allowed: name, owner, /],
    ['latency without threshold', `services:\n  - name: a\n    match: { process_names: [x] }\n    slos:\n      - { name: l, type: latency, objective: 99 }\n`, /^svc\.yaml:5:9: services\.0\.slos\.0: missing required key 'threshold_ms'/],
    ['objective out of range', `services:\n  - name: a\n    match: { process_names: [x] }\n    slos:\n      - name: av\n        type: availability\n        objective: 100\n`, /^svc\.yaml:7:20: services\.0\.slos\.0\.objective: must be < 100/],
    ['unknown conn_state', `services:\n  - name: a\n    match: { process_names: [x] }\n    slos:\n      - { name: av, type: availability, objective: 99, good_states: [SF, OK] }\n`, /^svc\.yaml:5:74: services\.0\.slos\.0\.good_states\.1: must be one of "S0", "S1", "SF"/],
    ['unknown dependency', `services:\n  - name: a\n    match: { process_names: [x] }\n    dependencies: [b]\n`, /^svc\.yaml:4:20: services\.0\.dependencies\.0: no service named 'b'/],
    ['duplicate service', `services:\n  - name: a\n    match: { process_names: [x] }\n  - name: a\n    match: { process_names: [y] }\n`, /^svc\.yaml:4:11: services\.1\.name: service 'a' is defined twice/],
    ['bad CIDR prefix', `services:\n  - name: a\n    match: { process_names: [x] }\n    endpoints: { cidrs: [10.0.0.0/40] }\n`, /^svc\.yaml:4:26: services\.0\.endpoints\.cidrs\.0: not a CIDR: "10\.0\.0\.0\/40" \(prefix must be 0\.\.32\)/],
    ['YAML syntax', `services:\n  - name: a\n   match: [\n`, /^svc\.yaml:\d+:\d+: /],
  ];
  it.each(cases)('%s', (_name, text, re) => {
    expect(() => parseCatalogue(text, 'svc.yaml')).toThrow(re);
  });

  it('is a UserError with the file:line:col of each schema problem and a hint', () => {
    const text = `services:\n  - name: a\n    match: { process_names: [x] }\n    ownr: me\n    dependencies: [b]\n  - name: a\n    match: { process_names: [y] }\n`;
    let err: unknown;
    try {
      parseCatalogue(text, 'svc.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as CatalogueError).problems.map((p) => `${p.line}:${p.col} ${p.field}`)).toEqual(['4:5 services.0.ownr']);
    expect((err as UserError).hint).toMatch(/schemas\/services\.schema\.json/);
  });

  it('names the file when it cannot be read', () => {
    expect(() => loadCatalogue('/nonexistent/services.yaml')).toThrow(/^\/nonexistent\/services\.yaml: cannot read the service catalogue \(ENOENT\)/);
  });

  it('fills the documented defaults', () => {
    const c = parseCatalogue(`services:\n  - name: a\n    match: { hosts: ["web-*"] }\n    slos:\n      - { name: av, type: availability, objective: 99.9 }\n`);
    const slo = c.services[0]!.slos[0]!;
    expect([slo.period, slo.periodMs, [...slo.goodStates], slo.direction, slo.minEvents]).toEqual(['30d', 30 * 86_400_000, ['SF', 'S1'], 'any', 20]);
    expect(slo.budget).toBeCloseTo(0.001, 10);
    expect(c.services[0]!.slowConnectMs).toBe(200);
  });
});
