import { createReadStream, openSync, readSync, closeSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
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
  if (line.trim() === '') return null;
  let d: unknown;
  try {
    d = JSON.parse(line);
  } catch (err) {
    throw new InputError(file, lineNo, `not JSON: ${(err as Error).message}`);
  }
  const o = d as Partial<ConnectionDoc>;
  for (const f of ['@timestamp', 'event', 'source', 'destination', 'network', 'connaudit', 'host'] as const) {
    if (o[f] === undefined) throw new InputError(file, lineNo, `missing field '${f}': each line must be a nested ECS connection document (connaudit agent --output jsonl)`);
  }
  if (Number.isNaN(Date.parse(o['@timestamp']!))) throw new InputError(file, lineNo, `'@timestamp' is not an ISO-8601 time: ${JSON.stringify(o['@timestamp'])}`);
  return o as ConnectionDoc;
}

/** Streams documents; `onBytes` reports progress (bytes read so far of `total`). */
export async function* readDocs(file: string, onBytes?: (read: number, total: number) => void): AsyncGenerator<ConnectionDoc> {
  const total = statSync(file).size;
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
  const stream = createReadStream(file);
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  let lastReport = 0;
  for await (const line of rl) {
    lineNo++;
    const doc = parseDocLine(file, lineNo, line);
    if (doc) yield doc;
    if (onBytes && lineNo - lastReport >= 20_000) {
      lastReport = lineNo;
      onBytes(stream.bytesRead, total);
    }
  }
  onBytes?.(total, total);
}
