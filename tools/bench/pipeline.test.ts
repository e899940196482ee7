import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadRuleSet, createRuleStage } from '../../pipeline/rules/index.js';
import { shippedRulesDir } from '../../pipeline/rules/paths.js';
import { synthDoc } from '../gen/synth.js';
import { RULE_TYPES, writeRareRules } from '../gen/rare-rules.js';
import { benchPipeline } from './pipeline.js';
import bench from '../../cli/commands/bench.js';
import { UsageError } from '../../cli/command.js';

// The benchmark's bookkeeping, not its speed: every record it feeds in comes
// out as a document or a dead letter, and the generated rules load, cover every
// rule type, stay silent on the benchmark fleet, yet can match.

describe('bench pipeline', () => {
  it('accounts for every record: documents + dead letters = records, in every run', async () => {
    const r = await benchPipeline({ rules: 12, records: 2000, runs: 2, corruptEvery: 200, stageShares: true });
    expect(r.rules).toEqual({ shipped: r.rules.shipped, generated: 12, loaded: r.rules.shipped + 12 });
    expect(r.rules.shipped).toBeGreaterThan(0);
    expect(r.runs).toHaveLength(2);
    for (const run of r.runs) {
      expect(run.docs + run.dlq).toBe(2000);
      expect(run.dlq).toBe(10);
      expect(run.alerts).toBe(r.alerts);
      expect(run.eventsPerSec).toBeGreaterThan(0);
      expect(run.eventsPerCpuSec).toBeGreaterThan(0);
    }
    expect(r.dlqSent).toBe(r.dlq);
    // The shipped rules find the attacks mixed into the fleet.
    expect(r.alerts).toBeGreaterThan(0);
    expect(r.eventsPerSec.min).toBeLessThanOrEqual(r.eventsPerSec.median);
    expect(r.eventsPerSec.median).toBeLessThanOrEqual(r.eventsPerSec.max);
    const shares = Object.values(r.stageShare!);
    expect(Object.keys(r.stageShare!)).toEqual(['decode', 'enrich', 'stage:slo', 'stage:rules', 'batchRest']);
    for (const s of shares) expect(s).toBeGreaterThanOrEqual(0);
    expect(r.peakRssMiB).toBeGreaterThan(0);
    // The rule stages timed alone, shipped set against shipped + generated, on the same documents.
    const c = r.ruleStageCpuMicros!;
    expect(c.events).toBe(2000 - 10);
    expect(c.shipped).toBeGreaterThan(0);
    expect(c.withGenerated).toBeGreaterThan(0);
    expect(c.ratio).toBeCloseTo(c.withGenerated / c.shipped, 1);
  }, 60_000);

  it('the generated rules add no alert on the benchmark fleet', async () => {
    const without = await benchPipeline({ rules: 0, records: 2000, runs: 1 });
    const withRare = await benchPipeline({ rules: 24, records: 2000, runs: 1 });
    expect(withRare.alerts).toBe(without.alerts);
    expect(withRare.docs).toBe(without.docs);
  }, 60_000);
});

describe('rare rules generator', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it('writes rules of every type that load through the layered loader without errors', () => {
    const dir = writeRareRules(250);
    dirs.push(dir);
    const { ruleset, errors } = loadRuleSet([shippedRulesDir(), dir]);
    expect(errors).toEqual([]);
    const rare = ruleset.rules.filter((r) => r.name.startsWith('Benchmark rare '));
    expect(rare).toHaveLength(250);
    const perType = new Map<string, number>();
    for (const r of rare) perType.set(r.type, (perType.get(r.type) ?? 0) + 1);
    expect([...perType.keys()].sort()).toEqual([...RULE_TYPES].sort());
    for (const n of perType.values()) expect(n).toBeGreaterThanOrEqual(41);
  });

  it('a generated rule matches the connection it describes', () => {
    const dir = writeRareRules(1); // rule 0: match, egress to port 20000
    dirs.push(dir);
    const { ruleset, errors } = loadRuleSet([shippedRulesDir(), dir]);
    expect(errors).toEqual([]);
    const only = { ...ruleset, rules: ruleset.rules.filter((r) => r.name === 'Benchmark rare match 0') };
    const stage = createRuleStage(only);
    const hit = synthDoc({ t: Date.parse('2025-03-03T00:00:00Z'), host: 'web-1', src: '10.0.0.1', dst: '10.40.0.1', dport: 20_000 });
    const miss = synthDoc({ t: Date.parse('2025-03-03T00:00:01Z'), host: 'web-1', src: '10.0.0.1', dst: '10.40.0.1', dport: 20_001, seq: 1 });
    expect(stage.process(miss)).toEqual([]);
    expect(stage.process(hit).map((a) => a.rule.name)).toEqual(['Benchmark rare match 0']);
  });
});

describe('connaudit bench pipeline options', () => {
  it('refuses a rule count that is not a whole number, naming the option', async () => {
    await expect(bench.run(['pipeline', '--rules', 'many'])).rejects.toThrow(UsageError);
    await expect(bench.run(['pipeline', '--rules', '1.5'])).rejects.toThrow("--rules needs a whole number (0 or more), got '1.5'");
    await expect(bench.run(['pipeline', '--records', '0'])).rejects.toThrow('--records needs a positive whole number');
  });
});
