import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import type { RuleDef } from '../types.js';
import { groupOf, Suppressor, type Engine } from './engine.js';

/** Stateless: every matching document alerts, unless its group is suppressed. */
export function matchEngine(rule: RuleDef): Engine {
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
