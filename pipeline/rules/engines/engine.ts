import type { AlertDoc } from '../../../lib/alert.js';
import type { ConnectionDoc } from '../../../lib/ecs.js';
import { fieldGetter, joinKey, valueText } from '../field.js';
import type { RuleDef } from '../types.js';

// One engine instance holds the state of one rule. The stage has already
// checked the rule's condition and exceptions; an engine only counts, joins
// and decides when to fire. Time is event time in ms.

export interface Engine {
  rule: RuleDef;
  observe(doc: ConnectionDoc, t: number): AlertDoc[];
  /** Optional: called for EVERY document the stage sees, before conditions (new_terms' learning_by). */
  see?(doc: ConnectionDoc, t: number): void;
  /** Drop state that can no longer contribute to an alert. */
  gc(watermarkMs: number): void;
  snapshot(): unknown;
  restore(state: unknown): void;
}

/** Group-by values of a document: the text key and the typed values for the alert. */
export interface Group {
  key: string;
  fields: Array<[string, unknown]>;
}

export function groupOf(fields: string[]): (doc: ConnectionDoc) => Group | null {
  const getters = fields.map((f) => [f, fieldGetter(f)] as const);
  if (getters.length === 1) {
    // The common case, without the per-document text list and join (a key of one value is its text).
    const [f, get] = getters[0]!;
    return (doc) => {
      const v = get(doc);
      const key = valueText(v);
      return key === null ? null : { key, fields: [[f, v]] };
    };
  }
  return (doc) => {
    const texts: string[] = [];
    const vals: Array<[string, unknown]> = [];
    for (const [f, g] of getters) {
      const v = g(doc);
      const t = valueText(v);
      if (t === null) return null;
      texts.push(t);
      vals.push([f, v]);
    }
    return { key: joinKey(texts), fields: vals };
  };
}

/** Per rule+group suppression: after an alert, the same group stays quiet for suppressMs. */
export class Suppressor {
  private until = new Map<string, number>();

  constructor(private readonly ms: number) {}

  suppressed(key: string, t: number): boolean {
    const u = this.until.get(key);
    return u !== undefined && t < u;
  }

  fired(key: string, t: number): void {
    if (this.ms > 0) this.until.set(key, t + this.ms);
  }

  gc(t: number): void {
    for (const [k, u] of this.until) if (u + LATENESS_MS <= t) this.until.delete(k);
  }

  snapshot(): Array<[string, number]> {
    return [...this.until];
  }

  restore(s: unknown): void {
    if (Array.isArray(s)) this.until = new Map(s as Array<[string, number]>);
  }
}

/**
 * How far behind the newest event time a document may arrive and still count.
 * Cross-host groups mix hosts whose clocks and delivery lag differ (in the
 * two-instance test another host's records ran 10 minutes ahead and an eager
 * GC emptied a fan-out group mid-attack), so GC frees a group only once it has
 * been idle for its window plus this margin. Windows themselves are enforced
 * on arrival, against the group's own events.
 */
export const LATENESS_MS = 15 * 60_000;

/** Caps maps that grow with the number of groups, so one noisy key space cannot exhaust memory. */
export const MAX_GROUPS = 200_000;
