import { describe, expect, it } from 'vitest';
import { recordToDoc } from '../../lib/ecs.js';
import { ipToBytes } from '../../lib/ip.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { dnsRecord, record, udpFlow } from '../../test/helpers/records.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { createEnricher } from './enrich.js';
import { matchDestinationService, matchService, parseCatalogue } from '../slo/catalogue.js';

// connaudit.dependency_declared: the catalogue's dependency_domains, read by
// the enricher, judged on external egress records whose name the agent knows.

const catalogue = parseCatalogue(`
version: 1
services:
  - name: order
    match: { process_names: [order-svc] }
    dependency_domains: [paygw.example, sentry.example.]
  - name: reports
    match: { process_names: [reporter] }
`, 'services.yaml');

// The same lookup the pipeline builds (catalogue-lookup.ts), over an inline catalogue.
const lookup = { matchService: (d: ConnectionDoc) => matchService(catalogue, d), matchDestinationService: (d: ConnectionDoc) => matchDestinationService(catalogue, d) };
const enrich = createEnricher({}, lookup);
const external = ipToBytes('203.0.113.50');

function judged(rec: ConnectionRecord): boolean | undefined {
  const d = recordToDoc(rec);
  enrich(d);
  return d.connaudit.dependency_declared;
}

describe('dependency_declared', () => {
  it.each<[string, ConnectionRecord, boolean | undefined]>([
    ['a declared domain', record(1, { comm: 'order-svc', dst_ip: external, dst_domain: 'paygw.example', dst_registered_domain: 'paygw.example' }), true],
    ['a name under a declared domain (trailing dots ignored)', record(2, { comm: 'order-svc', dst_ip: external, dst_domain: 'API.Sentry.Example', dst_registered_domain: 'sentry.example' }), true],
    ['an undeclared domain over TCP', record(3, { comm: 'order-svc', dst_ip: external, dst_domain: 'upload.filedrop.example', dst_registered_domain: 'filedrop.example' }), false],
    ['an undeclared domain over UDP', udpFlow(4, { comm: 'order-svc', dst_ip: external, dst_domain: 'x.quic.example', dst_registered_domain: 'quic.example' }), false],
    ['a lookalike that only ends with the declared text', record(5, { comm: 'order-svc', dst_ip: external, dst_domain: 'evilpaygw.example', dst_registered_domain: 'evilpaygw.example' }), false],
    ['no name known for the address', record(6, { comm: 'order-svc', dst_ip: external }), undefined],
    ['an internal destination', record(7, { comm: 'order-svc', dst_domain: 'db.corp.example', dst_registered_domain: 'corp.example' }), undefined],
    ['an accepted (ingress) connection', record(8, { comm: 'order-svc', direction: 'ingress', dst_ip: external, dst_domain: 'x.example', dst_registered_domain: 'x.example' }), undefined],
    ['a DNS record (a question is not a connection)', dnsRecord(9, { comm: 'order-svc', dst_ip: external, dst_domain: 'x.example', dst_registered_domain: 'x.example' }), undefined],
    ['a service that declares no domains', record(10, { comm: 'reporter', dst_ip: external, dst_domain: 'x.example', dst_registered_domain: 'x.example' }), undefined],
    ['no service at all', record(11, { comm: 'curl', dst_ip: external, dst_domain: 'x.example', dst_registered_domain: 'x.example' }), undefined],
  ])('%s -> %s', (_n, rec, want) => {
    expect(judged(rec)).toBe(want);
  });

  it('the catalogue refuses a dependency domain that is not a DNS name, naming the line', () => {
    expect(() => parseCatalogue('version: 1\nservices:\n  - name: a\n    match: { process_names: [a] }\n    dependency_domains: ["https://x.example/"]\n', 'svc.yaml')).toThrow(/svc\.yaml:5:\d+: .*dependency_domains/);
  });

  it('the catalogue lookup hands the declared domains to the enricher', () => {
    expect(matchService(catalogue, recordToDoc(record(1, { comm: 'order-svc' })))?.dependencyDomains).toEqual(['paygw.example', 'sentry.example.']);
    expect(matchService(catalogue, recordToDoc(record(1, { comm: 'reporter' })))?.dependencyDomains).toBeUndefined();
  });
});
