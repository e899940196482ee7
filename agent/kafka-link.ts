import type { CompressionTypes, Producer, ProducerBatch, RecordMetadata, TopicMessages } from 'kafkajs';
import type { Logger } from '../lib/log.js';
import { toMessage, type MessageKind, type OutMsg } from './kafka-message.js';

// The agent's connection to Kafka: one idempotent producer, made on demand
// and thrown away after any failed send, plus the up/down state the spool
// logic reads.
//
// Why throw the producer away: kafkajs 2.2 implements KIP-98 (InitProducerId
// + sequence numbers), which needs acks=-1 and one request in flight, and
// wants unlimited retries. An agent must stop retrying and spool instead, so
// retries are bounded (lib/kafka.ts KAFKA_RETRY) and a failed producer is
// replaced: the next one gets a fresh producer id, so stale sequence numbers
// can never wedge it. The cost is a possible duplicate of the one batch whose
// acknowledgement was lost, which the pipeline's deterministic ids absorb.

/** The subset of a kafkajs Producer the sink uses (unit tests pass a fake). */
export type ProducerLike = Pick<Producer, 'connect' | 'disconnect'> & { sendBatch(b: ProducerBatch): Promise<RecordMetadata[]> };

/** kafkajs protocol errors that no retry can fix for this batch: some message in it is too large for the broker. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

export function isTooLarge(err: unknown): boolean {
  return TOO_LARGE.has((err as { type?: string } | null)?.type ?? '');
}

export interface KafkaLinkOptions {
  newProducer: () => ProducerLike;
  topics: Record<MessageKind, string>;
  compression: CompressionTypes;
  log: Logger;
}

export class KafkaLink {
  private producer: ProducerLike | null = null;
  private connecting: Promise<ProducerLike> | null = null;
  /** The last attempt to reach Kafka failed. */
  down = false;
  lastError: Error | null = null;
  errors = 0;

  constructor(private readonly o: KafkaLinkOptions) {}

  get connected(): boolean {
    return this.producer !== null && !this.down;
  }

  /** Sends one batch (any mix of topics) as one request per broker; throws what kafkajs threw. */
  async send(batch: OutMsg[]): Promise<void> {
    const byTopic = new Map<string, TopicMessages>();
    for (const m of batch) {
      const topic = this.o.topics[m.kind];
      let t = byTopic.get(topic);
      if (!t) { t = { topic, messages: [] }; byTopic.set(topic, t); }
      t.messages.push(toMessage(m));
    }
    const p = await this.ensure();
    await p.sendBatch({ topicMessages: [...byTopic.values()], acks: -1, compression: this.o.compression });
  }

  async ensure(): Promise<ProducerLike> {
    if (this.producer) return this.producer;
    this.connecting ??= (async () => {
      const p = this.o.newProducer();
      try {
        await p.connect();
      } catch (err) {
        await p.disconnect().catch(() => undefined);
        throw err;
      }
      this.producer = p;
      return p;
    })().finally(() => { this.connecting = null; });
    return this.connecting;
  }

  async drop(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    if (p) await p.disconnect().catch((err: Error) => this.o.log.debug({ err: err.message }, 'producer disconnect failed'));
  }

  /** Returns true when Kafka was down until now. */
  markUp(): boolean {
    const was = this.down;
    this.down = false;
    return was;
  }

  /** Records the failure and replaces the producer. Returns true when this starts an outage. */
  async markDown(err: Error): Promise<boolean> {
    this.errors++;
    this.lastError = err;
    await this.drop();
    const was = this.down;
    this.down = true;
    return !was;
  }
}
