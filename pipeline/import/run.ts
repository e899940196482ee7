import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { buildDoc, ImportReject } from './conn.js';
import { ecsToConn, unwrap, type StartIndex } from './ecs.js';
import { ZeekReader, zeekToConn, type ZeekOptions } from './zeek.js';

// Streams a file of another tool's connection records through one importer.
// Every line ends up in exactly one count: written, skipped (a kind of record
// connaudit has no place for: UDP and ICMP, or a start event whose end event
// carries the connection) or rejected (cannot be judged: the line and the
// reason are reported).

export type ImportFormat = 'zeek' | 'ecs';

export interface ImportIssue { line: number; field: string; message: string; reason: string }

export interface ImportStats {
  /** non-blank, non-header lines */
  records: number;
  written: number;
  skipped: Map<string, number>;
  rejected: ImportIssue[];
  /** documents whose conn_state was inferred (labels.conn_state_inferred) */
  inferred: number;
}

export interface ImportOptions extends ZeekOptions {
  onProgress?: (records: number) => void;
}

/** `write` may return a promise (a full output stream): the import waits for it before reading on. */
export async function runImport(format: ImportFormat, file: string, write: (doc: ConnectionDoc) => void | Promise<void>, opts: ImportOptions = {}): Promise<ImportStats> {
  const stats: ImportStats = { records: 0, written: 0, skipped: new Map(), rejected: [], inferred: 0 };
  const zeek = new ZeekReader();
  const starts: StartIndex = new Map();
  const input = createReadStream(file, { encoding: 'utf8' });
  await new Promise<void>((resolve, reject) => { input.once('open', () => resolve()); input.once('error', reject); });
  let lineNo = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNo++;
    if (line.trim() === '') continue;
    try {
      let conn;
      if (format === 'zeek') {
        // header lines (#fields, #close...) are not records; every other line is, readable or not
        if (!line.startsWith('#')) stats.records++;
        const rec = zeek.parse(line);
        if (!rec) continue;
        conn = zeekToConn(rec, opts);
      } else {
        stats.records++;
        let o: unknown;
        try {
          o = JSON.parse(line);
        } catch (err) {
          throw new ImportReject('(json)', `not JSON: ${(err as Error).message}`, 'not JSON');
        }
        conn = ecsToConn(unwrap(o), starts);
      }
      const doc = buildDoc(conn);
      if (doc.labels?.conn_state_inferred) stats.inferred++;
      const pending = write(doc);
      if (pending) await pending;
      stats.written++;
    } catch (err) {
      if (!(err instanceof ImportReject)) throw err;
      if (err.skip) stats.skipped.set(err.reason, (stats.skipped.get(err.reason) ?? 0) + 1);
      else stats.rejected.push({ line: lineNo, field: err.field, message: err.message, reason: err.reason });
    }
    if (opts.onProgress && stats.records % 50_000 === 0 && stats.records > 0) opts.onProgress(stats.records);
  }
  return stats;
}
