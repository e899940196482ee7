import type { ConnectionDoc } from '../../../lib/ecs.js';
import { buildAlert } from '../alert.js';
import { formatDuration } from '../duration.js';
import type { RuleTypeModule } from '../rule-type.js';
import type { RuleCommon } from '../types.js';
import { fieldGetter, valueText } from '../field.js';
import { groupOf, type Engine } from './engine.js';

export interface NewTermsRule extends RuleCommon {
  type: 'new_terms';
  /** The fields whose combination must be new. */
  termFields: string[];
  learningMs: number;
  /** Per-value learning periods keyed by this field (undefined: one for the rule). */
  learningBy?: string;
}

/** Baseline size per rule; past it the least recently seen term is forgotten. */
export const MAX_TERMS = 500_000;
/** learning_by values remembered per rule; past it the first-seen one is forgotten (and learns again if it returns). */
export const MAX_SCOPES = 100_000;

/**
 * First-seen combinations of `fields`. The learning period starts at the
 * first event the stage saw (event time; for a rule loaded later, the newest event time at its load) and is part of the snapshot, so a
 * restart neither re-learns nor alerts on the whole fleet again.
 */
export function newTermsEngine(rule: NewTermsRule, stageStart: () => number | undefined = () => undefined): Engine {
  const term = groupOf(rule.termFields);
  let start: number | null = null;
  // term -> last seen ms, in last-seen order
  let baseline = new Map<string, number>();
  // learning_by: scope value -> when this stage first saw it. A host new to the
  // fleet, or one whose partition moved here in a rebalance (its baseline stayed
  // with the old owner), learns before it can alert instead of flooding.
  const scopeOf = rule.learningBy ? fieldGetter(rule.learningBy) : undefined;
  let scopes = new Map<string, number>();
  // The stage shows this engine every document (see()), not only matching ones,
  // so a host's learning starts when the host first appears, not at its first
  // suspicious connection.
  const noteScope = (doc: ConnectionDoc, t: number): number | undefined => {
    if (!scopeOf) return undefined;
    const v = valueText(scopeOf(doc));
    if (v === null) return undefined;
    const known = scopes.get(v);
    if (known !== undefined && known <= t) return known;
    // First sight (or an earlier event than the one we had): insertion order is
    // first-seen order, so past the cap the longest-known value is forgotten.
    if (known === undefined && scopes.size >= MAX_SCOPES) scopes.delete(scopes.keys().next().value as string);
    scopes.set(v, t);
    return t;
  };
  return {
    rule,
    observe(doc: ConnectionDoc, t: number) {
      const g = term(doc);
      if (!g) return [];
      start ??= Math.min(stageStart() ?? t, t);
      const since = noteScope(doc, t) ?? start;
      const known = baseline.has(g.key);
      baseline.delete(g.key);
      baseline.set(g.key, t);
      if (baseline.size > MAX_TERMS) baseline.delete(baseline.keys().next().value as string);
      if (known || t < since + rule.learningMs) return [];
      return [buildAlert({
        rule, groupKey: g.key, fields: g.fields, firstMs: t, lastMs: t, count: 1, eventIds: [doc.event.id],
        summary: `first ${rule.termFields.join(' + ')} = ${g.fields.map(([, v]) => String(v)).join(' + ')} since the baseline began (learning period ${formatDuration(rule.learningMs)}, ${baseline.size} known terms)`,
        doc, withContext: true,
      })];
    },
    see(doc, t) { noteScope(doc, t); },
    gc() {},
    snapshot: () => ({ start, baseline: [...baseline], scopes: [...scopes] }),
    restore(s) {
      const x = s as { start?: number | null; baseline?: Array<[string, number]>; scopes?: Array<[string, number]> } | null;
      if (typeof x?.start === 'number') start = x.start;
      if (Array.isArray(x?.baseline)) baseline = new Map(x.baseline);
      if (Array.isArray(x?.scopes)) scopes = new Map(x.scopes);
    },
  };
}

export const newTermsType: RuleTypeModule<NewTermsRule> = {
  type: 'new_terms',
  summary: 'a combination of `fields` not seen since the baseline began, after a `learning_period`',
  schema: {
    properties: {
      fields: { $ref: '#/definitions/fieldList' },
      learning_period: { $ref: '#/definitions/duration' },
      learning_by: {
        $ref: '#/definitions/fieldPath',
        description: 'new_terms: a field (e.g. host.name) whose every value gets its own learning period, starting when this pipeline first sees that value. A host that joins the fleet, or whose partition moves to this instance, learns before it can alert. Without it, one learning period starts when the rule first sees any event.',
      },
    },
    required: ['fields', 'learning_period'],
  },
  fieldKeys: ['fields', 'learning_by'],
  compile(common, c) {
    const r: NewTermsRule = { ...common, type: 'new_terms', termFields: c.raw.fields as string[], learningMs: c.duration('learning_period', 0), suppressMs: c.duration('suppress', 0) };
    if (typeof c.raw.learning_by === 'string') r.learningBy = c.raw.learning_by;
    return r;
  },
  signature: (r) => [r.termFields, r.learningMs, r.learningBy],
  stateFields: (r) => r.termFields,
  periodicAlertIds: () => false,
  engine: (r, env) => ({ kind: 'doc', e: newTermsEngine(r, env.stageStart) }),
};
