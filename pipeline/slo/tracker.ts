import type { SloSpec } from './catalogue.js';
import type { LedgerCounts } from './ledger.js';
import { BucketRing, CellRing, PAIRS, WINDOW_MINUTES, WINDOWS, type Counts, type Pair, type RingSnapshot, type WindowName } from './windows.js';

// One SLO of one service: minute buckets for the burn-rate windows (up to 3d),
// hour buckets for the budget period, minute cell buckets for attribution (a
// coarser cell bucket would let records after the judged minute into its
// attribution, and the attribution would depend on arrival order).
//
// Every question takes an "as of" event time and is answered over windows
// that END at that time's bucket. The stage asks as of each document's own
// @timestamp, so a document that arrives late (another partition, a replay)
// is judged by what was happening when it happened, with every other host's
// counts for that time that have arrived so far. With in-order input the
// document is always the newest, and as-of equals the old "as of the newest
// bucket" reading.

const MINUTE = 60_000;
const HOUR = 3_600_000;
const CELL_BUCKET = MINUTE;
const LONGEST = WINDOW_MINUTES['3d'] * MINUTE;

/**
 * How far behind the newest event time an event may be and still be judged
 * against complete windows: one longest window. An event later than that is
 * still counted while its bucket is kept (up to RETAINED_MS), but pairs whose
 * long window reaches past what is kept are not judged for it.
 */
export const LATE_MS = LONGEST;
/** How much event time the rings keep behind the newest event. */
export const RETAINED_MS = LONGEST + LATE_MS;

export type BurnRates = Record<WindowName, number>;

export interface TrackerSnapshot {
  minutes: RingSnapshot;
  hours: RingSnapshot;
  cells: ReturnType<CellRing['snapshot']>;
  firstMs: number | null;
}

/** All window counts as of one minute bucket, cached until the next record(). */
interface View {
  bucket: number;
  version: number;
  head: number | null;
  windows: Counts[];
  period: Counts;
}

export class SloTracker {
  private readonly minutes = new BucketRing(MINUTE, WINDOWS.map((w) => WINDOW_MINUTES[w]), LATE_MS / MINUTE);
  private readonly hours: BucketRing;
  private readonly cells = new CellRing(CELL_BUCKET, RETAINED_MS / CELL_BUCKET);

  /** Event time of the oldest event counted: windows longer than the history seen are not judged. */
  private first: number | null = null;
  /** Newest event time seen: the default "as of". */
  private nowMs: number | null = null;
  /** Bumped by every count, so a cached View is never stale. */
  private version = 0;
  private view: View | null = null;

  constructor(readonly slo: SloSpec) {
    const periodHours = Math.max(1, Math.ceil(slo.periodMs / HOUR));
    this.hours = new BucketRing(HOUR, [periodHours], RETAINED_MS / HOUR);
  }

  /** Count one event. Returns false when it is older than anything kept (RETAINED_MS behind the newest). */
  record(tMs: number, isBad: boolean, cellKey?: string): boolean {
    if (this.nowMs === null || tMs > this.nowMs) this.nowMs = tMs;
    if (!this.minutes.add(tMs, isBad)) return false;
    if (this.first === null || tMs < this.first) this.first = tMs;
    this.hours.add(tMs, isBad);
    if (isBad && cellKey !== undefined) this.cells.add(tMs, cellKey);
    this.version++;
    return true;
  }

  /** Slide the rings to `tMs` without an event (forgets buckets older than RETAINED_MS). */
  advance(tMs: number): void {
    if (this.nowMs === null || tMs > this.nowMs) this.nowMs = tMs;
    this.minutes.advance(tMs);
    this.hours.advance(tMs);
    this.cells.advance(tMs);
  }

  newestMs(): number | null {
    return this.nowMs;
  }

  /** Event time of the oldest event counted, or null before the first. */
  firstMs(): number | null {
    return this.first;
  }

  private at(atMs: number | undefined): View {
    const t = atMs ?? this.nowMs ?? 0;
    const bucket = Math.floor(t / MINUTE);
    const head = this.minutes.headIndex();
    const v = this.view;
    if (v && v.bucket === bucket && v.version === this.version && v.head === head) return v;
    this.view = { bucket, version: this.version, head, windows: this.minutes.sumsAt(t), period: this.hours.sum(0, t) };
    return this.view;
  }

  counts(w: WindowName, atMs?: number): Counts {
    return this.at(atMs).windows[WINDOWS.indexOf(w)]!;
  }

  /** Bad share of the window divided by the budget share: 1 spends the budget exactly over the period. */
  burnRate(w: WindowName, atMs?: number): number {
    const c = this.counts(w, atMs);
    return c.total === 0 ? 0 : c.bad / c.total / this.slo.budget;
  }

  burnRates(atMs?: number): BurnRates {
    return Object.fromEntries(WINDOWS.map((w) => [w, round(this.burnRate(w, atMs))])) as BurnRates;
  }

  periodCounts(atMs?: number): Counts {
    return this.at(atMs).period;
  }

  /** Share of the period's error budget still unspent as of `atMs` (1 = untouched, 0 = spent, negative = overspent). */
  budgetRemaining(atMs?: number): number {
    const c = this.periodCounts(atMs);
    if (c.total === 0) return 1;
    return round(1 - c.bad / (c.total * this.slo.budget));
  }

  /**
   * Pairs whose long and short windows, ending at `atMs`, both burn faster
   * than the pair's factor. A window not yet observed in full (the data began
   * less than a window ago: a fresh start, a short export) is judged by the
   * budget it consumed: its burn over the observed span x the span must reach
   * the factor x the full window. An outage early in the data then pages as
   * soon as it has spent what the pair guards against, while a blip in a
   * two-hour-old 3-day window (2h x 36x needed for a 1x pair) does not.
   * Pairs whose long window reaches past what the rings keep (an event later
   * than LATE_MS) are not judged.
   */
  firingPairs(atMs?: number): Pair[] {
    const t = atMs ?? this.nowMs;
    if (t === null || this.first === null) return [];
    const end = Math.floor(t / MINUTE);
    const seenMin = end - Math.floor(this.first / MINUTE) + 1;
    if (seenMin <= 0) return [];
    const oldest = this.minutes.oldestIndex()!;
    const burnsFaster = (w: WindowName, factor: number): boolean => {
      const full = WINDOW_MINUTES[w];
      return this.burnRate(w, t) * Math.min(full, seenMin) > factor * full;
    };
    return PAIRS.filter((p) => {
      if (end - Math.min(WINDOW_MINUTES[p.long], seenMin) + 1 < oldest) return false;
      const long = this.counts(p.long, t);
      if (long.total < this.slo.minEvents) return false;
      return burnsFaster(p.long, p.factor) && burnsFaster(p.short, p.factor);
    });
  }

  /**
   * Adds (sign 1) or takes out (sign -1) one partition's counts
   * (ledger.ts): the tracker then holds the sum of the partitions its
   * instance owns. Buckets older than the rings keep are ignored either way.
   */
  merge(c: LedgerCounts, sign: 1 | -1): void {
    for (const [b, total, bad] of c.minutes) {
      const t = b * MINUTE;
      if (total - bad !== 0) this.minutes.add(t, false, sign * (total - bad));
      if (bad !== 0) this.minutes.add(t, true, sign * bad);
      if (sign === 1 && (this.first === null || t < this.first)) this.first = t;
      if (sign === 1 && (this.nowMs === null || t + MINUTE - 1 > this.nowMs)) this.nowMs = t + MINUTE - 1;
    }
    for (const [b, total, bad] of c.hours) {
      const t = b * HOUR;
      if (total - bad !== 0) this.hours.add(t, false, sign * (total - bad));
      if (bad !== 0) this.hours.add(t, true, sign * bad);
    }
    for (const [b, key, n] of c.cells) this.cells.add(b * CELL_BUCKET, key, sign * n);
    this.version++;
    this.view = null;
  }

  cellTotals(windowMs: number, atMs?: number): Map<string, number> {
    return this.cells.totals(windowMs, atMs);
  }

  snapshot(): TrackerSnapshot {
    return { minutes: this.minutes.snapshot(), hours: this.hours.snapshot(), cells: this.cells.snapshot(), firstMs: this.first };
  }

  /**
   * Also reads snapshots of state versions 1 and 2 (rings then kept fewer
   * buckets: same shape). Their cells were 5-minute buckets and are dropped
   * (`withCells` false): attribution restarts, the counts do not.
   */
  restore(s: TrackerSnapshot, withCells = true): void {
    this.minutes.restore(s.minutes);
    this.hours.restore(s.hours);
    if (withCells) this.cells.restore(s.cells);
    else this.cells.restore({ head: null, buckets: [] });
    this.first = s.firstMs ?? null;
    this.nowMs = s.minutes.head === null ? null : (s.minutes.head + 1) * MINUTE - 1;
    this.version++;
    this.view = null;
  }
}

export const round = (x: number): number => Math.round(x * 1e4) / 1e4;
