import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../lib/errors.js';
import { ConfigError, parseConfig } from './config.js';

const problemsOf = (text: string): string[] => {
  try {
    parseConfig(text, 'p.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map(formatProblem);
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('pipeline config', () => {
  it('accepts a full config and resolves paths against the file', () => {
    const cfg = parseConfig(
      `internal_cidrs: [10.0.0.0/8, fd00::/8]
zones:
  prod: [10.1.0.0/16]
node_groups:
  web: ["web-*"]
environments:
  - zone: prod
    environment: production
rules: ../rules
services: services.yaml
`,
      '/etc/connaudit/p.yaml',
    );
    expect(cfg.zones).toEqual({ prod: ['10.1.0.0/16'] });
    expect(cfg.rules).toBe('/etc/rules');
    expect(cfg.services).toBe('/etc/connaudit/services.yaml');
  });

  it.each([
    ['an unknown key', 'zones: {}\nzonez: {}\n', 'p.yaml:2:1: zonez: unknown key (allowed: internal_cidrs'],
    ['a malformed CIDR', 'zones:\n  prod:\n    - 10.1.0.0\n', 'p.yaml:3:7: zones.prod.0: not a CIDR'],
    ['a prefix that is too long', 'internal_cidrs:\n  - 10.0.0.0/40\n', 'p.yaml:2:5: internal_cidrs.0: not a CIDR: "10.0.0.0/40" (prefix must be 0..32)'],
    ['a bad summary schedule', 'slo_summary_cron: every hour please\n', 'p.yaml:1:19: slo_summary_cron: "every hour please" is not a cron expression'],
    ['a minute out of range', 'slo_summary_cron: "61 * * * *"\n', 'p.yaml:1:19: slo_summary_cron: "61 * * * *" is not a cron expression'],
    ['an environment for an undefined zone', 'environments:\n  - zone: prd\n    environment: production\n', 'p.yaml:2:11: environments.0.zone: names zone "prd", which is not under zones'],
    ['an unknown offset reset policy', 'offset_reset: newest\n', 'p.yaml:1:15: offset_reset: must be one of "earliest", "latest"'],
    ['a negative skew', 'max_future_skew_s: -5\n', 'p.yaml:1:20: max_future_skew_s: must be >= 0'],
    ['a zero idle timeout', 'watermark:\n  idle_timeout_s: 0\n', 'p.yaml:2:19: watermark.idle_timeout_s: must be > 0'],
    ['a misspelt watermark key', 'watermark:\n  allowed_latness_s: 5\n', 'p.yaml:2:3: watermark.allowed_latness_s: unknown key'],
    ['broken YAML', 'zones: [\n', 'p.yaml:'],
  ])('rejects %s with file:line:col', (_n, text, want) => {
    const problems = problemsOf(text);
    expect(problems.join('\n')).toContain(want);
  });
});
