import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../../lib/ecs.js';
import { synthDoc, type ConnSpec } from '../../../tools/gen/synth.js';
import { runDocs } from '../../rules/fixtures.js';
import { formatRuleError, loadRuleSet, type RuleSet } from '../../rules/index.js';
import { importSigma, renderRuleFile, type ImportResult } from './convert.js';

// Falco-style: each test writes a tiny Sigma rule inline, converts it, loads
// the output with the real rule loader and runs documents through the real
// rule stage. What is asserted is behaviour (which documents alert), not the
// shape of the generated YAML.

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function convert(sigma: string): { res: ImportResult; ruleset: RuleSet } {
  const dir = mkdtempSync(join(tmpdir(), 'sigma-test-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'rule.yml'), sigma);
  const res = importSigma([join(dir, 'rule.yml')]);
  const out = join(dir, 'out');
  mkdirSync(out);
  for (const r of res.rules) writeFileSync(join(out, r.fileName), renderRuleFile(r));
  const { ruleset, errors } = loadRuleSet(out);
  expect(errors.map(formatRuleError)).toEqual([]);
  return { res, ruleset };
}

const T = Date.parse('2025-03-03T12:00:00Z');
let seq = 0;
const doc = (o: Partial<ConnSpec> & { exe?: string | null; uid?: string }, t = T): ConnectionDoc => {
  const d = synthDoc({ t, host: 'web-1', src: '10.10.0.11', dst: '203.0.113.9', dport: 443, proc: 'curl', external: true, seq: ++seq, ...o });
  if (o.exe === null) delete d.process!.executable;
  else if (o.exe) d.process!.executable = o.exe;
  if (o.uid !== undefined) d.user = { id: o.uid };
  return d;
};
const hits = (rs: RuleSet, docs: ConnectionDoc[]): number => runDocs(rs, rs.rules, docs).length;

const head = (body: string, extra = ''): string => `title: Test rule
id: 11111111-2222-4333-8444-555555555555
status: test
description: A rule written inline for a converter test.
${extra}logsource:
  category: network_connection
  product: linux
detection:
${body}
level: high
`;

describe('Sigma detection -> connaudit condition', () => {
  it('keeps id, title, level, ATT&CK tags and false positives', () => {
    const { res, ruleset } = convert(head('  sel:\n    DestinationPort: 4444\n  condition: sel', 'tags:\n  - attack.command_and_control\n  - attack.t1571\n  - attack.ta0002\n  - cve.2021-0000\nfalsepositives:\n  - Red team exercises\n'));
    const r = ruleset.rules[0]!;
    expect(r.id).toBe('11111111-2222-4333-8444-555555555555');
    expect(r.name).toBe('Test rule');
    expect(r.severity).toBe('high');
    expect(r.riskScore).toBe(73);
    expect(r.tactics.sort()).toEqual(['TA0002', 'TA0011']);
    expect(r.techniques).toEqual(['T1571']);
    expect(r.note).toContain('Red team exercises');
    expect(r.note).toMatch(/Tune: /);
    expect(res.rules[0]!.rule.tags).toEqual(['sigma', 'attack.command_and_control', 'attack.t1571', 'attack.ta0002', 'cve.2021-0000']);
  });

  it('plain values, wildcards and escapes', () => {
    const { ruleset } = convert(head(`  sel:
    Image:
      - '/usr/bin/nc'
      - '/opt/*/agent?'
      - '/srv/literal\\*star'
  condition: sel`));
    expect(hits(ruleset, [doc({ exe: '/usr/bin/nc' })])).toBe(1);
    expect(hits(ruleset, [doc({ exe: '/usr/bin/ncat' })])).toBe(0);
    expect(hits(ruleset, [doc({ exe: '/opt/x/y/agent7' })])).toBe(1);
    expect(hits(ruleset, [doc({ exe: '/opt/x/agent77' })])).toBe(0);
    expect(hits(ruleset, [doc({ exe: '/srv/literal*star' })])).toBe(1);
    expect(hits(ruleset, [doc({ exe: '/srv/literalXstar' })])).toBe(0);
  });

  it('contains, startswith, endswith, all, re, cidr, exists, gt and null', () => {
    const { ruleset } = convert(head(`  sel:
    Image|contains|all: ['/tmp/', 'x']
    Image|startswith: '/'
    Image|endswith: ['d', 'x']
    Image|re: '^/tmp/[a-z]+$'
    DestinationIp|cidr: '203.0.113.0/24'
    SourcePort|gt: 1023
    User|exists: true
    ProcessId: null
  condition: sel`));
    // synthDoc always sets a pid; drop it for the null test
    const ok = doc({ exe: '/tmp/xd', uid: '1000', sport: 40000 });
    delete ok.process!.pid;
    expect(hits(ruleset, [ok])).toBe(1);
    const withPid = doc({ exe: '/tmp/xd', uid: '1000', sport: 40000 });
    expect(hits(ruleset, [withPid])).toBe(0);
    for (const bad of [
      { exe: '/tmp/dd', uid: '1000', sport: 40000 }, // no x: contains|all fails
      { exe: '/tmp/x1', uid: '1000', sport: 40000 }, // regex and endswith fail
      { exe: '/tmp/xd', uid: '1000', sport: 80 }, // port not > 1023
      { exe: '/tmp/xd', sport: 40000 }, // no user
      { exe: '/tmp/xd', uid: '1000', sport: 40000, dst: '198.51.100.1' }, // outside the cidr
    ]) {
      const d = doc(bad);
      delete d.process!.pid;
      expect(hits(ruleset, [d]), JSON.stringify(bad)).toBe(0);
    }
  });

  it('warns, without refusing, where a converted test can never match on Linux', () => {
    const { res } = convert(head(`  sel:
    Image|endswith: '\\cmd.exe'
    Protocol: udp
    User: alice
  condition: sel`));
    expect(res.rules).toHaveLength(1);
    expect(res.problems.map((p) => [p.severity, p.line])).toEqual([['warning', 10], ['warning', 11], ['warning', 12]]);
    expect(res.problems[0]!.message).toMatch(/^Image .*cmd\.exe" looks like a Windows path/);
    expect(res.problems[1]!.message).toBe("Protocol 'udp' never matches: connaudit records TCP connections only");
    expect(res.problems[2]!.message).toMatch(/^User 'alice' is a name; connaudit records the numeric uid/);
  });

  it('Initiated, Protocol and User map to direction, transport and uid (root -> 0)', () => {
    const { ruleset, res } = convert(head(`  sel:
    Initiated: 'false'
    Protocol: tcp
    User: root
  condition: sel`));
    expect(res.problems).toEqual([]);
    expect(hits(ruleset, [doc({ dir: 'ingress', uid: '0' })])).toBe(1);
    expect(hits(ruleset, [doc({ dir: 'egress', uid: '0' })])).toBe(0);
    expect(hits(ruleset, [doc({ dir: 'ingress', uid: '1000' })])).toBe(0);
  });

  it('condition operators: precedence, 1 of, all of, them, parentheses, list of maps', () => {
    const sels = `  a:
    DestinationPort: 22
  b:
    - Image: /usr/bin/ssh
    - Image: /usr/bin/scp
  filter_x:
    SourceIp: 10.10.0.99
  filter_y:
    DestinationIp: 203.0.113.50`;
    const run = (cond: string, docs: ConnectionDoc[]) => hits(convert(head(`${sels}\n  condition: ${cond}`)).ruleset, docs);
    const d22ssh = doc({ dport: 22, exe: '/usr/bin/ssh' });
    const d22scp = doc({ dport: 22, exe: '/usr/bin/scp' });
    const d22x = doc({ dport: 22, exe: '/usr/bin/ssh', src: '10.10.0.99' });
    const d443 = doc({ dport: 443, exe: '/usr/bin/curl' });
    expect(run('a and b and not 1 of filter_*', [d22ssh, d22scp, d22x, d443])).toBe(2);
    // not binds tighter than and, and binds tighter than or
    expect(run('not a and b or filter_x', [d443, d22x, doc({ dport: 443, exe: '/usr/bin/ssh' })])).toBe(2);
    expect(run('not (a or filter_x)', [d443, d22ssh])).toBe(1);
    expect(run('all of filter_*', [d22x])).toBe(0);
    expect(run('1 of them', [d443, d22x])).toBe(1);
  });
});

describe('Sigma correlation rules', () => {
  const base = `title: Admin port
id: aaaaaaaa-0000-4000-8000-000000000001
name: admin
logsource: {category: network_connection, product: linux}
detection:
  sel: {DestinationPort: [22, 445]}
  condition: sel
---
title: Fetch
id: aaaaaaaa-0000-4000-8000-000000000002
name: fetch
logsource: {category: network_connection, product: linux}
detection:
  sel: {DestinationPort: 443}
  condition: sel
`;
  const corr = (body: string) => `${base}---
title: Correlated
id: bbbbbbbb-0000-4000-8000-000000000001
level: high
correlation:
${body}`;
  const at = (i: number, o: Partial<ConnSpec>) => doc({ host: 'ws-1', src: '10.10.0.1', dst: `10.20.0.${i % 250}`, external: false, ...o }, T + i * 1000);

  it('event_count -> threshold (gt N fires at N+1 within the window, per group)', () => {
    const { ruleset, res } = convert(corr('  type: event_count\n  rules: [admin]\n  group-by: [Computer]\n  timespan: 1m\n  condition: {gt: 4}\n'));
    expect(res.rules.map((r) => r.rule.type)).toEqual(['threshold', 'match']); // fetch is not referenced: it stays a rule of its own
    expect(hits(ruleset, [0, 1, 2, 3].map((i) => at(i, { dport: 22 })))).toBe(0);
    expect(hits(ruleset, [0, 1, 2, 3, 4].map((i) => at(i, { dport: 22 })))).toBe(1);
    expect(hits(ruleset, [0, 1, 2, 3, 4].map((i) => at(i * 20, { dport: 22 })))).toBe(0); // spread over 80 s
  });

  it('value_count -> value_count on the mapped field', () => {
    const { ruleset } = convert(corr('  type: value_count\n  rules: [admin]\n  group-by: [SourceIp]\n  timespan: 5m\n  condition: {field: DestinationIp, gte: 3}\n'));
    expect(hits(ruleset, [at(1, { dport: 22 }), at(2, { dport: 22 }), at(1, { dport: 445, dst: '10.20.0.1' })])).toBe(0);
    expect(hits(ruleset, [at(1, { dport: 22 }), at(2, { dport: 22 }), at(3, { dport: 445 })])).toBe(1);
  });

  it('temporal_ordered -> sequence in that order; temporal -> both orders', () => {
    const ordered = convert(corr('  type: temporal_ordered\n  rules: [fetch, admin]\n  group-by: [Computer]\n  timespan: 10m\n')).ruleset;
    const fetchThenAdmin = [at(1, { dport: 443 }), at(60, { dport: 22 })];
    const adminThenFetch = [at(1, { dport: 22 }), at(60, { dport: 443 })];
    expect(hits(ordered, fetchThenAdmin)).toBe(1);
    expect(hits(ordered, adminThenFetch)).toBe(0);
    const any = convert(corr('  type: temporal\n  rules: [fetch, admin]\n  group-by: [Computer]\n  timespan: 10m\n'));
    expect(any.res.rules).toHaveLength(2);
    expect(new Set(any.res.rules.map((r) => r.rule.id)).size).toBe(2);
    expect(hits(any.ruleset, fetchThenAdmin)).toBe(1);
    expect(hits(any.ruleset, adminThenFetch)).toBe(1);
    expect(hits(any.ruleset, [at(1, { dport: 443 }), at(700, { dport: 22 })])).toBe(0); // beyond the timespan
  });

  it('the referenced rules are not emitted on their own unless generate: true', () => {
    expect(convert(corr('  type: event_count\n  rules: [admin]\n  group-by: [Computer]\n  timespan: 1m\n  condition: {gte: 2}\n')).res.rules).toHaveLength(2); // correlation + unreferenced fetch
    expect(convert(`${corr('  type: event_count\n  rules: [admin]\n  group-by: [Computer]\n  timespan: 1m\n  condition: {gte: 2}\n')}generate: true\n`).res.rules).toHaveLength(3);
  });
});

describe('what cannot be converted', () => {
  it('is named with file:line and the reason, and the rest still converts', () => {
    const { res } = convert(`${head('  sel:\n    DestinationPort: 22\n  condition: sel')}---
${head('  sel:\n    DestinationHostname: evil.example\n  condition: sel').replace('11111111-2222-4333-8444-555555555555', '11111111-2222-4333-8444-000000000002')}---
${head('  sel:\n    Image|windash: -x\n  condition: sel').replace('11111111-2222-4333-8444-555555555555', '11111111-2222-4333-8444-000000000003')}---
${head('  sel:\n    DestinationPort: 22\n  condition: sel and missing').replace('11111111-2222-4333-8444-555555555555', '11111111-2222-4333-8444-000000000004')}---
${head('  sel:\n    DestinationPort: "2*"\n  condition: sel').replace('11111111-2222-4333-8444-555555555555', '11111111-2222-4333-8444-000000000005')}---
${head("  sel:\n    Image|re: '^/(a)\\1$'\n  condition: sel").replace('11111111-2222-4333-8444-555555555555', '11111111-2222-4333-8444-000000000006')}`);
    expect(res.rules).toHaveLength(1);
    expect(res.failed).toBe(5);
    const errs = res.problems.filter((p) => p.severity === 'error');
    expect(errs.map((p) => [p.sigmaId.slice(-1), p.line])).toEqual([['2', 23], ['3', 36], ['4', 50], ['5', 62], ['6', 75]]);
    expect(errs[4]!.message).toMatch(/Image\|re "\^\/\(a\)\\\\1\$": .*backreference/i);
    expect(errs[0]!.message).toMatch(/DestinationHostname: connaudit records carry no DNS names/);
    expect(errs[1]!.message).toMatch(/modifier windash/);
    expect(errs[2]!.message).toMatch(/unknown search identifier 'missing'/);
    expect(errs[3]!.message).toMatch(/whole number/);
    for (const e of errs) expect(e.file).toMatch(/rule\.yml$/);
  });

  it('correlation upper bounds and chained correlations are refused with a reason', () => {
    const { res } = convert(`title: Base
id: cccccccc-0000-4000-8000-000000000001
name: base
logsource: {category: network_connection}
detection: {sel: {DestinationPort: 22}, condition: sel}
---
title: Upper bound
id: cccccccc-0000-4000-8000-000000000002
name: upper
correlation: {type: event_count, rules: [base], group-by: [Computer], timespan: 1h, condition: {lte: 3}}
---
title: Chained
id: cccccccc-0000-4000-8000-000000000003
correlation: {type: event_count, rules: [upper], group-by: [Computer], timespan: 1h, condition: {gte: 3}}
`);
    const msgs = res.problems.filter((p) => p.severity === 'error').map((p) => `${p.title}: ${p.message}`);
    expect(msgs).toEqual([
      expect.stringMatching(/^Upper bound: cannot convert: correlation condition \{"lte":3\}/),
      expect.stringMatching(/^Chained: cannot convert: refers to correlation upper: chained correlations are not supported/),
    ]);
  });
});
