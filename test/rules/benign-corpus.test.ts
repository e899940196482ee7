import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { fromRoot } from '../../lib/paths.js';
import { runDocs } from '../../pipeline/rules/fixtures.js';
import { loadRuleSet } from '../../pipeline/rules/loader.js';
import { benignFleet, BEHAVIOURS } from '../../tools/gen/benign-fleet.js';
import { synthDoc } from '../../tools/gen/synth.js';

// The benign corpus is generated, so it is reviewed as code: these tests pin
// the committed files to the generator, hold the corpus to its promised size
// and variety, and check the shipped content's tuning promises.

const BENIGN = fromRoot('test', 'fixtures', 'benign');
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('benign fleet corpus', () => {
  const corpora = benignFleet();

  // Compared on what the rules read (not byte for byte), so a new document
  // field added by the shared document builder does not fail this test; a
  // changed behaviour does.
  const key = (d: ConnectionDoc): string => JSON.stringify([d.event.id, d['@timestamp'], d.event.start, d.host.name, d.network.direction, d.source.ip, d.source.port, d.destination.ip, d.destination.port, d.connaudit.conn_state, d.process?.name, d.process?.parent?.name, d.user?.id, d.service?.name, d.connaudit.destination_external, d.connaudit.node_group, d.connaudit.connect_latency_ms, d.connaudit.syn_retransmits, d.connaudit.rst_sent,
    d.network.transport, d.connaudit.record_kind, d.dns?.question?.name, d.dns?.response_code, d.destination.domain, d.source.bytes, d.connaudit.dependency_declared]);
  it('is what the seeded generator writes (regenerate with node dist/tools/gen/benign-fleet.js)', () => {
    for (const c of corpora) {
      const committed = readFileSync(join(BENIGN, `${c.name}.jsonl`), 'utf8').trim().split('\n').map((l) => key(JSON.parse(l) as ConnectionDoc));
      expect(sha(committed.join('\n')), `${c.name}.jsonl differs from the generator output`).toBe(sha(c.docs.map(key).join('\n')));
    }
  });

  it('holds at least 20,000 events of at least 8 ordinary behaviours, each present', () => {
    const total = corpora.reduce((s, c) => s + c.docs.length, 0);
    expect(total).toBeGreaterThanOrEqual(20_000);
    const seen = new Set(corpora.flatMap((c) => Object.keys(c.counts)));
    expect([...seen].sort()).toEqual(Object.keys(BEHAVIOURS).sort());
    expect(seen.size).toBeGreaterThanOrEqual(8);
    for (const b of ['internal-dns', 'ntp', 'monitoring-scrape', 'backup', 'package-mirror', 'bastion-ssh', 'ci-runner', 'k8s-health', 'dns-udp', 'ntp-udp', 'udp-bulk']) expect(seen, b).toContain(b);
  });

  // The DNS and UDP rules stay quiet on the corpus (all-rules test); this says
  // it is because the corpus has what they look at and it is benign, not
  // because there is nothing for them to look at.
  it.each<[string, (d: ConnectionDoc) => boolean, number]>([
    ['DNS records', (d) => d.connaudit.record_kind === 'dns', 1000],
    ['answered DNS queries of a catalogued service (first-seen registered domain)', (d) => d.connaudit.record_kind === 'dns' && d.service?.name !== undefined && d.dns?.response_code === 'NOERROR', 200],
    ['NXDOMAINs from search-list expansion (NXDOMAIN rate)', (d) => d.dns?.response_code === 'NXDOMAIN' && (d.dns.question?.name ?? '').endsWith('.cluster.local'), 500],
    ['public NXDOMAINs (NXDOMAIN rate)', (d) => d.dns?.response_code === 'NXDOMAIN' && !(d.dns.question?.name ?? '').endsWith('.cluster.local'), 1],
    ['UDP flows', (d) => d.network.transport === 'udp' && d.connaudit.record_kind !== 'dns', 1000],
    ['unanswered UDP flows (S0)', (d) => d.network.transport === 'udp' && d.connaudit.record_kind !== 'dns' && d.connaudit.conn_state === 'S0', 100],
    ['UDP flows of 20 MB or more to the internet (high-volume UDP)', (d) => d.network.transport === 'udp' && d.connaudit.destination_external === true && (d.source.bytes ?? 0) >= 20_000_000, 5],
    ['connections with a resolved destination name', (d) => d.destination.domain !== undefined, 100],
    ['connections judged against declared dependencies', (d) => d.connaudit.dependency_declared === true, 10],
  ])('has %s', (_n, pred, min) => {
    expect(corpora.reduce((n, c) => n + c.docs.filter(pred).length, 0)).toBeGreaterThanOrEqual(min);
  });

  it('spans more than the 3-day learning period of the new_terms rules', () => {
    const week = corpora.find((c) => c.name === 'fleet-week')!;
    const span = Date.parse(week.docs.at(-1)!['@timestamp']) - Date.parse(week.docs[0]!['@timestamp']);
    expect(span).toBeGreaterThan(4 * 86_400_000);
  });
});

describe('shipped content', () => {
  const { ruleset, errors } = loadRuleSet(fromRoot('rules'));
  const dnsRule = ruleset.rules.filter((r) => r.id === '51cf2a24-3873-4df2-acd5-d2baaa76db2d');
  const at = Date.parse('2025-03-03T10:00:00Z');
  const dnsAlerts = (o: Parameters<typeof synthDoc>[0]) => runDocs(ruleset, dnsRule, [synthDoc(o)]).length;

  it('loads', () => expect(errors).toEqual([]));

  it('the DNS rule stays quiet for any internal resolver and flags resolvers outside the internal ranges', () => {
    expect(dnsRule).toHaveLength(1);
    // the reported false positive: an ordinary internal resolver that no list names
    expect(dnsAlerts({ t: at, host: 'app-1', src: '10.60.4.1', dst: '10.44.0.2', dport: 53, proc: 'systemd-resolve', external: false })).toBe(0);
    expect(dnsAlerts({ t: at, host: 'app-1', src: '10.60.4.1', dst: '1.1.1.1', dport: 853, proc: 'systemd-resolve', external: true })).toBe(1);
    expect(dnsAlerts({ t: at, host: 'dns-1', src: '10.0.0.53', dst: '9.9.9.9', dport: 853, proc: 'unbound', external: true })).toBe(0);
  });

  it('every rule note says what to tune, and the DNS note names its condition', () => {
    for (const r of ruleset.rules) expect(r.note ?? '', `${r.id} - ${r.name} -> note has no 'Tune:'`).toMatch(/Tune: \S/);
    expect(dnsRule[0]!.note).toMatch(/outside the internal|on the internet/);
    expect(dnsRule[0]!.note).not.toMatch(/approved_resolvers\b/);
  });
});
