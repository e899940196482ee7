import type { InMessage, OutMessage } from './messages.js';

// Dead-letter messages keep the original key and value byte for byte, so a
// fixed pipeline can replay them, and say why in headers (names fixed here,
// read by `kafka-console-consumer --property print.headers=true` and tests).

export const DLQ_HEADERS = {
  reason: 'dlq-reason',
  error: 'dlq-error',
  sourceTopic: 'source-topic',
  sourcePartition: 'source-partition',
  sourceOffset: 'source-offset',
} as const;

/**
 * Why a message was dead-lettered: DecodeError reasons from lib/avro.ts, plus
 *   bad_record         decoded but not mappable to ECS
 *   empty              no value
 *   future_event_time  event time further ahead of the pipeline clock than max_future_skew_s
 *   es_rejected        Elasticsearch refused the document (mapping, bad value)
 *   id_too_long        event.id over 512 bytes, which Elasticsearch cannot store
 *   too_large          the document alone exceeds http.max_content_length
 *   id_conflict        a stored document has this id and other content (kept; an alert is raised)
 */
export type DlqReason = 'bad_magic' | 'unknown_schema' | 'bad_body' | 'too_short' | 'bad_record' | 'empty' | 'future_event_time' | 'es_rejected' | 'id_too_long' | 'too_large' | 'id_conflict';

export interface DlqEntry {
  reason: DlqReason;
  error: string;
  /** The consumed message, when there is one (alerts rejected by ES have none). */
  source?: InMessage;
  /** For entries without a source message: the document that was refused. */
  document?: unknown;
}

export function toDlqMessage(e: DlqEntry): OutMessage {
  const headers: Record<string, string> = { [DLQ_HEADERS.reason]: e.reason, [DLQ_HEADERS.error]: e.error.slice(0, 4000) };
  if (e.source) {
    headers[DLQ_HEADERS.sourceTopic] = e.source.topic;
    headers[DLQ_HEADERS.sourcePartition] = String(e.source.partition);
    headers[DLQ_HEADERS.sourceOffset] = e.source.offset;
    return { key: e.source.key, value: e.source.value, headers };
  }
  return { key: null, value: JSON.stringify(e.document ?? null), headers };
}
