import type { ConnectionDoc } from '../../lib/ecs.js';

// Rules address document fields by their dotted ECS path. The path is split
// once at compile time; the getter walks plain objects only.

export type Getter = (doc: ConnectionDoc) => unknown;

export function fieldGetter(path: string): Getter {
  const parts = path.split('.');
  if (parts.length === 1) {
    const [a] = parts as [string];
    return (d) => (d as unknown as Record<string, unknown>)[a];
  }
  if (parts.length === 2) {
    const [a, b] = parts as [string, string];
    return (d) => {
      const x = (d as unknown as Record<string, unknown>)[a];
      return x !== null && typeof x === 'object' ? (x as Record<string, unknown>)[b] : undefined;
    };
  }
  return (d) => {
    let cur: unknown = d;
    for (const p of parts) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = (cur as Record<string, unknown>)[p];
    }
    return cur;
  };
}

/** The text form of a group value: arrays joined, missing as null. */
export function valueText(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return v.map(String).join(',');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * A tuple of field values as one key. Returns null when a field is missing, so
 * a rule never groups unrelated documents under "undefined".
 */
export function tupleGetter(paths: string[]): (doc: ConnectionDoc) => string[] | null {
  const getters = paths.map(fieldGetter);
  return (doc) => {
    const out: string[] = [];
    for (const g of getters) {
      const t = valueText(g(doc));
      if (t === null) return null;
      out.push(t);
    }
    return out;
  };
}

export const joinKey = (vals: string[]): string => vals.join('\u001f');
