import type { AlertDoc } from '../lib/alert.js';
import { DecodeError } from '../lib/avro.js';
import type { ConnectionDoc } from '../lib/ecs.js';
import { timestampMs } from '../lib/event-time.js';
import { RecordCheckError } from '../lib/record-check.js';
import { decodeConnectionDoc } from '../lib/record-decode.js';
import type { Logger } from '../lib/log.js';
import { INDEX_AGENT_HEALTH, INDEX_ALERTS, INDEX_CONNECTIONS, TOPIC_DLQ, TOPIC_REKEY } from '../lib/names.js';
import { agentHealthCodec, type AgentHealth } from '../lib/agent-health.js';
import { healthToDoc } from './agent-health.js';
import { AlertOutbox } from './alert-outbox.js';
import { bulkIndex, type BulkOp, type BulkOptions, type RawBulk } from './bulk.js';
import { conflictAlert, legacyContentHash, recordHash, setContentHash, storedHash } from './integrity.js';
import { toDlqMessage, type DlqEntry, type DlqReason } from './dlq.js';
import type { FetchDocs } from './es-sink.js';
import type { Enricher } from './enrich/enrich.js';
import type { InMessage, Producer } from './messages.js';
import { ForwardOutbox, REKEY_HEADER_BY, REKEY_HEADER_KIND, REKEY_KIND_FORWARD, rekeyMessageKey, type RekeyBuffer, type RekeyStage } from './rekey.js';
import type { StageSet } from './stage-set.js';
import type { Stage } from './stage.js';
import { sourceKey, type Watermarks } from './watermark.js';

// One batch, start to acknowledgement: decode -> ECS -> enrich -> stages ->
// bulk index -> dead letters and re-keyed copies acknowledged by Kafka. The
// caller commits the batch's offsets only after this resolves; if it throws,
// nothing is committed and Kafka redelivers the batch. At least once, made
// idempotent by the deterministic event.id: connection documents are created,
// never overwritten, and a redelivered identical record is recognised by its
// content hash (event.hash) and counted as a duplicate (integrity.ts).

export interface BatchSinks {
  bulk: RawBulk;
  producer: Producer;
  log: Logger;
  bulkOptions?: BulkOptions;
  /** For id conflicts: reads the stored documents (absent: every conflict is dead-lettered unexamined). */
  fetchDocs?: FetchDocs;
  /** event.ingested and the future-skew check; injectable so tests are deterministic. */
  now?: () => Date;
  /** Connection records whose event time is further ahead of `now` than this are dead-lettered (default 300 000). */
  maxFutureSkewMs?: number;
}

export const DEFAULT_MAX_FUTURE_SKEW_MS = 300_000;

export interface BatchStats {
  messages: number;
  docs: number;
  alerts: number;
  dlq: number;
  rejected: number;
  rekeyed: number;
  /** Redelivered records identical to the stored document: nothing written (op_type create). */
  duplicates: number;
  /** Records whose id exists with other content: dead-lettered as id_conflict, with an alert. */
  conflicts: number;
  /** Dead-lettered messages by reason (the sum is `dlq`). */
  dlqByReason: Partial<Record<DlqReason, number>>;
  /** Newest @timestamp of the batch, ms (NaN for a batch without documents). */
  maxEventTimeMs: number;
  /**
   * Records dated before the watermark when they arrived (see watermark.ts).
   * They are indexed and evaluated like any other; counted so a user sees them.
   */
  late?: number;
}

type OpTag = { kind: 'doc'; source: InMessage } | { kind: 'alert' } | { kind: 'other'; source: InMessage };

export interface Delivered {
  rejected: number;
  /** Of `rejected`, connection documents (the rest are alerts and health reports). */
  rejectedDocs: number;
  duplicates: number;
  conflicts: number;
  dlqByReason: Partial<Record<DlqReason, number>>;
}

function byReason(dlq: DlqEntry[]): Partial<Record<DlqReason, number>> {
  const out: Partial<Record<DlqReason, number>> = {};
  for (const d of dlq) out[d.reason] = (out[d.reason] ?? 0) + 1;
  return out;
}

export function alertOps(alerts: AlertDoc[]): Array<BulkOp<OpTag>> {
  return alerts.map((a) => ({ index: INDEX_ALERTS, id: a.event.id, doc: a, tag: { kind: 'alert' } }));
}

/**
 * Bulk-indexes, then dead-letters what ES refused and everything in `dlq`,
 * and settles id conflicts; resolves once all is acknowledged.
 */
export async function deliver(ops: Array<BulkOp<OpTag>>, dlq: DlqEntry[], sinks: BatchSinks): Promise<Delivered> {
  const { rejected, conflicts } = ops.length > 0 ? await bulkIndex(sinks.bulk, ops, { log: sinks.log, ...sinks.bulkOptions }) : { rejected: [], conflicts: [] };
  for (const r of rejected) {
    const error = `${r.op.index}/${r.op.id}: ${r.reason}`;
    sinks.log.error({ index: r.op.index, id: r.op.id.slice(0, 100), status: r.status, reason: r.reason, dlqReason: r.kind }, 'Elasticsearch cannot take this document; sent to the DLQ');
    dlq.push(r.op.tag.kind === 'alert' || !('source' in r.op.tag) ? { reason: r.kind, error, document: r.op.doc } : { reason: r.kind, error, source: r.op.tag.source });
  }
  const settled = await settleConflicts(conflicts, sinks);
  dlq.push(...settled.dlq);
  if (settled.alerts.length > 0) {
    const r = await bulkIndex(sinks.bulk, alertOps(settled.alerts), { log: sinks.log, ...sinks.bulkOptions });
    for (const x of r.rejected) dlq.push({ reason: x.kind, error: `${x.op.index}/${x.op.id}: ${x.reason}`, document: x.op.doc });
  }
  if (dlq.length > 0) await sinks.producer.send(TOPIC_DLQ, dlq.map(toDlqMessage));
  return { rejected: rejected.length, rejectedDocs: rejected.filter((r) => r.op.tag.kind === 'doc').length, duplicates: settled.duplicates, conflicts: settled.dlq.length, dlqByReason: byReason(dlq) };
}

/**
 * A 409 on create means the id is taken. The same content (a redelivery, a
 * replay) is a no-op; other content is someone (or something) trying to
 * rewrite the audit trail: the stored document stays, the newcomer goes to
 * the DLQ and an alert says so.
 */
async function settleConflicts(conflicts: Array<BulkOp<OpTag>>, sinks: BatchSinks): Promise<{ duplicates: number; dlq: DlqEntry[]; alerts: AlertDoc[] }> {
  const out = { duplicates: 0, dlq: [] as DlqEntry[], alerts: [] as AlertDoc[] };
  if (conflicts.length === 0) return out;
  const byIndex = new Map<string, Array<BulkOp<OpTag>>>();
  for (const c of conflicts) byIndex.set(c.index, [...(byIndex.get(c.index) ?? []), c]);
  for (const [index, ops] of byIndex) {
    const stored = sinks.fetchDocs ? await sinks.fetchDocs(index, ops.map((o) => o.id)) : new Map<string, Record<string, unknown>>();
    for (const op of ops) {
      const mine = storedHash(op.doc as Record<string, unknown>);
      const theirs = stored.has(op.id) ? storedHash(stored.get(op.id)!) : undefined;
      if (mine !== undefined && mine === theirs) {
        out.duplicates++;
        continue;
      }
      if (theirs !== undefined && 'source' in op.tag && legacyHashOf(op.tag.source) === theirs) {
        out.duplicates++;
        continue;
      }
      const error = `${op.index}/${op.id}: a document with this id exists with other content (stored event.hash ${theirs ?? 'unknown'}, this record ${mine ?? 'unknown'}); the stored document is kept`;
      sinks.log.error({ index: op.index, id: op.id, storedHash: theirs, recordHash: mine }, 'document id conflict: the record would rewrite a stored connection; sent to the DLQ and alerted');
      out.dlq.push('source' in op.tag ? { reason: 'id_conflict', error, source: op.tag.source } : { reason: 'id_conflict', error, document: op.doc });
      out.alerts.push(conflictAlert(op.doc as ConnectionDoc, theirs, mine, 'source' in op.tag ? op.tag.source : undefined, (sinks.now ?? (() => new Date()))()));
    }
  }
  return out;
}

/** The pre-byte-hash event.hash of a message's record (integrity.ts legacyContentHash), or undefined when it does not decode. */
function legacyHashOf(m: InMessage): string | undefined {
  const d = decodeToDoc(m);
  return isDlq(d) ? undefined : legacyContentHash(d);
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
  /** The input partitions' event-time watermarks: fed here, read by the idle ticker (idle-ticker.ts). */
  watermarks?: Watermarks;
}

/**
 * Feeds the record's time to the partition's watermark. A late record is not
 * refused: an analyst reads a missing document as "no connection". It is
 * indexed and every stage sees it; the rule engines match it against the
 * state they still keep (LATENESS_MS past a group's window), the SLO stage
 * judges its minute again, and a window whose alert was already raised stays
 * suppressed. It is counted (connaudit_pipeline_late_records_total).
 */
function noteTime(w: Watermarks | undefined, m: InMessage, t: number, log: Logger, late: { n: number }): void {
  if (!w || Number.isNaN(t) || !w.observe(sourceKey(m.topic, m.partition), t)) return;
  if (late.n++ === 0) log.info({ topic: m.topic, partition: m.partition, offset: m.offset, eventTime: new Date(t).toISOString(), watermark: new Date(w.current!).toISOString() }, 'records older than the watermark (indexed and evaluated; windows already reported do not fire again); counted in connaudit_pipeline_late_records_total');
}

export async function handleConnectionBatch(messages: InMessage[], deps: ConnectionBatchDeps): Promise<BatchStats> {
  const ops: Array<BulkOp<OpTag>> = [];
  const dlq: DlqEntry[] = [];
  const alerts: AlertDoc[] = [];
  let maxEventTimeMs = Number.NaN;
  const now = (deps.now ?? (() => new Date()))();
  const ingested = now.toISOString();
  const latestAccepted = now.getTime() + (deps.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS);
  const late = { n: 0 };
  for (const m of messages) {
    const d = decodeToDoc(m);
    if (isDlq(d)) {
      deps.log.warn({ topic: m.topic, partition: m.partition, offset: m.offset, reason: d.reason, err: d.error }, 'undecodable message; sent to the DLQ');
      dlq.push(d);
      continue;
    }
    // A time ahead of the pipeline's clock is a broken host clock or a forged
    // record. Its times cannot be trusted (clamping would invent one), and it
    // must not advance any stage's event-time clock, which would push every
    // genuine record after it out of the windows: it goes to the DLQ before
    // any stage sees it.
    const t = timestampMs(d);
    const future = futureTime(d, t, latestAccepted);
    if (future !== undefined) {
      const error = `record ${d.event.id}: ${future.field} ${future.value} is more than ${Math.round((latestAccepted - now.getTime()) / 1000)} s ahead of the pipeline clock (${ingested}); fix the host clock, or raise max_future_skew_s`;
      deps.log.warn({ topic: m.topic, partition: m.partition, offset: m.offset, host: d.host.name, [future.field]: future.value }, 'event time in the future; sent to the DLQ');
      dlq.push({ reason: 'future_event_time', error, source: m });
      continue;
    }
    setContentHash(d, recordHash(m.value!));
    deps.enrich(d);
    noteTime(deps.watermarks, m, t, deps.log, late);
    alerts.push(...deps.stages.process(d));
    d.event.ingested = ingested;
    if (!(t <= maxEventTimeMs)) maxEventTimeMs = t;
    ops.push({ index: INDEX_CONNECTIONS, id: d.event.id, doc: d, create: true, tag: { kind: 'doc', source: m } });
  }
  // The batch's newest time, not a watermark: the rule engines only ever use
  // the newest time they saw, and the SLO stage its own per-host clock. Event
  // time past the last batch (a quiet fleet) comes from the idle ticker.
  if (!Number.isNaN(maxEventTimeMs)) alerts.push(...deps.stages.tick(maxEventTimeMs));
  deps.stages.annotate(alerts);
  const docs = ops.length;
  const owed = deps.alertOutbox ?? new AlertOutbox();
  ops.push(...alertOps(owed.take(alerts)));
  let done: Delivered;
  try {
    done = await deliver(ops, dlq, deps);
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
  return { messages: messages.length, docs: docs - done.rejectedDocs - done.duplicates - done.conflicts, alerts: alerts.length, dlq: dlq.length, rejected: done.rejected, rekeyed, duplicates: done.duplicates, conflicts: done.conflicts, dlqByReason: done.dlqByReason, maxEventTimeMs, late: late.n };
}

/** `t`: the document's event time (its @timestamp, parsed once by the caller). */
function futureTime(d: ConnectionDoc, t: number, latestMs: number): { field: string; value: string } | undefined {
  if (t > latestMs) return { field: '@timestamp', value: d['@timestamp'] };
  // A decoded document's @timestamp is its event.end, and the record checks
  // hold start <= end: then nothing else can be ahead. Anything else is parsed.
  if (d['@timestamp'] === d.event.end && !(Date.parse(d.event.start) > t)) return undefined;
  for (const [field, value] of [['event.start', d.event.start], ['event.end', d.event.end]] as const) {
    if (Date.parse(value) > latestMs) return { field, value };
  }
  return undefined;
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
  /** The rekey partitions' watermarks (see ConnectionBatchDeps.watermarks). */
  watermarks?: Watermarks;
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
  const late = { n: 0 };
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
    const t = Date.parse(doc['@timestamp']);
    noteTime(deps.watermarks, m, t, deps.log, late);
    alerts.push(...deps.stages.process(doc, by, key));
    if (!(t <= maxEventTimeMs)) maxEventTimeMs = t;
  }
  if (!Number.isNaN(maxEventTimeMs)) alerts.push(...deps.stages.tick(maxEventTimeMs));
  outbox.collect(deps.stages.stages);
  deps.stages.annotate(alerts);
  const owed = deps.alertOutbox ?? new AlertOutbox();
  const done = await deliver(alertOps(owed.take(alerts)), dlq, deps);
  owed.delivered();
  const rekeyed = await outbox.publish(deps.producer, TOPIC_REKEY);
  return { messages: messages.length, docs: 0, alerts: alerts.length, dlq: dlq.length, rejected: done.rejected, rekeyed, duplicates: 0, conflicts: 0, dlqByReason: done.dlqByReason, maxEventTimeMs, late: late.n };
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
  const done = await deliver(ops, dlq, deps);
  return { messages: messages.length, docs: ops.length - done.rejected, alerts: 0, dlq: dlq.length, rejected: done.rejected, rekeyed: 0, duplicates: 0, conflicts: 0, dlqByReason: done.dlqByReason, maxEventTimeMs: Number.NaN };
}
