import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { runRuleTests } from '../../pipeline/rules/fixtures.js';
import { loadRuleSet } from '../../pipeline/rules/loader.js';
import { fromRoot } from '../../lib/paths.js';
import { defaultBenignDir } from '../../pipeline/rules/paths.js';
import { rulesValidator } from '../../pipeline/rules/schema.js';
import { formatRuleError } from '../../pipeline/rules/types.js';

// Every shipped rule in one pass (Elastic detection-rules' test_all_rules
// style): the schema is compiled once, each file is checked on its own, and
// every failure message starts with "<id> - <name> ->" so the offender is
// named in CI output without opening the file.

const RULES = fromRoot('rules');
const ruleFiles = readdirSync(RULES).filter((f) => /^[a-z]+_.*\.yaml$/.test(f) && !f.startsWith('_')).sort();
const validate = rulesValidator();
const all = loadRuleSet(RULES);

describe('shipped rules', () => {
  it('load with no problem at all', () => {
    expect(all.errors.map(formatRuleError)).toEqual([]);
    expect(all.ruleset.rules).toHaveLength(ruleFiles.length);
  });

  it.each(ruleFiles)('%s', (file) => {
    const data = parse(readFileSync(join(RULES, file), 'utf8')) as Array<Record<string, unknown>>;
    const rules = data.filter((e) => 'rule' in e);
    const label = (r: Record<string, unknown>) => `${String(r.id)} - ${String(r.rule)} ->`;
    expect(rules.length, `${file} -> one rule per file`).toBe(1);
    const r = rules[0]!;
    expect(validate(data), `${label(r)} schema: ${JSON.stringify(validate.errors)}`).toBe(true);
    expect(file.startsWith(`${String(r.category)}_`), `${label(r)} file name must start with its category`).toBe(true);
    const def = all.ruleset.rules.find((x) => x.id === r.id);
    expect(def, `${label(r)} did not compile`).toBeDefined();
    expect(def!.tests, `${label(r)} needs tests: {positive, negative}`).toBeDefined();
    if (r.category !== 'network_health') {
      expect(def!.tactics.length, `${label(r)} needs a MITRE tactic`).toBeGreaterThan(0);
      expect(def!.techniques.length, `${label(r)} needs a MITRE technique`).toBeGreaterThan(0);
    }
  });
});

describe('fixtures and benign corpus', () => {
  const result = runRuleTests(all.ruleset, defaultBenignDir());
  it('the benign corpus holds monitoring fan-out and bastion SSH', () => {
    expect(result.benignFiles.map((f) => f.split('/').pop())).toEqual(expect.arrayContaining(['monitoring-fanout.jsonl', 'bastion-ssh.jsonl']));
    expect(result.benignDocs).toBeGreaterThan(100);
  });
  it.each(result.rows.map((r) => [`${r.id} - ${r.name}`, r] as const))('%s', (_label, row) => {
    expect(row.problems.map((p) => `${row.id} - ${row.name} -> ${p}`)).toEqual([]);
    expect(row.positive.got).toBe(row.positive.expected);
    expect(row.negative.got).toBe(row.negative.expected);
  });
});
