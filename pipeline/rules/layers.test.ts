import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { loadRules, loadRuleSet, ruleLayers } from './loader.js';
import { shippedRulesDir } from './paths.js';
import { RULE_HEAD, ruleDir } from '../../test/helpers/rules.js';
import { formatRuleError } from './types.js';
import { synthDoc } from '../../tools/gen/synth.js';

// Layered rule sources, Falco style: the shipped library, then the author's
// folders in order. Tiny inline YAML, exact outcomes.

const ID = '0b6f1f4e-8a61-4c1e-9a55-3d1f2a9e0c11';
const ID2 = '7c0e2f5a-1111-4d2b-9c3e-5a6b7c8d9e0f';
const lines = (r: ReturnType<typeof loadRuleSet>, ...dirs: string[]) =>
  r.errors.map((e) => dirs.reduce((s, d, i) => s.replace(`${d}/`, `L${i}/`), formatRuleError(e)));
const doc = (o: { host?: string; port?: number; dir?: 'egress' | 'ingress' } = {}) => {
  const d = synthDoc({ t: 0, host: o.host ?? 'web-1', src: '10.0.0.1', dst: '93.184.216.34', dport: o.port ?? 25 });
  d.network.direction = o.dir ?? 'egress';
  return d;
};

const base = {
  '_lists.yaml': '- list: smtp_ports\n  items: [25]\n',
  '_macros.yaml': '- macro: is_egress\n  condition: {field: network.direction, eq: egress}\n- macro: tuning_smtp\n  condition: false\n',
  'smtp.yaml': `${RULE_HEAD(ID, 'SMTP out')}  type: match\n  condition: {and: [{macro: is_egress}, {field: destination.port, in: {list: smtp_ports}}, {not: {macro: tuning_smtp}}]}\n`,
};

describe('layered rule sources', () => {
  it('the shipped library loads first, and naming it again loads it once', () => {
    const mine = ruleDir({ 'x.yaml': '' });
    expect(ruleLayers([mine])).toEqual([shippedRulesDir(), mine]);
    expect(ruleLayers([shippedRulesDir(), mine])).toEqual([shippedRulesDir(), mine]);
    expect(ruleLayers([mine], { shipped: false })).toEqual([mine]);
  });

  it("an author's folder uses the shipped macros and lists (the real library)", () => {
    const mine = ruleDir({ 'mine.yaml': `${RULE_HEAD(ID2, 'Mine')}  type: match\n  condition: {and: [{macro: is_egress}, {field: destination.port, in: {list: admin_ports}}]}\n` });
    expect(loadRuleSet([mine]).errors.map((e) => e.message)).toEqual([
      "unknown macro 'is_egress'; define it with '- macro: is_egress' (shared macros live in the shipped rules/_macros.yaml, which loads first)",
      "unknown list 'admin_ports'; define it with '- list: admin_ports' in a file loaded before or with this one",
    ]);
    const r = loadRuleSet(ruleLayers([mine]));
    expect(r.errors).toEqual([]);
    expect(r.ruleset.rules.map((x) => x.name)).toContain('Mine');
  });

  it('a later layer replaces a list or macro, or appends to it', () => {
    const lib = ruleDir(base);
    const rule = (extra: Record<string, string>) => loadRuleSet([lib, ruleDir(extra)]).ruleset.rules[0]!;
    expect(rule({ 'l.yaml': '- list: smtp_ports\n  items: [587]\n' }).condition(doc({ port: 25 }))).toBe(false);
    const appended = rule({ 'l.yaml': '- list: smtp_ports\n  items: [587]\n  append: true\n' });
    expect([appended.condition(doc({ port: 25 })), appended.condition(doc({ port: 587 }))]).toEqual([true, true]);
    // macro append ORs: the tuning hook now also holds for lab hosts, on top of its own definition
    const tuned = rule({ 'm.yaml': '- macro: tuning_smtp\n  condition: {field: host.name, prefix: lab-}\n  append: true\n' });
    expect([tuned.condition(doc({ host: 'web-1' })), tuned.condition(doc({ host: 'lab-1' }))]).toEqual([true, false]);
  });

  it('a tuning entry disables a rule, appends an exception, narrows the condition, replaces severity', () => {
    const lib = ruleDir(base);
    const off = loadRuleSet([lib, ruleDir({ 't.yaml': '- rule: SMTP out\n  enabled: false\n' })]);
    expect(off.errors).toEqual([]);
    expect(off.ruleset.rules[0]!.enabled).toBe(false);

    const tune = ruleDir({
      't.yaml': [
        '- rule: SMTP out',
        '  override: {exceptions: append, condition: append, severity: replace}',
        '  exceptions: [{name: relays, condition: {field: host.name, prefix: relay-}}]',
        '  condition: {not: {field: process.name, eq: postfix}}',
        '  severity: low',
        `- rule: ${ID}`,
        '  override: {suppress: replace}',
        '  suppress: 2h',
        '',
      ].join('\n'),
    });
    const r = loadRuleSet([lib, tune]);
    expect(r.errors).toEqual([]);
    const rule = r.ruleset.rules[0]!;
    const postfix = doc();
    postfix.process!.name = 'postfix';
    expect([rule.condition(doc()), rule.condition(postfix), rule.exceptions(doc({ host: 'relay-1' })), rule.exceptions(doc())]).toEqual([true, false, true, false]);
    expect([rule.severity, rule.riskScore, rule.suppressMs]).toEqual(['low', 21, 7_200_000]);
    expect(rule.tunedBy).toEqual([`${tune}/t.yaml:1`, `${tune}/t.yaml:6`]);
  });

  it('refuses a tuning entry for an unknown rule, or one that does not say how it changes a key', () => {
    const lib = ruleDir(base);
    const tune = ruleDir({
      't.yaml': '- rule: No such rule\n  enabled: false\n- rule: SMTP out\n  override: {severity: replace}\n  exceptions: [{name: x, condition: false}]\n',
    });
    expect(lines(loadRuleSet([lib, tune]), lib, tune)).toEqual([
      "L1/t.yaml:1:9: - - No such rule -> no rule named 'No such rule' was loaded before this entry; a tuning entry (one with 'override:' or only 'enabled:', and no 'id:') changes a rule from an earlier file or folder (the shipped library loads first)",
      "L1/t.yaml:5:15: - - SMTP out -> say how 'exceptions' changes the rule: override: {exceptions: append or replace}",
      "L1/t.yaml:4:24: - - SMTP out -> override names 'severity' but the entry has no 'severity:' value",
    ]);
  });

  it('a rule with the same id in a later layer replaces the earlier one whole; in the same layer it is an error', () => {
    const lib = ruleDir(base);
    const copy = ruleDir({ 'smtp.yaml': base['smtp.yaml'].replace('SMTP out', 'SMTP out v2') });
    const r = loadRuleSet([lib, copy]);
    expect(r.errors).toEqual([]);
    expect(r.ruleset.rules.map((x) => `${x.id} ${x.name}`)).toEqual([`${ID} SMTP out v2`]);
  });

  it('the shipped library tuned from an author folder still validates and keeps every shipped rule', () => {
    const mine = ruleDir({ 't.yaml': '- rule: DNS to an unapproved resolver\n  override: {exceptions: append}\n  exceptions: [{name: lab, condition: {field: host.name, prefix: lab-}}]\n' });
    const r = loadRuleSet(ruleLayers([mine]));
    expect(r.errors).toEqual([]);
    const dns = r.ruleset.rules.find((x) => x.name === 'DNS to an unapproved resolver')!;
    expect(dns.tunedBy).toHaveLength(1);
    expect(dns.exceptions(doc({ host: 'lab-7' }))).toBe(true);
  });

  it('loadRules (the pipeline and commands) loads the layers or throws one ConfigError with every problem', () => {
    const mine = ruleDir({ 'mine.yaml': `${RULE_HEAD(ID2, 'Mine')}  type: match\n  condition: {and: [{macro: is_egress}, {field: destination.prot, eq: 25}]}\n` });
    let thrown: unknown;
    try { loadRules([mine]); } catch (err) { thrown = err; }
    expect(thrown).toBeInstanceOf(ConfigError);
    const e = thrown as ConfigError;
    expect(e.problems.map((p) => `${p.line}:${p.col} ${p.message}`)).toEqual([
      `11:49 ${ID2} - Mine -> unknown field 'destination.prot'; did you mean destination.port? (list the fields with: connaudit rules fields)`,
    ]);
    expect(e.hint).toBe(`fix the 1 rule problem(s) above (check with: connaudit rules validate ${mine})`);
    const ok = ruleDir({ 'mine.yaml': `${RULE_HEAD(ID2, 'Mine')}  type: match\n  condition: {and: [{macro: is_egress}, {field: destination.port, eq: 25}]}\n` });
    expect(loadRules([ok]).rules.map((r) => r.name)).toContain('Mine');
  });
});
