import { createHash, hash } from 'node:crypto';
import type { AlertDoc } from '../lib/alert.js';
import type { ConnectionDoc } from '../lib/ecs.js';
import type { InMessage } from './messages.js';

// What makes indexing idempotent and tamper-evident. The agent derives
// event.id from the connection (lib/ids.ts), so a redelivered or replayed
// record has the id of the document it already produced. The pipeline creates
// documents (op_type create) and never overwrites them; to tell a harmless
// redelivery from a rewrite it stores, in ECS event.hash, a digest of the
// record exactly as it arrived: the Avro message bytes, so neither enrichment,
// stage annotations nor event.ingested (which legitimately differ between two
// deliveries of the same record) enter it. The bytes are hashed once, as they
// are; serialising the decoded document to JSON first cost a large string per
// record and a tenth of the processor's time. SHA-256 stays: the hash is what
// a forger would have to collide.

export const CONFLICT_RULE_ID = 'connaudit-document-id-conflict';

/** event.hash of a record: SHA-256 of its message value (Avro single-object bytes), hex. */
export function recordHash(value: Buffer): string {
  return hash('sha256', value, 'hex');
}

/**
 * event.hash as pipelines before the byte hash wrote it: SHA-256 of the JSON
 * of the document as decoded. Kept for one job: documents indexed by such a
 * pipeline, replayed now, must still be told apart from rewrites, so a
 * conflict compares against this too (settled rarely, never on the hot path).
 */
export function legacyContentHash(doc: ConnectionDoc): string {
  return createHash('sha256').update(JSON.stringify(doc)).digest('hex');
}

type WithHash = { event?: { hash?: unknown } };

export function setContentHash(doc: ConnectionDoc, hash: string): void {
  (doc.event as ConnectionDoc['event'] & { hash?: string }).hash = hash;
}

export function storedHash(doc: Record<string, unknown>): string | undefined {
  const h = (doc as WithHash).event?.hash;
  return typeof h === 'string' ? h : undefined;
}

/**
 * The alert an analyst sees when a record tried to replace a stored
 * connection. Its id is derived from the id and the rejected content, so the
 * same attempt redelivered updates one alert instead of raising many.
 */
export function conflictAlert(doc: ConnectionDoc, storedHash: string | undefined, recordHash: string | undefined, source: InMessage | undefined, now: Date): AlertDoc {
  const id = createHash('sha256').update(`${CONFLICT_RULE_ID}\0${doc.event.id}\0${recordHash ?? ''}`).digest('hex').slice(0, 40);
  const at = now.toISOString();
  return {
    '@timestamp': at,
    event: { id, kind: 'alert', category: ['network'], type: ['info'], severity: 73, risk_score: 73, start: doc.event.start, end: doc.event.end, dataset: 'connaudit.alerts', module: 'connaudit', reason: `a record with event.id ${doc.event.id} and other content than the stored document was refused` },
    rule: {
      id: CONFLICT_RULE_ID,
      name: 'Connection record with an existing id and other content',
      category: 'integrity',
      type: 'integrity',
      severity: 'high',
      description: 'A record arrived with the event.id of a stored connection document but different content. The stored document was kept; the record is in connaudit.dlq (dlq-reason id_conflict). Either a producer with access to the topic tries to rewrite the audit trail, or records were corrupted in transit.',
    },
    host: { name: doc.host?.name },
    connaudit: {
      alert: {
        group_key: doc.event.id,
        count: 1,
        first_seen: at,
        last_seen: at,
        event_ids: [doc.event.id],
        values: [storedHash ?? 'unknown', recordHash ?? 'unknown'],
        investigation: 'Compare the stored document with the DLQ message (headers source-topic/partition/offset); find which client produced it (Kafka ACLs, broker request logs). Restrict producing to connaudit.connections to the agents.',
        ...(source ? { source_topic: source.topic, source_partition: source.partition, source_offset: source.offset } : {}),
      },
    },
  };
}
