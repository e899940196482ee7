import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkYaml, loadYamlConfig, parseYamlConfig, YamlFile } from './config-file.js';
import { ConfigError, UserError, formatProblem } from './errors.js';

// The shared loader, exercised with the agent's real schema: every problem is
// reported at once, each at the line and column of the offending node.

const SCHEMA = 'agent-config.schema.json';

describe('checkYaml', () => {
  it('reports an unknown key at the key, with the allowed keys', () => {
    const text = 'host: web-1\nfilters:\n  ignore_loopbak: true\n';
    const { problems } = checkYaml(text, 'agent.yaml', SCHEMA);
    expect(problems).toHaveLength(1);
    expect(formatProblem(problems[0]!)).toMatch(/^agent\.yaml:3:3: filters\.ignore_loopbak: unknown key \(allowed: ignore_loopback, ignore_ports, ignore_cidrs\)$/);
  });

  it('reports a wrong type at the value and every problem in one pass', () => {
    const text = 'host: web-1\nfilters:\n  ignore_ports: [22, "ssh"]\ninterim_interval_s: -1\n';
    const { problems } = checkYaml(text, 'agent.yaml', SCHEMA);
    expect(problems.map(formatProblem)).toEqual([
      'agent.yaml:3:22: filters.ignore_ports.1: must be integer',
      'agent.yaml:4:21: interim_interval_s: must be > 0',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    const { problems } = checkYaml('host: [a\n', 'bad.yaml', SCHEMA);
    expect(problems[0]).toMatchObject({ file: 'bad.yaml', line: 2 });
    expect(problems[0]!.message).toMatch(/^not valid YAML/);
  });

  it('refuses duplicate keys (the second would silently win)', () => {
    const { problems } = checkYaml('host: a\nhost: b\n', 'dup.yaml', SCHEMA);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 2 });
  });

  it('accepts an empty file as an empty config', () => {
    expect(checkYaml('', 'empty.yaml', SCHEMA)).toMatchObject({ value: {}, problems: [] });
  });
});

describe('parseYamlConfig / loadYamlConfig', () => {
  it('throws one ConfigError (a UserError) listing every problem, with a hint', () => {
    let err: unknown;
    try {
      parseYamlConfig('nope: 1\nhost: 3\n', 'x.yaml', SCHEMA);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(UserError);
    const ce = err as ConfigError;
    expect(ce.problems.map((p) => `${p.line}:${p.field}`)).toEqual(['1:nope', '2:host']);
    expect(ce.message.split('\n')).toHaveLength(2);
    expect(ce.hint).toContain('schemas/agent-config.schema.json');
  });

  it('names the file when it cannot be read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    expect(() => loadYamlConfig(join(dir, 'missing.yaml'), SCHEMA)).toThrow(/missing\.yaml: cannot read the file \(ENOENT\)/);
    const f = join(dir, 'ok.yaml');
    writeFileSync(f, 'host: web-1\n');
    expect(loadYamlConfig<{ host: string }>(f, SCHEMA).value.host).toBe('web-1');
  });
});

describe('YamlFile.position', () => {
  it('falls back to the nearest existing parent for a missing path', () => {
    const src = new YamlFile('f.yaml', 'a:\n  b: 1\n');
    expect(src.position(['a', 'b'])).toEqual({ line: 2, col: 6 });
    expect(src.position(['a', 'zzz'])).toEqual({ line: 2, col: 3 });
    expect(src.position(['a'], 'b')).toEqual({ line: 2, col: 3 });
  });
});
