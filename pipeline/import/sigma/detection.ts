import { parseCidr } from '../../../lib/cidr.js';
import { unsafeRegexReason } from '../../rules/safe-regex.js';
import { mappingHelp, SIGMA_FIELDS, UNMAPPED_REASONS, type FieldMapping } from './fields.js';

// One Sigma search identifier (a "selection") -> one connaudit condition.
// Sigma semantics (SigmaHQ sigma-specification, rules + modifiers appendix):
// - a map is AND over its keys; a list of maps is OR over the maps;
// - a list of values for one key is OR, or AND with the `all` modifier;
// - plain values are exact matches where `*` and `?` are wildcards (`\*`, `\?`
//   and `\\` escape them); `null` means the field is absent.
// Anything that has no faithful connaudit form raises Unconvertible with the
// reason, so the caller can name it and move on to the next rule.

export type Cond = boolean | { and: Cond[] } | { or: Cond[] } | { not: Cond } | FieldTest;
export type FieldTest = { field: string; [op: string]: unknown };
/** Where in the Sigma document a problem sits (keys and indexes), for file:line. */
export type Path = Array<string | number>;

export class Unconvertible extends Error {
  constructor(message: string, readonly path: Path = []) {
    super(message);
    this.name = 'Unconvertible';
  }
}

export interface ConvertCtx {
  warn(message: string, path: Path): void;
}

const SUPPORTED = new Set(['contains', 'startswith', 'endswith', 'all', 're', 'cidr', 'exists', 'gt', 'gte', 'lt', 'lte', 'cased']);
const UNSUPPORTED_MODIFIERS: Record<string, string> = {
  windash: 'it expands Windows command-line dashes, and connaudit records no command lines',
  base64: 'it searches encoded text, and connaudit records no payloads or command lines',
  base64offset: 'it searches encoded text, and connaudit records no payloads or command lines',
  wide: 'it searches UTF-16 text, and connaudit records no payloads',
  utf16: 'it searches UTF-16 text, and connaudit records no payloads',
  utf16le: 'it searches UTF-16 text, and connaudit records no payloads',
  utf16be: 'it searches UTF-16 text, and connaudit records no payloads',
  expand: 'its placeholders are filled by a site-specific Sigma pipeline; write the values instead',
  fieldref: 'comparing one field with another is not a connaudit operator',
  i: 'regex flags are not supported: connaudit regexes are case-sensitive (write the case variants into the pattern)',
  m: 'regex flags are not supported (multi-line makes no difference on single-line fields: drop it)',
  s: 'regex flags are not supported (dot-all makes no difference on single-line fields: drop it)',
};

const STAR = Symbol('star');
const ONE = Symbol('one');
type Token = string | typeof STAR | typeof ONE;

/** Splits a Sigma string into literal runs and wildcards, honouring `\*`, `\?` and `\\`. */
function tokens(v: string): Token[] {
  const out: Token[] = [];
  let lit = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && (v[i + 1] === '*' || v[i + 1] === '?' || v[i + 1] === '\\')) {
      lit += v[i + 1];
      i++;
    } else if (c === '*' || c === '?') {
      if (lit) out.push(lit);
      lit = '';
      out.push(c === '*' ? STAR : ONE);
    } else {
      lit += c;
    }
  }
  if (lit) out.push(lit);
  return out;
}

const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const toRegex = (ts: Token[]): string => ts.map((t) => (t === STAR ? '.*' : t === ONE ? '.' : reEscape(t))).join('');

type StringOp = 'eq' | 'prefix' | 'suffix' | 'contains';

/** The simplest connaudit operator for a string match with Sigma wildcards. */
function stringTest(v: string, base: StringOp): { op: string; value: unknown } {
  let ts = tokens(v);
  // contains/startswith/endswith are wildcards around the value (spec: modifiers appendix)
  if (base === 'contains') ts = [STAR, ...ts, STAR];
  if (base === 'prefix') ts = [...ts, STAR];
  if (base === 'suffix') ts = [STAR, ...ts];
  const lead = ts[0] === STAR;
  const trail = ts.length > 1 && ts[ts.length - 1] === STAR;
  const inner = ts.slice(lead ? 1 : 0, trail ? -1 : undefined);
  if (inner.length === 0) return { op: 'exists', value: true }; // "*" alone: any value
  if (inner.length === 1 && typeof inner[0] === 'string') {
    const lit = inner[0];
    if (lead && trail) return { op: 'contains', value: lit };
    if (lead) return { op: 'suffix', value: lit };
    if (trail) return { op: 'prefix', value: lit };
    return { op: 'eq', value: lit };
  }
  return { op: 'regex', value: `${lead ? '' : '^'}${toRegex(inner)}${trail ? '' : '$'}` };
}

function asNumber(v: unknown, field: string, path: Path): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw new Unconvertible(`${field} holds numbers, and ${JSON.stringify(v)} is not a whole number (wildcards on numbers cannot be converted)`, path);
  return n;
}

function leaf(field: string, m: FieldMapping, mods: string[], v: unknown, path: Path, ctx: ConvertCtx): FieldTest {
  const f = m.path;
  const cmp = mods.find((x) => x === 'gt' || x === 'gte' || x === 'lt' || x === 'lte');
  if (cmp) return { field: f, [cmp]: asNumber(v, field, path) };
  if (mods.includes('cidr')) {
    if (m.kind !== 'ip') throw new Unconvertible(`the cidr modifier needs an address field, and ${field} is not one`, path);
    try {
      parseCidr(String(v));
    } catch (err) {
      throw new Unconvertible(`${field}|cidr: ${(err as Error).message}`, path);
    }
    return { field: f, cidr: String(v) };
  }
  if (mods.includes('re')) {
    if (typeof v !== 'string') throw new Unconvertible(`${field}|re needs a pattern string`, path);
    // the rule engine's own check, so a pattern it would refuse is named here, with its reason
    const why = unsafeRegexReason(v);
    if (why) throw new Unconvertible(`${field}|re ${JSON.stringify(v)}: ${why}`, path);
    return { field: f, regex: v };
  }
  const base: StringOp = mods.includes('contains') ? 'contains' : mods.includes('startswith') ? 'prefix' : mods.includes('endswith') ? 'suffix' : 'eq';
  switch (m.kind) {
    case 'number':
      if (base !== 'eq') throw new Unconvertible(`${field} holds numbers: ${mods.join('|')} has no meaning on it`, path);
      return { field: f, eq: asNumber(v, field, path) };
    case 'initiated': {
      const s = String(v).toLowerCase();
      if (base !== 'eq' || (s !== 'true' && s !== 'false')) throw new Unconvertible(`Initiated must be 'true' or 'false', got ${JSON.stringify(v)}`, path);
      return { field: f, eq: s === 'true' ? 'egress' : 'ingress' };
    }
    case 'transport': {
      const s = String(v).toLowerCase();
      if (base !== 'eq') throw new Unconvertible(`Protocol must be a plain value, got ${mods.join('|')}`, path);
      if (s !== 'tcp') ctx.warn(`Protocol '${s}' never matches: connaudit records TCP connections only`, path);
      return { field: f, eq: s };
    }
    case 'uid': {
      let s = String(v);
      if (s === 'root') s = '0';
      else if (base === 'eq' && !/^\d+$/.test(s)) ctx.warn(`User '${s}' is a name; connaudit records the numeric uid in user.id: replace the value with the uid`, path);
      const t = stringTest(s, base);
      return { field: f, [t.op]: t.value };
    }
    default: {
      if (typeof v !== 'string' && typeof v !== 'number') throw new Unconvertible(`${field}: a value must be text or a number, got ${JSON.stringify(v)}`, path);
      if (field === 'Image' && typeof v === 'string' && /\\[^*?\\]/.test(v)) ctx.warn(`Image ${JSON.stringify(v)} looks like a Windows path; connaudit records Linux paths, so it never matches`, path);
      const t = stringTest(String(v), base);
      return { field: f, [t.op]: t.value };
    }
  }
}

/** OR of single-operator tests on one field, merged where the operator takes a list (eq -> in). */
function mergeOr(tests: FieldTest[]): Cond {
  if (tests.length === 1) return tests[0]!;
  const byOp = new Map<string, unknown[]>();
  const rest: Cond[] = [];
  for (const t of tests) {
    const ops = Object.keys(t).filter((k) => k !== 'field');
    const op = ops[0]!;
    const listOp = op === 'eq' ? 'in' : op;
    if (ops.length === 1 && ['in', 'prefix', 'suffix', 'contains', 'cidr'].includes(listOp)) {
      byOp.set(listOp, [...(byOp.get(listOp) ?? []), t[op]]);
    } else {
      rest.push(t);
    }
  }
  const field = tests[0]!.field;
  const merged: Cond[] = [...byOp.entries()].map(([op, vals]) => (vals.length === 1 && op === 'in' ? { field, eq: vals[0] } : { field, [op]: vals.length === 1 ? vals[0] : vals }));
  const all = [...merged, ...rest];
  return all.length === 1 ? all[0]! : { or: all };
}

function entry(key: string, value: unknown, path: Path, ctx: ConvertCtx): Cond {
  const [field, ...mods] = key.split('|') as [string, ...string[]];
  const m = SIGMA_FIELDS[field];
  if (!m) throw new Unconvertible(UNMAPPED_REASONS[field] ? `field ${field}: ${UNMAPPED_REASONS[field]}` : `field ${field} has no connaudit equivalent (mapped: ${mappingHelp()})`, path);
  for (const mod of mods) {
    if (UNSUPPORTED_MODIFIERS[mod]) throw new Unconvertible(`modifier ${mod} on ${field}: ${UNSUPPORTED_MODIFIERS[mod]}`, path);
    if (!SUPPORTED.has(mod)) throw new Unconvertible(`unknown modifier '${mod}' on ${field}`, path);
  }
  // `cased` needs nothing: connaudit's string operators are case-sensitive already.
  if (mods.includes('exists')) {
    const b = value === true || value === 'true' ? true : value === false || value === 'false' ? false : null;
    if (b === null) throw new Unconvertible(`${field}|exists needs true or false, got ${JSON.stringify(value)}`, path);
    return { field: m.path, exists: b };
  }
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0) throw new Unconvertible(`${field}: an empty value list matches nothing`, path);
  const all = mods.includes('all');
  const tests: Cond[] = [];
  const plain: FieldTest[] = [];
  values.forEach((v, i) => {
    const p = Array.isArray(value) ? [...path, i] : path;
    if (v === null) tests.push({ field: m.path, exists: false });
    else plain.push(leaf(field, m, mods, v, p, ctx));
  });
  if (all) return flat('and', [...tests, ...plain]);
  if (plain.length) tests.push(mergeOr(plain));
  return flat('or', tests);
}

/** and/or with nested same-kind groups flattened and single members unwrapped. */
export function flat(kind: 'and' | 'or', kids: Cond[]): Cond {
  const out: Cond[] = [];
  for (const k of kids) {
    if (typeof k === 'object' && kind in k) out.push(...(k as Record<string, Cond[]>)[kind]!);
    else out.push(k);
  }
  if (out.length === 1) return out[0]!;
  return kind === 'and' ? { and: out } : { or: out };
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Converts one search identifier's value (a map, or a list of maps). */
export function convertSelection(sel: unknown, path: Path, ctx: ConvertCtx): Cond {
  if (isMap(sel)) {
    const keys = Object.keys(sel);
    if (keys.length === 0) throw new Unconvertible('an empty selection', path);
    return flat('and', keys.map((k) => entry(k, sel[k], [...path, k], ctx)));
  }
  if (Array.isArray(sel)) {
    if (sel.length === 0) throw new Unconvertible('an empty selection list', path);
    if (sel.every(isMap)) return flat('or', sel.map((s, i) => convertSelection(s, [...path, i], ctx)));
    throw new Unconvertible('keyword searches (values without a field) have no meaning on connection records', path);
  }
  throw new Unconvertible(`a selection must be a map of fields or a list of maps, got ${JSON.stringify(sel)}`, path);
}
