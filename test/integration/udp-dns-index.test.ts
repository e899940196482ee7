import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeConnection } from '../../lib/avro.js';
import { esClientOptions } from '../../lib/connect.js';
import { ipToBytes } from '../../lib/ip.js';
import { decodeConnectionDoc } from '../../lib/record-decode.js';
import { effectiveMappings } from '../../pipeline/es-templates.js';
import { skipUnless } from '../helpers/env.js';
import { dnsRecord, record, udpFlow } from '../helpers/records.js';

// UDP flows and DNS records, through the pipeline's decoder, into an index
// with exactly the mappings of the connections template (strict connaudit.*),
// on the real Elasticsearch: every document is accepted, and the DNS fields
// are searchable with their ECS types (dns.resolved_ip as ip, answers as
// objects) while the seed labels keep resolving. The index is this run's own.

const run = randomBytes(4).toString('hex');
const index = `itest-udp-dns-${run}`;
const es = new Client(esClientOptions());

afterAll(async () => {
  await es.indices.delete({ index, ignore_unavailable: true }).catch(() => undefined);
  await es.close();
});

describe('UDP and DNS documents in the connections mappings (real Elasticsearch)', () => {
  it('are all indexed and searchable by their DNS, UDP and seed-label fields', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    const host = `udpdns-${run}`;
    const recs = [
      record(1, { host }),
      record(2, { host, dst_domain: 'db.example.com', dst_registered_domain: 'example.com' }),
      udpFlow(3, { host }),
      udpFlow(4, { host, conn_state: 'S0', dst_bytes: 0, dst_packets: 0, close_reason: 'released', dst_domain: null, dst_registered_domain: null }),
      dnsRecord(5, { host }),
      dnsRecord(6, { host, dns_qtype: 'AAAA', dns_resolved_ips: [ipToBytes('2606:2800:220:1::1')], dns_answers: [{ name: 'api.example.com', type: 'AAAA', ttl: 30, data: '2606:2800:220:1::1' }] }),
      dnsRecord(7, { host, dns_rcode: 'NXDOMAIN', dns_qname: 'nope.example.com', dns_resolved_ips: [], dns_answers: [] }),
      dnsRecord(8, { host, dns_rcode: null, conn_state: 'S0', close_reason: 'timeout', dns_resolved_ips: [], dns_answers: [] }),
      dnsRecord(9, { host, dns_qname: 'x\u202e.example.com', dns_answers: [{ name: 'x\u202e.example.com', type: 'A', ttl: 5, data: '93.184.216.34' }] }),
    ];
    const docs = recs.map((r) => decodeConnectionDoc(encodeConnection(r)));

    await es.indices.create({ index, mappings: effectiveMappings('connaudit-connections') as never });
    const bulk = await es.bulk({ refresh: true, operations: docs.flatMap((d) => [{ index: { _index: index, _id: d.event.id } }, d]) });
    const failed = bulk.items.filter((i) => i.index?.error).map((i) => `${i.index?._id}: ${JSON.stringify(i.index?.error)}`);
    expect(failed).toEqual([]);
    expect(bulk.items).toHaveLength(recs.length);

    const count = async (query: object): Promise<number> => (await es.count({ index, query })).count;
    expect(await count({ term: { 'host.name': host } })).toBe(9);
    expect(await count({ term: { 'network.transport': 'udp' } })).toBe(7);
    expect(await count({ term: { 'network.protocol': 'dns' } })).toBe(5);
    expect(await count({ term: { 'dns.question.name': 'api.example.com' } })).toBe(3); // answered A, answered AAAA, unanswered
    expect(await count({ term: { 'dns.response_code': 'NXDOMAIN' } })).toBe(1);
    // ip type: a CIDR term query matches the resolved addresses of both address families.
    expect(await count({ term: { 'dns.resolved_ip': '93.184.216.0/24' } })).toBe(2);
    expect(await count({ term: { 'dns.resolved_ip': '2606:2800:220:1::/64' } })).toBe(1);
    expect(await count({ term: { 'dns.answers.type': 'CNAME' } })).toBe(1);
    expect(await count({ range: { 'dns.answers.ttl': { lte: 30 } } })).toBe(2);
    expect(await count({ term: { 'destination.registered_domain': 'example.com' } })).toBe(1);
    expect(await count({ term: { 'destination.domain': 'time.example.org' } })).toBe(1);
    expect(await count({ range: { 'source.packets': { gte: 1 } } })).toBe(7);
    // The escaped name is what analysts see; the original stays findable under connaudit.raw.
    expect(await count({ term: { 'dns.question.name': 'x\\u202e.example.com' } })).toBe(1);
    expect(await count({ term: { 'connaudit.raw.dns.question.name': 'x\u202e.example.com' } })).toBe(1);
    // Seed labels (aliases) on the new documents.
    expect(await count({ bool: { filter: [{ term: { 'connection.state': 'S0' } }, { term: { environment: 'prod' } }] } })).toBe(2);
  });
});
