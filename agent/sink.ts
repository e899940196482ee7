import type { ConnectionRecord } from '../lib/record.js';
import type { TransportCounters } from './health.js';

// The seam between the sensor side of the agent (kernel events -> records) and
// the transport side (Kafka producer, spool, health reports). The agent command
// builds records and hands them to exactly one RecordSink; it never knows
// whether they end up on stdout, in Kafka or in the spool.

/**
 * Counters the sensor side owns, passed to the sink on every health tick. All
 * values are cumulative since the agent started, so a lost health message
 * loses no information.
 */
export interface HealthCounters {
  /** Ring-buffer reserve failures in the kernel, one entry per possible CPU. */
  ringbufDropsPerCpu: number[];
  /** Events read from the ring buffer and turned into records (final + interim). */
  recordsTotal: number;
  /** Connections the kernel-side rate limit skipped (1-in-N sampling above the bucket). */
  sampledOut: number;
  /** Connections dropped by configured filters (loopback, ports, CIDRs): by design, not loss. */
  filtered: number;
  /** Connections not tracked because the socket map was full (E2BIG): raise sensor.max_connections. */
  untrackedMapFull?: number;
  /** Connections not tracked because the kernel could not allocate (ENOMEM). */
  untrackedNomem?: number;
  /** Connections not tracked for any other map error. */
  untrackedOther?: number;
  /** Entries of sockets that vanished without tcp_destroy_sock, replaced when their address was reused (their records were sent if complete; not loss). */
  staleReplaced?: number;
  /** Records left in the kernel ring buffer when the agent stopped (lost; set once, by the stop). */
  ringUnreadAtStop?: number;
  /** Connections the kernel did not track, by reason (e.g. state_map_full); cumulative. */
  untracked?: Record<string, number>;
}

export interface RecordSink {
  /** Resolves once the record is accepted (buffered, spooled or sent); rejects only on a fatal error. */
  write(rec: ConnectionRecord): Promise<void>;
  reportHealth(h: HealthCounters): Promise<void>;
  /** Flushes whatever is buffered and releases connections. Called once, on shutdown. */
  close(): Promise<void>;
  /** Transport figures for /metrics, when the sink has a transport (KafkaSink). */
  transportCounters?(): TransportCounters;
}

export function emptyHealth(cpus: number): HealthCounters {
  return { ringbufDropsPerCpu: new Array<number>(cpus).fill(0), recordsTotal: 0, sampledOut: 0, filtered: 0 };
}
