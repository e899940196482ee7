import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Cause } from './causes.js';
import type { SloTracker } from './tracker.js';
import { round } from './tracker.js';
import { CellRing } from './windows.js';

// Which network cause, on which node group, towards which destination spent
// the budget. A cell's share is its part of the bad events in the window (the
// shares of one SLO add up to 1); its burn rate is what the window's burn rate
// would be if only that cell's failures had happened (they add up to the
// window's burn rate), so cells of different SLOs can be ranked together.

export interface Contributor {
  slo: string;
  cause: Cause | 'other';
  node_group: string;
  destination: string;
  bad: number;
  share: number;
  burn_rate: number;
}

const SEP = '\u0000';
export const UNKNOWN_GROUP = 'unknown';

/**
 * How a destination is named in attribution: the catalogued upstream, else
 * for an accepted connection the service's own port (its many clients are
 * one row), else address:port.
 */
export function destinationLabel(destService: string | undefined, doc: ConnectionDoc): string {
  if (destService) return destService;
  if (doc.network.direction === 'ingress') return `inbound :${doc.destination.port}`;
  return `${doc.destination.ip}:${doc.destination.port}`;
}

export function cellKey(cause: Cause, nodeGroup: string | undefined, destination: string): string {
  return [cause, nodeGroup ?? UNKNOWN_GROUP, destination].join(SEP);
}

/** The cells of the `windowMs` ending at `atMs` (the incident's own event time, which may be behind the newest). */
export function contributors(tracker: SloTracker, windowMs: number, windowTotal: number, atMs?: number): Contributor[] {
  const cells = tracker.cellTotals(windowMs, atMs);
  let bad = 0;
  for (const v of cells.values()) bad += v;
  if (bad === 0) return [];
  const out: Contributor[] = [];
  for (const [key, n] of cells) {
    const [cause, group, dest] = (key === CellRing.OVERFLOW ? 'other\u0000other\u0000other' : key).split(SEP) as [Cause, string, string];
    out.push({
      slo: tracker.slo.name,
      cause,
      node_group: group,
      destination: dest,
      bad: n,
      share: round(n / bad),
      burn_rate: windowTotal === 0 ? 0 : round(n / windowTotal / tracker.slo.budget),
    });
  }
  return out.sort((a, b) => b.burn_rate - a.burn_rate || b.bad - a.bad || a.destination.localeCompare(b.destination));
}

/** The node group that spent most of the budget across all cells (by summed burn rate). */
export function topNodeGroup(cells: Contributor[]): string | undefined {
  const by = new Map<string, number>();
  for (const c of cells) by.set(c.node_group, (by.get(c.node_group) ?? 0) + c.burn_rate);
  return [...by].sort((a, b) => b[1] - a[1])[0]?.[0];
}

export function describeContributor(c: Contributor): string {
  return `${c.cause} on ${c.node_group} -> ${c.destination}: ${Math.round(c.share * 100)}% of ${c.slo} burn (${c.burn_rate.toFixed(1)}x)`;
}
