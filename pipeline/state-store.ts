import { randomBytes } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../lib/log.js';
import type { Producer } from './messages.js';

// Stage state lives in Kafka, as Kafka Streams keeps its stores: one compacted
// changelog topic per consumer group (lib/topics.ts), one message per unit of
// state, key `<topic>:<partition>` for the state of one input partition
// (value: the snapshot and the input offset it covers). Compaction keeps the
// newest snapshot per key, so the topic stays the size of the state, and any
// instance that is given a partition finds its windows there, whichever
// instance wrote them (a rebalance, or the owner died).
//
// Reading: kafkajs has no manual partition assignment, so a reader consumer
// in a group of its own (never committing) tails the changelog from the
// beginning and keeps the newest value per key in memory, as a standby
// replica does. A restore first waits until the reader has read up to the
// changelog's end as of that moment, so it sees every snapshot written
// before the partition was handed over.

export interface Snapshot {
  /** Input offset of the last message the state has seen; the partition resumes after it. */
  offset: string | null;
  savedAt: string;
  /** Which instance wrote it (diagnostics). */
  instance: string;
  stages: Record<string, unknown>;
}

/** What the stage state needs of its store (ChangelogStore; an in-memory one in unit tests). */
export interface SnapshotLog {
  readonly topic: string;
  get(key: string): Promise<Snapshot | undefined>;
  put(key: string, snap: Omit<Snapshot, 'savedAt' | 'instance'>): Promise<number>;
}

export interface ChangelogStoreOptions {
  kafka: Kafka;
  producer: Producer;
  topic: string;
  instance: string;
  log: Logger;
  /** How long a restore waits for the reader to catch up before it fails the batch (retried). */
  catchUpTimeoutMs?: number;
}

export class ChangelogStore implements SnapshotLog {
  private readonly latest = new Map<string, Buffer>();
  /** Next offset the reader will read, per changelog partition. */
  private readonly position = new Map<number, bigint>();
  private reader?: Consumer;

  constructor(private readonly o: ChangelogStoreOptions) {}

  get topic(): string {
    return this.o.topic;
  }

  async start(): Promise<void> {
    const reader = this.o.kafka.consumer({ groupId: `${this.o.topic}.reader.${this.o.instance}.${randomBytes(4).toString('hex')}` });
    this.reader = reader;
    await reader.connect();
    await reader.subscribe({ topics: [this.o.topic], fromBeginning: true });
    await reader.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const key = m.key?.toString('utf8');
          if (key === undefined) continue;
          // A tombstone (null value) deletes the key, as compaction will.
          if (m.value === null || m.value.length === 0) this.latest.delete(key);
          else this.latest.set(key, m.value);
        }
        const next = BigInt(batch.lastOffset()) + 1n;
        if (next > (this.position.get(batch.partition) ?? 0n)) this.position.set(batch.partition, next);
      },
    });
  }

  /** Resolves once the reader has read everything written to the changelog before this call. */
  async caughtUp(): Promise<void> {
    const admin = this.o.kafka.admin();
    await admin.connect();
    let ends: Array<{ partition: number; high: string }>;
    try {
      ends = await admin.fetchTopicOffsets(this.o.topic);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const deadline = Date.now() + (this.o.catchUpTimeoutMs ?? 60_000);
    const behind = () => ends.filter((e) => BigInt(e.high) > (this.position.get(e.partition) ?? 0n));
    while (behind().length > 0) {
      if (Date.now() > deadline) {
        throw new Error(`state changelog ${this.o.topic} not read to its end within ${Math.round((this.o.catchUpTimeoutMs ?? 60_000) / 1000)} s (behind on partitions ${behind().map((e) => e.partition).join(',')}); is the broker overloaded? The batch is retried`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The newest snapshot under `key`, as of now (waits for the reader to catch up). */
  async get(key: string): Promise<Snapshot | undefined> {
    await this.caughtUp();
    const raw = this.latest.get(key);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw.toString('utf8')) as Snapshot;
    } catch (err) {
      // One bad record must not stop the partition: its windows start empty, and the log says so.
      this.o.log.error({ topic: this.o.topic, key, err: (err as Error).message }, 'stage state in the changelog is not valid JSON; this partition starts with empty windows');
      return undefined;
    }
  }

  /** Writes a snapshot; resolves once Kafka acknowledged it. Returns its size in bytes. */
  async put(key: string, snap: Omit<Snapshot, 'savedAt' | 'instance'>, nowMs = Date.now()): Promise<number> {
    const value = Buffer.from(JSON.stringify({ ...snap, savedAt: new Date(nowMs).toISOString(), instance: this.o.instance }));
    await this.o.producer.send(this.o.topic, [{ key, value, headers: {} }]);
    this.latest.set(key, value);
    return value.length;
  }

  async stop(): Promise<void> {
    await this.reader?.disconnect();
  }
}
