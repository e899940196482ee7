import type { Logger } from '../../lib/log.js';
import { loadRuleSet } from './loader.js';
import { formatRuleError, type RuleError, type RuleSet } from './types.js';

// Hot reload (file change or SIGHUP, wired by pipeline/rule-watch.ts): the new
// files are loaded completely first; any problem rejects the whole reload and
// the running rule set stays in force. The pipeline (pipeline/compose.ts)
// passes its own layered load; tests pass paths.

export type RuleLoad = () => { ruleset: RuleSet; errors: RuleError[] };

export function reloadRules(source: string | string[] | RuleLoad, targets: Array<{ reload(rs: RuleSet): void }>, log?: Logger): { ok: boolean; errors: string[]; rules: number } {
  const { ruleset, errors } = typeof source === 'function' ? source() : loadRuleSet(source, log ? { log } : {});
  if (errors.length > 0) {
    const lines = errors.map(formatRuleError);
    log?.error({ errors: lines }, 'rule reload rejected; the running rules stay in force');
    return { ok: false, errors: lines, rules: ruleset.rules.length };
  }
  for (const t of targets) t.reload(ruleset);
  return { ok: true, errors: [], rules: ruleset.rules.length };
}
