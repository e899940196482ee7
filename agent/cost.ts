import type { BpfProgramCost } from '../lib/agent-health.js';

// The sensor's own cost, reported in every agent-health record so that a
// team can profile one node group before widening the rollout
// (`connaudit rollout report`). CPU and events/s are rates over the interval
// since the previous report; RSS is the value now.

export interface ProcessProbe {
  /** Cumulative user+system CPU of this process in microseconds (process.cpuUsage()). */
  cpuUs: () => number;
  rssBytes: () => number;
  nowMs: () => number;
}

export const processProbe: ProcessProbe = {
  cpuUs: () => { const u = process.cpuUsage(); return u.user + u.system; },
  rssBytes: () => process.memoryUsage.rss(),
  nowMs: () => performance.now(),
};

export interface CostSample {
  cpu_pct: number | null;
  rss_bytes: number;
  events_per_s: number | null;
  bpf_programs: BpfProgramCost[];
}

export class CostMeter {
  private last: { cpuUs: number; atMs: number; records: number } | undefined;

  constructor(private readonly probe: ProcessProbe = processProbe, private readonly bpf: () => BpfProgramCost[] = () => []) {
    this.last = { cpuUs: probe.cpuUs(), atMs: probe.nowMs(), records: 0 };
  }

  /** One sample; `recordsTotal` is the cumulative count of records read from the ring buffer. */
  sample(recordsTotal: number): CostSample {
    const now = { cpuUs: this.probe.cpuUs(), atMs: this.probe.nowMs(), records: recordsTotal };
    const prev = this.last;
    this.last = now;
    const dtMs = prev ? now.atMs - prev.atMs : 0;
    // Below 1 ms the rates are noise (two reports back to back, e.g. the final one at shutdown).
    const rated = prev !== undefined && dtMs >= 1;
    let bpf: BpfProgramCost[] = [];
    try {
      bpf = this.bpf();
    } catch {
      // Program stats are optional (kernel.bpf_stats_enabled); the rest of the report still counts.
    }
    return {
      cpu_pct: rated ? round2(((now.cpuUs - prev.cpuUs) / 1000 / dtMs) * 100) : null,
      rss_bytes: this.probe.rssBytes(),
      events_per_s: rated ? round2(((now.records - prev.records) * 1000) / dtMs) : null,
      bpf_programs: bpf,
    };
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
