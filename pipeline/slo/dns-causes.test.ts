import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { recordToDoc, type ConnectionDoc } from '../../lib/ecs.js';
import { dnsRecord, record, udpFlow } from '../../test/helpers/records.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';
import { parseCatalogue } from './catalogue.js';
import { anomalyCause, verdict } from './causes.js';
import { createSloStage } from './index.js';

// DNS failures (SERVFAIL, no answer) are a network cause of their own: a
// failed lookup never becomes a connection, so its DNS record is the only
// evidence that the service tried and failed.

const cat = parseCatalogue(`services:
  - name: order
    match: { process_names: [order-svc] }
    slos:
      - { name: av, type: availability, objective: 99, min_events: 1 }
      - { name: lat, type: latency, objective: 99, threshold_ms: 100, min_events: 1 }
`);
const [av, lat] = cat.services[0]!.slos as [typeof cat.services[0]['slos'][0], typeof cat.services[0]['slos'][0]];

describe('DNS and UDP records in the SLO causes', () => {
  it.each<[string, ConnectionDoc, string | undefined, string, string]>([
    ['a SERVFAIL', recordToDoc(dnsRecord(1, { comm: 'order-svc', dns_rcode: 'SERVFAIL', dns_resolved_ips: [], dns_answers: [] })), 'dns_servfail', 'bad', 'not_counted'],
    ['an unanswered lookup', recordToDoc(dnsRecord(2, { comm: 'order-svc', dns_rcode: null, conn_state: 'S0', close_reason: 'timeout', dns_resolved_ips: [], dns_answers: [] })), 'dns_timeout', 'bad', 'not_counted'],
    ['an answered lookup (its connection is counted instead)', recordToDoc(dnsRecord(3, { comm: 'order-svc' })), undefined, 'not_counted', 'not_counted'],
    ['an NXDOMAIN (the name does not exist: not the network)', recordToDoc(dnsRecord(4, { comm: 'order-svc', dns_rcode: 'NXDOMAIN', dns_resolved_ips: [], dns_answers: [] })), undefined, 'not_counted', 'not_counted'],
    ['a UDP flow the peer never answered (not a SYN timeout)', recordToDoc(udpFlow(5, { comm: 'order-svc', conn_state: 'S0', dst_bytes: 0, dst_packets: 0 })), undefined, 'not_counted', 'not_counted'],
    ['a TCP SYN that was never answered, as before', recordToDoc(record(6, { comm: 'order-svc', conn_state: 'S0', close_reason: 'syn_timeout', connect_latency_us: null })), 'syn_timeout', 'bad', 'not_counted'],
  ])('%s', (_n, doc, cause, availability, latency) => {
    expect(anomalyCause(doc, 200)).toBe(cause);
    expect(verdict(doc, av)).toBe(availability);
    expect(verdict(doc, lat)).toBe(latency);
  });

  it('an ingress-only SLO does not count the service\'s own lookups', () => {
    const ingress = parseCatalogue(`services:\n  - name: order\n    match: { process_names: [order-svc] }\n    slos:\n      - { name: av, type: availability, objective: 99, direction: ingress }\n`).services[0]!.slos[0]!;
    expect(verdict(recordToDoc(dnsRecord(1, { comm: 'order-svc', dns_rcode: 'SERVFAIL' })), ingress)).toBe('not_counted');
  });
});

describe('a resolver failing under the service, through the SLO stage', () => {
  const storm = generateStorm();
  // The storm's first twenty minutes of order traffic, all healthy, and beside
  // every connection one lookup that the resolver answered SERVFAIL: a 50x
  // burn, for long enough to spend more than an hour at the 14.4x page rate.
  const from = Date.parse(storm.from);
  const healthy = storm.docs
    .filter((d) => Date.parse(d['@timestamp']) < from + 21 * 60_000)
    .map((d) => ({ ...structuredClone(d), connaudit: { ...d.connaudit, conn_state: 'SF' as const, close_reason: 'fin' as const, rst_received: 0, rst_sent: 0, retransmits: 0, syn_retransmits: 0, connect_latency_ms: 1 } }));
  const lookups = healthy.map((d, i) => {
    const dns = recordToDoc(dnsRecord(i, { host: d.host.name, comm: 'order-svc', dns_rcode: 'SERVFAIL', dns_resolved_ips: [], dns_answers: [], node_group: d.connaudit.node_group ?? null }));
    dns['@timestamp'] = d['@timestamp'];
    return dns;
  });
  const docs = healthy.flatMap((d, i) => [d, lookups[i]!]);

  it('raises the SLO alert with dns_servfail towards the resolver as the top contributor', () => {
    const stage = createSloStage(cat);
    const alerts: AlertDoc[] = [];
    for (const d of docs) alerts.push(...stage.process(d));
    alerts.push(...stage.flush());
    expect(healthy.length).toBeGreaterThan(100);
    const slo = alerts.filter((a) => a.rule.category === 'slo_impact');
    expect(slo.length).toBeGreaterThanOrEqual(1);
    const top = (slo[0]!.connaudit.alert.contributors as Array<{ cause: string; destination: string; share: number }>)[0]!;
    expect(top).toMatchObject({ cause: 'dns_servfail', destination: '10.2.0.53:53' });
    expect(top.share).toBe(1);
    expect(slo[0]!.event.reason).toMatch(/dns_servfail on .* -> 10\.2\.0\.53:53/);
    // Every lookup is annotated with its cause; the healthy connections have none.
    expect(new Set(lookups.map((d) => (d.slo as { cause?: string }).cause))).toEqual(new Set(['dns_servfail']));
    expect(healthy.every((d) => (d.slo as { cause?: string }).cause === undefined)).toBe(true);
  });

  it('without the failing lookups the same traffic raises nothing', () => {
    const stage = createSloStage(cat);
    const alerts = healthy.map((d) => structuredClone(d)).flatMap((d) => stage.process(d));
    expect(alerts.filter((a) => a.rule.category === 'slo_impact')).toEqual([]);
  });
});
