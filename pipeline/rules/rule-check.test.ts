import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadRuleSet } from './loader.js';
import { shippedRulesDir } from './paths.js';
import { RULE_HEAD, ruleDir } from '../../test/helpers/rules.js';
import { buildRulesSchema, rulesSchemaPath } from './schema.js';
import { formatRuleError } from './types.js';
import { synthDoc } from '../../tools/gen/synth.js';

// Schema-checked rules: every field a rule names exists in the connection
// document, and every value could be held by it. Inline YAML, exact errors.

const ID = '0b6f1f4e-8a61-4c1e-9a55-3d1f2a9e0c11';
const load = (files: Record<string, string>) => {
  const dir = ruleDir(files);
  const r = loadRuleSet(dir);
  return { ...r, lines: r.errors.map((e) => formatRuleError(e).replace(`${dir}/`, '')) };
};
const matchRule = (cond: string, extra = '') => ({ 'a.yaml': `${RULE_HEAD()}  type: match\n  condition: ${cond}\n${extra}` });

describe('rule fields are checked against the connection document', () => {
  it('refuses a misspelt field with a did-you-mean and its line', () => {
    expect(load(matchRule('{field: destinaton.port, eq: 25}')).lines).toEqual([
      `a.yaml:11:22: ${ID} - Inline rule -> unknown field 'destinaton.port'; did you mean destination.port? (list the fields with: connaudit rules fields)`,
    ]);
  });

  it('refuses a value of the wrong type for the field', () => {
    expect(load(matchRule('{field: destination.port, eq: "twenty-five"}')).lines).toEqual([
      `a.yaml:11:44: ${ID} - Inline rule -> destination.port eq: "twenty-five" is not a number, and destination.port holds numbers`,
    ]);
  });

  it.each([
    ['{field: destination.port, in: [22, 70000]}', '70000 is not a port (an integer 0..65535)'],
    ['{field: destination.ip, eq: 10.0.0.300}', '"10.0.0.300" is not an IP address'],
    ['{field: destination.ip, eq: 10.0.0.0/8}', 'is not an IP address (use cidr: for a range)'],
    ['{field: source.ip, cidr: [10.0.0.0/33]}', 'not a CIDR: "10.0.0.0/33" (prefix must be 0..32)'],
    ['{field: process.name, cidr: [10.0.0.0/8]}', 'cidr works on IP address fields; process.name is keyword'],
    ['{field: connaudit.conn_state, in: [SF, SYN_SENT]}', '"SYN_SENT" is not a connaudit.conn_state value; use one of S0, S1, SF'],
    ['{field: connaudit.close_reason, eq: timed_out}', '"timed_out" is not a connaudit.close_reason value; use one of fin, refused, syn_timeout'],
    ['{field: destination.port, prefix: "44"}', 'prefix works on text; destination.port is a number'],
    ['{field: connaudit.destination_external, eq: yes}', '"yes" is not true or false'],
    ['{field: host.name, gt: 3}', 'gt compares numbers; host.name is keyword'],
  ])('refuses %s', (cond, why) => {
    const { lines } = load(matchRule(cond));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(why);
  });

  it('checks the items of a named list where the list is used', () => {
    const { lines } = load({ '_l.yaml': '- list: smtp_ports\n  items: [25, smtp]\n', ...matchRule('{field: destination.port, in: {list: smtp_ports}}') });
    expect(lines).toEqual([`a.yaml:11:44: ${ID} - Inline rule -> destination.port in: "smtp" is not a number, and destination.port holds numbers (in list 'smtp_ports')`]);
  });

  it('checks group_by, distinct, new_terms fields and sequence keys too', () => {
    const vc = `${RULE_HEAD()}  type: value_count\n  condition: true\n  group_by: [source.ipp]\n  distinct: [destination.ip]\n  window: 5m\n  threshold: 3\n`;
    expect(load({ 'a.yaml': vc }).lines).toEqual([`a.yaml:12:14: ${ID} - Inline rule -> unknown field 'source.ipp'; did you mean source.ip? (list the fields with: connaudit rules fields)`]);
    const nt = `${RULE_HEAD()}  type: new_terms\n  condition: true\n  fields: [host.name, proces.name]\n  learning_period: 1d\n  learning_by: hostname\n`;
    const ntLines = load({ 'a.yaml': nt }).lines;
    expect(ntLines).toHaveLength(2);
    expect(ntLines[0]).toContain("unknown field 'proces.name'; did you mean process.name?");
    expect(ntLines[1]).toContain("a.yaml:14:16:");
    expect(ntLines[1]).toContain("unknown field 'hostname'; did you mean host.name?");
    const seq = `${RULE_HEAD()}  type: sequence\n  condition: true\n  join_on: [source.address]\n  maxspan: 1m\n  steps:\n    - condition: {field: destination.port, eq: 22}\n    - condition: {field: destination.prot, eq: 22}\n`;
    const seqLines = load({ 'a.yaml': seq }).lines;
    expect(seqLines.some((l) => l.includes("unknown field 'source.address'"))).toBe(true);
    expect(seqLines.some((l) => l.includes("a.yaml:16:26:") && l.includes("unknown field 'destination.prot'; did you mean destination.port?"))).toBe(true);
  });

  it('checks fields inside macros at the macro', () => {
    const { lines } = load({ '_m.yaml': '- macro: web\n  condition: {field: host.nmae, prefix: web-}\n', ...matchRule('{macro: web}') });
    expect(lines).toEqual([`_m.yaml:2:22: - - macro web -> unknown field 'host.nmae'; did you mean host.name? (list the fields with: connaudit rules fields)`]);
  });

  it('reads an Elasticsearch alias through its target field', () => {
    const { ruleset, errors } = load(matchRule('{field: connection.state, eq: SF}'));
    expect(errors).toEqual([]);
    const d = synthDoc({ t: 0, host: 'h', src: '10.0.0.1', dst: '10.0.0.2', dport: 22 });
    d.connaudit.conn_state = 'SF';
    expect(ruleset.rules[0]!.condition(d)).toBe(true);
    d.connaudit.conn_state = 'REJ';
    expect(ruleset.rules[0]!.condition(d)).toBe(false);
  });

  it("names the type a key belongs to when a rule uses another type's key", () => {
    expect(load(matchRule('true', '  window: 5m\n')).lines).toEqual([`a.yaml:12:3: ${ID} - Inline rule -> 'window' is not a key of a match rule; it belongs to threshold, value_count rules`]);
  });
});

describe('the rule-file schema is generated from the rule type modules', () => {
  it('schemas/rules.schema.json is up to date (refresh: connaudit rules schema --write)', () => {
    expect(JSON.parse(readFileSync(rulesSchemaPath(), 'utf8'))).toEqual(buildRulesSchema());
  });
});

describe('saved rule state survives the upgrade to rule type modules', () => {
  // Signatures written by the version before rule types were modules (its loader on the shipped rules).
  const BEFORE: Record<string, string> = {
    '1d224526-9685-4de4-897e-2c5c493f9217': '["pivot_chain",[],0,null,[],[],null,null,[],0,[22,135,445,3389,5985,5986],1800000,2,null]',
    '4182cd62-16d8-4f75-8972-287f52dd18b7': '["value_count",["source.ip"],300000,10,["destination.ip"],[],null,null,[],0,[],0,2,null]',
    '09ef3ba7-c482-4896-b122-7f5049887416': '["new_terms",[],0,null,[],["host.name","process.name"],"3d","host.name",[],0,[],0,2,null]',
    '81c408ef-a1ed-4cfa-815e-88c0d025abc2': '["match",["source.ip","destination.ip","destination.port"],0,null,[],[],null,null,[],0,[],0,2,null]',
    '7755f96a-0035-45c1-a42c-a107ebdf8774': '["threshold",["connaudit.node_group"],60000,20,[],[],null,null,[],0,[],0,2,null]',
  };
  it('the shipped rules sign their state exactly as before', () => {
    const { ruleset, errors } = loadRuleSet(shippedRulesDir());
    expect(errors).toEqual([]);
    for (const [id, sig] of Object.entries(BEFORE)) expect(ruleset.rules.find((r) => r.id === id)?.stateSignature, id).toBe(sig);
  });
});

