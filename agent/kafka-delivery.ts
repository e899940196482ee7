import type { Logger } from '../lib/log.js';
import { decodeConnection } from '../lib/avro.js';
import { tooLargeLetter } from './dead-letter.js';
import { isTooLarge, type KafkaLink } from './kafka-link.js';
import { frame, unframe, type MessageKind, type OutMsg } from './kafka-message.js';
import type { Spool } from './spool.js';
import { TagFifo } from './tag-fifo.js';

// Moves accepted messages to Kafka, or to the spool while Kafka is down.
//
// Delivery: at least once, in order.
// - One send is in flight at a time (a single serial pump), so batches reach
//   their partitions in the order they were accepted.
// - A batch Kafka does not acknowledge (after lib/kafka.ts's bounded retries)
//   goes to the on-disk spool. From then on every new batch is appended behind
//   it, and a retry timer sends the spool from its head; new messages go
//   straight to Kafka again only once the spool is empty. So order survives an
//   outage, for records, agent-health reports and dead letters alike.
// - A message the broker refuses as too large never fails its batch: the batch
//   is split until the refused message is alone, and that one is replaced by a
//   small dead letter (agent/dead-letter.ts).
// - Without a spool a failed batch is counted as failed, per message.

/** 'sent' for a message of kind 'dlq' means its record was dead-lettered (it carries the record's tag). */
export type Outcome = 'sent' | 'failed' | 'spool_dropped';

export interface DeliveryCounters {
  /** Messages acknowledged by Kafka, per kind (dead letters counted under 'dlq'). */
  sent: Record<MessageKind, number>;
  /** Messages Kafka refused with no spool to hold them (or that no broker can ever accept). */
  failed: number;
  /** Messages the full spool refused (also counted by the spool itself as spool_dropped). */
  spoolDropped: number;
}

export interface DeliveryOptions {
  link: KafkaLink;
  spool?: Spool;
  batchMax: number;
  retryIntervalMs: number;
  log: Logger;
  /** Called once per message with its final fate in this process (spooled messages report when they leave the spool). */
  onOutcome?: (msg: { kind: MessageKind; tag?: number }, outcome: Outcome) => void;
}

export class Delivery {
  private queue: OutMsg[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  /** The retry timer fired: the pump may try Kafka once even though it is down. */
  private probe = false;
  private stopped = false;
  private readonly tags = new TagFifo();
  readonly c: DeliveryCounters = { sent: { record: 0, health: 0, dlq: 0 }, failed: 0, spoolDropped: 0 };

  constructor(private readonly o: DeliveryOptions) {
    const earlier = o.spool?.records ?? 0;
    if (earlier > 0) this.tags.push(new Array<undefined>(earlier).fill(undefined));
  }

  get queued(): number {
    return this.queue.length;
  }

  get busy(): Promise<void> | null {
    return this.pumping;
  }

  push(m: OutMsg): void {
    this.queue.push(m);
  }

  /** No more retry timer: what is still spooled stays on disk for the next start. */
  stopRetrying(): void {
    this.stopped = true;
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  private get spooling(): boolean {
    return this.o.spool !== undefined && (this.o.spool.records > 0 || (this.o.link.down && !this.probe));
  }

  /** Hands the queued messages on: to the spool while it is in use, else to the pump. */
  kick(): void {
    if (this.spooling) this.spill(this.queue.splice(0));
    this.ensurePump();
  }

  /** Resolves when nothing is queued or in flight (everything sent, spooled or counted). */
  async drain(): Promise<void> {
    this.kick();
    while (this.pumping) await this.pumping;
  }

  private spill(batch: OutMsg[]): void {
    if (batch.length === 0) return;
    const spool = this.o.spool!;
    const stored = spool.append(batch.map(frame));
    this.tags.push(batch.slice(0, stored).map((m) => m.tag));
    for (const m of batch.slice(stored)) this.settle(m, 'spool_dropped');
  }

  private settle(m: { kind: MessageKind; tag?: number }, outcome: Outcome): void {
    if (outcome === 'sent') this.c.sent[m.kind]++;
    else if (outcome === 'failed') this.c.failed++;
    else this.c.spoolDropped++;
    this.o.onOutcome?.(m, outcome);
  }

  private ensurePump(): void {
    if (this.pumping) return;
    const spooled = this.o.spool !== undefined && this.o.spool.records > 0;
    const work = this.queue.length > 0 || (spooled && (!this.o.link.down || this.probe));
    if (!work) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      // Messages that arrived while the last send was finishing.
      if (this.queue.length > 0) this.kick();
    });
  }

  private async pump(): Promise<void> {
    const spool = this.o.spool;
    for (;;) {
      if (spool && spool.records > 0) {
        if (this.o.link.down && !this.probe) { this.spill(this.queue.splice(0)); return; }
        this.probe = false;
        const n = spool.peek(this.o.batchMax).payloads.length;
        if (await this.drainSpool(n)) {
          if (spool.records === 0) this.o.log.info('spool drained; sending directly again');
          continue;
        }
        this.spill(this.queue.splice(0));
        return;
      }
      if (this.queue.length === 0) return;
      if (this.o.link.down && spool && !this.probe) { this.spill(this.queue.splice(0)); return; }
      this.probe = false;
      const batch = this.queue.splice(0, this.o.batchMax);
      const done = await this.deliver(batch);
      for (const m of batch.slice(0, done)) if (!this.letters.has(m)) this.settle(m, 'sent');
      const rest = batch.slice(done);
      if (rest.length === 0) continue;
      if (spool) this.spill(rest);
      else for (const m of rest) this.settle(m, 'failed');
    }
  }

  /** Sends and commits the first n spooled messages; false if Kafka is down (what was sent stays committed). */
  private async drainSpool(n: number): Promise<boolean> {
    const spool = this.o.spool!;
    const read = spool.peek(n);
    const batch = read.payloads.map(unframe);
    const tags = this.tags.shift(batch.length);
    batch.forEach((m, i) => { if (tags[i] !== undefined) m.tag = tags[i]; });
    const done = await this.deliver(batch);
    if (done === batch.length) {
      spool.commit(read);
    } else if (done > 0) {
      spool.commit(spool.peek(done));
    }
    for (const m of batch.slice(0, done)) if (!this.letters.has(m)) this.settle(m, 'sent');
    // Not sent: back to the front of the label queue, in order.
    if (done < batch.length) this.tags.unshift(batch.slice(done).map((m) => m.tag));
    return done === batch.length;
  }

  /** Messages replaced by a dead letter during this pump step (their letter reports the outcome). */
  private letters = new WeakSet<OutMsg>();

  /**
   * Sends batch in order; returns how many from the front were delivered
   * (a message replaced by its dead letter counts as delivered). Stops at the
   * first failure that is not "too large" and marks Kafka down.
   */
  private async deliver(batch: OutMsg[]): Promise<number> {
    if (batch.length === 0) return 0;
    try {
      await this.o.link.send(batch);
      if (this.o.link.markUp()) this.onUp();
      return batch.length;
    } catch (err) {
      if (isTooLarge(err)) {
        if (batch.length > 1) {
          const h = Math.ceil(batch.length / 2);
          const a = await this.deliver(batch.slice(0, h));
          return a < h ? a : a + (await this.deliver(batch.slice(h)));
        }
        return this.deadLetter(batch[0]!, err as Error);
      }
      if (await this.o.link.markDown(err as Error)) this.onDown(err as Error, batch.length);
      else this.o.log.debug({ err: (err as Error).message }, 'Kafka still unreachable');
      return 0;
    }
  }

  private async deadLetter(m: OutMsg, err: Error): Promise<number> {
    if (m.kind !== 'record') {
      this.o.log.error({ kind: m.kind, bytes: m.value.length, err: err.message }, 'the broker refused a message as too large; it is dropped and counted as failed');
      this.letters.add(m);
      this.settle(m, 'failed');
      return 1;
    }
    const rec = decodeConnection(m.value);
    const letter = tooLargeLetter(rec, m.value.length, 0, undefined, m.tag);
    const sent = await this.deliver([letter]);
    if (sent === 1) {
      this.letters.add(m);
      this.o.log.warn({ event_id: rec.event_id, bytes: m.value.length, err: err.message }, 'the broker refused a record as too large; sent to the dead-letter topic instead');
      this.settle(letter, 'sent');
    }
    return sent;
  }

  private onUp(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
    this.o.log.info({ spool_records: this.o.spool?.records ?? 0 }, 'Kafka reachable again; sending spooled messages first, in order');
  }

  private onDown(err: Error, n: number): void {
    const where = this.o.spool
      ? `the records stay in the on-disk spool and are retried every ${this.o.retryIntervalMs / 1000}s`
      : 'these records are NOT delivered';
    this.o.log.error(
      { err: err.message, records: n, spool_records: this.o.spool?.records ?? 0 },
      `Kafka did not acknowledge a batch; ${where}. Check the broker (connaudit services status), KAFKA_BROKERS and the SASL/TLS settings`,
    );
    if (!this.retryTimer && this.o.spool && !this.stopped) {
      this.retryTimer = setInterval(() => { this.probe = true; this.ensurePump(); this.probeIdle(); }, this.o.retryIntervalMs);
      this.retryTimer.unref();
    }
  }

  /** With nothing spooled, a retry just reconnects, so kafka_connected recovers too. */
  private probeIdle(): void {
    if (this.pumping || (this.o.spool?.records ?? 0) > 0 || this.queue.length > 0) return;
    this.probe = false;
    this.pumping = this.o.link.ensure()
      .then(() => { if (this.o.link.markUp()) this.onUp(); }, (err: Error) => { this.o.link.lastError = err; })
      // Messages written while the probe connected went to the spool; once Kafka
      // is up nothing else would wake the pump for them (onUp stops the timer).
      .finally(() => { this.pumping = null; this.ensurePump(); });
  }
}
