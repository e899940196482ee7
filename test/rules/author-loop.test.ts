import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { RULE_HEAD, ruleDir } from '../helpers/rules.js';
import { synthDoc } from '../../tools/gen/synth.js';

// The rule author's loop through the CLI, as a new author would run it:
// a rule in its own folder, using the shipped macros, validated and tested
// together with the shipped library.

let out = '';
let err = '';
afterEach(() => vi.restoreAllMocks());
const capture = () => {
  out = '';
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
};

const ID = '6d1c7a52-0f57-4d0e-8a39-1b0a4b2c9e01';
const rule = (cond: string) => `${RULE_HEAD(ID, 'SMTP from a web host')}  type: match\n  condition: {and: [{macro: is_egress}, ${cond}]}\n  tests: {positive: 1, negative: 0}\n`;
const smtp = (host: string, port: number) => {
  const d = synthDoc({ t: 0, host, src: '10.0.0.5', dst: '93.184.216.34', dport: port });
  d.network.direction = 'egress';
  return JSON.stringify(d);
};

describe('rules validate / test on an author folder', () => {
  it('validate refuses the typo and the wrong type with file:line, and accepts the shipped macro', async () => {
    const dir = ruleDir({ 'smtp.yaml': rule('{field: destinaton.port, eq: 25}, {field: destination.port, eq: "twenty-five"}') });
    capture();
    expect(await main(['rules', 'validate', dir])).toBe(1);
    expect(out.split('\n').filter(Boolean)).toEqual([
      `${dir}/smtp.yaml:11:49: ${ID} - SMTP from a web host -> unknown field 'destinaton.port'; did you mean destination.port? (list the fields with: connaudit rules fields)`,
      `${dir}/smtp.yaml:11:105: ${ID} - SMTP from a web host -> destination.port eq: "twenty-five" is not a number, and destination.port holds numbers`,
    ]);
    expect(err).not.toContain("unknown macro 'is_egress'");
  });

  it('test prints expected vs actual and the trace of the closest miss', async () => {
    const dir = ruleDir({ 'smtp.yaml': rule('{field: destination.port, in: [25, 587]}, {field: host.name, prefix: web-}') });
    mkdirSync(join(dir, 'smtp.fixtures'));
    writeFileSync(join(dir, 'smtp.fixtures', 'positive.jsonl'), `${smtp('db-1', 25)}\n${smtp('web-1', 2525)}\n`);
    writeFileSync(join(dir, 'smtp.fixtures', 'negative.jsonl'), '');
    capture();
    expect(await main(['rules', 'test', dir])).toBe(1);
    expect(out).toMatch(/6d1c7a52 SMTP from a web host\s+1\/0\s+0\/0\s+0\s+FAIL/);
    expect(out).not.toContain('Pivot chain over admin ports'); // only the author's rules are tested
    const report = out.slice(out.indexOf(`${ID} - SMTP from a web host -> `));
    expect(report).toContain('positive.jsonl: expected 1 alert(s), got 0\n  actual alerts: none\n  closest miss: line 1 (10.0.0.5:');
    expect(report).toContain([
      '    - all of',
      '      + macro is_egress',
      '        + network.direction eq egress ("egress")',
      '      + destination.port in [25,587] (25)',
      '      - host.name prefix web- ("db-1")',
    ].join('\n'));
  });

  it('backtest takes several --rules layers in order on top of the shipped library', async () => {
    const mine = ruleDir({ 'smtp.yaml': rule('{field: destination.port, eq: 25}') });
    const off = ruleDir({ 'off.yaml': `- rule: ${ID}\n  enabled: false\n` });
    const input = join(mine, 'in.jsonl');
    writeFileSync(input, `${smtp('web-1', 25)}\n`);
    capture();
    expect(await main(['rules', 'backtest', '--input', input, '--rules', mine])).toBe(0);
    expect(out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { rule: { name: string } }).rule.name)).toContain('SMTP from a web host');
    capture();
    expect(await main(['rules', 'backtest', '--input', input, '--rules', mine, '--rules', off])).toBe(0);
    expect(out).not.toContain('SMTP from a web host');
  });
});
