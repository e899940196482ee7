import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import { formatDuration } from '../duration.js';
import type { RuleTypeModule } from '../rule-type.js';
import type { Predicate, RuleCommon } from '../types.js';
import { groupOf, LATENESS_MS, MAX_GROUPS, Suppressor, type Engine, type Group } from './engine.js';

export interface SequenceRule extends RuleCommon {
  type: 'sequence';
  steps: Predicate[];
  joinOn: string[];
  maxspanMs: number;
}

interface Partial { start: number; ids: string[] }
interface State { g: Group; pending: Array<Partial | undefined> }

/**
 * Ordered steps joined on fields within maxspan (EQL-style). pending[i] is the
 * newest partial match waiting for step i. Steps are tried from the last to
 * the first so one document never advances the same partial twice.
 */
export function sequenceEngine(rule: SequenceRule): Engine {
  const group = groupOf(rule.joinOn);
  const sup = new Suppressor(rule.suppressMs);
  const n = rule.steps.length;
  let groups = new Map<string, State>();
  return {
    rule,
    observe(doc: ConnectionDoc, t: number) {
      const g = group(doc);
      if (!g) return [];
      let st = groups.get(g.key);
      const alerts = [];
      for (let i = n - 1; i >= 1 && st; i--) {
        const p = st.pending[i];
        if (!p) continue;
        if (t - p.start > rule.maxspanMs) { st.pending[i] = undefined; continue; }
        if (!rule.steps[i]!(doc)) continue;
        st.pending[i] = undefined;
        const ids = [...p.ids, doc.event.id];
        if (i < n - 1) { st.pending[i + 1] = { start: p.start, ids }; continue; }
        if (sup.suppressed(g.key, t)) continue;
        sup.fired(g.key, t);
        alerts.push(buildAlert({
          rule, groupKey: g.key, fields: g.fields, firstMs: p.start, lastMs: t, count: n, eventIds: ids,
          summary: `${n} steps in order for ${g.fields.map(([f, v]) => `${f}=${String(v)}`).join(', ')} within ${formatDuration(t - p.start)} (maxspan ${formatDuration(rule.maxspanMs)})`,
          doc,
        }));
      }
      if (rule.steps[0]!(doc)) {
        if (!st) {
          if (groups.size >= MAX_GROUPS) return alerts;
          st = { g, pending: [] };
          groups.set(g.key, st);
        }
        st.pending[1] = { start: t, ids: [doc.event.id] };
      }
      return alerts;
    },
    gc(w) {
      sup.gc(w);
      for (const [k, st] of groups) if (!st.pending.some((p) => p && w - p.start <= rule.maxspanMs + LATENESS_MS)) groups.delete(k);
    },
    snapshot: () => ({ sup: sup.snapshot(), groups: [...groups] }),
    restore(s) {
      const x = s as { sup?: unknown; groups?: Array<[string, State]> } | null;
      sup.restore(x?.sup);
      if (Array.isArray(x?.groups)) groups = new Map(x.groups.map(([k, st]) => [k, { g: st.g, pending: st.pending.map((p) => p ?? undefined) }]));
    },
  };
}

export const sequenceType: RuleTypeModule<SequenceRule> = {
  type: 'sequence',
  summary: 'documents matching `steps` in order, joined on `join_on`, within `maxspan` (EQL-style)',
  schema: {
    properties: {
      steps: {
        type: 'array', minItems: 2,
        items: { type: 'object', required: ['condition'], additionalProperties: false, properties: { name: { type: 'string' }, condition: { $ref: '#/definitions/condition' } } },
      },
      join_on: { $ref: '#/definitions/fieldList' },
      maxspan: { $ref: '#/definitions/duration' },
    },
    required: ['steps', 'join_on', 'maxspan'],
  },
  fieldKeys: ['join_on'],
  compile(common, c) {
    const steps = (c.raw.steps as Array<Record<string, unknown>>).map((s, i) => c.condition(s.condition, ['steps', i, 'condition']));
    const maxspanMs = c.duration('maxspan', 0);
    return { ...common, type: 'sequence', steps, joinOn: c.raw.join_on as string[], maxspanMs, suppressMs: c.duration('suppress', maxspanMs) };
  },
  signature: (r) => [r.joinOn, r.maxspanMs, r.steps.length],
  stateFields: (r) => r.joinOn,
  periodicAlertIds: (r) => r.suppressMs > 0,
  engine: (r) => ({ kind: 'doc', e: sequenceEngine(r) }),
};
