import type { AlertDoc } from '../../lib/alert.js';
import type { Logger } from '../../lib/log.js';
import { sloImpactAlert, type FiringSlo } from './alert.js';
import { contributors, topNodeGroup, type Contributor } from './attribution.js';
import type { ServiceState } from './state.js';
import { RETAINED_MS } from './tracker.js';
import { WINDOW_MINUTES } from './windows.js';

// The one SLO judgement, shared by the live stage and `connaudit report`
// (which runs the stage over time-ordered documents). Minutes of event time
// are judged in order, each once the event clock's watermark has passed it,
// i.e. once every source's share of it has arrived. A minute is judged as of
// its last millisecond: its windows end with it, whatever later records have
// already arrived. So the same documents give the same alert time, burn rates
// and attribution whatever order the partitions delivered them in, as long
// as the watermark held (sources moving together, or a time-ordered input).
//
// Records that arrive for a minute already judged (a host that fell idle, a
// partition that lagged) are counted and make that minute "dirty": dirty
// minutes are judged again on the next tick. A firing minute found that way
// joins the incident it falls in, or opens its own when it falls in none, so
// late data never goes unjudged.

const MINUTE = 60_000;

export interface JudgeState {
  /** Last minute (index: time / 1 min) judged, or null before the first. */
  judgedTo: number | null;
  /** Earliest judged minute that has counted records since it was judged. */
  dirtyFrom: number | null;
}

export interface Opened {
  st: ServiceState;
  alert: AlertDoc;
  /** The judged minute's last millisecond: what the alert's counts are read as of. */
  asOfMs: number;
}

export class Judge {
  judgedTo: number | null = null;
  dirtyFrom: number | null = null;

  constructor(private readonly services: readonly ServiceState[], private readonly log?: Logger) {}

  /** Whether the minute of `tMs` has not been judged yet. */
  ahead(tMs: number): boolean {
    return this.judgedTo === null || Math.floor(tMs / MINUTE) > this.judgedTo;
  }

  /** A record was counted at `tMs`; returns true when its minute had already been judged. */
  counted(tMs: number): boolean {
    const m = Math.floor(tMs / MINUTE);
    if (this.judgedTo === null || m > this.judgedTo) return false;
    if (this.dirtyFrom === null || m < this.dirtyFrom) this.dirtyFrom = m;
    return true;
  }

  /**
   * Judge every minute the watermark has closed (minutes before the one it
   * is in), starting after the last judged one, or at `firstMs`'s minute.
   */
  advance(watermarkMs: number | null, firstMs: number | null): Opened[] {
    if (watermarkMs === null || firstMs === null) return [];
    const upTo = Math.floor(watermarkMs / MINUTE) - 1;
    let from = this.judgedTo === null ? Math.floor(firstMs / MINUTE) : this.judgedTo + 1;
    // After a long silence only the minutes the rings still hold can fire.
    from = Math.max(from, upTo - RETAINED_MS / MINUTE);
    const out: Opened[] = [];
    for (let m = from; m <= upTo; m++) {
      out.push(...this.judgeMinute(m));
      this.judgedTo = m;
    }
    return out;
  }

  /**
   * Judge one late record's own minute again, at once: the record is about
   * to be indexed with slo.burning, which must already know whether its
   * minute fired. The minutes after it are judged again on the next tick.
   */
  rejudgeMinute(tMs: number): Opened[] {
    const m = Math.floor(tMs / MINUTE);
    return this.judgedTo !== null && m <= this.judgedTo ? this.judgeMinute(m) : [];
  }

  /** Judge again the minutes that counted late records. */
  rejudge(): Opened[] {
    if (this.dirtyFrom === null || this.judgedTo === null) return [];
    const from = Math.max(this.dirtyFrom, this.judgedTo - RETAINED_MS / MINUTE);
    this.dirtyFrom = null;
    const out: Opened[] = [];
    for (let m = from; m <= this.judgedTo; m++) out.push(...this.judgeMinute(m));
    return out;
  }

  private judgeMinute(m: number): Opened[] {
    const out: Opened[] = [];
    for (const st of this.services) {
      const opened = this.judgeService(st, m);
      if (opened) out.push(opened);
    }
    return out;
  }

  /** Mark incidents over as of `nowMs` (the end of the newest judged minute); log each once. */
  private settle(st: ServiceState, nowMs: number): void {
    for (const inc of st.incidents.settle(nowMs)) {
      this.log?.info({ service: st.spec.name, alertId: inc.alertId, openedMs: inc.openedMs, lastFiringMs: inc.lastFiringMs }, 'SLO incident resolved');
    }
  }

  private judgeService(st: ServiceState, m: number): Opened | undefined {
    // Incidents are kept in minute starts, so every document of a firing minute falls inside its incident.
    const start = m * MINUTE;
    const stamp = start + MINUTE;
    const asOf = stamp - 1;
    const newest = this.judgedTo === null ? stamp : Math.max(stamp, (this.judgedTo + 1) * MINUTE);
    this.settle(st, newest);
    const firing: FiringSlo[] = [];
    for (const tracker of st.trackers) {
      const pairs = tracker.firingPairs(asOf);
      if (pairs.length > 0) firing.push({ tracker, pairs });
    }
    if (firing.length === 0) return undefined;
    const known = st.incidents.find(start);
    if (known) {
      if (st.incidents.join(known, start, newest) === 'joined_late' && known.lateFirings === 1) {
        this.log?.info({ service: st.spec.name, alertId: known.alertId, atMs: start }, 'late data joined a resolved SLO incident');
      }
      return undefined;
    }
    const cells: Contributor[] = [];
    for (const tr of st.trackers) {
      const f = firing.find((x) => x.tracker === tr);
      // Each SLO is attributed over the long window of its own firing pair;
      // a quiet SLO over the hour, so its slow start still shows.
      const win = f ? f.pairs[0]!.long : '1h';
      cells.push(...contributors(tr, WINDOW_MINUTES[win] * MINUTE, tr.counts(win, asOf).total, asOf));
    }
    cells.sort((a, b) => b.burn_rate - a.burn_rate || b.bad - a.bad || a.slo.localeCompare(b.slo) || a.destination.localeCompare(b.destination));
    // The id names the service and the minute the incident opened: the same
    // documents give the same id in any arrival order, so a redelivered batch
    // or a report run beside the pipeline names the same alert.
    const alert = sloImpactAlert({
      service: st.spec,
      firing,
      nowMs: stamp,
      asOfMs: asOf,
      incidentKey: `opened:${new Date(stamp).toISOString()}`,
      eventIds: st.evidence.upTo(asOf),
      cells,
      topNodeGroup: topNodeGroup(cells),
    });
    st.incidents.open(alert.event.id, start);
    this.log?.warn({ service: st.spec.name, alertId: alert.event.id, atMs: stamp, reason: alert.event.reason }, 'SLO incident opened');
    return { st, alert, asOfMs: asOf };
  }
}
