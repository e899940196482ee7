import type { SloSpec } from './catalogue.js';
import { BucketRing, CellRing, PAIRS, WINDOW_MINUTES, WINDOWS, type Counts, type Pair, type RingSnapshot, type WindowName } from './windows.js';

// One SLO of one service: minute buckets for the burn-rate windows (up to 3d),
// hour buckets for the budget period, 5-minute cell buckets for attribution.

const MINUTE = 60_000;
const HOUR = 3_600_000;
const CELL_BUCKET = 5 * MINUTE;
const LONGEST = WINDOW_MINUTES['3d'] * MINUTE;

export type BurnRates = Record<WindowName, number>;

export interface TrackerSnapshot {
  minutes: RingSnapshot;
  hours: RingSnapshot;
  cells: ReturnType<CellRing['snapshot']>;
  firstMs: number | null;
}

export class SloTracker {
  private readonly minutes = new BucketRing(MINUTE, WINDOWS.map((w) => WINDOW_MINUTES[w]));
  private readonly hours: BucketRing;
  private readonly cells = new CellRing(CELL_BUCKET, LONGEST / CELL_BUCKET);

  /** Event time of the first event counted: windows longer than the history seen are not judged. */
  private firstMs: number | null = null;
  private nowMs: number | null = null;

  constructor(readonly slo: SloSpec) {
    this.hours = new BucketRing(HOUR, [Math.max(1, Math.ceil(slo.periodMs / HOUR))]);
  }

  record(tMs: number, isBad: boolean, cellKey?: string): void {
    if (this.firstMs === null || tMs < this.firstMs) this.firstMs = tMs;
    if (this.nowMs === null || tMs > this.nowMs) this.nowMs = tMs;
    this.minutes.add(tMs, isBad);
    this.hours.add(tMs, isBad);
    if (isBad && cellKey !== undefined) this.cells.add(tMs, cellKey);
  }

  advance(tMs: number): void {
    if (this.nowMs === null || tMs > this.nowMs) this.nowMs = tMs;
    this.minutes.advance(tMs);
    this.hours.advance(tMs);
    this.cells.advance(tMs);
  }

  counts(w: WindowName): Counts {
    return this.minutes.sum(WINDOWS.indexOf(w));
  }

  /** Bad share of the window divided by the budget share: 1 spends the budget exactly over the period. */
  burnRate(w: WindowName): number {
    const c = this.counts(w);
    return c.total === 0 ? 0 : c.bad / c.total / this.slo.budget;
  }

  burnRates(): BurnRates {
    return Object.fromEntries(WINDOWS.map((w) => [w, round(this.burnRate(w))])) as BurnRates;
  }

  periodCounts(): Counts {
    return this.hours.sum(0);
  }

  /** Share of the period's error budget still unspent (1 = untouched, 0 = spent, negative = overspent). */
  budgetRemaining(): number {
    const c = this.periodCounts();
    if (c.total === 0) return 1;
    return round(1 - c.bad / (c.total * this.slo.budget));
  }

  /**
   * Pairs whose long and short windows both burn faster than the pair's
   * factor. A pair is judged only once its long window has been observed in
   * full: two hours after a fresh start the "3d" window holds two hours, and
   * a 1x burn over it would open a ticket on a blip.
   */
  firingPairs(): Pair[] {
    const seenMs = this.firstMs === null || this.nowMs === null ? 0 : this.nowMs - this.firstMs;
    return PAIRS.filter((p) => {
      if (seenMs < WINDOW_MINUTES[p.long] * MINUTE) return false;
      const long = this.counts(p.long);
      if (long.total < this.slo.minEvents) return false;
      return this.burnRate(p.long) > p.factor && this.burnRate(p.short) > p.factor;
    });
  }

  cellTotals(windowMs: number): Map<string, number> {
    return this.cells.totals(windowMs);
  }

  snapshot(): TrackerSnapshot {
    return { minutes: this.minutes.snapshot(), hours: this.hours.snapshot(), cells: this.cells.snapshot(), firstMs: this.firstMs };
  }

  restore(s: TrackerSnapshot): void {
    this.minutes.restore(s.minutes);
    this.hours.restore(s.hours);
    this.cells.restore(s.cells);
    this.firstMs = s.firstMs ?? null;
    this.nowMs = s.minutes.head === null ? null : (s.minutes.head + 1) * MINUTE - 1;
  }
}

export const round = (x: number): number => Math.round(x * 1e4) / 1e4;
