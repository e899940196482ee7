import { compileCondition, NEVER, type CompileCtx } from './condition.js';
import { parseDuration } from './duration.js';
import type { Entry } from './library.js';
import type { Raw } from './rule-type.js';
import type { Path } from '../../lib/config-file.js';
import { SEVERITY_SCORE, type Predicate, type RuleDef, type Severity } from './types.js';

// Tuning entries change a rule loaded earlier (usually a shipped one) without
// editing its file, as Falco's `override:` does:
//   - rule: Admin port fan-out          # by name or id
//     enabled: false                    # alone: switch it off (or on)
//   - rule: Admin port fan-out
//     override: {exceptions: append}    # append to, or replace, the rule's own
//     exceptions: [{name: backup hosts, condition: {field: source.ip, cidr: [10.9.0.0/24]}}]
// `condition: append` narrows the rule (its condition AND the new one);
// severity, risk_score, suppress and enabled can only be replaced. Tuning never
// changes state-shaping parameters, so a tuned rule keeps its state on reload.

const and = (a: Predicate, b: Predicate): Predicate => Object.assign((d: Parameters<Predicate>[0]) => a(d) && b(d), {
  explain: (d: Parameters<Predicate>[0], o: string[]) => { a.explain(d, o); b.explain(d, o); },
  guards: [...(a.guards ?? []), ...(b.guards ?? [])],
});
const or = (a: Predicate, b: Predicate): Predicate => Object.assign((d: Parameters<Predicate>[0]) => a(d) || b(d), {
  explain: (d: Parameters<Predicate>[0], o: string[]) => (a(d) ? a : b).explain(d, o),
});

const TUNABLE = ['condition', 'exceptions', 'enabled', 'severity', 'risk_score', 'suppress'] as const;

export function applyTunes(
  tunes: Entry[],
  rules: RuleDef[],
  order: Map<string, number>,
  env: { ctxFor: (e: Entry) => CompileCtx; fail: (e: Entry, path: Path, message: string) => void },
): void {
  for (const t of tunes) {
    const raw = t.raw;
    const fail = (path: Path, message: string) => env.fail(t, [t.index, ...path], message);
    const name = raw.rule as string;
    const target = rules.find((r) => (r.name === name || r.id === name) && (order.get(r.id) ?? Infinity) < t.seq);
    if (!target) {
      fail(['rule'], `no rule named '${name}' was loaded before this entry; a tuning entry (one with 'override:' or only 'enabled:', and no 'id:') changes a rule from an earlier file or folder (the shipped library loads first)`);
      continue;
    }
    const how = (raw.override as Raw | undefined) ?? {};
    const given = TUNABLE.filter((k) => raw[k] !== undefined);
    let ok = true;
    for (const k of given) {
      if (k === 'enabled' && raw.override === undefined) continue; // the shorthand
      if (how[k] === undefined) { fail([k], `say how '${k}' changes the rule: override: {${k}: ${k === 'condition' || k === 'exceptions' ? 'append or replace' : 'replace'}}`); ok = false; }
    }
    for (const k of Object.keys(how)) if (raw[k] === undefined) { fail(['override', k], `override names '${k}' but the entry has no '${k}:' value`); ok = false; }
    if (!ok) continue;
    const ctx = env.ctxFor(t);
    if (raw.condition !== undefined) {
      const c = compileCondition(raw.condition, ['condition'], ctx);
      target.condition = how.condition === 'append' ? and(target.condition, c) : c;
    }
    if (raw.exceptions !== undefined) {
      const list = (raw.exceptions as Raw[]).map((x, i) => compileCondition(x.condition, ['exceptions', i, 'condition'], ctx));
      const ex = list.reduce<Predicate>((acc, p) => (acc === NEVER ? p : or(acc, p)), NEVER);
      target.exceptions = how.exceptions === 'append' ? or(target.exceptions, ex) : ex;
    }
    if (typeof raw.enabled === 'boolean') target.enabled = raw.enabled;
    if (typeof raw.severity === 'string') {
      target.severity = raw.severity as Severity;
      if (raw.risk_score === undefined) target.riskScore = SEVERITY_SCORE[target.severity];
    }
    if (typeof raw.risk_score === 'number') target.riskScore = raw.risk_score;
    if (raw.suppress !== undefined) target.suppressMs = parseDuration(raw.suppress) ?? target.suppressMs;
    (target.tunedBy ??= []).push(`${t.src.file}:${t.src.position([t.index]).line}`);
  }
}
