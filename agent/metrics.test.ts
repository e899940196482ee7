import { afterEach, describe, expect, it } from 'vitest';
import { createRegistry, startAdminServer, type AdminServer } from '../lib/metrics.js';
import { AGENT_METRICS as M } from '../lib/names.js';
import type { TransportCounters } from './health.js';
import { agentHealthCheck, registerAgentMetrics, type AgentMetricsSource } from './metrics.js';
import type { HealthCounters } from './sink.js';

let server: AdminServer | null = null;
afterEach(async () => { await server?.close(); server = null; });

function source() {
  const s = {
    sensor: { ringbufDropsPerCpu: [0, 0], recordsTotal: 0, sampledOut: 0, filtered: 0, untracked: { state_map_full: 0 } } as HealthCounters,
    transport: { recordsProduced: 0, spoolRecords: 0, spoolBytes: 0, spoolDropped: 0, kafkaErrors: 0, kafkaConnected: true, deadLettered: 0, wireBytes: 0 } as TransportCounters,
    attached: true,
  };
  const src: AgentMetricsSource = { sensor: () => s.sensor, transport: () => s.transport, attached: () => s.attached };
  return { s, src };
}

const value = (text: string, name: string, label = ''): number => {
  const m = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} ([0-9.e+-]+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name}${label} not in:\n${text}`);
  return Number(m[1]);
};

describe('agent /metrics and /healthz', () => {
  it('mirror the cumulative sensor and transport counters at every scrape', async () => {
    const { s, src } = source();
    const registry = createRegistry('agent');
    registerAgentMetrics(registry, src);
    server = await startAdminServer({ port: 0, registry, health: agentHealthCheck(src) });
    const scrape = async () => (await fetch(`http://127.0.0.1:${server!.port}/metrics`)).text();

    let t = await scrape();
    expect(value(t, M.recordsRead)).toBe(0);
    expect(value(t, M.untracked, 'reason="state_map_full"')).toBe(0);
    // Present at 0 before any stop, so an alert rule on the series exists from the start.
    expect(value(t, M.ringUnreadAtStop)).toBe(0);

    s.sensor = { ringbufDropsPerCpu: [2, 3], recordsTotal: 120, sampledOut: 4, filtered: 6, ringUnreadAtStop: 9, untracked: { state_map_full: 7, exists: 1 } };
    s.transport = { ...s.transport, recordsProduced: 100, spoolRecords: 20, spoolBytes: 4000, spoolDropped: 0, kafkaErrors: 1, kafkaConnected: false, deadLettered: 1, wireBytes: 5600 };
    t = await scrape();
    expect(value(t, M.recordsRead)).toBe(120);
    expect(value(t, M.recordsProduced)).toBe(100);
    expect(value(t, M.recordsDeadLettered)).toBe(1);
    expect(value(t, M.kernelDrops)).toBe(5);
    expect(value(t, M.ringUnreadAtStop)).toBe(9);
    expect(value(t, M.untracked, 'reason="state_map_full"')).toBe(7);
    expect(value(t, M.untracked, 'reason="exists"')).toBe(1);
    expect(value(t, M.spoolRecords)).toBe(20);
    expect(value(t, M.kafkaConnected)).toBe(0);
    expect(value(t, M.wireBytesPerRecord)).toBe(56);
    expect(t).toMatch(/component="agent"/);

    // Kafka down but the spool holds everything: healthy. The spool dropping: not.
    let h = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(h.status).toBe(200);
    s.transport = { ...s.transport, spoolDropped: 3 };
    h = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(h.status).toBe(503);
    expect(await h.json()).toMatchObject({ ok: false, detail: { problems: ['spool full: records are being dropped'], spool_dropped: 3 } });
    s.attached = false;
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(503);
  });
});
