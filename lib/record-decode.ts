import { DecodeError, HEADER_LEN, connectionCodec } from './avro.js';
import { finishDoc, newDoc, recordToDoc, type ConnectionDoc } from './ecs.js';
import type { ConnectionRecord } from './record.js';
import { RecordCheckError, checkRecord, type RecordProblem } from './record-check.js';
import { fillFromBody, type BodyReader } from './record-doc-gen.js';
import { RECORD_FIELDS, type FieldSpec } from './record-fields.js';

// The pipeline's decode path: Avro single-object bytes straight into the ECS
// document: the body is read by code generated from the field table
// (lib/record-doc-gen.ts) and each value written to its document field as it
// is read, with no record object in between. Addresses stay bytes until the document is
// written (community_id hashes them as they are), each timestamp is read as
// microseconds and formatted once, and every value passes the edge range
// checks (lib/record-check.ts) as it is read.
//
// Only records written with the current schema take this path. Records from
// older agents (schemas/avro/history) go through avsc's schema resolution and
// then recordToDoc, which gives the same document; a test decodes both ways.
//
// The Avro binary encoding read here (Avro 1.11 specification, "Binary
// Encoding"): int and long are zig-zag varints; a string or bytes is a long
// length and that many bytes; boolean one byte; enum the symbol's index; a
// union the branch index then the value; a map or an array blocks of (count,
// [byte size when count < 0], entries) ending with a count of 0; a record its
// fields in order.

class Truncated extends Error {}

// Buffer#utf8Slice is what toString('utf8', a, b) calls after its argument
// checks; a record has a dozen short strings, and those checks were a tenth of
// the decode time. Fall back to toString where it is missing.
type Utf8Sliceable = Buffer & { utf8Slice?: (start: number, end: number) => string };
const utf8Slice: (buf: Buffer, a: number, b: number) => string = typeof (Buffer.prototype as Utf8Sliceable).utf8Slice === 'function'
  ? (buf, a, b) => (buf as Utf8Sliceable).utf8Slice!(a, b)
  : (buf, a, b) => buf.toString('utf8', a, b);

/** A value that cannot be what its field says (an enum index past the symbols, a union branch that does not exist). */
class BadValue extends Error {
  constructor(readonly field: number, message: string) {
    super(message);
  }
}

const FIELD_NAMES = (RECORD_FIELDS as readonly FieldSpec[]).map((f) => f.name);

class Reader implements BodyReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  long(): number {
    const buf = this.buf;
    const start = this.pos;
    let b = buf[this.pos++];
    if (b === undefined) throw new Truncated();
    if (b < 0x80) return b & 1 ? -((b + 1) / 2) : b / 2;
    let value = b & 0x7f;
    let scale = 128;
    for (let i = 1; ; i++) {
      b = buf[this.pos++];
      if (b === undefined) throw new Truncated();
      if (i === 9 && b > 1) throw new Error('varint longer than 64 bits');
      value += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 128;
    }
    if (value <= Number.MAX_SAFE_INTEGER) return value % 2 === 1 ? -((value + 1) / 2) : value / 2;
    return this.bigLong(start);
  }

  /** The rare varint past 2^53 (before zig-zag), decoded exactly; a value a double cannot hold is refused. */
  private bigLong(start: number): number {
    let raw = 0n;
    for (let p = start, shift = 0n; ; p++, shift += 7n) {
      const b = this.buf[p]!;
      raw |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    const v = (raw >> 1n) ^ -(raw & 1n);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`long ${v} is beyond 2^53 and cannot be represented exactly`);
    return Number(v);
  }

  int(): number {
    const v = this.long();
    if (v < -0x8000_0000 || v > 0x7fff_ffff) throw new Error(`${v} does not fit a 32-bit int`);
    return v;
  }

  private span(): number {
    const len = this.long();
    if (len < 0) throw new Error(`negative length ${len}`);
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.buf.length) throw new Truncated();
    return start;
  }

  string(): string {
    const start = this.span();
    return utf8Slice(this.buf, start, this.pos);
  }

  bytes(): Buffer {
    const start = this.span();
    return this.buf.subarray(start, this.pos);
  }

  boolean(): boolean {
    const b = this.buf[this.pos++];
    if (b === undefined) throw new Truncated();
    if (b > 1) throw new Error(`boolean byte ${b} is neither 0 nor 1`);
    return b === 1;
  }

  map(): Record<string, string> {
    const out: Record<string, string> = {};
    for (;;) {
      let n = this.long();
      if (n === 0) return out;
      if (n < 0) {
        n = -n;
        this.long(); // block size in bytes, for readers that skip
      }
      for (let i = 0; i < n; i++) {
        const k = this.string();
        out[k] = this.string();
      }
    }
  }

  array<T>(item: () => T): T[] {
    const out: T[] = [];
    for (;;) {
      let n = this.long();
      if (n === 0) return out;
      if (n < 0) {
        n = -n;
        this.long(); // block size in bytes, for readers that skip
      }
      // Each element takes at least one byte: a count past what is left is a broken body, not a reason to loop.
      if (n > this.buf.length - this.pos) throw new Truncated();
      for (let i = 0; i < n; i++) out.push(item());
    }
  }

  symbol(symbols: readonly string[], field: number): string {
    const i = this.long();
    const s = symbols[i];
    if (s === undefined) throw new BadValue(field, `enum index ${i} is not one of the ${symbols.length} symbols`);
    return s;
  }

  branch(field: number): number {
    const b = this.long();
    if (b !== 0 && b !== 1) throw new BadValue(field, `union branch ${b} does not exist`);
    return b;
  }
}

/** Reads the body of a current-schema record straight into its document. */
function bodyToDoc(body: Buffer): ConnectionDoc {
  const r = new Reader(body);
  const doc = newDoc();
  let out: ConnectionDoc | RecordProblem[];
  try {
    out = fillFromBody(r, doc, finishDoc);
  } catch (err) {
    if (err instanceof Truncated) throw new DecodeError(`Avro body ends early (${body.length} bytes)`, 'bad_body');
    const where = err instanceof BadValue ? ` at field ${FIELD_NAMES[err.field]}` : '';
    throw new DecodeError(`Avro body does not decode${where}: ${(err as Error).message}`, 'bad_body');
  }
  if (r.pos !== body.length) throw new DecodeError(`Avro body has ${body.length - r.pos} bytes after the last field`, 'bad_body');
  if (Array.isArray(out)) throw new RecordCheckError(out, doc.event.id || undefined);
  return out;
}

/**
 * One Kafka message value -> its ECS connection document. Throws DecodeError
 * (with the DLQ reason) for bytes that are not a record, RecordCheckError for
 * a record that fails the edge checks.
 */
export function decodeConnectionDoc(buf: Buffer): ConnectionDoc {
  const codec = connectionCodec();
  if (codec.isCurrent(buf)) return bodyToDoc(buf.subarray(HEADER_LEN));
  const rec = codec.decode(buf) as ConnectionRecord;
  const problems = checkRecord(rec);
  if (problems.length > 0) throw new RecordCheckError(problems, rec.event_id);
  return recordToDoc(rec);
}
