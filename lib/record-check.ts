import type { ConnectionRecord } from './record.js';
import { RECORD_FIELDS, type FieldSpec, type ItemSpec } from './record-fields.js';

// Every range check on a connection record, in one place. The agent runs it on
// what it built, `agent --replay` on each line it reads, and the pipeline on
// each record it decodes, so a hostile or broken producer cannot index
// negative byte counts, a connection that ends before it starts, or port
// 70000. Ranges come from the field table (lib/record-fields.ts).

export interface RecordProblem {
  /** Avro field name (src_port). */
  field: string;
  /** The document field an analyst or a replay file knows it by (source.port). */
  ecs: string;
  message: string;
}

const SPECS = RECORD_FIELDS as readonly FieldSpec[];

type Range = Pick<FieldSpec, 'min' | 'max' | 'maxBytes' | 'symbols'>;

/** What is wrong with one field's value, or null when it is fine. Used by checkRecord and the pipeline's straight decoder. */
export function checkField(spec: FieldSpec, value: unknown): string | null {
  if (value === null || value === undefined) return spec.nullable ? null : 'is missing';
  if (Array.isArray(value)) return checkArray(spec, value);
  return checkValue(spec, value);
}

/** The first bad element of an array field, named by its index (and item field). */
function checkArray(spec: FieldSpec, value: unknown[]): string | null {
  for (let i = 0; i < value.length; i++) {
    const x = value[i];
    if (spec.type === 'bytes_array') {
      if (!Buffer.isBuffer(x) || (x.length !== 4 && x.length !== 16)) return `[${i}] must be a 4- or 16-byte address, got ${Buffer.isBuffer(x) ? `${x.length} bytes` : JSON.stringify(x)}`;
    } else if (spec.items) {
      if (x === null || typeof x !== 'object') return `[${i}] must be an object`;
      for (const it of spec.items as readonly ItemSpec[]) {
        const v = (x as Record<string, unknown>)[it.name];
        if (typeof v !== (it.type === 'long' ? 'number' : 'string')) return `[${i}].${it.name} must be a ${it.type === 'long' ? 'number' : 'string'}, got ${JSON.stringify(v)}`;
        const msg = checkValue(it, v);
        if (msg) return `[${i}].${it.name} ${msg}`;
      }
    }
  }
  return null;
}

function checkValue(spec: Range, value: unknown): string | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || !Number.isInteger(value)) return `must be a whole number, got ${value}`;
    if (spec.min !== undefined && value < spec.min) return `must be at least ${spec.min}, got ${value}`;
    if (spec.max !== undefined && value > spec.max) return `must be at most ${spec.max}, got ${value}`;
  } else if (typeof value === 'string') {
    if (spec.maxBytes !== undefined && Buffer.byteLength(value) > spec.maxBytes) return `must be at most ${spec.maxBytes} bytes long, got ${Buffer.byteLength(value)}`;
    if (spec.symbols && !spec.symbols.includes(value)) return `must be one of ${spec.symbols.join(', ')}, got ${JSON.stringify(value)}`;
  } else if (Buffer.isBuffer(value)) {
    if (value.length !== 4 && value.length !== 16) return `must be a 4- or 16-byte address, got ${value.length} bytes`;
  }
  return null;
}

/** Checks that need two fields at once. */
export function checkRelations(r: Pick<ConnectionRecord, 'start_us' | 'end_us' | 'src_ip' | 'dst_ip'>): RecordProblem[] {
  const out: RecordProblem[] = [];
  if (r.end_us < r.start_us) out.push({ field: 'end_us', ecs: 'event.end', message: `is before the start (${r.end_us} < ${r.start_us} µs)` });
  if (r.src_ip.length !== r.dst_ip.length && (r.src_ip.length === 4 || r.src_ip.length === 16) && (r.dst_ip.length === 4 || r.dst_ip.length === 16)) {
    out.push({ field: 'dst_ip', ecs: 'destination.ip', message: 'has a different address family from src_ip' });
  }
  return out;
}

/**
 * Everything wrong with a record, each problem naming its field; [] for a
 * good record. Callers add where the record came from (file:line) and refuse it.
 */
export function checkRecord(r: ConnectionRecord): RecordProblem[] {
  const rec = r as unknown as Record<string, unknown>;
  const out: RecordProblem[] = [];
  for (const spec of SPECS) {
    const msg = checkField(spec, rec[spec.name]);
    if (msg) out.push({ field: spec.name, ecs: spec.ecs, message: msg });
  }
  // Relations only between fields that are themselves well-formed.
  if (!out.some((p) => ['start_us', 'end_us', 'src_ip', 'dst_ip'].includes(p.field))) out.push(...checkRelations(r));
  return out;
}

/** "source.port (src_port) must be at most 65535, got 70000; ..." */
export function formatProblems(problems: RecordProblem[]): string {
  return problems.map((p) => `${p.ecs} (${p.field}) ${p.message}`).join('; ');
}

/** A record that decoded but is refused by checkRecord; the pipeline dead-letters it as bad_record. */
export class RecordCheckError extends Error {
  constructor(readonly problems: RecordProblem[], eventId?: string) {
    super(`${eventId ? `record ${eventId}: ` : ''}${formatProblems(problems)}`);
    this.name = 'RecordCheckError';
  }
}
