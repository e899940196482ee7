import type { AlertDoc } from '../../lib/alert.js';
import { alertId } from '../../lib/ids.js';
import { describeContributor, type Contributor } from './attribution.js';
import type { ServiceSpec } from './catalogue.js';
import type { SloTracker } from './tracker.js';
import { WINDOW_MINUTES, type Pair } from './windows.js';

// The one slo_impact alert an incident raises: which service, which SLOs burn
// how fast over which windows, and the top cells (cause × node group ×
// destination) with their share of the burned budget, in one sentence an
// on-call engineer can read off a phone.

export const SLO_RULE_ID = '6f1d3c2a-8b4e-4f7a-9c15-2e9d0b7a5c31';
export const SLO_RULE_NAME = 'SLO error budget burn (multi-window)';
export const TOP_CONTRIBUTORS = 5;

const SEVERITY: Record<string, { label: AlertDoc['rule']['severity']; score: number }> = {
  // The workbook pages on the two fast pairs and opens a ticket for the slow ones.
  '1h': { label: 'critical', score: 99 },
  '6h': { label: 'high', score: 73 },
  '1d': { label: 'medium', score: 47 },
  '3d': { label: 'low', score: 21 },
};

export interface FiringSlo {
  tracker: SloTracker;
  pairs: Pair[];
}

export interface AlertInput {
  service: ServiceSpec;
  firing: FiringSlo[];
  /** Event time the incident was found at: the end of the judged minute, the alert's @timestamp. */
  nowMs: number;
  /** Every count in the alert is read as of this time (the judged minute's last millisecond). */
  asOfMs: number;
  /** What makes the alert id unique for the service: the incident's opening time. */
  incidentKey: string;
  eventIds: string[];
  cells: Contributor[];
  topNodeGroup: string | undefined;
}


export function sloImpactAlert(a: AlertInput): AlertDoc {
  const fastest = a.firing.flatMap((f) => f.pairs).sort((x, y) => WINDOW_MINUTES[x.long] - WINDOW_MINUTES[y.long])[0]!;
  const widest = Math.max(...a.firing.flatMap((f) => f.pairs.map((p) => WINDOW_MINUTES[p.long])));
  const sev = SEVERITY[fastest.long]!;
  const groupKey = `service:${a.service.name}`;
  const top = a.cells.slice(0, TOP_CONTRIBUTORS);
  const burning = a.firing.map((f) => {
    const p = f.pairs[0]!;
    return `${f.tracker.slo.name} (${f.tracker.slo.objective}%) burns ${f.tracker.burnRate(p.long, a.asOfMs).toFixed(1)}x over ${p.long} and ${f.tracker.burnRate(p.short, a.asOfMs).toFixed(1)}x over ${p.short} (threshold ${p.factor}x)`;
  });
  const reason = `${a.service.name}: ${burning.join('; ')}. Top contributors: ${top.map(describeContributor).join('; ') || 'none recorded'}.`;
  const startMs = a.nowMs - widest * 60_000;
  const now = new Date(a.nowMs).toISOString();
  const start = new Date(startMs).toISOString();
  const bad = a.firing.reduce((n, f) => n + f.tracker.counts(f.pairs[0]!.long, a.asOfMs).bad, 0);
  const alert: AlertDoc = {
    '@timestamp': now,
    event: {
      id: alertId(SLO_RULE_ID, groupKey, a.incidentKey),
      kind: 'alert',
      category: ['network'],
      type: ['info'],
      severity: sev.score,
      risk_score: sev.score,
      start,
      end: now,
      dataset: 'connaudit.alerts',
      module: 'connaudit',
      reason,
    },
    rule: {
      id: SLO_RULE_ID,
      name: SLO_RULE_NAME,
      category: 'slo_impact',
      description: 'A service SLO burns its error budget in both windows of a Google SRE Workbook multi-window pair (1h/5m x14.4, 6h/30m x6, 1d/2h x3, 3d/6h x1). Names the network cause, node group and destination that spent the budget.',
      type: 'slo_burn_rate',
      severity: sev.label,
      maturity: 'production',
      version: '1',
    },
    connaudit: {
      alert: {
        group_key: groupKey,
        count: bad,
        first_seen: start,
        last_seen: now,
        event_ids: a.eventIds,
        investigation: `Open 'connaudit report --service ${a.service.name} --from ${start} --to <end>' for the burn-rate chart and the full attribution table. Compare the top node group with the healthy ones: if only it is failing towards one destination, suspect its network path (NIC, ToR switch, security group, conntrack) rather than the upstream itself.`,
        explain: top.map(describeContributor).join('\n'),
        values: top.map((c) => `${c.cause}|${c.node_group}|${c.destination}`),
        contributors: top,
        top_node_group: a.topNodeGroup ?? null,
        burning: a.firing.map((f) => ({
          slo: f.tracker.slo.name,
          objective: f.tracker.slo.objective,
          pairs: f.pairs.map((p) => ({ long: p.long, short: p.short, factor: p.factor, long_burn_rate: Number(f.tracker.burnRate(p.long, a.asOfMs).toFixed(4)), short_burn_rate: Number(f.tracker.burnRate(p.short, a.asOfMs).toFixed(4)) })),
        })),
      },
      ...(a.topNodeGroup ? { node_group: a.topNodeGroup } : {}),
    },
    service: { name: a.service.name, ...(a.service.environment ? { environment: a.service.environment } : {}) },
  };
  return alert;
}

