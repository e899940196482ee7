import { readdirSync } from 'node:fs';
import avro from 'avsc';
import { rabin64Bytes } from './rabin.js';
import { connectionType, loadSchema, schemaPath, type ConnectionRecord } from './record.js';

// Avro single-object encoding (Avro spec, "Single-object encoding"):
//   C3 01 | 8-byte little-endian CRC-64-AVRO of the writer schema's canonical form | binary body
// Every Kafka message therefore names its writer schema, and the pipeline can
// decode records from older agents by resolving their schema to the current one.

type Resolver = ReturnType<avro.Type['createResolver']>;

const MAGIC = Buffer.from([0xc3, 0x01]);
export const HEADER_LEN = 10;

export function fingerprintOf(type: avro.Type): Buffer {
  // schema() with no options is the Parsing Canonical Form (no docs, defaults or logical types).
  return rabin64Bytes(JSON.stringify(type.schema()));
}

export class DecodeError extends Error {
  constructor(message: string, readonly reason: 'bad_magic' | 'unknown_schema' | 'bad_body' | 'too_short') {
    super(message);
    this.name = 'DecodeError';
  }
}

export class SingleObjectCodec {
  private readonly writerFp: Buffer;
  /** hex fingerprint -> resolver from that writer schema to the reader type. */
  private readonly readers = new Map<string, avro.Type | Resolver>();

  constructor(readonly type: avro.Type, history: avro.Type[] = []) {
    this.writerFp = fingerprintOf(type);
    this.readers.set(this.writerFp.toString('hex'), type);
    for (const old of history) {
      const fp = fingerprintOf(old).toString('hex');
      if (!this.readers.has(fp)) this.readers.set(fp, type.createResolver(old));
    }
  }

  get fingerprintHex(): string {
    return this.writerFp.toString('hex');
  }

  knownFingerprints(): string[] {
    return [...this.readers.keys()];
  }

  encode(value: unknown): Buffer {
    return Buffer.concat([MAGIC, this.writerFp, this.type.toBuffer(value)]);
  }

  /**
   * Checks the single-object header and finds the writer schema: `current`
   * when the message was written with this codec's own schema (the common
   * case, which callers may decode their own way), else the resolver to use.
   */
  /** true when `buf` carries this codec's own writer fingerprint (no other check). */
  isCurrent(buf: Buffer): boolean {
    const fp = this.writerFp;
    for (let i = 0; i < 8; i++) if (buf[2 + i] !== fp[i]) return false;
    return buf.length >= HEADER_LEN && buf[0] === MAGIC[0] && buf[1] === MAGIC[1];
  }

  header(buf: Buffer): { body: Buffer; fingerprint: string; current: boolean; resolver: avro.Type | Resolver } {
    if (buf.length < HEADER_LEN) throw new DecodeError(`message is ${buf.length} bytes, shorter than the 10-byte single-object header`, 'too_short');
    if (buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1]) {
      throw new DecodeError(`missing Avro single-object marker C3 01 (got ${buf.subarray(0, 2).toString('hex')})`, 'bad_magic');
    }
    const fingerprint = buf.subarray(2, HEADER_LEN).toString('hex');
    const resolver = this.readers.get(fingerprint);
    if (!resolver) {
      throw new DecodeError(`unknown writer schema fingerprint ${fingerprint}; known: ${this.knownFingerprints().join(', ')}. Upgrade the pipeline or add the agent's schema to schemas/avro/history/`, 'unknown_schema');
    }
    return { body: buf.subarray(HEADER_LEN), fingerprint, current: resolver === this.type, resolver };
  }

  decode(buf: Buffer): unknown {
    const { body, fingerprint, current, resolver } = this.header(buf);
    try {
      if (current) return this.type.fromBuffer(body);
      return this.type.fromBuffer(body, resolver as Resolver);
    } catch (err) {
      throw new DecodeError(`Avro body does not decode with schema ${fingerprint}: ${(err as Error).message}`, 'bad_body');
    }
  }
}

/** Earlier versions of a schema (history/<name>.vN.avsc), so records from older agents still decode. */
export function historyTypes(name = 'connection'): avro.Type[] {
  const dir = schemaPath('history');
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${name}.`) && f.endsWith('.avsc'))
    .sort()
    .map((f) => avro.Type.forSchema(loadSchema(`history/${f}`) as avro.Schema));
}

let shared: SingleObjectCodec | undefined;

/** The codec for the connection record, knowing every historical writer schema. */
export function connectionCodec(): SingleObjectCodec {
  shared ??= new SingleObjectCodec(connectionType, historyTypes());
  return shared;
}

export function encodeConnection(rec: ConnectionRecord): Buffer {
  return connectionCodec().encode(rec);
}

export function decodeConnection(buf: Buffer): ConnectionRecord {
  return connectionCodec().decode(buf) as ConnectionRecord;
}
