import type { AlertDoc } from '../lib/alert.js';
import { DecodeError } from '../lib/avro.js';
import type { ConnectionDoc } from '../lib/ecs.js';
import { RecordCheckError } from '../lib/record-check.js';
import { decodeConnectionDoc } from '../lib/record-decode.js';
import type { Logger } from '../lib/log.js';
import { INDEX_AGENT_HEALTH, INDEX_ALERTS, INDEX_CONNECTIONS, TOPIC_DLQ, TOPIC_REKEY } from '../lib/names.js';
import { agentHealthCodec, type AgentHealth } from '../lib/agent-health.js';
import { healthToDoc } from './agent-health.js';
import { AlertOutbox } from './alert-outbox.js';
import { bulkIndex, type BulkOp, type BulkOptions, type RawBulk } from './bulk.js';
import { toDlqMessage, type DlqEntry } from './dlq.js';
import type { Enricher } from './enrich/enrich.js';
import type { InMessage, Producer } from './messages.js';
import { ForwardOutbox, REKEY_HEADER_BY, REKEY_HEADER_KIND, REKEY_KIND_FORWARD, rekeyMessageKey, type RekeyBuffer, type RekeyStage } from './rekey.js';
import type { StageSet } from './stage-set.js';
import type { Stage } from './stage.js';

// One batch, start to acknowledgement: decode -> ECS -> enrich -> stages ->
// bulk index -> dead letters and re-keyed copies acknowledged by Kafka. The
// caller commits the batch's offsets only after this resolves; if it throws,
// nothing is committed and Kafka redelivers the batch (ids are deterministic,
// so the redelivery overwrites instead of duplicating).

export interface BatchSinks {
  bulk: RawBulk;
  producer: Producer;
  log: Logger;
  bulkOptions?: BulkOptions;
  /** event.ingested; injectable so tests are deterministic. */
  now?: () => Date;
}

export interface BatchStats {
  messages: number;
  docs: number;
  alerts: number;
  dlq: number;
  rejected: number;
  rekeyed: number;
  /** Newest @timestamp of the batch, ms (NaN for a batch without documents). */
  maxEventTimeMs: number;
}

type OpTag = { kind: 'doc'; source: InMessage } | { kind: 'alert' } | { kind: 'other'; source: InMessage };

export function alertOps(alerts: AlertDoc[]): Array<BulkOp<OpTag>> {
  return alerts.map((a) => ({ index: INDEX_ALERTS, id: a.event.id, doc: a, tag: { kind: 'alert' } }));
}

/** Bulk-indexes, then dead-letters what ES refused and everything in `dlq`; resolves once all is acknowledged. */
export async function deliver(ops: Array<BulkOp<OpTag>>, dlq: DlqEntry[], sinks: BatchSinks): Promise<{ rejected: number }> {
  const { rejected } = ops.length > 0 ? await bulkIndex(sinks.bulk, ops, { log: sinks.log, ...sinks.bulkOptions }) : { rejected: [] };
  for (const r of rejected) {
    const error = `${r.op.index}/${r.op.id}: ${r.reason}`;
    sinks.log.error({ index: r.op.index, id: r.op.id, status: r.status, reason: r.reason }, 'Elasticsearch rejected a document; sent to the DLQ');
    dlq.push(r.op.tag.kind === 'alert' || !('source' in r.op.tag) ? { reason: 'es_rejected', error, document: r.op.doc } : { reason: 'es_rejected', error, source: r.op.tag.source });
  }
  if (dlq.length > 0) await sinks.producer.send(TOPIC_DLQ, dlq.map(toDlqMessage));
  return { rejected: rejected.length };
}

export function decodeToDoc(m: InMessage): ConnectionDoc | DlqEntry {
  if (!m.value || m.value.length === 0) return { reason: 'empty', error: 'message has no value', source: m };
  try {
    return decodeConnectionDoc(m.value);
  } catch (err) {
    if (err instanceof DecodeError) return { reason: err.reason, error: err.message, source: m };
    if (err instanceof RecordCheckError) return { reason: 'bad_record', error: err.message, source: m };
    return { reason: 'bad_record', error: (err as Error).message, source: m };
  }
}

const isDlq = (x: ConnectionDoc | DlqEntry): x is DlqEntry => 'reason' in x && !('event' in x);

export interface ConnectionBatchDeps extends BatchSinks {
  enrich: Enricher;
  stages: StageSet<Stage, []>;
  /** Present when cross-host stages exist: the primary stages were given this buffer as their Rekeyer. */
  rekey?: RekeyBuffer;
  /** Alerts of failed attempts, owed to Elasticsearch (one per consumer; see alert-outbox.ts). */
  alertOutbox?: AlertOutbox;
}

export async function handleConnectionBatch(messages: InMessage[], deps: ConnectionBatchDeps): Promise<BatchStats> {
  const ops: Array<BulkOp<OpTag>> = [];
  const dlq: DlqEntry[] = [];
  const alerts: AlertDoc[] = [];
  let maxEventTimeMs = Number.NaN;
  const ingested = (deps.now ?? (() => new Date()))().toISOString();
  for (const m of messages) {
    const d = decodeToDoc(m);
    if (isDlq(d)) {
      deps.log.warn({ topic: m.topic, partition: m.partition, offset: m.offset, reason: d.reason, err: d.error }, 'undecodable message; sent to the DLQ');
      dlq.push(d);
      continue;
    }
    deps.enrich(d);
    alerts.push(...deps.stages.process(d));
    d.event.ingested = ingested;
    const t = Date.parse(d['@timestamp']);
    if (!(t <= maxEventTimeMs)) maxEventTimeMs = t;
    ops.push({ index: INDEX_CONNECTIONS, id: d.event.id, doc: d, tag: { kind: 'doc', source: m } });
  }
  if (!Number.isNaN(maxEventTimeMs)) alerts.push(...deps.stages.tick(maxEventTimeMs));
  deps.stages.annotate(alerts);
  const docs = ops.length;
  const owed = deps.alertOutbox ?? new AlertOutbox();
  ops.push(...alertOps(owed.take(alerts)));
  let rejected: number;
  try {
    ({ rejected } = await deliver(ops, dlq, deps));
  } catch (err) {
    // The batch will be redelivered and re-run through the stages, which ask
    // again for re-keys; its alerts wait in the outbox for the next attempt.
    deps.rekey?.drain();
    throw err;
  }
  owed.delivered();
  let rekeyed = 0;
  if (deps.rekey && deps.rekey.size > 0) {
    const reqs = deps.rekey.drain();
    await deps.producer.send(TOPIC_REKEY, reqs.map((r) => ({ key: rekeyMessageKey(r.by, r.key), value: JSON.stringify(r.doc), headers: { [REKEY_HEADER_BY]: r.by } })));
    rekeyed = reqs.length;
  }
  return { messages: messages.length, docs: docs - rejected, alerts: alerts.length, dlq: dlq.length, rejected, rekeyed, maxEventTimeMs };
}

export interface RekeyBatchDeps extends BatchSinks {
  stages: StageSet<RekeyStage, [string, string]>;
  /**
   * Forwards the cross-host stages raised, kept until Kafka acknowledged them.
   * The rekey consumer passes one outbox to all its batches (pipeline/rekey.ts
   * ForwardOutbox says why); without one, forwards of a failed batch are lost.
   */
  outbox?: ForwardOutbox;
  /** Alerts of failed attempts, owed to Elasticsearch (see alert-outbox.ts). */
  alertOutbox?: AlertOutbox;
}

/** A forward goes to every stage that takes forwards; one stage failing on it is logged and skipped, as for documents. */
function forwardToStages(deps: RekeyBatchDeps, m: InMessage, body: unknown, by: string, key: string): AlertDoc[] {
  const out: AlertDoc[] = [];
  for (const s of deps.stages.stages) {
    if (!s.processForward) continue;
    try {
      out.push(...s.processForward(body, by, key));
    } catch (err) {
      deps.stages.errors++;
      deps.log.error({ stage: s.name, topic: m.topic, partition: m.partition, offset: m.offset, key, err: (err as Error).message }, 'stage failed on a forward; skipped for this forward');
    }
  }
  return out;
}

/**
 * The cross-host half: re-keyed docs and forwards through the cross-host
 * stages; only alerts are indexed. The forwards the stages raise are published
 * back to TOPIC_REKEY before the batch counts as done (so before its commit).
 */
export async function handleRekeyBatch(messages: InMessage[], deps: RekeyBatchDeps): Promise<BatchStats> {
  const dlq: DlqEntry[] = [];
  const alerts: AlertDoc[] = [];
  const outbox = deps.outbox ?? new ForwardOutbox();
  let maxEventTimeMs = Number.NaN;
  for (const m of messages) {
    const by = m.headers?.[REKEY_HEADER_BY];
    const forward = m.headers?.[REKEY_HEADER_KIND] === REKEY_KIND_FORWARD;
    const keyText = m.key?.toString('utf8') ?? '';
    let parsed: unknown;
    try {
      if (!by || !keyText.startsWith(`${by}=`)) throw new Error(`missing ${REKEY_HEADER_BY} header or key not "${by ?? '<by>'}=<value>"`);
      parsed = JSON.parse(m.value?.toString('utf8') ?? '');
      if (!forward && typeof (parsed as ConnectionDoc | null)?.event?.id !== 'string') throw new Error('value is not a ConnectionDoc (no event.id)');
    } catch (err) {
      dlq.push({ reason: 'bad_record', error: `rekey ${forward ? 'forward' : 'message'}: ${(err as Error).message}`, source: m });
      continue;
    }
    const key = keyText.slice(by.length + 1);
    if (forward) {
      alerts.push(...forwardToStages(deps, m, parsed, by, key));
      continue;
    }
    const doc = parsed as ConnectionDoc;
    alerts.push(...deps.stages.process(doc, by, key));
    const t = Date.parse(doc['@timestamp']);
    if (!(t <= maxEventTimeMs)) maxEventTimeMs = t;
  }
  if (!Number.isNaN(maxEventTimeMs)) alerts.push(...deps.stages.tick(maxEventTimeMs));
  outbox.collect(deps.stages.stages);
  deps.stages.annotate(alerts);
  const owed = deps.alertOutbox ?? new AlertOutbox();
  const { rejected } = await deliver(alertOps(owed.take(alerts)), dlq, deps);
  owed.delivered();
  const rekeyed = await outbox.publish(deps.producer, TOPIC_REKEY);
  return { messages: messages.length, docs: 0, alerts: alerts.length, dlq: dlq.length, rejected, rekeyed, maxEventTimeMs };
}

/** Agent self-reports: decode with their own schema and index; undecodable ones are dead-lettered. */
export async function handleAgentHealthBatch(messages: InMessage[], deps: BatchSinks): Promise<BatchStats> {
  const ops: Array<BulkOp<OpTag>> = [];
  const dlq: DlqEntry[] = [];
  const ingested = (deps.now ?? (() => new Date()))().toISOString();
  for (const m of messages) {
    try {
      if (!m.value || m.value.length === 0) throw new DecodeError('message has no value', 'too_short');
      const doc = healthToDoc(agentHealthCodec().decode(m.value) as AgentHealth);
      doc.event.ingested = ingested;
      ops.push({ index: INDEX_AGENT_HEALTH, id: doc.event.id, doc, tag: { kind: 'other', source: m } });
    } catch (err) {
      dlq.push({ reason: err instanceof DecodeError ? err.reason : 'bad_record', error: (err as Error).message, source: m });
    }
  }
  const { rejected } = await deliver(ops, dlq, deps);
  return { messages: messages.length, docs: ops.length - rejected, alerts: 0, dlq: dlq.length, rejected, rekeyed: 0, maxEventTimeMs: Number.NaN };
}
