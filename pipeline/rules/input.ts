import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import avro from 'avsc';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { recordToDoc } from '../../lib/ecs.js';
import type { ConnectionRecord } from '../../lib/record.js';

// Backtest and fixture input: JSONL of nested ECS connection documents (what
// `connaudit agent --output jsonl` prints, one per line) or an Avro object
// container file of wire records. A bad line names the file and line number.

export class InputError extends Error {
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'InputError';
  }
}

const AVRO_MAGIC = Buffer.from('Obj\x01', 'latin1');

export function isAvroContainer(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.equals(AVRO_MAGIC);
  } finally {
    closeSync(fd);
  }
}

export function parseDocLine(file: string, lineNo: number, line: string): ConnectionDoc | null {
  // Blank lines are skipped; testing the first character first spares a trimmed copy of every line.
  if (line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '')) return null;
  let d: unknown;
  try {
    d = JSON.parse(line);
  } catch (err) {
    throw new InputError(file, lineNo, `not JSON: ${(err as Error).message}`);
  }
  const o = d as Partial<ConnectionDoc>;
  if (o === null || typeof o !== 'object') throw new InputError(file, lineNo, `not a JSON object: each line must be a nested ECS connection document (connaudit agent --output jsonl)`);
  for (const f of DOC_PARTS) {
    if (o[f] === undefined) throw new InputError(file, lineNo, `missing field '${f}': each line must be a nested ECS connection document (connaudit agent --output jsonl)`);
  }
  if (Number.isNaN(Date.parse(o['@timestamp']!))) throw new InputError(file, lineNo, `'@timestamp' is not an ISO-8601 time: ${JSON.stringify(o['@timestamp'])}`);
  return o as ConnectionDoc;
}

const DOC_PARTS = ['@timestamp', 'event', 'source', 'destination', 'network', 'connaudit', 'host'] as const;

/** Bytes read per call: large reads and an own line splitter, not readline, which cost more than parsing. */
const CHUNK = 4 << 20;

/**
 * The lines of a file with their numbers, in chunks. Synchronous on purpose:
 * the backtest is the only work of its process, and an await per line (or per
 * chunk, through a stream) costs more than the read itself.
 */
export function* fileLines(file: string, onBytes?: (read: number, total: number) => void, chunk = CHUNK): Generator<[number, string]> {
  const total = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(chunk);
    const dec = new StringDecoder('utf8');
    let carry = '';
    let lineNo = 0;
    let read = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, chunk, null);
      if (n === 0) break;
      read += n;
      const text = carry + dec.write(buf.subarray(0, n));
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        yield [++lineNo, text.slice(start, nl)];
        start = nl + 1;
      }
      carry = text.slice(start);
      onBytes?.(read, total);
    }
    const rest = carry + dec.end();
    if (rest.length > 0) yield [++lineNo, rest];
    onBytes?.(total, total);
  } finally {
    closeSync(fd);
  }
}

/** Streams documents; `onBytes` reports progress (bytes read so far of `total`). */
export async function* readDocs(file: string, onBytes?: (read: number, total: number) => void): AsyncGenerator<ConnectionDoc> {
  if (isAvroContainer(file)) {
    const decoder = avro.createFileDecoder(file);
    let n = 0;
    for await (const rec of decoder as AsyncIterable<ConnectionRecord>) {
      n++;
      try {
        yield recordToDoc(rec);
      } catch (err) {
        throw new InputError(file, n, `record ${n}: ${(err as Error).message}`);
      }
    }
    return;
  }
  for (const [lineNo, line] of fileLines(file, onBytes)) {
    const doc = parseDocLine(file, lineNo, line);
    if (doc) yield doc;
  }
}
