import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { KAFKA_RETRY } from '../lib/kafka.js';
import type { Logger } from '../lib/log.js';
import type { BatchStats } from './batch.js';
import type { InMessage } from './messages.js';

// One consumer group member and its batch loop. kafkajs hands over a fetched
// batch per partition; it is processed in chunks of maxBatch messages, and a
// chunk's offsets are resolved and committed only after handle() resolved,
// i.e. after Elasticsearch and Kafka (DLQ, rekey) acknowledged everything it
// produced. If handle() throws, nothing of that chunk is committed: kafkajs
// restarts the member and re-fetches from the last committed offset.
//
// Where reading starts on a partition without a committed offset is the
// `offsetReset` policy, earliest by default: "latest" would skip everything
// produced before this group first committed there (after a crash before the
// first commit, those records would never be read, and an analyst would take
// their absence for "no connection"). kafkajs applies the same policy when a
// committed offset has fallen out of retention.

export interface RoleOptions {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  /** Partitions without a committed offset (or with one out of retention) start here. */
  offsetReset: OffsetReset;
  maxBatch: number;
  log: Logger;
  handle(topic: string, messages: InMessage[]): Promise<BatchStats>;
  /**
   * Before a fetched batch: restores the partition's stage state if needed and
   * says where reading must resume for the state and the offsets to agree
   * (pipeline/tasks.ts). Later than the batch's first offset: the messages
   * before it are skipped (the state has seen them); earlier: the partition
   * is re-read from there.
   */
  prepare?(topic: string, partition: number, firstOffset: string): Promise<string | undefined>;
  /** After a chunk was handled and before its offsets are committed (stage-state snapshot). */
  beforeCommit?(topic: string, partition: number, lastOffset: string): Promise<void>;
  /** Messages skipped because the restored state already covers them. */
  skipped?(topic: string, partition: number, lastOffset: string): void;
  /** A chunk failed after its stages may have run on it. */
  failed?(topic: string, partition: number): void;
  /** Every (re)join of the group, with this member's new assignment. */
  assigned?(assignment: Record<string, number[]>): void;
  /** kafkajs restart policy: false -> the member stays down and onCrash fires. */
  restartOnFailure: boolean;
  onCrash(err: Error): void;
  /** Messages behind the end of the partition after each committed chunk (consumer lag). */
  onLag?(topic: string, partition: number, lag: number): void;
}

export type OffsetReset = 'earliest' | 'latest';

export interface Role {
  consumer: Consumer;
  /** Wall-clock ms of the last chunk with messages (or of joining the group). */
  lastActivity: number;
  joined: boolean;
  /** Chunks being processed now: a chunk stuck in bulk retries is not idleness. */
  busy: number;
  assigned: Record<string, number[]>;
  totals: BatchStats;
}

const toIn = (topic: string, partition: number, m: KafkaMessage): InMessage => {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[0]) : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  }
  return { topic, partition, offset: m.offset, key: m.key, value: m.value, headers };
};

export const emptyStats = (): BatchStats => ({ messages: 0, docs: 0, alerts: 0, dlq: 0, rejected: 0, rekeyed: 0, duplicates: 0, conflicts: 0, dlqByReason: {}, maxEventTimeMs: Number.NaN });

export function addStats(into: BatchStats, s: BatchStats): void {
  into.messages += s.messages;
  into.docs += s.docs;
  into.alerts += s.alerts;
  into.dlq += s.dlq;
  into.rejected += s.rejected;
  into.rekeyed += s.rekeyed;
  into.duplicates += s.duplicates;
  into.conflicts += s.conflicts;
  for (const [k, v] of Object.entries(s.dlqByReason) as Array<[keyof BatchStats['dlqByReason'], number]>) into.dlqByReason[k] = (into.dlqByReason[k] ?? 0) + v;
  if (!(s.maxEventTimeMs <= into.maxEventTimeMs)) into.maxEventTimeMs = s.maxEventTimeMs;
}

export async function startRole(o: RoleOptions): Promise<Role> {
  const consumer = o.kafka.consumer({
    groupId: o.groupId,
    retry: { ...KAFKA_RETRY, restartOnFailure: async (err) => { o.log.error({ group: o.groupId, err: err.message }, o.restartOnFailure ? 'consumer failed; restarting from the last committed offset' : 'consumer failed'); return o.restartOnFailure; } },
  });
  const role: Role = { consumer, lastActivity: Date.now(), joined: false, busy: 0, assigned: {}, totals: emptyStats() };
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    role.joined = true;
    role.lastActivity = Date.now();
    role.assigned = e.payload.memberAssignment;
    o.assigned?.(e.payload.memberAssignment);
    o.log.info({ group: o.groupId, assigned: e.payload.memberAssignment }, 'joined consumer group');
  });
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) o.onCrash(e.payload.error);
  });
  // Consecutive failed chunks (backoff), and whether a failure stopped this member for good.
  let failures = 0;
  let halted = false;
  await consumer.connect();
  await consumer.subscribe({ topics: o.topics, fromBeginning: o.offsetReset === 'earliest' });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      const commit = (last: string) =>
        // Explicit offsets: with autoCommit off and no interval/threshold,
        // kafkajs's argument-less commitOffsetsIfNecessary() never commits.
        // Kafka's committed offset is the NEXT message to read.
        commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
      let messages = batch.messages;
      if (o.prepare && messages.length > 0) {
        let resume: string | undefined;
        try {
          resume = await o.prepare(batch.topic, batch.partition, messages[0]!.offset);
        } catch (err) {
          o.log.error({ group: o.groupId, topic: batch.topic, partition: batch.partition, err: (err as Error).message }, 'cannot restore the partition state; retrying the batch in 5 s');
          consumer.seek({ topic: batch.topic, partition: batch.partition, offset: messages[0]!.offset });
          await new Promise((r) => setTimeout(r, 5000));
          return;
        }
        if (resume !== undefined && BigInt(resume) < BigInt(messages[0]!.offset)) {
          o.log.info({ group: o.groupId, topic: batch.topic, partition: batch.partition, from: resume, committed: messages[0]!.offset }, 'the restored state is older than the committed offset; re-reading the partition from the state\'s offset');
          consumer.seek({ topic: batch.topic, partition: batch.partition, offset: resume });
          return;
        }
        if (resume !== undefined) {
          const skip = messages.filter((m) => BigInt(m.offset) < BigInt(resume));
          messages = messages.slice(skip.length);
          if (skip.length > 0) {
            const last = skip[skip.length - 1]!.offset;
            o.skipped?.(batch.topic, batch.partition, last);
            resolveOffset(last);
            await commit(last);
            o.log.info({ group: o.groupId, topic: batch.topic, partition: batch.partition, skipped: skip.length, through: last }, 'skipped messages the restored state already covers');
          }
        }
      }
      for (let i = 0; i < messages.length; i += o.maxBatch) {
        if (!isRunning() || isStale()) break;
        const chunk = messages.slice(i, i + o.maxBatch);
        // A slow Elasticsearch must not make the broker think we died and rebalance mid-chunk.
        const beat = setInterval(() => { heartbeat().catch(() => undefined); }, 3000);
        let stats: BatchStats;
        role.busy++;
        try {
          if (halted) return;
          stats = await o.handle(batch.topic, chunk.map((m) => toIn(batch.topic, batch.partition, m)));
          // The state must be on record before the offsets it covers are committed.
          await o.beforeCommit?.(batch.topic, batch.partition, chunk[chunk.length - 1]!.offset);
          failures = 0;
        } catch (err) {
          // Not thrown to kafkajs: it would re-run the chunk under the client's
          // retry policy, on top of bulkIndex's own attempts (6 × 8 bulk
          // requests for one batch). Nothing of the chunk is committed; the
          // partition is re-read from its first message after a backoff, so
          // no later message of the partition is handled (or committed) first.
          failures++;
          o.failed?.(batch.topic, batch.partition);
          const delay = Math.min(30_000, 1000 * 2 ** (failures - 1));
          const offset = chunk[0]!.offset;
          o.log.error({ group: o.groupId, topic: batch.topic, partition: batch.partition, offset, failures, err: (err as Error).message }, o.restartOnFailure ? `batch failed; nothing committed, re-reading from offset ${offset} in ${delay / 1000} s` : 'batch failed; nothing committed, stopping');
          consumer.seek({ topic: batch.topic, partition: batch.partition, offset });
          if (!o.restartOnFailure) {
            halted = true;
            o.onCrash(err as Error);
          } else {
            await new Promise((r) => setTimeout(r, delay));
          }
          return;
        } finally {
          clearInterval(beat);
          role.busy--;
          role.lastActivity = Date.now();
        }
        const last = chunk[chunk.length - 1]!.offset;
        resolveOffset(last);
        await commit(last);
        addStats(role.totals, stats);
        // highWatermark is the offset the next produced message will get.
        o.onLag?.(batch.topic, batch.partition, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n)));
        role.lastActivity = Date.now();
        o.log.debug({ group: o.groupId, topic: batch.topic, partition: batch.partition, lastOffset: last, ...stats }, 'batch committed');
        await heartbeat();
      }
    },
  });
  return role;
}
