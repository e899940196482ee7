import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import { formatDuration } from '../duration.js';
import type { RuleTypeModule } from '../rule-type.js';
import type { RuleCommon } from '../types.js';
import { groupOf, LATENESS_MS, MAX_GROUPS, Suppressor, type Engine, type Group } from './engine.js';

export interface ValueCountRule extends RuleCommon {
  type: 'value_count';
  groupBy: string[];
  /** The fields whose distinct combinations are counted. */
  distinctFields: string[];
  windowMs: number;
  threshold: number;
}

/** host/process/direction: the end that reported the value's document, so the alert names who was reached (ingress) or who reached it (egress). */
interface Seen { t: number; id: string; host?: string; process?: string; direction?: string }
interface State { g: Group; values: Map<string, Seen> }

/**
 * Distinct values per group over a sliding window: fan-out and scans. The map
 * is kept in last-seen order (delete + set), so expiry pops from the front.
 */
export function valueCountEngine(rule: ValueCountRule): Engine {
  const group = groupOf(rule.groupBy);
  const value = groupOf(rule.distinctFields);
  const sup = new Suppressor(rule.suppressMs);
  let groups = new Map<string, State>();
  const distinctLabel = rule.distinctFields.join('+');
  return {
    rule,
    observe(doc: ConnectionDoc, t: number) {
      const g = group(doc);
      const v = value(doc);
      if (!g || !v) return [];
      let st = groups.get(g.key);
      if (!st) {
        if (groups.size >= MAX_GROUPS) return [];
        st = { g, values: new Map() };
        groups.set(g.key, st);
      }
      st.values.delete(v.key);
      st.values.set(v.key, { t, id: doc.event.id, host: doc.host.name, process: doc.process?.name, direction: doc.network.direction });
      for (const [k, s] of st.values) {
        if (s.t >= t - rule.windowMs && st.values.size <= rule.threshold) break;
        st.values.delete(k);
        if (s.t >= t - rule.windowMs) break; // evicted only to respect the cap
      }
      if (st.values.size < rule.threshold || sup.suppressed(g.key, t)) return [];
      const seen = [...st.values];
      groups.delete(g.key);
      sup.fired(g.key, t);
      return [buildAlert({
        rule, groupKey: g.key, fields: g.fields, firstMs: seen[0]![1].t, lastMs: t, count: seen.length,
        eventIds: seen.map(([, s]) => s.id), values: seen.map(([k]) => k.replace(/\u001f/g, ':')),
        extra: { targets: seen.map(([k, x]) => ({ value: k.replace(/\u001f/g, ':'), host: x.host, process: x.process, direction: x.direction })) },
        summary: `${seen.length} distinct ${distinctLabel} for ${g.fields.map(([f, x]) => `${f}=${String(x)}`).join(', ')} within ${formatDuration(rule.windowMs)} (threshold ${rule.threshold})`,
        doc,
      })];
    },
    gc(w) {
      sup.gc(w);
      for (const [k, st] of groups) {
        let newest = Number.NEGATIVE_INFINITY;
        for (const s of st.values.values()) if (s.t > newest) newest = s.t;
        if (newest < w - rule.windowMs - LATENESS_MS) groups.delete(k);
      }
    },
    snapshot: () => ({ sup: sup.snapshot(), groups: [...groups].map(([k, st]) => [k, { g: st.g, values: [...st.values] }]) }),
    restore(s) {
      const x = s as { sup?: unknown; groups?: Array<[string, { g: Group; values: Array<[string, Seen]> }]> } | null;
      sup.restore(x?.sup);
      if (Array.isArray(x?.groups)) groups = new Map(x.groups.map(([k, st]) => [k, { g: st.g, values: new Map(st.values) }]));
    },
  };
}

export const valueCountType: RuleTypeModule<ValueCountRule> = {
  type: 'value_count',
  summary: 'at least `threshold` distinct values of `distinct` per group_by within a sliding `window` (fan-out, scans)',
  schema: {
    properties: {
      group_by: { $ref: '#/definitions/fieldList' }, distinct: { $ref: '#/definitions/fieldList' },
      window: { $ref: '#/definitions/duration' }, threshold: { type: 'integer', minimum: 1 },
    },
    required: ['group_by', 'distinct', 'window', 'threshold'],
  },
  fieldKeys: ['group_by', 'distinct'],
  compile(common, c) {
    const groupBy = c.raw.group_by as string[];
    const distinctFields = c.raw.distinct as string[];
    const windowMs = c.duration('window', 0);
    if (windowMs <= 0) c.fail(['window'], 'window must be longer than 0');
    const overlap = distinctFields.filter((f) => groupBy.includes(f));
    if (overlap.length) c.fail(['distinct'], `distinct field(s) ${overlap.join(', ')} are also in group_by, so the count can never exceed 1`);
    return { ...common, type: 'value_count', groupBy, distinctFields, windowMs, threshold: c.raw.threshold as number, suppressMs: c.duration('suppress', windowMs) };
  },
  signature: (r) => [r.groupBy, r.distinctFields, r.windowMs, r.threshold],
  stateFields: (r) => r.groupBy,
  periodicAlertIds: (r) => r.suppressMs > 0,
  engine: (r) => ({ kind: 'doc', e: valueCountEngine(r) }),
};
