import { describe, expect, it } from 'vitest';
import { fromRoot } from '../../lib/paths.js';
import { readJsonl, fixturesDir, runDocs } from './fixtures.js';
import { loadRuleSet } from './loader.js';

// Every alert carries ECS related.ip, related.hosts and related.user, whatever
// its rule type, so an analyst finds all alerts touching an address, host or
// user with one query. Checked on every shipped rule's positive fixture.

const { ruleset } = loadRuleSet(fromRoot('rules'));

describe('alert related.* fields', () => {
  it.each(ruleset.rules.map((r) => [`${r.id} - ${r.name}`, r] as const))('%s', (_l, rule) => {
    const docs = readJsonl(`${fixturesDir(rule)}/positive.jsonl`);
    const alerts = runDocs(ruleset, [rule], docs);
    expect(alerts.length).toBeGreaterThan(0);
    for (const a of alerts) {
      const rel = a.related as { ip: string[]; hosts: string[]; user: string[] };
      expect(rel, 'related missing').toBeDefined();
      expect(Array.isArray(rel.user)).toBe(true);
      expect(rel.ip.length, 'related.ip empty').toBeGreaterThan(0);
      // every address the alert names at its own ECS path is also in related.ip
      for (const p of ['source', 'destination'] as const) {
        const v = (a[p] as { ip?: string } | undefined)?.ip;
        if (v) expect(rel.ip).toContain(v);
      }
      const h = (a.host as { name?: string } | undefined)?.name;
      if (h) expect(rel.hosts).toContain(h);
      expect(rel.hosts.length, 'related.hosts empty').toBeGreaterThan(0);
    }
  });

  it('pivot-chain alerts list every hop address in related.ip', () => {
    const rule = ruleset.rules.find((r) => r.type === 'pivot_chain')!;
    const [a] = runDocs(ruleset, [rule], readJsonl(`${fixturesDir(rule)}/positive.jsonl`));
    const hops = a!.connaudit.alert.hops as Array<{ source: string; destination: string }>;
    for (const h of hops) expect((a!.related as { ip: string[] }).ip).toEqual(expect.arrayContaining([h.source, h.destination]));
    // each hop names the host and process of the end that reported it
    expect(hops.map((h) => [h.source, (h as Record<string, unknown>).source_host, (h as Record<string, unknown>).source_process])).toEqual([['10.50.0.3', 'ws-3', 'ssh'], ['10.60.0.20', 'app-20', 'smbclient']]);
    expect((a!.related as { hosts: string[] }).hosts.sort()).toEqual(['app-20', 'ws-3']);
  });

  it('fan-out alerts name, for each target, the host and process that reported it', () => {
    const rule = ruleset.rules.find((r) => r.id === '4182cd62-16d8-4f75-8972-287f52dd18b7')!;
    const [a] = runDocs(ruleset, [rule], readJsonl(`${fixturesDir(rule)}/positive.jsonl`));
    const targets = a!.connaudit.alert.targets as Array<{ value: string; host: string; process: string; direction: string }>;
    expect(targets).toHaveLength(a!.connaudit.alert.count);
    // the fixture has the targets' own agents (ingress, sshd) report every other connection
    const viaTarget = targets.filter((t) => t.direction === 'ingress');
    expect(viaTarget.length).toBeGreaterThan(0);
    for (const t of viaTarget) expect([t.host, t.process]).toEqual([`srv-${Number(t.value.split('.').pop()) - 10}`, 'sshd']);
    for (const t of targets.filter((x) => x.direction === 'egress')) expect([t.host, t.process]).toEqual(['ws-7', 'ssh']);
    expect((a!.related as { hosts: string[] }).hosts).toEqual(expect.arrayContaining(['ws-7', ...viaTarget.map((t) => t.host)]));
  });

  it('related.user holds the uid of the triggering connection when it has one', () => {
    const rule = ruleset.rules.find((r) => r.type === 'match')!;
    const doc = readJsonl(`${fixturesDir(rule)}/positive.jsonl`)[0]!;
    doc.user = { id: '1000' };
    const [a] = runDocs(ruleset, [rule], [doc]);
    expect((a!.related as { user: string[] }).user).toEqual(['1000']);
  });
});
