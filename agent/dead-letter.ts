import { DLQ_HEADER_ERROR, DLQ_HEADER_REASON, DLQ_HEADER_SOURCE } from '../lib/names.js';
import type { ConnectionRecord } from '../lib/record.js';
import type { OutMsg } from './kafka-message.js';

// A record the broker can never accept (larger than its message size limit)
// must not fail the batch it is in, and must not vanish: it goes to the
// dead-letter topic instead, small enough to be accepted itself. Its string
// fields are cut to a readable prefix and the cut is listed, so an analyst sees
// which connection it was and what was oversized.

/** Characters kept of each string field of an oversized record. */
const KEEP_CHARS = 256;

export const REASON_TOO_LARGE = 'too_large';

function summarize(rec: ConnectionRecord): { record: Record<string, unknown>; truncated: string[] } {
  const truncated: string[] = [];
  const record: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (typeof v === 'string' && v.length > KEEP_CHARS) {
      record[k] = v.slice(0, KEEP_CHARS);
      truncated.push(`${k} (${v.length} chars)`);
    } else if (Buffer.isBuffer(v)) {
      record[k] = v.toString('hex');
    } else if (v !== null && typeof v === 'object') {
      const s = JSON.stringify(v);
      record[k] = s.length > KEEP_CHARS ? s.slice(0, KEEP_CHARS) : v;
      if (s.length > KEEP_CHARS) truncated.push(`${k} (${s.length} chars)`);
    } else {
      record[k] = v;
    }
  }
  return { record, truncated };
}

/** The dead letter for a record of `bytes` encoded bytes that exceeds `limit`. */
export function tooLargeLetter(rec: ConnectionRecord, bytes: number, limit: number, source?: string, tag?: number): OutMsg {
  const { record, truncated } = summarize(rec);
  const error = `record of ${bytes} bytes exceeds the ${limit}-byte message limit; truncated: ${truncated.join(', ') || '(none)'}`;
  const headers: Record<string, string> = { [DLQ_HEADER_REASON]: REASON_TOO_LARGE, [DLQ_HEADER_ERROR]: error, 'content-type': 'application/json' };
  if (source) headers[DLQ_HEADER_SOURCE] = source;
  return { kind: 'dlq', key: rec.host, value: Buffer.from(JSON.stringify({ reason: REASON_TOO_LARGE, error, source: source ?? null, bytes, limit, record }), 'utf8'), headers, ...(tag !== undefined ? { tag } : {}) };
}
