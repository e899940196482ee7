import { describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { loadRuleSet } from './loader.js';
import { reloadRules } from './reload.js';
import { createRuleStage } from './stage.js';
import { synthDoc } from '../../tools/gen/synth.js';
import { RULE_HEAD, ruleDir } from '../../test/helpers/rules.js';

// A regex that hangs a backtracking engine (\w*\w*...! took 6 s at 30
// characters and held the pipeline at 100% CPU with a 61-character process
// path) arrives by hot reload. Every document still comes out, with exactly
// the alerts it should raise, and the cost is counted per rule.

const T0 = Date.parse('2025-03-03T10:00:00Z');
const ID2 = '5e1f0c3a-2b4d-4e6f-8a9b-0c1d2e3f4a5b';
const EVIL = String.raw`\w*\w*\w*\w*\w*\w*\w*\w*!`;

const docWith = (i: number, executable: string): ConnectionDoc => {
  const d = synthDoc({ t: T0 + i * 1000, host: 'h1', src: '10.0.0.1', dst: '10.0.0.2', dport: 22, seq: i });
  d.process!.executable = executable;
  return d;
};

describe('catastrophic regex in a hot-reloaded rule', () => {
  it('loads, and every document is processed with exactly the alerts it should raise (count in = out)', () => {
    const dir = ruleDir({ 'r.yaml': `${RULE_HEAD()}  type: match\n  condition: {field: destination.port, eq: 9999}\n` });
    const first = loadRuleSet(dir);
    expect(first.errors).toEqual([]);
    const stage = createRuleStage(first.ruleset);

    const rule = `${RULE_HEAD(ID2, 'Bang in the path')}  type: match\n  condition: {field: process.executable, regex: '${EVIL}'}\n`;
    const next = ruleDir({ 'r.yaml': rule });
    const reload = reloadRules(next, [stage]);
    expect(reload).toEqual({ ok: true, errors: [], rules: 1 });

    // 61 characters (what stalled the pipeline) and 10,000 characters, with and without the '!'.
    const inputs = ['a'.repeat(61), `${'a'.repeat(61)}!`, 'a'.repeat(10_000), `${'a'.repeat(10_000)}!`];
    const docs = Array.from({ length: 400 }, (_, i) => docWith(i, inputs[i % inputs.length]!));
    let processed = 0;
    let alerts = 0;
    for (const d of docs) {
      alerts += stage.process(d).length;
      processed++;
    }
    expect(processed).toBe(docs.length);
    expect(alerts).toBe(docs.filter((d) => d.process!.executable!.endsWith('!')).length);
    expect(alerts).toBe(200);
    const st = stage.stats().rules.find((r) => r.id === ID2)!;
    expect(st.matches).toBe(200);
    expect(stage.stats().events).toBe(400);
    expect(st.sampled).toBe(Math.floor(400 / 64));
  });

  it('counts a budget overrun against the slowest rule, and still evaluates every rule', () => {
    const dir = ruleDir({
      'a.yaml': `${RULE_HEAD()}  type: match\n  condition: {field: destination.port, eq: 22}\n`,
      'b.yaml': `${RULE_HEAD(ID2, 'Bang in the path')}  type: match\n  condition: {field: process.executable, regex: '${EVIL}'}\n`,
    });
    const { ruleset, errors } = loadRuleSet(dir);
    expect(errors).toEqual([]);
    // A budget of 0 ms makes every event an overrun: the attribution is what is under test.
    const stage = createRuleStage(ruleset, { budgetMs: 0 });
    const docs = Array.from({ length: 20 }, (_, i) => docWith(i, `${'a'.repeat(50_000)}!`));
    const out = docs.flatMap((d) => stage.process(d));
    expect(out).toHaveLength(40); // both rules fired on every document: nothing was skipped
    const stats = stage.stats();
    expect(stats.overruns).toBe(20);
    const byId = new Map(stats.rules.map((r) => [r.id, r]));
    expect(byId.get(ID2)!.overruns).toBe(20);
    expect(byId.get('0b6f1f4e-8a61-4c1e-9a55-3d1f2a9e0c11')!.overruns).toBe(0);
  });
});
