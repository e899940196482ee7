import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProfiledSink } from '../agent/profiled-sink.js';
import type { HealthCounters, RecordSink } from '../agent/sink.js';
import { recordToDoc } from './ecs.js';
import { encodeConnection, decodeConnection } from './avro.js';
import type { ConnectionRecord } from './record.js';
import { decide, droppedFields, loadRollout, PROFILES, requiredFields, restrictRecord, type ProfileName } from './rollout.js';
import { dnsRecord, record, udpFlow } from '../test/helpers/records.js';

const full = (): ConnectionRecord => record(1, {
  comm: 'curl', executable: '/usr/bin/curl', pid: 4242, uid: 1000, container_id: 'abc', src_bytes: 512, dst_bytes: 4096,
  retransmits: 3, syn_retransmits: 1, srtt_us: 1500, connect_latency_us: 2500, environment: 'prod', node_group: 'canary', labels: { team: 'checkout' },
});

describe('profiles', () => {
  it.each(Object.keys(PROFILES) as ProfileName[])('%s keeps every field a record cannot be without', (p) => {
    const keep = PROFILES[p].keep;
    if (keep !== 'all') for (const f of requiredFields()) expect(keep.has(f), `${p} drops required field ${f}`).toBe(true);
  });

  it('minimal sends the seed\'s seven labels, state, close reason and latency, and nothing about the process beyond its name', () => {
    const doc = recordToDoc(decodeConnection(encodeConnection(restrictRecord(full(), 'minimal'))));
    expect(doc.host.name).toBe(full().host);
    expect(doc.process?.name).toBe('curl');
    expect(doc.destination.ip).toBeDefined();
    expect(doc.destination.port).toBe(full().dst_port);
    expect(doc.connaudit.conn_state).toBe(full().conn_state);
    expect(doc.connaudit.close_reason).toBe(full().close_reason);
    expect(doc.connaudit.connect_latency_ms).toBe(2.5);
    expect(doc.service?.environment ?? (doc as unknown as { environment?: string }).environment).toBe('prod');
    // Restricted: process identity, byte counts, TCP health detail, labels.
    const r = restrictRecord(full(), 'minimal');
    expect(r).toMatchObject({ executable: null, pid: null, uid: null, container_id: null, src_bytes: null, dst_bytes: null, retransmits: 0, syn_retransmits: 0, srtt_us: null, labels: {} });
    expect(droppedFields('minimal')).toEqual(expect.arrayContaining(['executable', 'pid', 'src_bytes', 'labels', 'retransmits']));
  });

  // A restricted record must still say what it is: a UDP flow sent as TCP, or a
  // DNS record without its question, would be a wrong record, not a smaller one.
  it.each(Object.keys(PROFILES) as ProfileName[])('%s keeps the transport, the DNS question and answer code, and the resolved destination name', (p) => {
    const udp = recordToDoc(decodeConnection(encodeConnection(restrictRecord(udpFlow(1, { dst_domain: 'ntp.example.org', dst_registered_domain: 'example.org' }), p))));
    expect(udp.network.transport).toBe('udp');
    expect(udp.destination.domain).toBe('ntp.example.org');
    const src = dnsRecord(2);
    const dns = recordToDoc(decodeConnection(encodeConnection(restrictRecord(src, p))));
    expect(dns.network.transport).toBe(src.transport);
    expect(dns.connaudit.record_kind).toBe('dns');
    expect(dns.dns?.question?.name).toBe(src.dns_qname);
    expect(dns.dns?.question?.type).toBe(src.dns_qtype);
    expect(dns.dns?.response_code).toBe(src.dns_rcode);
  });

  it('standard adds TCP health and process identity; full changes nothing', () => {
    expect(restrictRecord(full(), 'standard')).toMatchObject({ retransmits: 3, pid: 4242, executable: '/usr/bin/curl', src_bytes: null, labels: {} });
    expect(restrictRecord(full(), 'full')).toEqual(full());
    expect(droppedFields('full')).toEqual([]);
  });
});

class MemSink implements RecordSink {
  recs: ConnectionRecord[] = [];
  health: HealthCounters[] = [];
  async write(r: ConnectionRecord) { this.recs.push(r); }
  async reportHealth(h: HealthCounters) { this.health.push(h); }
  async close() {}
}

describe('ProfiledSink', () => {
  it('minimal: restricts fields, skips interim records and counts each skip as filtered in the health report', async () => {
    const mem = new MemSink();
    const s = new ProfiledSink(mem, 'minimal');
    await s.write(full());
    await s.write({ ...full(), kind: 'interim' });
    await s.write({ ...full(), kind: 'interim' });
    await s.reportHealth({ ringbufDropsPerCpu: [0], recordsTotal: 3, sampledOut: 0, filtered: 5 });
    // In: 3 records. Out: 1 forwarded + 2 counted as filtered. 0 unaccounted for.
    expect(mem.recs).toHaveLength(1);
    expect(mem.recs[0]!.executable).toBeNull();
    expect(mem.health[0]!.filtered).toBe(5 + 2);
  });

  it('full forwards interim records unchanged', async () => {
    const mem = new MemSink();
    await new ProfiledSink(mem, 'full').write({ ...full(), kind: 'interim' });
    expect(mem.recs).toEqual([{ ...full(), kind: 'interim' }]);
  });
});

describe('central rollout plan', () => {
  const dir = mkdtempSync(join(tmpdir(), 'connaudit-rollout-'));
  const file = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };

  it('enables listed node groups with their profile; others follow default, which is off unless set', () => {
    const plan = loadRollout(file('r.yaml', 'node_groups:\n  canary: { enabled: true, profile: minimal }\n  web: { enabled: false }\n'));
    expect(decide(plan, 'canary')).toMatchObject({ enabled: true, profile: 'minimal' });
    expect(decide(plan, 'web')).toMatchObject({ enabled: false });
    expect(decide(plan, 'db')).toMatchObject({ enabled: false, reason: expect.stringMatching(/node group db: no entry/) });
    expect(decide(plan, null)).toMatchObject({ enabled: false, reason: expect.stringMatching(/no node_group/) });
    const open = loadRollout(file('d.yaml', 'default: { enabled: true, profile: standard }\nnode_groups: {}\n'));
    expect(decide(open, 'db')).toMatchObject({ enabled: true, profile: 'standard', reason: 'node group db: default' });
    // A listed group without a profile starts low-volume.
    expect(decide(loadRollout(file('m.yaml', 'node_groups:\n  a: { enabled: true }\n')), 'a').profile).toBe('minimal');
  });

  it('a typo names file, line and the allowed values', () => {
    const bad = file('bad.yaml', 'node_groups:\n  canary:\n    enabled: true\n    profile: tiny\n');
    expect(() => loadRollout(bad)).toThrow(/bad\.yaml:4:\d+.*profile.*must be one of "minimal", "standard", "full"/s);
  });

  it('the shipped example is valid', () => {
    expect(decide(loadRollout(join(import.meta.dirname, '..', 'config', 'rollout.yaml')), 'canary').enabled).toBe(true);
  });
});
