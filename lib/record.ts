import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { fromRoot } from './paths.js';

import { CLOSE_REASONS, CONN_STATES, RECORD_FIELDS, type RecordOf } from './record-fields.js';

// The wire record. schemas/avro/connection.avsc is the only definition of the
// bytes; lib/record-fields.ts describes the same fields for the code, and the
// type below is derived from that table (record.test.ts keeps table and .avsc
// equal).

export { CLOSE_REASONS, CONN_STATES };
export type ConnectionRecord = RecordOf<typeof RECORD_FIELDS>;
export type RecordKind = ConnectionRecord['kind'];
export type Direction = ConnectionRecord['direction'];
export type Family = ConnectionRecord['family'];
export type ConnState = ConnectionRecord['conn_state'];
export type CloseReason = ConnectionRecord['close_reason'];

/** Resolves a path under schemas/avro whether we run from source (vitest) or from dist/. */
export function schemaPath(name: string): string {
  return fromRoot('schemas/avro', name);
}

export function loadSchema(name = 'connection.avsc'): object {
  return JSON.parse(readFileSync(schemaPath(name), 'utf8')) as object;
}

/** The current writer/reader type of the connection record. */
export const connectionType: avro.Type = avro.Type.forSchema(loadSchema() as avro.Schema);
