import type { ConnectionDoc } from './ecs.js';
import { isoFromMicros } from './iso-micros.js';
import { ipToString } from './ip.js';
import { RECORD_FIELDS, rawPath, type FieldSpec, type ItemSpec } from './record-fields.js';
import { checkField, checkRelations, type RecordProblem } from './record-check.js';
import { escapeDisplay } from './sanitize.js';

// Compiles the field table into the two functions that fill a connection
// document: one reads an Avro body (the pipeline's straight decode), the other
// a record object (recordToDoc, for the agent and older records). Both are
// generated from the same per-field code, so they cannot disagree.
//
// Why generate code: an interpreter loop over the table (switch on the type,
// walk the document path) costs more than the decoding itself, because every
// call site sees every field type. Generated straight-line code is what avsc
// itself does for the same reason, and keeps each site monomorphic. The source
// is built only from the static table, whose names are checked below.

const IDENT = /^[a-z_][a-z0-9_]*$/;
const SEGMENT = /^[a-z_@][a-z0-9_]*$/;

/** Objects every document has (lib/ecs.ts newDoc), written without an existence check. */
const ALWAYS = new Set(['event', 'ecs', 'host', 'source', 'destination', 'network', 'related', 'connaudit']);

function target(path: string): string {
  const segs = path.split('.');
  for (const s of segs) if (!SEGMENT.test(s)) throw new Error(`record-fields: ECS path ${path} has an unexpected segment ${s}`);
  let expr = 'doc';
  segs.slice(0, -1).forEach((s, i) => {
    expr = i === 0 && ALWAYS.has(s) ? `${expr}.${s}` : `(${expr}.${s} ??= {})`;
  });
  return `${expr}.${segs[segs.length - 1]!}`;
}

const CONVERT: Record<string, (v: string) => string> = {
  copy: (v) => v,
  ip: (v) => `ipToString(${v})`,
  iso: (v) => `iso(${v})`,
  ms: (v) => `${v} / 1000`,
  text: (v) => `String(${v})`,
};

function readExpr(spec: FieldSpec, i: number): string {
  switch (spec.type) {
    case 'string': return 'r.string()';
    case 'bytes': return 'r.bytes()';
    case 'boolean': return 'r.boolean()';
    case 'int': return 'r.int()';
    case 'long':
    case 'timestamp_us': return 'r.long()';
    case 'string_map': return 'r.map()';
    case 'enum': return `r.symbol(SYMBOLS[${i}], ${i})`;
    case 'bytes_array': return 'r.array(() => r.bytes())';
    case 'record_array': return `r.array(() => ({ ${itemsOf(spec).map((it) => `${it.name}: r.${it.type}()`).join(', ')} }))`;
  }
}

function itemsOf(spec: FieldSpec): readonly ItemSpec[] {
  const items = spec.items ?? [];
  if (items.length === 0) throw new Error(`record-fields: record_array ${spec.name} lists no items`);
  for (const it of items) if (!IDENT.test(it.name)) throw new Error(`record-fields: item ${spec.name}.${it.name} is not a plain identifier`);
  return items;
}

/** The range tests of one value (`x`) against min/max/maxBytes, joined with ||. */
function rangeTests(x: string, r: { min?: number; max?: number; maxBytes?: number }): string[] {
  const tests: string[] = [];
  if (r.min !== undefined) tests.push(`${x} < ${r.min}`);
  if (r.max !== undefined) tests.push(`${x} > ${r.max}`);
  // UTF-8 needs at most 3 bytes per UTF-16 unit, so byteLength runs only for long strings.
  if (r.maxBytes !== undefined) tests.push(`(${x}.length * 3 > ${r.maxBytes} && Buffer.byteLength(${x}) > ${r.maxBytes})`);
  return tests;
}

/** The range test of a field as an expression that is true when the value is out of range, or null. */
function badExpr(spec: FieldSpec): string | null {
  if (spec.type === 'bytes_array') return 'v.some((b) => b.length !== 4 && b.length !== 16)';
  if (spec.type === 'record_array') {
    const each = itemsOf(spec).flatMap((it) => rangeTests(`x.${it.name}`, it));
    return each.length ? `v.some((x) => ${each.join(' || ')})` : null;
  }
  const tests = rangeTests('v', spec);
  if (spec.type === 'bytes') tests.push('(v.length !== 4 && v.length !== 16)');
  return tests.length ? tests.join(' || ') : null;
}

/**
 * Arrays are written only when they have elements (a TCP record has no DNS
 * answers), as copies. Display items are escaped; when any was, the original
 * array goes under connaudit.raw, as a display field's original does.
 */
function arrayWriteCode(spec: FieldSpec, to: string): string {
  if (spec.type === 'bytes_array') return `if (v && v.length > 0) ${to} = v.map((x) => ${CONVERT[spec.conv ?? 'copy']!('x')});`;
  const items = itemsOf(spec);
  const copy = (f: (it: ItemSpec) => string): string => `({ ${items.map((it) => `${it.name}: ${f(it)}`).join(', ')} })`;
  const shown = items.filter((it) => it.display);
  if (shown.length === 0) return `if (v && v.length > 0) ${to} = v.map((x) => ${copy((it) => `x.${it.name}`)});`;
  const changed = shown.map((it) => `o.${it.name} !== x.${it.name}`).join(' || ');
  return `if (v && v.length > 0) { let s = false; const e = v.map((x) => { const o = ${copy((it) => (it.display ? `esc(x.${it.name})` : `x.${it.name}`))}; if (${changed}) s = true; return o; }); `
    + `if (s) { ${target(rawPath(spec.ecs))} = v.map((x) => ${copy((it) => `x.${it.name}`)}); doc.connaudit.sanitized = true; } ${to} = e; }`;
}

function writeCode(spec: FieldSpec): string {
  const to = target(spec.ecs);
  if (spec.type === 'string_map') return `for (const k in v) { ${to} = { ...v }; break; }`;
  if (spec.type === 'bytes_array' || spec.type === 'record_array') return arrayWriteCode(spec, to);
  const conv = CONVERT[spec.conv ?? 'copy']!('v');
  const omit = spec.omitWhen !== undefined ? `if (v !== ${JSON.stringify(spec.omitWhen)}) ` : '';
  if (!spec.display) return `${omit}${to} = ${conv};`;
  return `${omit}{ const w = ${conv}; const e = esc(w); if (e !== w) { ${target(rawPath(spec.ecs))} = w; doc.connaudit.sanitized = true; } ${to} = e; }`;
}

/** The record fields finishDoc needs as they are (micros, bytes), kept in locals. */
const KEEP = ['start_us', 'end_us', 'src_ip', 'dst_ip'] as const;

function generate(source: 'reader' | 'record', check: boolean): string {
  const lines: string[] = ['let v;', 'let problems = null;', ...KEEP.map((k) => `let ${k};`)];
  (RECORD_FIELDS as readonly FieldSpec[]).forEach((spec, i) => {
    if (!IDENT.test(spec.name)) throw new Error(`record-fields: field name ${spec.name} is not a plain identifier`);
    lines.push(`// ${spec.name}`);
    const body: string[] = [];
    if ((KEEP as readonly string[]).includes(spec.name)) body.push(`${spec.name} = v;`);
    const bad = check ? badExpr(spec) : null;
    if (bad) body.push(`if (${bad}) (problems ??= []).push(problem(${i}, v));`);
    body.push(`if (problems === null) { ${writeCode(spec)} }`);
    if (source === 'record') {
      lines.push(`v = rec.${spec.name};`);
      lines.push(spec.nullable ? `if (v !== null && v !== undefined) { ${body.join(' ')} }` : body.join(' '));
    } else if (spec.nullable) {
      lines.push(`if (r.branch(${i}) === 1) { v = ${readExpr(spec, i)}; ${body.join(' ')} }`);
    } else {
      lines.push(`v = ${readExpr(spec, i)};`, body.join(' '));
    }
  });
  if (check) lines.push(`if (problems === null) problems = relations(${KEEP.join(', ')});`);
  lines.push(`return problems ?? finish(doc, ${KEEP.join(', ')});`);
  return lines.join('\n');
}

/** Checks across fields (end before start, mixed families), once every field is in range. */
function relations(start_us: number, end_us: number, src_ip: Buffer, dst_ip: Buffer): RecordProblem[] | null {
  const p = checkRelations({ start_us, end_us, src_ip, dst_ip });
  return p.length > 0 ? p : null;
}

/** A problem found while filling the document; the caller turns a list of them into a RecordCheckError. */
function problem(i: number, v: unknown): RecordProblem {
  const spec = (RECORD_FIELDS as readonly FieldSpec[])[i]!;
  return { field: spec.name, ecs: spec.ecs, message: checkField(spec, v) ?? 'is out of range' };
}

const SYMBOLS = (RECORD_FIELDS as readonly FieldSpec[]).map((f) => f.symbols ?? null);

type Finish = (doc: ConnectionDoc, startUs: number, endUs: number, src: Buffer, dst: Buffer) => ConnectionDoc;
type Fill<S> = (src: S, doc: ConnectionDoc, finish: Finish) => ConnectionDoc | RecordProblem[];

function compile<S>(source: 'reader' | 'record', check: boolean): Fill<S> {
  const arg = source === 'reader' ? 'r' : 'rec';
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- see the comment at the top: generated from the static table only
  const factory = new Function('ipToString', 'iso', 'esc', 'problem', 'relations', 'SYMBOLS', `return function fill(${arg}, doc, finish) {\n${generate(source, check)}\n};`);
  return factory(ipToString, isoFromMicros, escapeDisplay, problem, relations, SYMBOLS) as Fill<S>;
}

/** The reader the generated decoder calls (lib/record-decode.ts implements it). */
export interface BodyReader {
  string(): string;
  bytes(): Buffer;
  boolean(): boolean;
  int(): number;
  long(): number;
  map(): Record<string, string>;
  /** An enum symbol by index, or a decode error naming the field. */
  symbol(symbols: readonly string[], field: number): string;
  /** The branch of a ["null", T] union: 0 or 1, or a decode error naming the field. */
  branch(field: number): number;
  /** An Avro array, each element read by `item`. */
  array<T>(item: () => T): T[];
}

/** Fills `doc` from an Avro body, checking every range; returns the problems instead when there are any. */
export const fillFromBody = compile<BodyReader>('reader', true);
/** Fills `doc` from a record object, without range checks (lib/record-check.ts checkRecord does those). */
export const fillFromRecord = compile<object>('record', false);

/** The generated source, for a reader who wants to see what runs. */
export const generatedSource = (source: 'reader' | 'record', check: boolean): string => generate(source, check);
