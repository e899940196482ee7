import { parseCidr } from '../../lib/cidr.js';
import { ipToBytes } from '../../lib/ip.js';
import type { FieldInfo } from './doc-fields.js';

// A value that a field can never hold makes a condition silently false (or,
// under `not`, silently true): a port written as "twenty-five", a state that
// does not exist, an address with a typo. The loader refuses them with the
// field's type, so the author learns it at validate time, not from a quiet rule.

const TEXT_OPS = new Set(['prefix', 'suffix', 'contains', 'regex']);
const NUMBER_OPS = new Set(['gt', 'gte', 'lt', 'lte']);

const isNumeric = (v: unknown): boolean => (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)));

function checkOne(f: FieldInfo, op: string, v: unknown): string | null {
  if (op === 'cidr') {
    try { parseCidr(String(v)); return null; } catch (err) { return (err as Error).message; }
  }
  switch (f.type) {
    case 'long': case 'float': {
      if (!isNumeric(v)) return `${JSON.stringify(v)} is not a number, and ${f.path} holds numbers`;
      const n = Number(v);
      if (f.port && (!Number.isInteger(n) || n < 0 || n > 65535)) return `${JSON.stringify(v)} is not a port (an integer 0..65535)`;
      if (f.type === 'long' && !Number.isInteger(n)) return `${JSON.stringify(v)} is not an integer, and ${f.path} holds integers`;
      return null;
    }
    case 'boolean':
      return typeof v === 'boolean' || v === 'true' || v === 'false' ? null : `${JSON.stringify(v)} is not true or false, and ${f.path} is a boolean`;
    case 'ip':
      try { ipToBytes(String(v)); return null; } catch { return `${JSON.stringify(v)} is not an IP address${String(v).includes('/') ? ' (use cidr: for a range)' : ''}`; }
    default:
      if (f.allowed && !f.allowed.includes(String(v))) return `${JSON.stringify(v)} is not a ${f.path} value; use one of ${f.allowed.join(', ')}`;
      return null;
  }
}

/**
 * Why `op` with `values` can never work on field `f`, or null. Values are
 * the items of an inline value or list (for gt/lte etc. the number).
 */
export function checkFieldValues(f: FieldInfo, op: string, values: unknown[]): string | null {
  if (op === 'exists') return null;
  if (op === 'cidr' && f.type !== 'ip') return `cidr works on IP address fields; ${f.path} is ${f.type}`;
  if (TEXT_OPS.has(op) && (f.type === 'long' || f.type === 'float' || f.type === 'boolean')) return `${op} works on text; ${f.path} is ${f.type === 'boolean' ? 'a boolean' : 'a number'} (use eq, in, gt, gte, lt or lte)`;
  if (NUMBER_OPS.has(op) && f.type !== 'long' && f.type !== 'float' && f.type !== 'date') return `${op} compares numbers; ${f.path} is ${f.type}`;
  if (TEXT_OPS.has(op) || NUMBER_OPS.has(op) || f.type === 'object' || f.type === 'date') return null;
  for (const v of values) {
    const why = checkOne(f, op, v);
    if (why) return why;
  }
  return null;
}
