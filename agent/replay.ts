import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DocError, docToRecord } from '../lib/ecs.js';
import type { CompressionName } from '../lib/kafka-codecs.js';
import { createLogger, type Logger } from '../lib/log.js';
import type { ConnectionRecord } from '../lib/record.js';
import { agentVersion } from './health.js';
import type { Outcome } from './kafka-delivery.js';
import type { MessageKind } from './kafka-message.js';
import { KafkaSink } from './kafka-sink.js';
import { checkRecord } from '../lib/record-check.js';
import { Spool } from './spool.js';

// `connaudit agent --replay FILE.jsonl`: documents printed by
// `agent --output jsonl` go back through the same Avro + Kafka path as live
// records, for hosts without eBPF, demos and tests.
//
// Durable like the live agent: records go through the agent's own on-disk
// spool, so a broker outage mid-replay parks them on disk and the replay
// waits (up to --wait) for Kafka to come back, then sends them in order.
// Every line ends in exactly one of: sent, dead-lettered (too large for the
// broker), refused (bad line, reported as FILE:LINE: field: message), failed
// (the spool was full) or still waiting in the spool (sent by the next agent
// start or replay). The result lists the lines of every outcome but "sent".

export interface ReplayError { line: number; field: string; message: string }
export interface ReplayResult {
  /** Non-empty lines read. */
  read: number;
  /** Records Kafka acknowledged on the records topic. */
  sent: number;
  /** Lines refused before sending (bad JSON, bad document, failed range check). */
  errors: ReplayError[];
  /** Lines whose record went to the dead-letter topic (too large for the broker). */
  deadLettered: number[];
  /** Lines neither sent nor kept: the spool was full, or Kafka refused them with no spool. */
  failed: number[];
  /** Lines still in the on-disk spool when the replay stopped waiting. */
  waiting: number[];
}

/** What replay needs from a sink: write with a tag, outcomes reported per tag. */
export interface ReplaySink {
  write(rec: ConnectionRecord, tag: number, source: string): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Messages waiting in the on-disk spool. */
  readonly spooled: number;
}

export type OutcomeListener = (msg: { kind: MessageKind; tag?: number }, outcome: Outcome) => void;

export interface ReplayOptions {
  /** Builds the sink; the default is a KafkaSink on the agent's spool. */
  makeSink?: (onOutcome: OutcomeListener) => ReplaySink;
  /** The agent's spool (agent config spool.dir / spool.max_bytes), for the default sink. */
  spool?: { dir: string; maxBytes: number };
  topic?: string;
  compression?: CompressionName;
  maxMessageBytes?: number;
  /** How long to wait for Kafka to take what is spooled before giving up (records stay in the spool). */
  waitMs?: number;
  log?: Logger;
  /** Called with the number of lines read so far, every PROGRESS_LINES lines or PROGRESS_MS. */
  onProgress?: (n: number) => void;
}

const PROGRESS_LINES = 10_000;
const PROGRESS_MS = 2_000;
const WAIT_POLL_MS = 250;
const WAIT_LOG_MS = 5_000;
export const DEFAULT_REPLAY_WAIT_MS = 10 * 60_000;

export async function runReplay(file: string, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const log = opts.log ?? createLogger('agent.replay');
  const version = agentVersion();
  const errors: ReplayError[] = [];
  const sentLines = new Set<number>();
  const deadLettered: number[] = [];
  const failed: number[] = [];
  const onOutcome: OutcomeListener = (m, o) => {
    if (m.tag === undefined || m.kind === 'health') return; // spooled by an earlier run, or not a record
    if (o === 'sent' && m.kind === 'record') sentLines.add(m.tag);
    else if (o === 'sent' && m.kind === 'dlq') deadLettered.push(m.tag);
    else failed.push(m.tag);
  };
  const sink = opts.makeSink?.(onOutcome) ?? defaultSink(opts, log, onOutcome);
  const bad = (line: number, field: string, message: string): void => {
    errors.push({ line, field, message });
    log.warn({ file, line, field }, `${file}:${line}: ${field}: ${message}`);
  };
  const progress = opts.onProgress ?? ((n: number) => log.info({ file, lines: n, sent: sentLines.size, spooled: sink.spooled }, 'replay progress'));

  const written: number[] = [];
  let read = 0;
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
      const rec = parseLine(text, lineNo, version, bad);
      if (!rec) continue;
      try {
        await sink.write(rec, lineNo, `${file}:${lineNo}`);
        written.push(lineNo);
      } catch (err) {
        // The record does not fit the wire schema (e.g. a value JSON allowed but Avro cannot hold).
        bad(lineNo, '(record)', (err as Error).message);
        continue;
      }
      if (read % PROGRESS_LINES === 0 || Date.now() - lastProgress >= PROGRESS_MS) {
        progress(lineNo);
        lastProgress = Date.now();
      }
    }
    await sink.flush().catch((err: Error) => log.warn({ err: err.message }, 'some records were not delivered; their lines are listed in the summary'));
    await waitForSpool(sink, opts.waitMs ?? DEFAULT_REPLAY_WAIT_MS, log);
  } finally {
    await sink.close().catch((err: Error) => log.warn({ err: err.message }, 'closing the Kafka connection failed'));
  }
  if (lineNo >= PROGRESS_LINES) progress(lineNo);
  const settled = new Set([...sentLines, ...deadLettered, ...failed]);
  const waiting = written.filter((l) => !settled.has(l));
  const res: ReplayResult = { read, sent: sentLines.size, errors, deadLettered: deadLettered.sort((a, b) => a - b), failed: failed.sort((a, b) => a - b), waiting };
  log.info({ file, read, sent: res.sent, refused: errors.length, dead_lettered: deadLettered.length, failed: failed.length, waiting: waiting.length }, 'replay finished');
  return res;
}

function parseLine(text: string, line: number, version: string, bad: (line: number, field: string, message: string) => void): ConnectionRecord | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    bad(line, '(json)', `not valid JSON: ${(err as Error).message}`);
    return null;
  }
  let rec: ConnectionRecord;
  try {
    rec = docToRecord(doc, version);
  } catch (err) {
    if (err instanceof DocError) bad(line, err.field, err.message.slice(err.field.length + 2));
    else bad(line, '(document)', (err as Error).message);
    return null;
  }
  const problems = checkRecord(rec);
  if (problems.length > 0) {
    for (const p of problems) bad(line, p.ecs, p.message);
    return null;
  }
  return rec;
}

function defaultSink(opts: ReplayOptions, log: Logger, onOutcome: OutcomeListener): ReplaySink {
  const spool = opts.spool ? Spool.open({ dir: opts.spool.dir, maxBytes: opts.spool.maxBytes, log }) : undefined;
  return new KafkaSink({ spool, topic: opts.topic, compression: opts.compression, maxMessageBytes: opts.maxMessageBytes, health: false, log, onOutcome });
}

/** While Kafka is down the spool holds the records; wait for it to drain, saying what we wait for. */
async function waitForSpool(sink: ReplaySink, waitMs: number, log: Logger): Promise<void> {
  const end = Date.now() + waitMs;
  let lastLog = 0;
  while (sink.spooled > 0 && Date.now() < end) {
    if (Date.now() - lastLog >= WAIT_LOG_MS) {
      log.warn({ spooled: sink.spooled, gives_up_in_s: Math.round((end - Date.now()) / 1000) }, 'waiting for Kafka to take the spooled records (they are safe on disk)');
      lastLog = Date.now();
    }
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
  if (sink.spooled > 0) log.warn({ spooled: sink.spooled }, 'stopped waiting for Kafka: the records stay in the spool and are sent first by the next agent start or replay');
}
