// A service's SLO incidents as intervals of EVENT time, not as one "open"
// flag. Documents reach the stage out of event-time order (Kafka delivers one
// partition, i.e. one host, at a time), so the stage can learn that a pair
// fired at 10:20 after it has already seen 11:30 and closed the incident.
//
// The rule, whatever the arrival order: firing evaluations less than
// `resolveAfterMs` of event time apart belong to one incident, and one
// incident raises one alert. So:
// - a late firing that falls inside or within resolveAfterMs of a known
//   incident (open OR already resolved) joins it and widens it; no new alert.
//   This is the usual case for a replay: the first partition opens and
//   resolves the incident, the others' storm-time documents then fire inside
//   it, and their documents are marked as burning;
// - a late firing further than that from every known incident is a separate
//   incident that nobody had seen (it only shows with the late hosts' data):
//   it opens a new incident and raises its own alert, stamped at its own
//   event time;
// - a late firing that bridges two known incidents joins the earlier one;
//   both alerts have been sent already and are not merged.
// Incidents are forgotten once no event late enough to reach them can still be
// counted (RETAINED_MS behind the newest event time), and at most
// MAX_INCIDENTS are kept per service, so memory stays bounded.

import { RETAINED_MS } from './tracker.js';

export interface Incident {
  alertId: string;
  /** Event time of the earliest firing evaluation that belongs to it. */
  openedMs: number;
  /** Event time of the latest firing evaluation that belongs to it. */
  lastFiringMs: number;
  /** The newest event time has passed lastFiringMs + resolveAfterMs ("resolved" was logged). */
  resolved?: boolean;
  /** Firing evaluations that arrived after it was resolved (late partitions). */
  lateFirings?: number;
}

export const MAX_INCIDENTS = 32;

export type Joined = 'joined' | 'joined_late';

export class Incidents {
  constructor(readonly resolveAfterMs: number, public list: Incident[] = []) {}

  /** The incident a firing evaluation at `tMs` belongs to, if any. */
  find(tMs: number): Incident | undefined {
    return this.list.find((i) => i.openedMs - this.resolveAfterMs < tMs && tMs < i.lastFiringMs + this.resolveAfterMs);
  }

  /** Whether a document at `tMs` falls in an incident: from its first firing until resolveAfterMs after its last. */
  burningAt(tMs: number): boolean {
    return this.list.some((i) => i.openedMs <= tMs && tMs < i.lastFiringMs + this.resolveAfterMs);
  }

  open(alertId: string, tMs: number): Incident {
    const inc: Incident = { alertId, openedMs: tMs, lastFiringMs: tMs };
    this.list.push(inc);
    this.list.sort((a, b) => a.openedMs - b.openedMs);
    return inc;
  }

  /** Widen `inc` with a firing evaluation at `tMs`; nowMs is the newest event time seen. */
  join(inc: Incident, tMs: number, nowMs: number): Joined {
    if (tMs < inc.openedMs) inc.openedMs = tMs;
    if (tMs > inc.lastFiringMs) inc.lastFiringMs = tMs;
    if (!inc.resolved) return 'joined';
    inc.lateFirings = (inc.lateFirings ?? 0) + 1;
    // Late data that reaches up to the present re-opens it; it will resolve (and be logged) again.
    if (nowMs - inc.lastFiringMs < this.resolveAfterMs) inc.resolved = false;
    return 'joined_late';
  }

  /** Mark incidents over as of `nowMs` and return the newly resolved; forget the ones no late event can reach. */
  settle(nowMs: number): Incident[] {
    const resolved: Incident[] = [];
    for (const i of this.list) {
      if (!i.resolved && nowMs - i.lastFiringMs >= this.resolveAfterMs) {
        i.resolved = true;
        resolved.push(i);
      }
    }
    const horizon = nowMs - RETAINED_MS;
    if (this.list.some((i) => i.lastFiringMs + this.resolveAfterMs < horizon) || this.list.length > MAX_INCIDENTS) {
      this.list = this.list.filter((i) => i.lastFiringMs + this.resolveAfterMs >= horizon);
      if (this.list.length > MAX_INCIDENTS) {
        const keep = new Set([...this.list].sort((a, b) => b.lastFiringMs - a.lastFiringMs).slice(0, MAX_INCIDENTS));
        this.list = this.list.filter((i) => keep.has(i));
      }
    }
    return resolved;
  }
}
