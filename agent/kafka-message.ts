import type { Message } from 'kafkajs';
import { encodeConnection } from '../lib/avro.js';
import { connectionType, type ConnectionRecord } from '../lib/record.js';

// One message on its way from the agent to Kafka, and how it is framed in the
// spool. The spool is opaque bytes; the frame says which topic a message is for,
// so agent-health records and dead letters wait in the spool in order with the
// connection records while Kafka is down.
//
// Frame layouts (both are read; only v2 is written):
//   v1 (older agents):  u16 BE key length | key | value             -> the records topic
//   v2:                 0xFFFF | u8 kind | u16 BE key length | key | value
// 0xFFFF never starts a v1 frame: a host name (the key) is at most 255 bytes.

export const CONNECTION_CONTENT_TYPE = 'application/vnd.connaudit.connection+avro';

/** Which topic a message belongs to; the sink maps kinds to topic names. */
export type MessageKind = 'record' | 'health' | 'dlq';
const KIND_CODES: Record<MessageKind, number> = { record: 0, health: 1, dlq: 2 };
const KIND_BY_CODE: MessageKind[] = ['record', 'health', 'dlq'];
const V2_MARK = 0xffff;

export interface OutMsg {
  kind: MessageKind;
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
  /**
   * Caller's label (agent --replay passes the input line), kept in memory
   * only: it is reported back with the outcome of this message.
   */
  tag?: number;
}

export function frame(m: OutMsg): Buffer {
  const key = Buffer.from(m.key, 'utf8');
  const head = Buffer.allocUnsafe(5);
  head.writeUInt16BE(V2_MARK, 0);
  head.writeUInt8(KIND_CODES[m.kind], 2);
  head.writeUInt16BE(key.length, 3);
  const extra = m.headers && m.kind !== 'record' ? Buffer.from(JSON.stringify(m.headers), 'utf8') : null;
  // Record headers are derived from the value (toMessage); the others are
  // stored as a length-prefixed JSON object after the value's length.
  if (!extra) return Buffer.concat([head, key, Buffer.from([0, 0, 0, 0]), m.value]);
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(extra.length, 0);
  return Buffer.concat([head, key, len, extra, m.value]);
}

export function unframe(b: Buffer): OutMsg {
  if (b.readUInt16BE(0) !== V2_MARK) {
    const n = b.readUInt16BE(0);
    return { kind: 'record', key: b.subarray(2, 2 + n).toString('utf8'), value: b.subarray(2 + n) };
  }
  const kind = KIND_BY_CODE[b.readUInt8(2)];
  if (!kind) throw new Error(`spool frame of unknown kind ${b.readUInt8(2)}; written by a newer agent?`);
  const n = b.readUInt16BE(3);
  const key = b.subarray(5, 5 + n).toString('utf8');
  let at = 5 + n;
  const hlen = b.readUInt32BE(at);
  at += 4;
  const headers = hlen > 0 ? JSON.parse(b.subarray(at, at + hlen).toString('utf8')) as Record<string, string> : undefined;
  return { kind, key, value: b.subarray(at + hlen), ...(headers ? { headers } : {}) };
}

export function toMessage(m: OutMsg): Message {
  if (m.kind !== 'record') return { key: m.key, value: m.value, headers: m.headers ?? {} };
  // The fingerprint is read from the message itself, so a record spooled by an
  // older agent version still carries its own writer schema's fingerprint.
  return { key: m.key, value: m.value, headers: { 'content-type': CONNECTION_CONTENT_TYPE, 'schema-fingerprint': m.value.subarray(2, 10).toString('hex') } };
}

/** Bytes Kafka counts against max.message.bytes for this message (value, key, headers), without batch overhead. */
export function messageBytes(m: OutMsg): number {
  const h = toMessage(m).headers as Record<string, string>;
  let n = m.value.length + Buffer.byteLength(m.key);
  for (const [k, v] of Object.entries(h)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

export function encodeOrExplain(rec: ConnectionRecord): Buffer {
  try {
    return encodeConnection(rec);
  } catch (err) {
    const bad: string[] = [];
    connectionType.isValid(rec, { errorHook: (path, value) => bad.push(`${path.join('.')}=${JSON.stringify(value)}`) });
    throw new Error(`record ${rec.event_id ?? '(no event_id)'} does not match schemas/avro/connection.avsc: ${bad.join(', ') || (err as Error).message}`);
  }
}
