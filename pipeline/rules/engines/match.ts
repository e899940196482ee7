import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import type { RuleTypeModule } from '../rule-type.js';
import type { RuleCommon } from '../types.js';
import { groupOf, Suppressor, type Engine } from './engine.js';

export interface MatchRule extends RuleCommon {
  type: 'match';
  /** Optional: suppression is per rule and group. */
  groupBy: string[];
}

/** Stateless: every matching document alerts, unless its group is suppressed. */
export function matchEngine(rule: MatchRule): Engine {
  const group = rule.groupBy.length ? groupOf(rule.groupBy) : null;
  const sup = new Suppressor(rule.suppressMs);
  return {
    rule,
    observe(doc: ConnectionDoc, t: number) {
      const g = group ? group(doc) : null;
      if (group && !g) return [];
      const key = g ? g.key : doc.event.id;
      if (sup.suppressed(key, t)) return [];
      sup.fired(key, t);
      return [buildAlert({ rule, groupKey: key, fields: g?.fields ?? [], firstMs: t, lastMs: t, count: 1, eventIds: [doc.event.id], summary: 'matching connection', doc, withContext: true })];
    },
    gc: (w) => sup.gc(w),
    snapshot: () => ({ sup: sup.snapshot() }),
    restore: (s) => sup.restore((s as { sup?: unknown } | null)?.sup),
  };
}

export const matchType: RuleTypeModule<MatchRule> = {
  type: 'match',
  summary: 'every document that matches the condition alerts (optionally suppressed per group_by)',
  schema: { properties: { group_by: { $ref: '#/definitions/fieldList' } }, required: [] },
  fieldKeys: ['group_by'],
  compile(common, c) {
    const groupBy = (c.raw.group_by as string[] | undefined) ?? [];
    if (c.raw.suppress !== undefined && groupBy.length === 0) c.fail(['suppress'], 'suppress needs group_by: suppression is per rule and group');
    return { ...common, type: 'match', groupBy, suppressMs: c.duration('suppress', 0) };
  },
  signature: (r) => [r.groupBy],
  stateFields: (r) => r.groupBy,
  // A match rule keeps only suppression state; it is local unless it suppresses per a cross-host group.
  hostLocal: (r) => r.groupBy.length === 0 || r.groupBy.includes('host.name'),
  periodicAlertIds: (r) => r.groupBy.length > 0 && r.suppressMs > 0,
  engine: (r) => ({ kind: 'doc', e: matchEngine(r) }),
};
