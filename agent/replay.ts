import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DocError, docToRecord } from '../lib/ecs.js';
import { createLogger, type Logger } from '../lib/log.js';
import { agentVersion } from './health.js';
import { KafkaSink } from './kafka-sink.js';
import type { RecordSink } from './sink.js';

// `connaudit agent --replay FILE.jsonl`: documents printed by
// `agent --output jsonl` go back through the same Avro + Kafka path as live
// records (issue 2), for hosts without eBPF, demos and tests. A bad line is
// reported as FILE:LINE: field: message and skipped; the replay goes on, and
// the caller exits non-zero if any line was bad.

export interface ReplayError { line: number; field: string; message: string }
export interface ReplayResult { read: number; sent: number; errors: ReplayError[] }

export interface ReplayOptions {
  /** Defaults to a KafkaSink without spool or health reports, closed at the end. */
  sink?: RecordSink;
  log?: Logger;
  /** Called with the number of lines read so far, every PROGRESS_LINES lines or PROGRESS_MS. */
  onProgress?: (n: number) => void;
}

const PROGRESS_LINES = 10_000;
const PROGRESS_MS = 2_000;

/** A sink that can say "everything so far is acknowledged" without closing. */
interface Flushable { flush(): Promise<void> }
const canFlush = (s: RecordSink): s is RecordSink & Flushable => typeof (s as Partial<Flushable>).flush === 'function';

export async function runReplay(file: string, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const log = opts.log ?? createLogger('agent.replay');
  const owned = opts.sink === undefined;
  const sink = opts.sink ?? new KafkaSink({ health: false, log });
  const version = agentVersion();
  const errors: ReplayError[] = [];
  const bad = (line: number, field: string, message: string): void => {
    errors.push({ line, field, message });
    log.warn({ file, line, field }, `${file}:${line}: ${field}: ${message}`);
  };
  const progress = opts.onProgress ?? ((n: number) => log.info({ file, lines: n }, 'replay progress'));

  let read = 0;
  let written = 0;
  let lineNo = 0;
  let lastProgress = Date.now();
  try {
    const input = createReadStream(file, { encoding: 'utf8' });
    // Without this, a missing file surfaces as an unhandled stream error.
    const opened = new Promise<void>((resolve, reject) => { input.once('open', () => resolve()); input.once('error', reject); });
    await opened.catch((err: NodeJS.ErrnoException) => {
      throw new Error(`${file}: cannot read (${err.code ?? err.message}); check the path given to --replay`);
    });
    for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
      lineNo++;
      const text = raw.trim();
      if (text === '') continue;
      read++;
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        bad(lineNo, '(json)', `not valid JSON: ${(err as Error).message}`);
        continue;
      }
      let rec;
      try {
        rec = docToRecord(doc, version);
      } catch (err) {
        if (err instanceof DocError) bad(lineNo, err.field, err.message.slice(err.field.length + 2));
        else bad(lineNo, '(document)', (err as Error).message);
        continue;
      }
      try {
        await sink.write(rec);
        written++;
      } catch (err) {
        // The record does not fit the wire schema (e.g. a port above 65535 that JSON allowed).
        bad(lineNo, '(record)', (err as Error).message);
        continue;
      }
      if (read % PROGRESS_LINES === 0 || Date.now() - lastProgress >= PROGRESS_MS) {
        progress(lineNo);
        lastProgress = Date.now();
      }
    }
    // Resolve only once Kafka acknowledged everything written.
    if (owned) await sink.close();
    else if (canFlush(sink)) await sink.flush();
  } catch (err) {
    if (owned) await sink.close().catch(() => undefined);
    throw err;
  }
  if (lineNo >= PROGRESS_LINES) progress(lineNo);
  log.info({ file, read, sent: written, bad: errors.length }, 'replay finished');
  return { read, sent: written, errors };
}
