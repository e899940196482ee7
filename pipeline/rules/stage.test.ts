import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Rekeyer } from '../rekey.js';
import { loadRuleSet } from './loader.js';
import { reloadRules } from './reload.js';
import { createCrossHostRuleStage, createRuleStage, type RuleStage } from './stage.js';
import { synthDoc, type ConnSpec } from '../../tools/gen/synth.js';
import { RULE_HEAD, ruleDir } from '../../test/helpers/rules.js';

// The rule types through the public stage API, with in-memory input (pino's
// sink idea): each test writes one tiny rule and asserts the alerts.

const T0 = Date.parse('2025-03-03T10:00:00Z');
const ruleset = (body: string, extra: Record<string, string> = {}) => {
  const dir = ruleDir({ 'r.yaml': `${RULE_HEAD()}${body}`, ...extra });
  const r = loadRuleSet(dir);
  expect(r.errors).toEqual([]);
  return { ...r.ruleset, dir };
};
const doc = (o: Partial<ConnSpec> & { t: number }): ConnectionDoc => synthDoc({ host: 'h1', src: '10.0.0.1', dst: '10.0.0.2', dport: 22, ...o });
const run = (stage: { process(d: ConnectionDoc): AlertDoc[] }, docs: ConnectionDoc[]) => docs.flatMap((d) => stage.process(d));

describe('threshold', () => {
  const rs = () => ruleset('  type: threshold\n  condition: true\n  group_by: [host.name]\n  threshold: 3\n  window: 1m\n');
  it('fires on a burst that straddles a clock-aligned minute (sliding, not bucketed)', () => {
    const start = T0 + 40_000; // 10:00:40, 10:00:55, 10:01:10: no calendar minute holds all three
    const alerts = run(createRuleStage(rs()), [0, 15_000, 30_000].map((dt, i) => doc({ t: start + dt, seq: i })));
    expect(alerts).toHaveLength(1);
    const a = alerts[0]!;
    expect(a.connaudit.alert.count).toBe(3);
    expect(a.connaudit.alert.first_seen).toBe(new Date(start).toISOString());
    expect((a.host as { name: string }).name).toBe('h1');
    expect(a.connaudit.alert.event_ids).toHaveLength(3);
    expect(a.connaudit.alert.explain).toContain('3 matching connections for host.name=h1 within 1m (threshold 3)');
  });
  it('does not fire when the same events are spread wider than the window', () => {
    expect(run(createRuleStage(rs()), [0, 35_000, 70_000].map((dt, i) => doc({ t: T0 + dt, seq: i })))).toHaveLength(0);
  });
  it('suppresses repeats for the same group, not for other groups', () => {
    const docs = [...[0, 1, 2, 3, 4, 5].map((i) => doc({ t: T0 + i * 1000, seq: i })), ...[0, 1, 2].map((i) => doc({ t: T0 + i * 1000, host: 'h2', seq: 10 + i }))];
    const alerts = run(createRuleStage(rs()), docs);
    expect(alerts.map((a) => (a.host as { name: string }).name)).toEqual(['h1', 'h2']);
  });
});

describe('value_count', () => {
  it('counts distinct values per group in a sliding window and lists them', () => {
    const rs = ruleset('  type: value_count\n  condition: true\n  group_by: [source.ip]\n  distinct: [destination.ip]\n  threshold: 3\n  window: 5m\n');
    const docs = ['10.0.1.1', '10.0.1.1', '10.0.1.2', '10.0.1.3'].map((dst, i) => doc({ t: T0 + i * 1000, dst, seq: i }));
    const alerts = run(createRuleStage(rs), docs);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.connaudit.alert.values).toEqual(['10.0.1.1', '10.0.1.2', '10.0.1.3']);
    expect((alerts[0]!.source as { ip: string }).ip).toBe('10.0.0.1');
  });
});

describe('event time across hosts', () => {
  it('a tick driven by another host running 10 minutes ahead does not empty an active group', () => {
    const rs = ruleset('  type: value_count\n  condition: true\n  group_by: [source.ip]\n  distinct: [destination.ip]\n  threshold: 3\n  window: 5m\n');
    const stage = createRuleStage(rs);
    run(stage, [doc({ t: T0, dst: '10.0.1.1' }), doc({ t: T0 + 1000, dst: '10.0.1.2', seq: 1 })]);
    stage.tick!(T0 + 10 * 60_000);
    expect(run(stage, [doc({ t: T0 + 2000, dst: '10.0.1.3', seq: 2 })])).toHaveLength(1);
  });
});

describe('new_terms', () => {
  const body = '  type: new_terms\n  condition: true\n  fields: [host.name, destination.ip]\n  learning_period: 1h\n';
  it('learns during the learning period, then alerts once per new term, and survives a restart via snapshot', () => {
    const rs = ruleset(body);
    const s1 = createRuleStage(rs);
    expect(run(s1, [doc({ t: T0, dst: '10.0.1.1' }), doc({ t: T0 + 30 * 60_000, dst: '10.0.1.2', seq: 1 })])).toHaveLength(0);
    const state = JSON.parse(JSON.stringify(s1.snapshot!()));
    const s2 = createRuleStage(rs);
    s2.restore!(state);
    const later = [doc({ t: T0 + 2 * 3600_000, dst: '10.0.1.2', seq: 2 }), doc({ t: T0 + 2 * 3600_000, dst: '10.0.1.9', seq: 3 }), doc({ t: T0 + 3 * 3600_000, dst: '10.0.1.9', seq: 4 })];
    const alerts = run(s2, later);
    expect(alerts.map((a) => (a.destination as { ip: string }).ip)).toEqual(['10.0.1.9']);
    // without the restored baseline the restarted stage would still be learning: no alert at all
    expect(run(createRuleStage(rs), later)).toHaveLength(0);
  });

  it('learning_by gives every host its own learning period (a host that joins later, or moves here, learns first)', () => {
    const rs = ruleset(`${body}  learning_by: host.name\n`);
    const stage = createRuleStage(rs);
    // h1 learns during its first hour and alerts after it.
    expect(run(stage, [doc({ t: T0, dst: '10.0.1.1' })])).toHaveLength(0);
    expect(run(stage, [doc({ t: T0 + 2 * 3600_000, dst: '10.0.1.7', seq: 1 })])).toHaveLength(1);
    // h2 is first seen at +2h: its own hour of learning, however old the rule's baseline is.
    expect(run(stage, [doc({ t: T0 + 2 * 3600_000, host: 'h2', dst: '10.0.2.1', seq: 2 }), doc({ t: T0 + 2.5 * 3600_000, host: 'h2', dst: '10.0.2.2', seq: 3 })])).toHaveLength(0);
    const h2 = run(stage, [doc({ t: T0 + 3.5 * 3600_000, host: 'h2', dst: '10.0.2.3', seq: 4 })]);
    expect(h2.map((a) => (a.destination as { ip: string }).ip)).toEqual(['10.0.2.3']);
    // The per-host start survives a restart.
    const again = createRuleStage(rs);
    again.restore!(JSON.parse(JSON.stringify(stage.snapshot!())));
    expect(run(again, [doc({ t: T0 + 4 * 3600_000, host: 'h2', dst: '10.0.2.4', seq: 5 })])).toHaveLength(1);
    // Without learning_by the same h2 traffic alerts at once (one learning period for the rule).
    const global = createRuleStage(ruleset(body));
    run(global, [doc({ t: T0, dst: '10.0.1.1' })]);
    expect(run(global, [doc({ t: T0 + 2 * 3600_000, host: 'h2', dst: '10.0.2.1', seq: 2 })])).toHaveLength(1);
  });

  it('a rule added by a hot reload learns from its load, instead of alerting on every term the fleet already uses', () => {
    const other = ruleset('  type: match\n  condition: {field: destination.port, eq: 1}\n');
    const stage = createRuleStage(other);
    // The pipeline has run for a day before the new_terms rule is added.
    run(stage, [doc({ t: T0, dst: '10.0.1.1' }), doc({ t: T0 + 24 * 3600_000, dst: '10.0.1.1', seq: 1 })]);
    const withTerms = ruleset(body, { 'other.yaml': `${RULE_HEAD('0b6f1f4e-8a61-4c1e-9a55-3d1f2a9e0c12', 'Other')}  type: match\n  condition: {field: destination.port, eq: 1}\n` });
    expect(reloadRules(withTerms.dir, [stage]).ok).toBe(true);
    const loaded = T0 + 24 * 3600_000;
    // Within the hour after the load: long-standing traffic is learned, not alerted.
    expect(run(stage, [doc({ t: loaded + 60_000, dst: '10.0.1.1', seq: 2 }), doc({ t: loaded + 30 * 60_000, dst: '10.0.1.2', seq: 3 })])).toHaveLength(0);
    // After it: only a term never seen alerts.
    const after = run(stage, [doc({ t: loaded + 2 * 3600_000, dst: '10.0.1.2', seq: 4 }), doc({ t: loaded + 2 * 3600_000, dst: '10.0.1.9', seq: 5 })]);
    expect(after.map((a) => (a.destination as { ip: string }).ip)).toEqual(['10.0.1.9']);
  });
});

describe('sequence', () => {
  it('fires when steps happen in order on the join key within maxspan', () => {
    const rs = ruleset([
      '  type: sequence', '  condition: true', '  join_on: [source.ip]', '  maxspan: 10m', '  steps:',
      '    - {name: failed, condition: {field: connaudit.conn_state, eq: REJ}}',
      '    - {name: success, condition: {field: connaudit.conn_state, eq: SF}}', '',
    ].join('\n'));
    const ok = run(createRuleStage(rs), [doc({ t: T0, state: 'REJ' }), doc({ t: T0 + 60_000, state: 'SF', seq: 1 })]);
    expect(ok).toHaveLength(1);
    expect(ok[0]!.connaudit.alert.count).toBe(2);
    const reversed = run(createRuleStage(rs), [doc({ t: T0, state: 'SF' }), doc({ t: T0 + 60_000, state: 'REJ', seq: 1 })]);
    const late = run(createRuleStage(rs), [doc({ t: T0, state: 'REJ' }), doc({ t: T0 + 11 * 60_000, state: 'SF', seq: 1 })]);
    expect([reversed.length, late.length]).toEqual([0, 0]);
  });
});

describe('pivot_chain', () => {
  const body = '  type: pivot_chain\n  condition: true\n  ports: [22, 445]\n  hop_maxspan: 10m\n';
  const hop = (src: string, dst: string, startMin: number, seq: number, host = src) => doc({ t: T0 + startMin * 60_000 + 1000, durationMs: 1000, src, dst, host, seq });
  /** Feeds the docs, then ends the input: a chain's root waits its lateness margin, which only the end of input (or event time) closes. */
  const runAll = (stage: RuleStage, docs: ConnectionDoc[]) => [...run(stage, docs), ...stage.flush()];
  it('joins hop n destination to hop n+1 source, counts a connection seen from both ends once', () => {
    const rs = ruleset(body);
    const alerts = runAll(createRuleStage(rs), [
      hop('10.0.0.1', '10.0.0.2', 0, 1), hop('10.0.0.1', '10.0.0.2', 0, 1, 'host-b'), // same connection, both ends
      hop('10.0.0.2', '10.0.0.3', 4, 2),
      hop('10.0.0.3', '10.0.0.4', 8, 3),
    ]);
    // one alert for the whole chain: neither the prefix 1->2->3 nor the suffix 2->3->4 of its own
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.connaudit.alert.values).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    expect(alerts[0]!.connaudit.alert.count).toBe(3);
  });
  it('ignores hops outside the port set or later than hop_maxspan', () => {
    const rs = ruleset(body);
    expect(runAll(createRuleStage(rs), [hop('10.0.0.1', '10.0.0.2', 0, 1), hop('10.0.0.2', '10.0.0.3', 11, 2)])).toHaveLength(0);
    const other = doc({ t: T0 + 120_000, src: '10.0.0.2', dst: '10.0.0.3', dport: 443, seq: 3 });
    expect(runAll(createRuleStage(rs), [hop('10.0.0.1', '10.0.0.2', 0, 1), other])).toHaveLength(0);
    // the same two hops within the span do alert, so the two above fail on span and port alone
    expect(runAll(createRuleStage(rs), [hop('10.0.0.1', '10.0.0.2', 0, 1), hop('10.0.0.2', '10.0.0.3', 9, 2)])).toHaveLength(1);
  });
  it('a root taken before a restart settles after it: the restored engine is among those settled', () => {
    const rs = ruleset(body);
    const before = createCrossHostRuleStage(rs);
    const root = hop('10.0.0.1', '10.0.0.2', 0, 1);
    expect(before.processRekeyed(root, 'related.ip', '10.0.0.1')).toEqual([]);
    expect(before.drainForwards!()).toEqual([]); // the root waits its grace
    const after = createCrossHostRuleStage(rs);
    after.restore!(JSON.parse(JSON.stringify(before.snapshot!())));
    // Event time passes the grace: the restored root goes out as a one-hop chain towards its destination.
    after.tick!(Date.parse(root['@timestamp']) + 60 * 60_000);
    const sent = after.drainForwards!();
    expect(sent.map((f) => `${f.by}=${f.key}`)).toEqual(['related.ip=10.0.0.2']);
    // Settled once: a later tick sends nothing again.
    after.tick!(Date.parse(root['@timestamp']) + 2 * 60 * 60_000);
    expect(after.drainForwards!()).toEqual([]);
  });
  it('with a Rekeyer, re-keys each hop under both addresses and leaves the chain to the cross-host stages', () => {
    const rs = ruleset(body);
    const requests: Array<{ doc: ConnectionDoc; by: string; key: string }> = [];
    const rekey: Rekeyer = { request: (d, by, key) => requests.push({ doc: d, by, key }) };
    const primary = createRuleStage(rs, { rekey });
    expect(runAll(primary, [hop('10.0.0.1', '10.0.0.2', 0, 1), hop('10.0.0.2', '10.0.0.3', 4, 2)])).toHaveLength(0);
    expect(requests.map((r) => `${r.by}=${r.key}`)).toEqual(['related.ip=10.0.0.1', 'related.ip=10.0.0.2', 'related.ip=10.0.0.2', 'related.ip=10.0.0.3']);
    // The owner of the joint 10.0.0.2 alone cannot report: the chain starts at 10.0.0.1's owner and travels as forwards.
    const joint = createCrossHostRuleStage(rs);
    const alone = requests.filter((r) => r.key === '10.0.0.2').flatMap((r) => joint.processRekeyed(r.doc, r.by, r.key));
    expect([...alone, ...joint.flush()]).toHaveLength(0);
    expect(joint.drainForwards!()).toEqual([]); // 10.0.0.2->3 has an inbound hop, so it is no root of its own
  });
});

describe('exceptions and match', () => {
  it('an exception drops the document before it counts', () => {
    const rs = ruleset('  type: match\n  condition: {field: destination.port, eq: 22}\n  exceptions:\n    - {name: bastion, condition: {field: source.ip, cidr: [10.0.0.5/32]}}\n');
    const alerts = run(createRuleStage(rs), [doc({ t: T0, src: '10.0.0.5' }), doc({ t: T0, src: '10.0.0.6', seq: 1 })]);
    expect(alerts.map((a) => (a.source as { ip: string }).ip)).toEqual(['10.0.0.6']);
    expect(alerts[0]!.rule).toMatchObject({ category: 'lateral_movement', severity: 'high', type: 'match' });
    expect(alerts[0]!.threat).toEqual({ framework: 'MITRE ATT&CK', tactic: { id: ['TA0008'] }, technique: { id: ['T1021'] } });
    expect(alerts[0]!.event).toMatchObject({ kind: 'alert', severity: 73, risk_score: 73 });
  });
});

describe('hot reload', () => {
  it('rejects a bad file and keeps the running rules and their state; a good change keeps state of unchanged rules', () => {
    const rs = ruleset('  type: threshold\n  condition: true\n  group_by: [host.name]\n  threshold: 3\n  window: 1m\n');
    const stage = createRuleStage(rs);
    run(stage, [doc({ t: T0 }), doc({ t: T0 + 1000, seq: 1 })]);
    writeFileSync(join(rs.dir, 'r.yaml'), `${RULE_HEAD()}  type: threshold\n  condition: {field: nope}\n`);
    const bad = reloadRules(rs.dir, [stage]);
    expect(bad.ok).toBe(false);
    expect(bad.errors[0]).toMatch(/r\.yaml:\d+:\d+: 0b6f1f4e-8a61-4c1e-9a55-3d1f2a9e0c11 - Inline rule -> /);
    expect(run(stage, [doc({ t: T0 + 2000, seq: 2 })])).toHaveLength(1); // old rule, old window
    // same state shape, new metadata: the window carries over
    writeFileSync(join(rs.dir, 'r.yaml'), `${RULE_HEAD(undefined, 'Renamed rule')}  type: threshold\n  condition: true\n  group_by: [host.name]\n  threshold: 3\n  window: 1m\n  suppress: 0\n`);
    const good = reloadRules(rs.dir, [stage]);
    expect(good).toMatchObject({ ok: true, rules: 1 });
  });
});
