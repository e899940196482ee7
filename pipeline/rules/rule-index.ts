import type { ConnectionDoc } from '../../lib/ecs.js';
import { lookupField } from './doc-fields.js';
import { fieldGetter, type Getter } from './field.js';
import type { RuleDef } from './types.js';

// Evaluating every rule on every event made 1,000 rarely matching rules cost
// 40x the shipped set. Most rules test a field against a value set somewhere
// on their top-level `and` (a port, a process name, a state): a guard that
// must hold for the rule to match (Predicate.guards). Each rule is filed under
// its most selective guard: the smallest share of the field's possible values
// (network.direction eq egress passes half the documents, destination.port eq
// 22 a sliver), so the shared is_egress macro never becomes the index; per event, one lookup per indexed
// field yields the few rules whose guard holds, and only those, plus the rules
// without a guard, are evaluated, in their load order.

/** Rough share of documents a guard lets through: closed sets and booleans are small domains. */
function passShare(field: string, keys: number): number {
  const f = lookupField(field);
  const domain = f?.allowed?.length ?? (f?.type === 'boolean' ? 2 : 65_536);
  return Math.min(1, keys / domain);
}

export class RuleIndex {
  private readonly fields: Array<{ get: Getter; byKey: Map<string, number[]> }> = [];
  private readonly always: number[] = [];

  /** `rules[i]` is returned as index i. */
  constructor(rules: RuleDef[]) {
    const byField = new Map<string, Map<string, number[]>>();
    rules.forEach((r, i) => {
      const guards = r.condition.guards;
      if (!guards?.length) { this.always.push(i); return; }
      let best = guards[0]!;
      for (const g of guards) if (passShare(g.field, g.keys.size) < passShare(best.field, best.keys.size)) best = g;
      let byKey = byField.get(best.field);
      if (!byKey) byField.set(best.field, (byKey = new Map()));
      for (const k of best.keys) {
        const list = byKey.get(k);
        if (list) list.push(i);
        else byKey.set(k, [i]);
      }
    });
    for (const [field, byKey] of byField) this.fields.push({ get: fieldGetter(field), byKey });
  }

  /** Indices of the rules that may match `doc`, ascending (load order). */
  candidates(doc: ConnectionDoc): number[] {
    if (this.fields.length === 0) return this.always;
    let out: number[] | null = null;
    const add = (list: number[] | undefined) => {
      if (!list) return;
      out ??= [...this.always];
      for (const i of list) out.push(i);
    };
    for (const f of this.fields) {
      const v = f.get(doc);
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const x of v) add(f.byKey.get(String(x)));
      else add(f.byKey.get(String(v)));
    }
    if (out === null) return this.always;
    const sorted = (out as number[]).sort((a, b) => a - b);
    // An array field can file the same rule twice (two elements in its key set).
    return sorted.filter((x, i) => i === 0 || sorted[i - 1] !== x);
  }
}
