import { hostname } from 'node:os';
import kafkajs from 'kafkajs';
import type { KafkaConfig, LogEntry, Message, Producer, ProducerRecord, RecordMetadata } from 'kafkajs';
import { encodeConnection } from '../lib/avro.js';
import { kafkaConfig } from '../lib/connect.js';
import { createLogger, type Logger } from '../lib/log.js';
import { TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS } from '../lib/names.js';
import { connectionType, type ConnectionRecord } from '../lib/record.js';
import { HealthReporter, agentVersion, type HealthMessage, type TransportCounters } from './health.js';
import type { HealthCounters, RecordSink } from './sink.js';
import type { Spool } from './spool.js';

// The agent's transport: connection records -> Avro single-object messages ->
// Kafka topic connaudit.connections, keyed by host (issue 2, "Encode and send").
//
// Delivery: at least once, in order per host.
// - One send is in flight at a time (a single serial pump), so batches reach
//   the partition in the order write() accepted them.
// - A batch Kafka does not acknowledge (after kafkajs's retries) goes to the
//   on-disk spool. From then on every new batch is appended behind it, and a
//   retry timer replays the spool from its head; new records go straight to
//   Kafka again only once the spool is empty. So order survives an outage.
// - Without a spool (agent --replay) a failed batch is counted and flush()
//   rejects, naming how many records Kafka did not take.
//
// Idempotent producer: kafkajs 2.2 implements KIP-98 (InitProducerId +
// sequence numbers), which Kafka 3.9 supports; it needs acks=-1 and one request
// in flight. kafkajs wants unlimited retries for it, but an agent must stop
// retrying and spool, so retries are bounded and after any failed send the
// producer is thrown away: the next one gets a fresh producer id, so stale
// sequence numbers can never wedge it. The cost is a possible duplicate of the
// one batch whose acknowledgement was lost, which the pipeline's deterministic
// document ids absorb.

const { Kafka, logLevel, Partitioners } = kafkajs;

export const CONNECTION_CONTENT_TYPE = 'application/vnd.connaudit.connection+avro';

/** The subset of a kafkajs Producer the sink uses (unit tests pass a fake). */
export type ProducerLike = Pick<Producer, 'connect' | 'disconnect'> & { send(r: ProducerRecord): Promise<RecordMetadata[]> };

export interface KafkaSinkOptions {
  /** Where to spool while Kafka is unreachable. Without one, failed sends make flush() reject. */
  spool?: Spool;
  /** Environment for lib/connect.ts (KAFKA_BROKERS, SASL, TLS); default process.env. */
  env?: NodeJS.ProcessEnv;
  clientId?: string;
  topic?: string;
  /** Wait this long for more records before sending a batch. */
  lingerMs?: number;
  /** Send at most this many records per request. */
  batchMax?: number;
  /** write() waits (backpressure) while this many records are buffered in memory. */
  maxBuffered?: number;
  /** While Kafka is down, try again this often. */
  retryIntervalMs?: number;
  /**
   * Agent-health records; false for a sink that is not an agent run (replay).
   * Each reportHealth() call sends one (agent/run.ts calls it every
   * health_interval_s, so intervalS should be that value). timer: true makes
   * the sink report on its own every intervalS instead, for callers without a tick.
   */
  health?: false | { intervalS?: number; host?: string; agentVersion?: string; timer?: boolean; nodeGroup?: string | null; profile?: string | null };
  log?: Logger;
  /** Tests only: replaces the kafkajs producer. */
  producerFactory?: () => ProducerLike;
}

export interface SinkCounters {
  accepted: number;
  produced: number;
  kafkaErrors: number;
  /** Records Kafka did not take and no spool could hold (only without a spool). */
  failed: number;
  kafkaConnected: boolean;
}

interface OutMsg { key: string; value: Buffer }

/**
 * During an outage kafkajs logs every refused connection and every backoff
 * step (about 80 lines for a 6 s outage in spool-broker-restart.test.ts). The
 * sink logs the outage once, with the cause, so these namespaces go to debug.
 */
const OUTAGE_NAMESPACES = new Set(['Connection', 'BrokerPool']);

/** kafkajs log lines go to pino; kafkajs ERRORs become warnings because the sink reports the outcome itself. */
export function kafkaLogCreator(log: Logger): NonNullable<KafkaConfig['logCreator']> {
  return () => ({ namespace, level, log: entry }: LogEntry) => {
    const { message, ...rest } = entry;
    const fields = { kafkajs: namespace, ...rest };
    // Expected: retries are bounded on purpose (see the header comment).
    if (message.includes('Limiting retries for the idempotent producer')) return log.debug(fields, message);
    if (level <= logLevel.WARN && !OUTAGE_NAMESPACES.has(namespace)) log.warn(fields, message);
    else log.debug(fields, message);
  };
}

function frame(m: OutMsg): Buffer {
  const key = Buffer.from(m.key, 'utf8');
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(key.length, 0);
  return Buffer.concat([head, key, m.value]);
}

function unframe(b: Buffer): OutMsg {
  const n = b.readUInt16BE(0);
  return { key: b.subarray(2, 2 + n).toString('utf8'), value: b.subarray(2 + n) };
}

function toMessage(m: OutMsg): Message {
  // The fingerprint is read from the message itself, so a record spooled by an
  // older agent version still carries its own writer schema's fingerprint.
  return { key: m.key, value: m.value, headers: { 'content-type': CONNECTION_CONTENT_TYPE, 'schema-fingerprint': m.value.subarray(2, 10).toString('hex') } };
}

function encodeOrExplain(rec: ConnectionRecord): Buffer {
  try {
    return encodeConnection(rec);
  } catch (err) {
    const bad: string[] = [];
    connectionType.isValid(rec, { errorHook: (path, value) => bad.push(`${path.join('.')}=${JSON.stringify(value)}`) });
    throw new Error(`record ${rec.event_id ?? '(no event_id)'} does not match schemas/avro/connection.avsc: ${bad.join(', ') || (err as Error).message}`);
  }
}

export class KafkaSink implements RecordSink {
  private readonly spool: Spool | undefined;
  private readonly topic: string;
  private readonly lingerMs: number;
  private readonly batchMax: number;
  private readonly maxBuffered: number;
  private readonly retryIntervalMs: number;
  private readonly log: Logger;
  private readonly newProducer: () => ProducerLike;
  private readonly health: HealthReporter | null;

  private queue: OutMsg[] = [];
  private lingerTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private producer: ProducerLike | null = null;
  private connecting: Promise<ProducerLike> | null = null;
  /** The last attempt to reach Kafka failed; new batches go to the spool until a retry succeeds. */
  private down = false;
  /** The retry timer fired: the pump may try Kafka once even though it is down. */
  private probe = false;
  private closed = false;
  private closing = false;
  private sensor: HealthCounters = { ringbufDropsPerCpu: [], recordsTotal: 0, sampledOut: 0, filtered: 0 };
  private lastError: Error | null = null;
  private lastReported = '';
  private healthSends: Promise<void> = Promise.resolve();
  private failedReported = 0;
  private readonly c: SinkCounters = { accepted: 0, produced: 0, kafkaErrors: 0, failed: 0, kafkaConnected: false };

  constructor(opts: KafkaSinkOptions = {}) {
    this.spool = opts.spool;
    this.topic = opts.topic ?? TOPIC_CONNECTIONS;
    this.lingerMs = opts.lingerMs ?? 5;
    this.batchMax = opts.batchMax ?? 500;
    this.maxBuffered = opts.maxBuffered ?? 20_000;
    this.retryIntervalMs = opts.retryIntervalMs ?? 2_000;
    this.log = opts.log ?? createLogger('agent.kafka');
    const clientId = opts.clientId ?? `connaudit-agent-${hostname()}`;
    this.newProducer = opts.producerFactory ?? (() => {
      const kafka = new Kafka({
        ...kafkaConfig(clientId, opts.env),
        // Bounded, short retries: while Kafka is down the records belong in the
        // spool, not in memory behind a minute of backoff.
        retry: { retries: 4, initialRetryTime: 250, maxRetryTime: 2_000 },
        logLevel: logLevel.WARN,
        logCreator: kafkaLogCreator(this.log),
      });
      return kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        // murmur2, as the Java client: the same host lands on the same partition whichever client wrote it.
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 3_000 },
      });
    });
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
        publish: (m) => this.publishHealth(m),
        log: this.log,
      });
      if (opts.health?.timer) this.health.start();
    }
  }

  counters(): SinkCounters {
    return { ...this.c, kafkaConnected: this.producer !== null && !this.down };
  }

  transportCounters(): TransportCounters {
    const s = this.spool?.stats();
    return {
      recordsProduced: this.c.produced,
      spoolRecords: s?.records ?? 0,
      spoolBytes: s?.bytes ?? 0,
      spoolDropped: s?.dropped ?? 0,
      kafkaErrors: this.c.kafkaErrors,
      kafkaConnected: this.producer !== null && !this.down,
    };
  }

  /**
   * Accepts the record into the current batch (or the spool while Kafka is
   * down) and resolves at once, so a reader loop can await every write. It
   * waits only when maxBuffered records are already in memory. Use flush() to
   * wait until Kafka acknowledged (or the spool holds) everything accepted.
   */
  async write(rec: ConnectionRecord): Promise<void> {
    if (this.closing || this.closed) throw new Error('KafkaSink.write after close()');
    this.queue.push({ key: rec.host, value: encodeOrExplain(rec) });
    this.c.accepted++;
    if (this.queue.length >= this.batchMax) this.kick();
    else this.lingerTimer ??= setTimeout(() => { this.lingerTimer = null; this.kick(); }, this.lingerMs);
    while (this.queue.length >= this.maxBuffered) {
      this.kick();
      await (this.pumping ?? new Promise<void>((r) => setImmediate(r)));
    }
  }

  /**
   * Sends one AgentHealth record (and log line) with the sensor's cumulative
   * counters and ours. Does not wait for Kafka: agent/run.ts chains this call
   * with record writes, and a broker that just died must not stall the reader
   * for the length of the retries. flush() and close() wait for it.
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
    await this.health!.report(); // publish errors are logged and counted there
  }

  private countersKey(): string {
    return JSON.stringify([this.sensor, this.transportCounters()]);
  }

  /**
   * Resolves when every accepted record is acknowledged by Kafka or stored in
   * the spool. Without a spool, rejects if Kafka refused any record since the
   * last flush.
   */
  async flush(): Promise<void> {
    this.kick();
    while (this.pumping) await this.pumping;
    await this.healthSends;
    const unreported = this.c.failed - this.failedReported;
    if (unreported > 0) {
      this.failedReported = this.c.failed;
      throw new Error(`Kafka did not acknowledge ${unreported} record(s): ${this.lastError?.message ?? 'unknown error'}`);
    }
  }

  /** Final health report, flush, disconnect. Records left in the spool are sent by the next run. */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.health?.stop();
    // No more retries: if Kafka is down now, the spool keeps the records for the next start.
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
    let flushError: unknown = null;
    try { await this.flush(); } catch (err) { flushError = err; }
    // The last reportHealth() usually comes before the final flush; report
    // again only if the flush changed something, so shutdown adds one record at most.
    if (this.health && this.countersKey() !== this.lastReported) await this.report();
    while (this.pumping) await this.pumping;
    this.closed = true;
    await this.dropProducer();
    this.spool?.close();
    const left = this.spool?.records ?? 0;
    if (left > 0) this.log.warn({ spool_records: left }, 'Kafka unreachable at shutdown: records stay in the spool and are sent first on the next start');
    if (flushError) throw flushError;
  }

  private get spooling(): boolean {
    return this.spool !== undefined && (this.spool.records > 0 || (this.down && !this.probe));
  }

  /** Hands the buffered records on: to the spool while it is in use, else to the pump. */
  private kick(): void {
    if (this.lingerTimer) { clearTimeout(this.lingerTimer); this.lingerTimer = null; }
    if (this.spooling) this.spillQueue();
    this.ensurePump();
  }

  private spillQueue(): void {
    if (this.queue.length === 0 || !this.spool) return;
    const batch = this.queue.splice(0);
    this.spool.append(batch.map(frame));
  }

  private ensurePump(): void {
    if (this.pumping) return;
    const work = this.queue.length > 0 || (this.spool !== undefined && this.spool.records > 0 && (!this.down || this.probe));
    if (!work) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      // Records that arrived while the last send was finishing.
      if (this.queue.length > 0 && !this.lingerTimer) this.kick();
    });
  }

  private async pump(): Promise<void> {
    for (;;) {
      if (this.spool && this.spool.records > 0) {
        if (this.down && !this.probe) { this.spillQueue(); return; }
        this.probe = false;
        const read = this.spool.peek(this.batchMax);
        if (await this.send(read.payloads.map(unframe))) {
          this.spool.commit(read);
          if (this.spool.records === 0) this.log.info({ topic: this.topic }, 'spool drained; sending directly again');
          continue;
        }
        this.spillQueue();
        return;
      }
      if (this.queue.length === 0) return;
      if (this.down && this.spool && !this.probe) { this.spillQueue(); return; }
      this.probe = false;
      const batch = this.queue.splice(0, this.batchMax);
      if (await this.send(batch)) continue;
      if (this.spool) {
        this.spool.append(batch.map(frame));
      } else {
        this.c.failed += batch.length;
      }
    }
  }

  private async send(batch: OutMsg[]): Promise<boolean> {
    try {
      const p = await this.ensureProducer();
      await p.send({ topic: this.topic, acks: -1, messages: batch.map(toMessage) });
      this.c.produced += batch.length;
      this.markUp();
      return true;
    } catch (err) {
      this.c.kafkaErrors++;
      await this.markDown(err as Error, batch.length);
      return false;
    }
  }

  private async ensureProducer(): Promise<ProducerLike> {
    if (this.producer) return this.producer;
    this.connecting ??= (async () => {
      const p = this.newProducer();
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

  private async dropProducer(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    if (p) await p.disconnect().catch((err: Error) => this.log.debug({ err: err.message }, 'producer disconnect failed'));
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = false;
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
    this.log.info({ spool_records: this.spool?.records ?? 0 }, 'Kafka reachable again; sending spooled records first, in order');
  }

  private async markDown(err: Error, records: number): Promise<void> {
    this.lastError = err;
    await this.dropProducer();
    const where = this.spool
      ? `the records stay in the on-disk spool and are retried every ${this.retryIntervalMs / 1000}s`
      : 'these records are NOT delivered';
    if (!this.down) {
      this.log.error(
        { err: err.message, records, spool_records: this.spool?.records ?? 0 },
        `Kafka did not acknowledge a batch; ${where}. Check the broker (connaudit services status) and KAFKA_BROKERS`,
      );
    } else {
      this.log.debug({ err: err.message }, 'Kafka still unreachable');
    }
    this.down = true;
    if (!this.retryTimer && this.spool && !this.closing) {
      this.retryTimer = setInterval(() => { this.probe = true; this.ensurePump(); this.probeIdle(); }, this.retryIntervalMs);
      this.retryTimer.unref();
    }
  }

  /** With nothing spooled, a retry just reconnects, so kafka_connected recovers too. */
  private probeIdle(): void {
    if (this.pumping || (this.spool?.records ?? 0) > 0 || this.queue.length > 0) return;
    this.probe = false;
    this.pumping = this.ensureProducer()
      .then(() => this.markUp(), (err: Error) => { this.lastError = err; })
      // Records written while the probe connected went to the spool; once Kafka
      // is up nothing else would wake the pump for them (markUp stops the timer).
      .finally(() => { this.pumping = null; this.ensurePump(); });
  }

  private async publishHealth(m: HealthMessage): Promise<void> {
    if (this.down) throw new Error(`Kafka unreachable: ${this.lastError?.message ?? 'unknown'}`);
    const p = await this.ensureProducer();
    await p.send({ topic: TOPIC_AGENT_HEALTH, acks: -1, messages: [{ key: m.key, value: m.value, headers: m.headers }] });
  }
}
