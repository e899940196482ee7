import type { BurnRates } from './tracker.js';
import type { ServiceState } from './state.js';

// A service's SLOs as of the newest event time: what the hourly summaries
// and the report's burn-rate chart read.

export interface ServiceStatus {
  service: string;
  burning: boolean;
  environment?: string;
  owner?: string;
  slos: Array<{
    name: string; type: 'availability' | 'latency'; objective: number; period: string; threshold_ms?: number;
    burn_rate: BurnRates; budget_remaining: number; total_1h: number; bad_1h: number; period_total: number; period_bad: number;
  }>;
}

export function serviceStatus(st: ServiceState, nowMs: number | null): ServiceStatus {
  if (nowMs !== null) st.trackers.forEach((t) => t.advance(nowMs));
  const out: ServiceStatus = {
    service: st.spec.name,
    burning: nowMs !== null && st.incidents.burningAt(nowMs),
    slos: st.trackers.map((t) => ({
      name: t.slo.name,
      type: t.slo.type,
      objective: t.slo.objective,
      period: t.slo.period,
      ...(t.slo.thresholdMs !== undefined ? { threshold_ms: t.slo.thresholdMs } : {}),
      burn_rate: t.burnRates(),
      budget_remaining: t.budgetRemaining(),
      total_1h: t.counts('1h').total,
      bad_1h: t.counts('1h').bad,
      period_total: t.periodCounts().total,
      period_bad: t.periodCounts().bad,
    })),
  };
  if (st.spec.environment) out.environment = st.spec.environment;
  if (st.spec.owner) out.owner = st.spec.owner;
  return out;
}
