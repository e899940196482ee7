import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import { formatDuration } from '../duration.js';
import type { RuleTypeModule } from '../rule-type.js';
import type { RuleCommon } from '../types.js';
import { groupOf, LATENESS_MS, MAX_GROUPS, Suppressor, type Engine, type Group } from './engine.js';

export interface ThresholdRule extends RuleCommon {
  type: 'threshold';
  groupBy: string[];
  windowMs: number;
  threshold: number;
}

interface Hit { t: number; id: string }

/**
 * Count per group over a sliding window (not clock-aligned buckets, which
 * split a burst in two and miss it). Only the newest `threshold` hits are
 * kept: if the oldest of them is still inside the window, the count is met.
 */
export function thresholdEngine(rule: ThresholdRule): Engine {
  const group = groupOf(rule.groupBy);
  const sup = new Suppressor(rule.suppressMs);
  let groups = new Map<string, { g: Group; hits: Hit[] }>();
  return {
    rule,
    observe(doc: ConnectionDoc, t: number) {
      const g = group(doc);
      if (!g) return [];
      let st = groups.get(g.key);
      if (!st) {
        if (groups.size >= MAX_GROUPS) return [];
        st = { g, hits: [] };
        groups.set(g.key, st);
      }
      st.hits.push({ t, id: doc.event.id });
      if (st.hits.length > rule.threshold) st.hits.shift();
      while (st.hits.length && st.hits[0]!.t < t - rule.windowMs) st.hits.shift();
      if (st.hits.length < rule.threshold || sup.suppressed(g.key, t)) return [];
      const hits = st.hits;
      groups.delete(g.key);
      sup.fired(g.key, t);
      return [buildAlert({
        rule, groupKey: g.key, fields: g.fields, firstMs: hits[0]!.t, lastMs: t, count: hits.length, eventIds: hits.map((h) => h.id),
        summary: `${hits.length} matching connections for ${g.fields.map(([f, v]) => `${f}=${String(v)}`).join(', ')} within ${formatDuration(rule.windowMs)} (threshold ${rule.threshold})`,
        doc,
      })];
    },
    gc(w) {
      sup.gc(w);
      for (const [k, st] of groups) if (!st.hits.length || st.hits[st.hits.length - 1]!.t < w - rule.windowMs - LATENESS_MS) groups.delete(k);
    },
    snapshot: () => ({ sup: sup.snapshot(), groups: [...groups] }),
    restore(s) {
      const x = s as { sup?: unknown; groups?: Array<[string, { g: Group; hits: Hit[] }]> } | null;
      sup.restore(x?.sup);
      if (Array.isArray(x?.groups)) groups = new Map(x.groups);
    },
  };
}

export const thresholdType: RuleTypeModule<ThresholdRule> = {
  type: 'threshold',
  summary: 'at least `threshold` matching documents per group_by within a sliding `window`',
  schema: {
    properties: { group_by: { $ref: '#/definitions/fieldList' }, window: { $ref: '#/definitions/duration' }, threshold: { type: 'integer', minimum: 1 } },
    required: ['group_by', 'window', 'threshold'],
  },
  fieldKeys: ['group_by'],
  compile(common, c) {
    const windowMs = c.duration('window', 0);
    if (windowMs <= 0) c.fail(['window'], 'window must be longer than 0');
    return { ...common, type: 'threshold', groupBy: c.raw.group_by as string[], windowMs, threshold: c.raw.threshold as number, suppressMs: c.duration('suppress', windowMs) };
  },
  signature: (r) => [r.groupBy, r.windowMs, r.threshold],
  stateFields: (r) => r.groupBy,
  periodicAlertIds: (r) => r.suppressMs > 0,
  engine: (r) => ({ kind: 'doc', e: thresholdEngine(r) }),
};
