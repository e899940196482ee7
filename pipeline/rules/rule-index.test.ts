import { describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { loadRuleSet, ruleLayers } from './loader.js';
import { RuleIndex } from './rule-index.js';
import { readJsonl } from './fixtures.js';
import { defaultBenignDir } from './paths.js';
import { RULE_HEAD, ruleDir } from '../../test/helpers/rules.js';
import { synthDoc } from '../../tools/gen/synth.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

// The index may only skip a rule whose condition cannot hold: on every
// document, every rule that matches is among the candidates.

const uid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

describe('rule index by tested fields', () => {
  const rules = ruleDir({
    'a.yaml': [
      `${RULE_HEAD(uid(1), 'port eq')}  type: match\n  condition: {and: [{macro: is_egress}, {field: destination.port, eq: 22}]}\n`,
      `${RULE_HEAD(uid(2), 'port in list with a string item')}  type: match\n  condition: {field: destination.port, in: ["0443", 80]}\n`,
      `${RULE_HEAD(uid(3), 'array field')}  type: match\n  condition: {field: event.type, eq: end}\n`,
      `${RULE_HEAD(uid(4), 'or is not indexable')}  type: match\n  condition: {or: [{field: destination.port, eq: 22}, {field: host.name, eq: h2}]}\n`,
      `${RULE_HEAD(uid(5), 'a test under not is no guard')}  type: match\n  condition: {not: {field: destination.port, eq: 22}}\n`,
      `${RULE_HEAD(uid(6), 'boolean')}  type: match\n  condition: {field: connaudit.destination_external, eq: true}\n`,
      `${RULE_HEAD(uid(7), 'state set via macro')}  type: match\n  condition: {and: [{macro: connection_established}, {field: host.name, prefix: h}]}\n`,
      `${RULE_HEAD(uid(8), 'one address')}  type: match\n  condition: {and: [{field: connaudit.conn_state, eq: SF}, {field: destination.ip, cidr: [203.0.113.7/32]}]}\n`,
      `${RULE_HEAD(uid(9), 'a /24 and a /8')}  type: match\n  condition: {field: destination.ip, cidr: [198.51.100.0/24, 10.0.0.0/8]}\n`,
      `${RULE_HEAD(uid(10), 'odd prefix, IPv6')}  type: match\n  condition: {field: source.ip, cidr: [10.64.0.0/11, "2001:db8:8000::/33"]}\n`,
      `${RULE_HEAD(uid(11), 'array address field')}  type: match\n  condition: {field: related.ip, cidr: [8.8.8.0/24]}\n`,
    ].join(''),
  });
  const loaded = loadRuleSet(ruleLayers([rules]));
  const all = loaded.ruleset.rules;
  const index = new RuleIndex(all);

  const fixtureDocs = (): ConnectionDoc[] => {
    const out: ConnectionDoc[] = [];
    for (const r of all) {
      const dir = r.file.replace(/\.ya?ml$/, '.fixtures');
      for (const f of ['positive.jsonl', 'negative.jsonl']) {
        try { out.push(...readJsonl(join(dir, f))); } catch { /* inline rules have no fixtures */ }
      }
    }
    const benign = defaultBenignDir();
    for (const f of readdirSync(benign).filter((x) => x.endsWith('.jsonl'))) out.push(...readJsonl(join(benign, f)));
    return out;
  };
  const synthetic = [
    ...[22, 443, 80, 8080].flatMap((dport, i) => ['h1', 'h2'].map((host) => synthDoc({ t: i, host, src: '10.0.0.1', dst: i % 2 ? '8.8.8.8' : '10.0.0.9', dport }))),
    // Inside and just outside each range of the address rules.
    ...[['10.64.0.1', '203.0.113.7'], ['10.95.255.254', '203.0.113.8'], ['10.96.0.1', '198.51.100.200'], ['2001:db8:8000::1', '2001:db8::9'], ['2001:db8:7fff::1', '2001:db8::8'], ['10.32.0.1', '198.51.101.1'], ['192.0.2.1', '8.8.4.4']]
      .map(([src, dst], i) => synthDoc({ t: i, host: 'h3', src: src!, dst: dst!, dport: 443 })),
  ];

  it('loads', () => expect(loaded.errors.map((e) => e.message)).toEqual([]));

  it('never skips a rule whose condition holds (shipped fixtures, benign corpus, synthetic docs)', () => {
    const docs = [...fixtureDocs(), ...synthetic];
    expect(docs.length).toBeGreaterThan(600);
    let matches = 0;
    let skipped = 0;
    for (const d of docs) {
      const cand = new Set(index.candidates(d));
      all.forEach((r, i) => {
        if (r.condition(d)) {
          matches++;
          expect(cand.has(i), `${r.name} matches ${d.event.id} but was not a candidate`).toBe(true);
        } else if (!cand.has(i)) skipped++;
      });
    }
    expect(matches).toBeGreaterThan(100);
    expect(skipped).toBeGreaterThan(docs.length); // the index does skip work
  });

  it('returns candidates in load order, each once', () => {
    const d = synthDoc({ t: 0, host: 'h1', src: '10.0.0.1', dst: '10.0.0.9', dport: 443 });
    const c = index.candidates(d);
    expect(c).toEqual([...new Set(c)].sort((a, b) => a - b));
    expect(c.map((i) => all[i]!.name)).toEqual(expect.arrayContaining(['port in list with a string item', 'array field', 'or is not indexable', 'a test under not is no guard']));
    expect(c.map((i) => all[i]!.name)).not.toContain('port eq');
  });

  it('files address rules under their ranges: only the rules whose range holds the address are candidates', () => {
    const names = (src: string, dst: string) => index.candidates(synthDoc({ t: 0, host: 'h3', src, dst, dport: 8443 })).map((i) => all[i]!.name);
    const ranged = ['one address', 'a /24 and a /8', 'odd prefix, IPv6', 'array address field'];
    expect(names('192.0.2.1', '192.0.2.2').filter((n) => ranged.includes(n))).toEqual([]);
    expect(names('192.0.2.1', '203.0.113.7')).toContain('one address');
    expect(names('192.0.2.1', '203.0.113.6')).not.toContain('one address');
    expect(names('10.95.1.1', '198.51.100.9').filter((n) => ranged.includes(n))).toEqual(['a /24 and a /8', 'odd prefix, IPv6']);
    expect(names('10.96.1.1', '192.0.2.2').filter((n) => ranged.includes(n))).toEqual([]);
    expect(names('2001:db8:7fff::5', '2001:db8::1').filter((n) => ranged.includes(n))).toEqual([]);
    expect(names('2001:db8:8000::5', '2001:db8::1').filter((n) => ranged.includes(n))).toEqual(['odd prefix, IPv6']);
    expect(names('192.0.2.1', '8.8.8.8').filter((n) => ranged.includes(n))).toEqual(['array address field']);
  });
});
