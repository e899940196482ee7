import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import { formatDuration } from '../duration.js';
import type { RuleDef } from '../types.js';
import { groupOf, type Engine } from './engine.js';

/** Baseline size per rule; past it the least recently seen term is forgotten. */
export const MAX_TERMS = 500_000;

/**
 * First-seen combinations of `fields`. The learning period starts at the
 * first event the stage saw (event time; or the rule's first event if later loaded) and is part of the snapshot, so a
 * restart neither re-learns nor alerts on the whole fleet again.
 */
export function newTermsEngine(rule: RuleDef, stageStart: () => number | undefined = () => undefined): Engine {
  const term = groupOf(rule.termFields);
  let start: number | null = null;
  // term -> last seen ms, in last-seen order
  let baseline = new Map<string, number>();
  return {
    rule,
    observe(doc: ConnectionDoc, t: number) {
      const g = term(doc);
      if (!g) return [];
      start ??= Math.min(stageStart() ?? t, t);
      const known = baseline.has(g.key);
      baseline.delete(g.key);
      baseline.set(g.key, t);
      if (baseline.size > MAX_TERMS) baseline.delete(baseline.keys().next().value as string);
      if (known || t < start + rule.learningMs) return [];
      return [buildAlert({
        rule, groupKey: g.key, fields: g.fields, firstMs: t, lastMs: t, count: 1, eventIds: [doc.event.id],
        summary: `first ${rule.termFields.join(' + ')} = ${g.fields.map(([, v]) => String(v)).join(' + ')} since the baseline began (learning period ${formatDuration(rule.learningMs)}, ${baseline.size} known terms)`,
        doc, withContext: true,
      })];
    },
    gc() {},
    snapshot: () => ({ start, baseline: [...baseline] }),
    restore(s) {
      const x = s as { start?: number | null; baseline?: Array<[string, number]> } | null;
      if (typeof x?.start === 'number') start = x.start;
      if (Array.isArray(x?.baseline)) baseline = new Map(x.baseline);
    },
  };
}
