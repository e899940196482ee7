import type { ConnectionDoc } from '../../lib/ecs.js';
import { cidrMatcher, parseCidr } from '../../lib/cidr.js';
import type { FieldInfo } from './doc-fields.js';
import { fieldGetter } from './field.js';
import { compileRegex } from './safe-regex.js';
import { traceOf, type Guard, type Predicate, type TraceLine } from './types.js';
import { checkFieldValues } from './value-check.js';

// Compiles the YAML condition tree into closures. Shapes (schemas/rules.schema.json):
//   {and: [..]} {or: [..]} {not: ..} {macro: name} true/false
//   {field: path, eq|in|prefix|suffix|contains|cidr|regex|gt|gte|lt|lte|exists: ..}
// Several operators in one field test must all hold. A value list may be
// written inline or as {list: name}. A field holding an array matches when any
// element does (event.type).

export type Path = Array<string | number>;

export interface CompileCtx {
  lists: Map<string, unknown[]>;
  /** The compiled macro, or null when no macro has that name (the context reports it). */
  macro(name: string, path: Path): Predicate | null;
  error(path: Path, message: string): void;
  /**
   * The field a test names, checked against the document's field table; null
   * when unknown (the context reports it). Without it, any path is read as is.
   */
  field?(name: string, path: Path): FieldInfo | null;
}

const OPS = ['eq', 'in', 'prefix', 'suffix', 'contains', 'cidr', 'regex', 'gt', 'gte', 'lt', 'lte', 'exists'] as const;
type Op = (typeof OPS)[number];

function pred(test: (d: ConnectionDoc) => boolean, explain: Predicate['explain'], trace?: Predicate['trace'], guards?: Guard[]): Predicate {
  const p = test as Predicate;
  p.explain = explain;
  if (trace) p.trace = trace;
  if (guards?.length) p.guards = guards;
  return p;
}

/**
 * The value texts an eq/in test can match, as leaf() compares them: eq by
 * String(v); in by String(v), and numbers by value (so "0443" in a list
 * matches port 443 under its canonical text too).
 */
function guardKeys(op: Op, arg: unknown, ctx: CompileCtx): Set<string> | null {
  if (op === 'eq') return new Set([String(arg)]);
  if (op !== 'in') return null;
  const items = isObj(arg) && typeof arg.list === 'string' ? ctx.lists.get(arg.list) : Array.isArray(arg) ? arg : [arg];
  if (!items) return null;
  const keys = new Set<string>();
  for (const x of items) {
    keys.add(String(x));
    if (typeof x === 'number' || (typeof x === 'string' && x !== '' && Number.isFinite(Number(x)))) keys.add(String(Number(x)));
  }
  return keys;
}

/** A node of and/or/not/macro: its own line, then its children one level deeper. */
function group(label: string, test: (d: ConnectionDoc) => boolean, kids: Predicate[]): Predicate['trace'] {
  return (d, out, depth) => {
    const at = out.length;
    out.push({ ok: false, text: label, depth, leaf: false });
    for (const k of kids) traceOf(k, d, out, depth + 1);
    const ok = test(d);
    out[at]!.ok = ok;
    return ok;
  };
}

export const NEVER: Predicate = pred(() => false, () => {}, (_d, out, depth) => { out.push({ ok: false, text: 'false', depth, leaf: true }); return false; });
export const ALWAYS: Predicate = pred(() => true, (_d, out) => out.push('always'), (_d, out, depth) => { out.push({ ok: true, text: 'true', depth, leaf: true }); return true; });

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function values(v: unknown, path: Path, ctx: CompileCtx): { items: unknown[]; label: string } | null {
  if (isObj(v) && typeof v.list === 'string') {
    const items = ctx.lists.get(v.list);
    if (!items) {
      ctx.error([...path, 'list'], `unknown list '${v.list}'; define it with '- list: ${v.list}' in a file loaded before or with this one`);
      return null;
    }
    return { items, label: v.list };
  }
  const items = Array.isArray(v) ? v : [v];
  return { items, label: JSON.stringify(v) };
}

function shown(v: unknown): string {
  return Array.isArray(v) ? `[${v.join(',')}]` : String(v);
}

function leaf(field: string, info: FieldInfo | undefined, op: Op, arg: unknown, path: Path, ctx: CompileCtx): ((v: unknown) => boolean) | null {
  const p = [...path, op];
  if (info) {
    const items = isObj(arg) && typeof arg.list === 'string' ? ctx.lists.get(arg.list) : Array.isArray(arg) ? arg : [arg];
    const why = items ? checkFieldValues(info, op, items) : null;
    if (why) {
      ctx.error(p, `${field} ${op}: ${why}${isObj(arg) && typeof arg.list === 'string' ? ` (in list '${arg.list}')` : ''}`);
      return null;
    }
  }
  switch (op) {
    case 'eq': {
      const s = String(arg);
      return (v) => v === arg || (v !== undefined && v !== null && String(v) === s);
    }
    case 'exists':
      return arg ? (v) => v !== undefined && v !== null : (v) => v === undefined || v === null;
    case 'gt': case 'gte': case 'lt': case 'lte': {
      const n = Number(arg);
      if (typeof arg !== 'number') { ctx.error(p, `'${op}' needs a number, got ${JSON.stringify(arg)}`); return null; }
      if (op === 'gt') return (v) => typeof v === 'number' && v > n;
      if (op === 'gte') return (v) => typeof v === 'number' && v >= n;
      if (op === 'lt') return (v) => typeof v === 'number' && v < n;
      return (v) => typeof v === 'number' && v <= n;
    }
    case 'regex': {
      if (typeof arg !== 'string') { ctx.error(p, 'regex needs a string pattern'); return null; }
      const re = compileRegex(arg);
      if ('error' in re) { ctx.error(p, `regex ${JSON.stringify(arg)} rejected: ${re.error}`); return null; }
      return (v) => typeof v === 'string' && re.test(v);
    }
    default:
      break;
  }
  const vals = values(arg, p, ctx);
  if (!vals) return null;
  const strs = vals.items.map(String);
  switch (op) {
    case 'in': {
      const set = new Set(strs);
      const nums = new Set(vals.items.filter((x) => typeof x === 'number' || (typeof x === 'string' && x !== '' && Number.isFinite(Number(x)))).map(Number));
      return (v) => (typeof v === 'number' ? nums.has(v) : v !== undefined && v !== null && set.has(String(v)));
    }
    case 'prefix':
      return (v) => typeof v === 'string' && strs.some((s) => v.startsWith(s));
    case 'suffix':
      return (v) => typeof v === 'string' && strs.some((s) => v.endsWith(s));
    case 'contains':
      return (v) => typeof v === 'string' && strs.some((s) => v.includes(s));
    case 'cidr':
      try {
        return cidrMatcher(strs);
      } catch (err) {
        ctx.error(p, `${(err as Error).message} in field test on ${field}`);
        return null;
      }
  }
  return null;
}

function fieldTest(node: Record<string, unknown>, path: Path, ctx: CompileCtx): Predicate {
  const field = node.field as string;
  let info: FieldInfo | undefined;
  if (ctx.field) {
    const found = ctx.field(field, [...path, 'field']);
    if (!found) return NEVER;
    info = found;
  }
  const get = fieldGetter(info?.path ?? field);
  const parts: Array<{ test: (v: unknown) => boolean; text: string }> = [];
  const guards: Guard[] = [];
  for (const op of OPS) {
    if (!(op in node)) continue;
    const t = leaf(field, info, op, node[op], path, ctx);
    if (!t) continue;
    const arg = node[op];
    const keys = guardKeys(op, arg, ctx);
    if (keys) guards.push({ field: info?.path ?? field, keys });
    else if (op === 'cidr') {
      // leaf() parsed these already, so they are valid.
      const items = isObj(arg) && typeof arg.list === 'string' ? ctx.lists.get(arg.list) : Array.isArray(arg) ? arg : [arg];
      if (items) guards.push({ field: info?.path ?? field, cidrs: items.map((x) => parseCidr(String(x))) });
    }
    const label = isObj(arg) && typeof arg.list === 'string' ? arg.list : shown(arg);
    parts.push({ test: (v) => (Array.isArray(v) ? v.some(t) : t(v)), text: `${field} ${op} ${label}` });
  }
  if (parts.length === 0) {
    if (OPS.some((op) => op in node)) return NEVER; // the operator's own error was reported
    ctx.error(path, `field test on '${field}' has no operator; use one of ${OPS.join(', ')}`);
    return NEVER;
  }
  const explain: Predicate['explain'] = (d, out) => {
    const v = get(d);
    for (const p of parts) out.push(`${p.text} (${JSON.stringify(v)})`);
  };
  const trace: Predicate['trace'] = (d, out: TraceLine[], depth) => {
    const v = get(d);
    let all = true;
    for (const p of parts) {
      const ok = p.test(v);
      all &&= ok;
      out.push({ ok, text: `${p.text} (${v === undefined ? 'missing' : JSON.stringify(v)})`, depth, leaf: true });
    }
    return all;
  };
  if (parts.length === 1) {
    const t = parts[0]!.test;
    return pred((d) => t(get(d)), explain, trace, guards);
  }
  return pred((d) => {
    const v = get(d);
    for (const p of parts) if (!p.test(v)) return false;
    return true;
  }, explain, trace, guards);
}

export function compileCondition(node: unknown, path: Path, ctx: CompileCtx): Predicate {
  if (node === true) return ALWAYS;
  if (node === false) return NEVER;
  if (!isObj(node)) {
    ctx.error(path, `a condition is a mapping (and/or/not/macro/field), got ${JSON.stringify(node)}`);
    return NEVER;
  }
  if (Array.isArray(node.and)) {
    const kids = node.and.map((c, i) => compileCondition(c, [...path, 'and', i], ctx));
    const test = (d: ConnectionDoc) => {
      for (const k of kids) if (!k(d)) return false;
      return true;
    };
    return pred(test, (d, out) => { for (const k of kids) k.explain(d, out); }, group('all of', test, kids), kids.flatMap((k) => k.guards ?? []));
  }
  if (Array.isArray(node.or)) {
    const kids = node.or.map((c, i) => compileCondition(c, [...path, 'or', i], ctx));
    const test = (d: ConnectionDoc) => {
      for (const k of kids) if (k(d)) return true;
      return false;
    };
    return pred(test, (d, out) => { const k = kids.find((x) => x(d)); if (k) k.explain(d, out); }, group('any of', test, kids));
  }
  if ('not' in node) {
    const inner = compileCondition(node.not, [...path, 'not'], ctx);
    const test = (d: ConnectionDoc) => !inner(d);
    return pred(test, (d, out) => {
      const why: string[] = [];
      inner.explain(d, why);
      out.push(`not(${why.length ? why.join(' and ') : 'condition'})`);
    }, group('not', test, [inner]));
  }
  if (typeof node.macro === 'string') {
    const name = node.macro;
    const m = ctx.macro(name, [...path, 'macro']);
    if (!m) return NEVER;
    // Macros are bound late (a later file may override a tuning hook), so the
    // closure looks the compiled macro up once, here, after all files loaded.
    return pred((d) => m(d), (d, out) => {
      const why: string[] = [];
      m.explain(d, why);
      out.push(why.length ? `${name}{${why.join('; ')}}` : name);
    }, group(`macro ${name}`, m, [m]), m.guards);
  }
  if (typeof node.field === 'string') return fieldTest(node, path, ctx);
  ctx.error(path, `unknown condition ${JSON.stringify(Object.keys(node))}; use and, or, not, macro or field`);
  return NEVER;
}
