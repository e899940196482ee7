import { hostname } from 'node:os';
import { compressionType, type CompressionName } from '../lib/kafka-codecs.js';
import { createKafka, kafkaConfig, PRODUCER_SETTINGS, WireMeter } from '../lib/kafka.js';
import { createLogger, type Logger } from '../lib/log.js';
import { TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_DLQ } from '../lib/names.js';
import type { ConnectionRecord } from '../lib/record.js';
import { tooLargeLetter } from './dead-letter.js';
import { Delivery, type Outcome } from './kafka-delivery.js';
import { KafkaLink, type ProducerLike } from './kafka-link.js';
import { encodeOrExplain, messageBytes, type MessageKind, type OutMsg } from './kafka-message.js';
import { HealthReporter, agentVersion, type HealthMessage, type TransportCounters } from './health.js';
import type { HealthCounters, RecordSink } from './sink.js';
import type { Spool } from './spool.js';

// The agent's transport: connection records -> Avro single-object messages ->
// Kafka topic connaudit.connections, keyed by host. This file is the facade
// (accept, batch, report); agent/kafka-delivery.ts holds the delivery and
// spool logic, agent/kafka-link.ts the producer, agent/kafka-message.ts the
// message and spool frame formats.

export { CONNECTION_CONTENT_TYPE } from './kafka-message.js';
export type { ProducerLike } from './kafka-link.js';

/**
 * The broker's default max.message.bytes is 1048588 for a whole (compressed)
 * batch; a single record above ~1 MB can never be accepted, so it goes to the
 * dead-letter topic at once instead of failing its batch.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;

export interface KafkaSinkOptions {
  /** Where to spool while Kafka is unreachable. Without one, failed sends make flush() reject. */
  spool?: Spool;
  /** Environment for lib/kafka.ts (KAFKA_BROKERS, SASL, TLS); default process.env. */
  env?: NodeJS.ProcessEnv;
  clientId?: string;
  topic?: string;
  /** Batch compression (lib/kafka-codecs.ts); default zstd. */
  compression?: CompressionName;
  /** A record whose message is larger than this goes to the dead-letter topic. */
  maxMessageBytes?: number;
  /** Wait this long for more records before sending a batch. */
  lingerMs?: number;
  /**
   * Send at most this many records per request. One request is in flight at
   * a time (idempotence), so throughput is about batchMax per round trip:
   * 2000 gave 10.8k records/s against 6.7k with 500, at the same bytes per
   * record (about 150 KB per zstd batch, far below the broker's 1 MB).
   */
  batchMax?: number;
  /** write() waits (backpressure) while this many records are buffered in memory. */
  maxBuffered?: number;
  /** While Kafka is down, try again this often. */
  retryIntervalMs?: number;
  /**
   * Agent-health records; false for a sink that is not an agent run.
   * Each reportHealth() call sends one (agent/run.ts calls it every
   * health_interval_s, so intervalS should be that value). timer: true makes
   * the sink report on its own every intervalS instead, for callers without a tick.
   */
  health?: false | { intervalS?: number; host?: string; agentVersion?: string; timer?: boolean; nodeGroup?: string | null; profile?: string | null };
  /** Each message's fate, with the tag given to write() (agent --replay counts lines with it). */
  onOutcome?: (msg: { kind: MessageKind; tag?: number }, outcome: Outcome) => void;
  log?: Logger;
  /** Tests only: replaces the kafkajs producer. */
  producerFactory?: () => ProducerLike;
}

export interface SinkCounters {
  accepted: number;
  produced: number;
  /** Records sent to the dead-letter topic instead (too large for the broker). */
  deadLettered: number;
  kafkaErrors: number;
  /** Messages Kafka did not take and no spool could hold. */
  failed: number;
  kafkaConnected: boolean;
  /** Bytes written to broker sockets (requests, compressed batches, protocol overhead). */
  wireBytes: number;
}

export class KafkaSink implements RecordSink {
  private readonly spool: Spool | undefined;
  private readonly lingerMs: number;
  private readonly batchMax: number;
  private readonly maxBuffered: number;
  private readonly maxMessageBytes: number;
  private readonly log: Logger;
  private readonly link: KafkaLink;
  private readonly delivery: Delivery;
  private readonly meter = new WireMeter();
  private readonly health: HealthReporter | null;

  private lingerTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private closing = false;
  private sensor: HealthCounters = { ringbufDropsPerCpu: [], recordsTotal: 0, sampledOut: 0, filtered: 0 };
  private lastReported = '';
  private healthSends: Promise<void> = Promise.resolve();
  private failedReported = 0;
  private accepted = 0;

  constructor(opts: KafkaSinkOptions = {}) {
    this.spool = opts.spool;
    this.lingerMs = opts.lingerMs ?? 5;
    this.batchMax = opts.batchMax ?? 2_000;
    this.maxBuffered = opts.maxBuffered ?? 20_000;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.log = opts.log ?? createLogger('agent.kafka');
    const clientId = opts.clientId ?? `connaudit-agent-${hostname()}`;
    // Bad settings (unknown SASL mechanism, unreadable CA) fail here, at start,
    // not later as an "outage" that would park every record in the spool.
    if (!opts.producerFactory) kafkaConfig(clientId, opts.env);
    const newProducer = opts.producerFactory
      ?? (() => createKafka({ clientId, env: opts.env, log: this.log, meter: this.meter }).producer({ ...PRODUCER_SETTINGS }));
    this.link = new KafkaLink({
      newProducer,
      topics: { record: opts.topic ?? TOPIC_CONNECTIONS, health: TOPIC_AGENT_HEALTH, dlq: TOPIC_DLQ },
      compression: compressionType(opts.compression ?? 'zstd'),
      log: this.log,
    });
    this.delivery = new Delivery({ link: this.link, spool: this.spool, batchMax: this.batchMax, retryIntervalMs: opts.retryIntervalMs ?? 2_000, log: this.log, onOutcome: opts.onOutcome });
    if (opts.health === false) {
      this.health = null;
    } else {
      this.health = new HealthReporter({
        host: opts.health?.host ?? hostname(),
        agentVersion: opts.health?.agentVersion ?? agentVersion(),
        intervalS: opts.health?.intervalS,
        nodeGroup: opts.health?.nodeGroup,
        profile: opts.health?.profile,
        sensor: () => this.sensor,
        transport: () => this.transportCounters(),
        publish: async (m) => this.publishHealth(m),
        log: this.log,
      });
      if (opts.health?.timer) this.health.start();
    }
  }

  counters(): SinkCounters {
    return {
      accepted: this.accepted,
      produced: this.delivery.c.sent.record,
      deadLettered: this.delivery.c.sent.dlq,
      kafkaErrors: this.link.errors,
      failed: this.delivery.c.failed,
      kafkaConnected: this.link.connected,
      wireBytes: this.meter.bytesSent(),
    };
  }

  transportCounters(): TransportCounters {
    const s = this.spool?.stats();
    const produced = this.delivery.c.sent.record;
    const wire = this.meter.bytesSent();
    return {
      recordsProduced: produced,
      spoolRecords: s?.records ?? 0,
      spoolBytes: s?.bytes ?? 0,
      spoolDropped: s?.dropped ?? 0,
      kafkaErrors: this.link.errors,
      kafkaConnected: this.link.connected,
      deadLettered: this.delivery.c.sent.dlq,
      wireBytes: wire,
    };
  }

  /**
   * Accepts the record into the current batch (or the spool while Kafka is
   * down) and resolves at once, so a reader loop can await every write. It
   * waits only when maxBuffered records are already in memory. Use flush() to
   * wait until Kafka acknowledged (or the spool holds) everything accepted.
   * tag is reported back through onOutcome (replay passes the line number).
   */
  async write(rec: ConnectionRecord, tag?: number, source?: string): Promise<void> {
    if (this.closing || this.closed) throw new Error('KafkaSink.write after close()');
    const msg: OutMsg = { kind: 'record', key: rec.host, value: encodeOrExplain(rec), ...(tag !== undefined ? { tag } : {}) };
    const size = messageBytes(msg);
    this.accepted++;
    if (size > this.maxMessageBytes) {
      this.log.warn({ event_id: rec.event_id, bytes: size, limit: this.maxMessageBytes, source }, 'record too large for Kafka; sending it to the dead-letter topic instead');
      this.delivery.push(tooLargeLetter(rec, size, this.maxMessageBytes, source, tag));
    } else {
      this.delivery.push(msg);
    }
    this.schedule();
    while (this.delivery.queued >= this.maxBuffered) {
      this.kick();
      await (this.delivery.busy ?? new Promise<void>((r) => setImmediate(r)));
    }
  }

  private schedule(): void {
    if (this.delivery.queued >= this.batchMax) this.kick();
    else this.lingerTimer ??= setTimeout(() => { this.lingerTimer = null; this.kick(); }, this.lingerMs);
  }

  private kick(): void {
    if (this.lingerTimer) { clearTimeout(this.lingerTimer); this.lingerTimer = null; }
    this.delivery.kick();
  }

  /**
   * Queues one AgentHealth record (and logs it) with the sensor's cumulative
   * counters and ours. It travels with the records: spooled while Kafka is
   * down, sent in order when it is back. flush() and close() wait for it.
   */
  async reportHealth(h: HealthCounters): Promise<void> {
    this.sensor = h;
    if (!this.health) return;
    this.healthSends = this.healthSends.then(() => this.report()).catch((err: Error) => {
      // e.g. a counter the schema cannot hold; the next report starts afresh.
      this.log.error({ err: err.message }, 'agent health record could not be built; check the counters passed to reportHealth');
    });
  }

  private async report(): Promise<void> {
    this.lastReported = this.countersKey();
    await this.health!.report();
  }

  private countersKey(): string {
    return JSON.stringify([this.sensor, { ...this.transportCounters(), wireBytes: 0 }]);
  }

  private publishHealth(m: HealthMessage): void {
    if (this.closed) throw new Error('sink closed');
    this.delivery.push({ kind: 'health', key: m.key, value: m.value, headers: m.headers });
    this.schedule();
  }

  /**
   * Resolves when every accepted record is acknowledged by Kafka or stored in
   * the spool. Rejects if Kafka refused any message since the last flush and
   * no spool could take it (a full spool is counted as spool_dropped instead).
   */
  async flush(): Promise<void> {
    await this.healthSends;
    if (this.lingerTimer) { clearTimeout(this.lingerTimer); this.lingerTimer = null; }
    await this.delivery.drain();
    const unreported = this.delivery.c.failed - this.failedReported;
    if (unreported > 0) {
      this.failedReported = this.delivery.c.failed;
      throw new Error(`Kafka did not acknowledge ${unreported} record(s): ${this.link.lastError?.message ?? 'unknown error'}`);
    }
  }

  /** Final health report, flush, disconnect. Records left in the spool are sent by the next run. */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.health?.stop();
    // No more retries: if Kafka is down now, the spool keeps the records for the next start.
    this.delivery.stopRetrying();
    let flushError: unknown = null;
    try { await this.flush(); } catch (err) { flushError = err; }
    // The last reportHealth() usually comes before the final flush; report
    // again only if the flush changed something, so shutdown adds one record at most.
    if (this.health && this.countersKey() !== this.lastReported) {
      await this.report();
      try { await this.flush(); } catch (err) { flushError ??= err; }
    }
    this.closed = true;
    await this.link.drop();
    this.spool?.close();
    const left = this.spool?.records ?? 0;
    if (left > 0) this.log.warn({ spool_records: left }, 'Kafka unreachable at shutdown: records stay in the spool and are sent first on the next start');
    if (flushError) throw flushError;
  }

  /** Messages waiting in the on-disk spool (replay waits for this to reach 0). */
  get spooled(): number {
    return this.spool?.records ?? 0;
  }
}
