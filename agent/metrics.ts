import { Counter, Gauge, type Registry } from 'prom-client';
import type { Health } from '../lib/metrics.js';
import { AGENT_METRICS as M } from '../lib/names.js';
import type { TransportCounters } from './health.js';
import type { HealthCounters } from './sink.js';

// The agent's Prometheus metrics. Every figure already exists as a cumulative
// counter (the sensor's kernel counters, the sink's transport counters, the
// same ones agent-health reports carry); they are read at scrape time, so
// /metrics and the agent-health topic can never disagree.

export interface AgentMetricsSource {
  sensor(): HealthCounters;
  /** null for an output without a transport (--output jsonl). */
  transport(): TransportCounters | null;
  /** The programs are loaded and attached. */
  attached(): boolean;
}

/** A prom-client Counter fed from an external cumulative value: it adds the growth since the last scrape. */
function mirrorCounter(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  let last = 0;
  new Counter({
    name, help, registers: [registry],
    collect() {
      const v = read();
      if (v !== undefined && v > last) { this.inc(v - last); last = v; }
    },
  });
}

function gauge(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  new Gauge({ name, help, registers: [registry], collect() { const v = read(); if (v !== undefined) this.set(v); } });
}

export function registerAgentMetrics(registry: Registry, src: AgentMetricsSource): void {
  const s = (): HealthCounters => src.sensor();
  const t = (): TransportCounters | null => src.transport();
  mirrorCounter(registry, M.recordsRead, 'Connection records read from the kernel ring buffer (final and interim)', () => s().recordsTotal);
  mirrorCounter(registry, M.recordsProduced, 'Records acknowledged by Kafka', () => t()?.recordsProduced);
  mirrorCounter(registry, M.recordsDeadLettered, 'Records sent to the dead-letter topic because the broker could never accept them', () => t()?.deadLettered);
  mirrorCounter(registry, M.kernelDrops, 'Records the kernel could not put in the full ring buffer (lost)', () => s().ringbufDropsPerCpu.reduce((a, b) => a + b, 0));
  mirrorCounter(registry, M.ringUnreadAtStop, 'Records left in the kernel ring buffer when the agent stopped draining (lost; raise sensor.stop_drain_s)', () => s().ringUnreadAtStop ?? 0);
  mirrorCounter(registry, M.sampledOut, 'New connections skipped by the kernel-side rate limit (sampling)', () => s().sampledOut);
  mirrorCounter(registry, M.filtered, 'Connections dropped by configured filters (by design, not loss)', () => s().filtered);
  const untrackedLast = new Map<string, number>();
  new Counter({
    name: M.untracked, help: 'Connections the kernel did not track, by reason', labelNames: ['reason'], registers: [registry],
    collect() {
      for (const [reason, v] of Object.entries(s().untracked ?? {})) {
        const last = untrackedLast.get(reason) ?? 0;
        // Present at 0 too, so an alert on the series exists before the first loss.
        this.inc({ reason }, Math.max(0, v - last));
        untrackedLast.set(reason, Math.max(v, last));
      }
    },
  });
  gauge(registry, M.spoolRecords, 'Records waiting in the on-disk spool now', () => t()?.spoolRecords);
  gauge(registry, M.spoolBytes, 'Bytes waiting in the on-disk spool now', () => t()?.spoolBytes);
  mirrorCounter(registry, M.spoolDropped, 'Records refused by the full spool while Kafka was unreachable (lost)', () => t()?.spoolDropped);
  mirrorCounter(registry, M.kafkaErrors, 'Kafka sends that failed (each moves the batch to the spool)', () => t()?.kafkaErrors);
  gauge(registry, M.kafkaConnected, '1 while the producer is connected and the last send succeeded', () => { const x = t(); return x ? Number(x.kafkaConnected) : undefined; });
  mirrorCounter(registry, M.wireBytes, 'Bytes written to Kafka broker sockets (compressed batches and protocol overhead)', () => t()?.wireBytes);
  gauge(registry, M.wireBytesPerRecord, 'Bytes on the wire per record produced, since start', () => { const x = t(); return x && x.recordsProduced > 0 ? x.wireBytes / x.recordsProduced : undefined; });
}

/**
 * /healthz: 200 while no record is being lost, 503 otherwise. Kafka being
 * down alone is not unhealthy while the spool holds the records: restarting
 * the agent would not bring Kafka back, and a restart loses the ring buffer.
 */
export function agentHealthCheck(src: AgentMetricsSource): () => Health {
  let lastSpoolDropped = 0;
  return () => {
    const tr = src.transport();
    const problems: string[] = [];
    if (!src.attached()) problems.push('sensor not attached');
    const dropped = tr?.spoolDropped ?? 0;
    if (dropped > lastSpoolDropped) problems.push('spool full: records are being dropped');
    lastSpoolDropped = dropped;
    return {
      ok: problems.length === 0,
      detail: {
        ...(problems.length > 0 ? { problems } : {}),
        attached: src.attached(),
        ...(tr ? { kafka_connected: tr.kafkaConnected, spool_records: tr.spoolRecords, spool_dropped: tr.spoolDropped } : {}),
      },
    };
  };
}
