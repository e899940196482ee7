import { describe, expect, it } from 'vitest';
import { CostMeter, type ProcessProbe } from './cost.js';

function fakeProbe(): ProcessProbe & { set(cpuUs: number, atMs: number, rss: number): void } {
  let s = { cpuUs: 0, atMs: 0, rss: 0 };
  return { cpuUs: () => s.cpuUs, nowMs: () => s.atMs, rssBytes: () => s.rss, set(cpuUs, atMs, rss) { s = { cpuUs, atMs, rss }; } };
}

describe('CostMeter', () => {
  it('reports CPU as percent of one core and events/s over the interval since the last sample, RSS as now', () => {
    const p = fakeProbe();
    const m = new CostMeter(p);
    // 30 s later: 600 ms of CPU (2 % of a core), 4500 more records (150/s), 80 MiB resident.
    p.set(600_000, 30_000, 80 * 1024 * 1024);
    expect(m.sample(4500)).toEqual({ cpu_pct: 2, events_per_s: 150, rss_bytes: 80 * 1024 * 1024, bpf_programs: [] });
    // The next interval is measured from this sample, not from the start.
    p.set(900_000, 60_000, 81 * 1024 * 1024);
    expect(m.sample(4500)).toMatchObject({ cpu_pct: 1, events_per_s: 0 });
  });

  it('gives no rate for two samples less than 1 ms apart (the final report at shutdown)', () => {
    const p = fakeProbe();
    const m = new CostMeter(p);
    p.set(5_000, 0.5, 1);
    expect(m.sample(10)).toMatchObject({ cpu_pct: null, events_per_s: null, rss_bytes: 1 });
  });

  it('passes BPF program stats through, and a failing stats reader costs only those', () => {
    const p = fakeProbe();
    const prog = { name: 'handle_set_state', run_cnt: 10, run_time_ns: 2500 };
    expect(new CostMeter(p, () => [prog]).sample(0).bpf_programs).toEqual([prog]);
    const failing = new CostMeter(p, () => { throw new Error('EPERM'); });
    p.set(1000, 1000, 5);
    expect(failing.sample(0)).toMatchObject({ bpf_programs: [], rss_bytes: 5, cpu_pct: 0.1 });
  });
});
