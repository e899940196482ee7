import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { describeMismatch } from './closest-miss.js';
import { parseDocLine } from './input.js';
import { createRuleStage } from './stage.js';
import type { RuleDef, RuleSet } from './types.js';

// `connaudit rules test`: every rule against its own positive and negative
// fixtures (expected counts in the rule's `tests:`), then all rules together
// against the benign corpus, which must stay quiet except for the known false
// positives listed in known-false-positives.yaml (Sigma's known-FPs idea).
// Every offender is reported; nothing stops at the first failure.

export interface RuleTestRow {
  id: string;
  name: string;
  file: string;
  positive: { expected: number | null; got: number | null };
  negative: { expected: number | null; got: number | null };
  benign: number;
  benignAllowed: number;
  problems: string[];
  pass: boolean;
  disabled?: boolean;
}

export interface KnownFalsePositive {
  rule_id: string;
  count: number;
  reason: string;
}

export function fixturesDir(rule: RuleDef): string {
  return rule.file.replace(/\.ya?ml$/, '.fixtures');
}

export function readJsonl(file: string): ConnectionDoc[] {
  const out: ConnectionDoc[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    const d = parseDocLine(file, i + 1, line);
    if (d) out.push(d);
  });
  return out;
}

/** Runs documents through a fresh stage holding `rules`, then ends the input; returns the alerts. */
export function runDocs(ruleset: RuleSet, rules: RuleDef[], docs: ConnectionDoc[]): AlertDoc[] {
  const stage = createRuleStage({ ...ruleset, rules });
  const alerts: AlertDoc[] = [];
  let last = 0;
  for (const d of docs) {
    alerts.push(...stage.process(d));
    last = Math.max(last, Date.parse(d['@timestamp']));
  }
  alerts.push(...(stage.tick?.(last) ?? []));
  alerts.push(...stage.flush());
  return alerts;
}

export function loadKnownFalsePositives(file: string): KnownFalsePositive[] {
  if (!existsSync(file)) return [];
  const data = parseYaml(readFileSync(file, 'utf8')) as unknown;
  if (data == null) return [];
  if (!Array.isArray(data)) throw new Error(`${file}: must be a list of {rule_id, count, reason}`);
  return data.map((e, i) => {
    const x = e as Partial<KnownFalsePositive>;
    if (typeof x.rule_id !== 'string' || typeof x.count !== 'number' || typeof x.reason !== 'string') throw new Error(`${file}: entry ${i + 1} needs rule_id (string), count (number) and reason (string)`);
    return x as KnownFalsePositive;
  });
}

const within = (file: string, roots: string[]): boolean => roots.some((r) => file === r || file.startsWith(r.endsWith(sep) ? r : r + sep));

/** The rules an author's layers define or tune (for `rules test PATHS`): the others are the library's business. */
export function definedIn(paths: string[]): (rule: RuleDef) => boolean {
  const roots = paths.map((p) => resolve(p));
  return (rule) => within(resolve(rule.file), roots) || (rule.tunedBy ?? []).some((t) => within(resolve(t.replace(/:\d+$/, '')), roots));
}

export function runRuleTests(ruleset: RuleSet, benignDir: string | null, only?: (rule: RuleDef) => boolean): { rows: RuleTestRow[]; benignFiles: string[]; benignDocs: number } {
  const rows: RuleTestRow[] = [];
  for (const rule of ruleset.rules) {
    if (only && !only(rule)) continue;
    const dir = fixturesDir(rule);
    const row: RuleTestRow = {
      id: rule.id, name: rule.name, file: rule.file,
      positive: { expected: rule.tests?.positive ?? null, got: null },
      negative: { expected: rule.tests?.negative ?? null, got: null },
      benign: 0, benignAllowed: 0, problems: [], pass: false,
    };
    if (!rule.enabled) {
      // Switched off (in its file or by a tuning entry): it cannot fire, so its fixtures would only report that.
      row.disabled = true;
      rows.push(row);
      continue;
    }
    if (!rule.tests) row.problems.push(`${rule.file}:${rule.line}: no 'tests: {positive: N, negative: 0}' with the expected alert counts`);
    for (const kind of ['positive', 'negative'] as const) {
      const f = join(dir, `${kind}.jsonl`);
      if (!existsSync(f)) {
        row.problems.push(`missing fixture ${f}`);
        continue;
      }
      try {
        const docs = readJsonl(f);
        const alerts = runDocs(ruleset, [rule], docs).filter((a) => a.rule.id === rule.id);
        const got = alerts.length;
        row[kind].got = got;
        if (row[kind].expected !== null && got !== row[kind].expected) row.problems.push(describeMismatch(rule, f, row[kind].expected, alerts, docs).join('\n'));
      } catch (err) {
        row.problems.push((err as Error).message);
      }
    }
    if (row.positive.got === 0) row.problems.push('positive fixture raised no alert: the rule cannot fire on its own evidence');
    rows.push(row);
  }
  const benignFiles = benignDir && existsSync(benignDir) ? readdirSync(benignDir).filter((f) => f.endsWith('.jsonl')).sort().map((f) => join(benignDir, f)) : [];
  let benignDocs = 0;
  if (benignDir) {
    const known = loadKnownFalsePositives(join(benignDir, 'known-false-positives.yaml'));
    for (const f of benignFiles) {
      const docs = readJsonl(f);
      benignDocs += docs.length;
      for (const a of runDocs(ruleset, ruleset.rules, docs)) {
        const row = rows.find((r) => r.id === a.rule.id);
        if (!row) continue;
        row.benign++;
        if (row.benign - row.benignAllowed > 0 && !known.some((k) => k.rule_id === row.id)) {
          row.problems.push(`benign ${basename(f)}: alert '${a.event.reason ?? ''}' (list it in known-false-positives.yaml only if it is a real known false positive)`);
        }
      }
    }
    for (const row of rows) {
      row.benignAllowed = known.filter((k) => k.rule_id === row.id).reduce((s, k) => s + k.count, 0);
      if (row.benignAllowed > 0 && row.benign > row.benignAllowed) row.problems.push(`benign corpus raised ${row.benign} alerts; known-false-positives.yaml allows ${row.benignAllowed}`);
    }
  }
  for (const row of rows) row.pass = row.problems.length === 0;
  return { rows, benignFiles, benignDocs };
}

export function formatTable(rows: RuleTestRow[]): string {
  const show = (x: { expected: number | null; got: number | null }): string => `${x.expected ?? '?'}/${x.got ?? '-'}`;
  const head = ['rule', 'positive exp/got', 'negative exp/got', 'benign', 'result'];
  const body = rows.map((r) => [`${r.id.slice(0, 8)} ${r.name}`, show(r.positive), show(r.negative), r.benignAllowed ? `${r.benign} (${r.benignAllowed} known)` : String(r.benign), r.disabled ? 'DISABLED' : r.pass ? 'PASS' : 'FAIL']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
