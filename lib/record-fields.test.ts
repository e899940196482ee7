import { describe, expect, expectTypeOf, it } from 'vitest';
import { loadSchema, type ConnectionRecord } from './record.js';
import { RECORD_FIELDS, type FieldSpec } from './record-fields.js';

// The field table and schemas/avro/connection.avsc describe the same record;
// this keeps them equal field by field, in order (the straight decoder reads
// the body in table order).

interface AvscField { name: string; type: unknown; default?: unknown }
const avsc = (loadSchema() as { fields: AvscField[] }).fields;
const table = RECORD_FIELDS as readonly FieldSpec[];

/** The table's idea of a field's Avro type, in .avsc form. */
function avroTypeOf(f: FieldSpec): unknown {
  const base = (() => {
    switch (f.type) {
      case 'timestamp_us': return { type: 'long', logicalType: 'timestamp-micros' };
      case 'string_map': return { type: 'map', values: 'string' };
      case 'enum': return { type: 'enum', symbols: f.symbols };
      case 'bytes_array': return { type: 'array', items: 'bytes' };
      case 'record_array': return { type: 'array', items: { type: 'record', fields: (f.items ?? []).map((it) => ({ name: it.name, type: it.type })) } };
      default: return f.type;
    }
  })();
  return f.nullable ? ['null', base] : base;
}

/** The .avsc type without type names, docs and enum defaults, which the table does not carry (record field names stay). */
function shape(t: unknown): unknown {
  if (Array.isArray(t)) return t.map(shape);
  if (t && typeof t === 'object') {
    const { name: _n, doc: _d, default: _def, ...rest } = t as Record<string, unknown>;
    if (rest.items !== undefined) rest.items = shape(rest.items);
    if (Array.isArray(rest.fields)) rest.fields = (rest.fields as AvscField[]).map((f) => ({ name: f.name, type: shape(f.type) }));
    return rest;
  }
  return t;
}

describe('field table and connection.avsc', () => {
  it('name the same fields in the same order', () => {
    expect(table.map((f) => f.name)).toEqual(avsc.map((f) => f.name));
  });

  it.each(table.map((f, i) => [f.name, f, avsc[i]!] as const))('%s has the same type and default', (_n, f, a) => {
    expect(shape(a.type)).toEqual(avroTypeOf(f));
    expect(a.default, 'default').toEqual(f.default);
  });

  it('gives every field added after v0 a default, so older records resolve', () => {
    const v0 = new Set((loadSchema('history/connection.v0.avsc') as { fields: AvscField[] }).fields.map((f) => f.name));
    const missing = avsc.filter((f) => !v0.has(f.name) && !('default' in f)).map((f) => f.name);
    expect(missing).toEqual([]);
  });

  it('derives the TypeScript record type from the table', () => {
    expectTypeOf<ConnectionRecord['sampled']>().toEqualTypeOf<boolean>();
    expectTypeOf<ConnectionRecord['process_unknown_reason']>().toEqualTypeOf<string | null>();
    expectTypeOf<ConnectionRecord['src_ip']>().toEqualTypeOf<Buffer>();
    expectTypeOf<ConnectionRecord['conn_state']>().toEqualTypeOf<'S0' | 'S1' | 'SF' | 'REJ' | 'S2' | 'S3' | 'RSTO' | 'RSTR' | 'RSTOS0' | 'RSTRH' | 'SH' | 'SHR' | 'OTH'>();
    expectTypeOf<ConnectionRecord['connect_latency_us']>().toEqualTypeOf<number | null>();
    expectTypeOf<ConnectionRecord['transport']>().toEqualTypeOf<'tcp' | 'udp'>();
    expectTypeOf<ConnectionRecord['dns_resolved_ips']>().toEqualTypeOf<Buffer[]>();
    expectTypeOf<ConnectionRecord['dns_answers']>().toEqualTypeOf<Array<{ name: string; type: string; ttl: number; data: string }>>();
    expectTypeOf<ConnectionRecord['dns_id']>().toEqualTypeOf<number | null>();
    expectTypeOf<keyof ConnectionRecord>().toEqualTypeOf<(typeof RECORD_FIELDS)[number]['name']>();
  });

  it('maps each field to a distinct document path', () => {
    const paths = table.map((f) => f.ecs);
    expect(new Set(paths).size).toBe(paths.length);
  });
});
