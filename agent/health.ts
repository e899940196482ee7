import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import avro from 'avsc';
import { agentHealthCodec, type AgentHealth } from '../lib/agent-health.js';
import { readBpfProgramStats } from './bpf-stats.js';
import { CostMeter, type CostSample } from './cost.js';
import { healthEventId } from '../lib/ids.js';
import type { Logger } from '../lib/log.js';
import { loadSchema, schemaPath } from '../lib/record.js';
import type { HealthCounters } from './sink.js';

// The agent's periodic self-report, for loss accounting: every interval
// one AgentHealth record goes to Kafka (topic connaudit.agent-health, keyed by
// host) and the same counters go to the log, so drops are visible even when
// Kafka is the thing that is down. All counters are cumulative since the agent
// started; a lost report loses no information.


/** What the transport side knows: filled by KafkaSink. */
export interface TransportCounters {
  recordsProduced: number;
  spoolRecords: number;
  spoolBytes: number;
  spoolDropped: number;
  kafkaErrors: number;
  kafkaConnected: boolean;
  /** Records sent to the dead-letter topic because the broker could never accept them. */
  deadLettered: number;
  /** Bytes written to broker sockets since start (compressed batches plus protocol overhead). */
  wireBytes: number;
}

export const HEALTH_CONTENT_TYPE = 'application/vnd.connaudit.agent-health+avro';
export const DEFAULT_HEALTH_INTERVAL_S = 30;


/** The version in package.json, found from schemas/ whether we run from source or dist/. */
export function agentVersion(): string {
  const pkg = JSON.parse(readFileSync(resolve(schemaPath(''), '../../package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

export interface HealthMessage { key: string; value: Buffer; headers: Record<string, string> }

export interface HealthReporterOptions {
  host: string;
  agentVersion: string;
  intervalS?: number;
  startedUs?: number;
  sensor: () => HealthCounters;
  transport: () => TransportCounters;
  /** Sends the encoded record to Kafka; a rejection is logged and counted, never thrown. */
  publish?: (msg: HealthMessage) => Promise<void>;
  log: Logger;
  nowUs?: () => number;
  /** For `connaudit rollout report`: the node group and collection profile this agent runs with. */
  nodeGroup?: string | null;
  profile?: string | null;
  /** The sensor's own cost meter (CPU, RSS, events/s, BPF program stats); one per process by default. */
  cost?: CostMeter;
}

export function buildHealth(o: {
  host: string; agentVersion: string; startedUs: number; intervalS: number; seq: number; tsUs: number;
  sensor: HealthCounters; transport: TransportCounters;
  nodeGroup?: string | null; profile?: string | null; cost?: CostSample;
}): AgentHealth {
  const perCpu = o.sensor.ringbufDropsPerCpu.map((n) => Math.trunc(n));
  return {
    event_id: healthEventId(o.host, o.startedUs, o.seq),
    host: o.host,
    ts_us: o.tsUs,
    agent_version: o.agentVersion,
    started_us: o.startedUs,
    interval_s: o.intervalS,
    records_total: o.sensor.recordsTotal,
    records_produced: o.transport.recordsProduced,
    ringbuf_drops: perCpu.reduce((a, b) => a + b, 0),
    ringbuf_drops_per_cpu: perCpu,
    sampled_out: o.sensor.sampledOut,
    filtered: o.sensor.filtered,
    untracked_map_full: o.sensor.untrackedMapFull ?? 0,
    untracked_nomem: o.sensor.untrackedNomem ?? 0,
    untracked_other: o.sensor.untrackedOther ?? 0,
    stale_replaced: o.sensor.staleReplaced ?? 0,
    ring_unread_at_stop: o.sensor.ringUnreadAtStop ?? 0,
    spool_records: o.transport.spoolRecords,
    spool_bytes: o.transport.spoolBytes,
    spool_dropped: o.transport.spoolDropped,
    kafka_errors: o.transport.kafkaErrors,
    kafka_connected: o.transport.kafkaConnected,
    records_dead_lettered: o.transport.deadLettered,
    wire_bytes: o.transport.wireBytes,
    wire_bytes_per_record: o.transport.recordsProduced > 0 ? Math.round((o.transport.wireBytes / o.transport.recordsProduced) * 10) / 10 : 0,
    node_group: o.nodeGroup ?? null,
    profile: o.profile ?? null,
    cpu_pct: o.cost?.cpu_pct ?? null,
    rss_bytes: o.cost?.rss_bytes ?? null,
    events_per_s: o.cost?.events_per_s ?? null,
    bpf_programs: o.cost?.bpf_programs ?? [],
  };
}

export class HealthReporter {
  private readonly intervalS: number;
  private readonly startedUs: number;
  private readonly nowUs: () => number;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private last: AgentHealth | null = null;
  publishErrors = 0;

  constructor(private readonly o: HealthReporterOptions) {
    this.intervalS = o.intervalS ?? DEFAULT_HEALTH_INTERVAL_S;
    if (!(this.intervalS > 0)) throw new Error(`health interval must be a positive number of seconds, got ${o.intervalS}`);
    this.nowUs = o.nowUs ?? (() => Date.now() * 1000);
    this.startedUs = o.startedUs ?? this.nowUs();
    this.cost = o.cost ?? new CostMeter(undefined, readBpfProgramStats);
  }

  private readonly cost: CostMeter;

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.report(), this.intervalS * 1000);
    // A health timer alone must not keep a finished agent process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Builds, logs and publishes one report now; also used for the final report on shutdown. */
  async report(): Promise<AgentHealth> {
    const sensor = this.o.sensor();
    const rec = buildHealth({
      host: this.o.host, agentVersion: this.o.agentVersion, startedUs: this.startedUs, intervalS: this.intervalS,
      seq: this.seq++, tsUs: this.nowUs(), sensor, transport: this.o.transport(),
      nodeGroup: this.o.nodeGroup, profile: this.o.profile, cost: this.cost.sample(sensor.recordsTotal),
    });
    this.logReport(rec);
    this.last = rec;
    if (this.o.publish) {
      const value = agentHealthCodec().encode(rec);
      try {
        await this.o.publish({
          key: rec.host, value,
          headers: { 'content-type': HEALTH_CONTENT_TYPE, 'schema-fingerprint': agentHealthCodec().fingerprintHex },
        });
      } catch (err) {
        // The log line above already carries the counters; Kafka being down is
        // itself visible there (kafka_connected=false).
        this.publishErrors++;
        this.o.log.warn({ err: (err as Error).message, event_id: rec.event_id }, 'agent health record not sent to Kafka; its counters are in the line above');
      }
    }
    return rec;
  }

  private logReport(rec: AgentHealth): void {
    const prev = this.last;
    const ringGrew = prev !== null ? rec.ringbuf_drops > prev.ringbuf_drops : rec.ringbuf_drops > 0;
    const spoolGrew = prev !== null ? rec.spool_dropped > prev.spool_dropped : rec.spool_dropped > 0;
    const fields = {
      health: {
        event_id: rec.event_id, records_total: rec.records_total, records_produced: rec.records_produced,
        ringbuf_drops: rec.ringbuf_drops, ringbuf_drops_per_cpu: rec.ringbuf_drops_per_cpu,
        sampled_out: rec.sampled_out, filtered: rec.filtered, untracked_map_full: rec.untracked_map_full,
        untracked_nomem: rec.untracked_nomem, untracked_other: rec.untracked_other, stale_replaced: rec.stale_replaced, ring_unread_at_stop: rec.ring_unread_at_stop, spool_records: rec.spool_records,
        spool_bytes: rec.spool_bytes, spool_dropped: rec.spool_dropped, kafka_errors: rec.kafka_errors,
        kafka_connected: rec.kafka_connected, records_dead_lettered: rec.records_dead_lettered,
        wire_bytes_per_record: rec.wire_bytes_per_record,
      },
    };
    if (ringGrew || spoolGrew) {
      const what = [ringGrew && 'ring-buffer drops', spoolGrew && 'spool drops'].filter(Boolean).join(' and ');
      this.o.log.warn(fields, `agent health: ${what} grew since the last report; records were lost. ${ringGrew ? 'Raise the ring buffer size or the sampling rate limit. ' : ''}${spoolGrew ? 'Restore Kafka connectivity or raise the spool bound.' : ''}`.trim());
    } else {
      this.o.log.info(fields, 'agent health');
    }
  }
}
