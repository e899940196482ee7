import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthDoc } from '../../tools/gen/synth.js';
import { loadRuleSet } from './loader.js';
import { RULE_HEAD, ruleDir } from '../../test/helpers/rules.js';
import { formatRuleError } from './types.js';

const ID = '0b6f1f4e-8a61-4c1e-9a55-3d1f2a9e0c11';
const load = (files: Record<string, string>) => {
  const dir = ruleDir(files);
  const r = loadRuleSet(dir);
  return { ...r, dir, lines: r.errors.map((e) => formatRuleError(e).replace(`${dir}/`, '')) };
};

describe('rule loader: exact errors with file:line:col and rule id', () => {
  it('reports an unknown key at the key itself', () => {
    const { lines } = load({ 'a.yaml': `${RULE_HEAD()}  type: match\n  condition: true\n  colour: red\n` });
    expect(lines).toEqual([`a.yaml:12:3: ${ID} - Inline rule -> unknown key 'colour'`]);
  });

  it('reports a bad UUID, a missing key and a bad enum together', () => {
    const text = RULE_HEAD('not-a-uuid').replace('severity: high', 'severity: huge').replace(/  note:.*\n/, '') + '  type: match\n  condition: true\n';
    const { lines } = load({ 'a.yaml': text });
    expect(lines).toContain(`a.yaml:1:3: not-a-uuid - Inline rule -> missing required key 'note'`);
    expect(lines).toContain(`a.yaml:2:7: not-a-uuid - Inline rule -> 'id' must be a uuid (generate one with: node -e "console.log(crypto.randomUUID())")`);
    expect(lines).toContain(`a.yaml:5:13: not-a-uuid - Inline rule -> 'severity' must be one of "low", "medium", "high", "critical"`);
  });

  it('reports a YAML syntax error with its position', () => {
    const { lines } = load({ 'a.yaml': '- rule: x\n  id: [unclosed\n' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^a\.yaml:\d+:\d+: - - - -> not valid YAML: /);
  });

  it('reports an unknown macro and a regex RE2 cannot run inside the condition', () => {
    const text = `${RULE_HEAD()}  type: match\n  condition:\n    and:\n      - {macro: no_such_macro}\n      - {field: process.name, regex: "(a)\\\\1"}\n`;
    const { lines } = load({ 'a.yaml': text });
    expect(lines).toEqual([
      `a.yaml:13:17: ${ID} - Inline rule -> unknown macro 'no_such_macro'; define it with '- macro: no_such_macro' (shared macros live in the shipped rules/_macros.yaml, which loads first)`,
      `a.yaml:14:38: ${ID} - Inline rule -> regex "(a)\\\\1" rejected: backreferences (\\1, \\k<name>) are not supported: RE2 semantics match in linear time and cannot express them`,
    ]);
  });

  it('rejects a macro cycle', () => {
    const { lines } = load({ 'a.yaml': '- macro: a\n  condition: {macro: b}\n- macro: b\n  condition: {macro: a}\n' });
    expect(lines.some((l) => l.includes("macro 'a' refers to itself (cycle: a -> b -> a)"))).toBe(true);
  });

  it('requires the parameters of each rule type', () => {
    const { lines } = load({ 'a.yaml': `${RULE_HEAD()}  type: value_count\n  condition: true\n  group_by: [source.ip]\n  window: 5m\n  threshold: 3\n` });
    expect(lines).toEqual([`a.yaml:1:3: ${ID} - Inline rule -> missing required key 'distinct'`]);
  });

  it('rejects a duplicate rule id across files, naming the first definition', () => {
    const rule = `${RULE_HEAD()}  type: match\n  condition: true\n`;
    const { lines, dir } = load({ 'a.yaml': rule, 'b.yaml': rule });
    expect(lines).toEqual([`b.yaml:2:7: ${ID} - Inline rule -> duplicate rule id; first defined at ${join(dir, 'a.yaml')}:1`]);
  });
});

describe('rule loader: lists, macros and tuning hooks read top-down', () => {
  const doc = (port: number, host = 'h1') => synthDoc({ t: 0, host, src: '10.0.0.1', dst: '10.0.0.2', dport: port });

  it('a later file overrides a tuning hook and appends to a list', () => {
    const base = {
      '_lists.yaml': '- list: ports\n  items: [22]\n',
      '_macros.yaml': '- macro: never_true\n  condition: false\n- macro: tuning_x\n  condition: {macro: never_true}\n',
      'r.yaml': `${RULE_HEAD()}  type: match\n  condition: {and: [{field: destination.port, in: {list: ports}}, {not: {macro: tuning_x}}]}\n`,
    };
    const plain = load(base).ruleset.rules[0]!;
    expect([plain.condition(doc(22)), plain.condition(doc(445)), plain.condition(doc(22, 'lab-1'))]).toEqual([true, false, true]);
    const tuned = load({ ...base, 'zz_local.yaml': '- list: ports\n  items: [445]\n  append: true\n- macro: tuning_x\n  condition: {field: host.name, prefix: lab-}\n' }).ruleset.rules[0]!;
    expect([tuned.condition(doc(22)), tuned.condition(doc(445)), tuned.condition(doc(22, 'lab-1'))]).toEqual([true, true, false]);
  });
});
