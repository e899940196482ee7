// Sliding windows as bucketed counters: memory depends on the longest window
// and the bucket width, never on the event rate. Each window keeps a running
// sum that is adjusted as buckets enter and leave it, so reading a burn rate
// is O(1) per window and can be done for every document.

/** The Google SRE Workbook's multi-window, multi-burn-rate pairs (Alerting on SLOs, table 5-8). */
export const PAIRS = [
  { long: '1h', short: '5m', factor: 14.4 },
  { long: '6h', short: '30m', factor: 6 },
  { long: '1d', short: '2h', factor: 3 },
  { long: '3d', short: '6h', factor: 1 },
] as const;

export type Pair = (typeof PAIRS)[number];

export const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'] as const;
export type WindowName = (typeof WINDOWS)[number];

export const WINDOW_MINUTES: Record<WindowName, number> = { '5m': 5, '30m': 30, '1h': 60, '2h': 120, '6h': 360, '1d': 1440, '3d': 4320 };

export interface Counts {
  total: number;
  bad: number;
}

export interface RingSnapshot {
  head: number | null;
  /** Non-empty buckets only: [bucket index, total, bad]. */
  buckets: Array<[number, number, number]>;
}

/**
 * total/bad counters in fixed buckets of `bucketMs`, holding the last `size`
 * buckets, with running sums for each window (a window is a bucket count <= size).
 */
export class BucketRing {
  private readonly size: number;
  private readonly total: Float64Array;
  private readonly bad: Float64Array;
  private readonly sumTotal: number[];
  private readonly sumBad: number[];
  /** Index (time / bucketMs) of the newest bucket; null until the first event. */
  private head: number | null = null;

  constructor(readonly bucketMs: number, readonly windows: readonly number[]) {
    this.size = Math.max(...windows);
    this.total = new Float64Array(this.size);
    this.bad = new Float64Array(this.size);
    this.sumTotal = windows.map(() => 0);
    this.sumBad = windows.map(() => 0);
  }

  private slot(b: number): number {
    return ((b % this.size) + this.size) % this.size;
  }

  /** Move the newest bucket forward to the one holding `tMs`; older buckets slide out. */
  advance(tMs: number): void {
    const target = Math.floor(tMs / this.bucketMs);
    if (this.head === null) {
      this.head = target;
      return;
    }
    if (target <= this.head) return;
    if (target - this.head >= this.size) {
      this.total.fill(0);
      this.bad.fill(0);
      this.sumTotal.fill(0);
      this.sumBad.fill(0);
      this.head = target;
      return;
    }
    for (let k = this.head + 1; k <= target; k++) {
      this.windows.forEach((w, i) => {
        const leaving = this.slot(k - w);
        this.sumTotal[i]! -= this.total[leaving]!;
        this.sumBad[i]! -= this.bad[leaving]!;
      });
      const s = this.slot(k);
      this.total[s] = 0;
      this.bad[s] = 0;
    }
    this.head = target;
  }

  /** Count one event. Returns false when it is older than the longest window (too late to matter). */
  add(tMs: number, isBad: boolean, n = 1): boolean {
    this.advance(tMs);
    const b = Math.floor(tMs / this.bucketMs);
    const head = this.head!;
    if (b <= head - this.size) return false;
    const s = this.slot(b);
    this.total[s]! += n;
    if (isBad) this.bad[s]! += n;
    this.windows.forEach((w, i) => {
      if (b > head - w) {
        this.sumTotal[i]! += n;
        if (isBad) this.sumBad[i]! += n;
      }
    });
    return true;
  }

  /** Counts of the i-th window, ending at the newest bucket. */
  sum(i: number): Counts {
    return { total: this.sumTotal[i]!, bad: this.sumBad[i]! };
  }

  headIndex(): number | null {
    return this.head;
  }

  snapshot(): RingSnapshot {
    const buckets: Array<[number, number, number]> = [];
    if (this.head !== null) {
      for (let b = this.head - this.size + 1; b <= this.head; b++) {
        const s = this.slot(b);
        if (this.total[s]! > 0 || this.bad[s]! > 0) buckets.push([b, this.total[s]!, this.bad[s]!]);
      }
    }
    return { head: this.head, buckets };
  }

  restore(snap: RingSnapshot): void {
    this.total.fill(0);
    this.bad.fill(0);
    this.sumTotal.fill(0);
    this.sumBad.fill(0);
    this.head = snap.head;
    if (snap.head === null) return;
    for (const [b, t, bad] of snap.buckets) {
      if (b <= snap.head - this.size || b > snap.head) continue;
      const s = this.slot(b);
      this.total[s] = t;
      this.bad[s] = bad;
      this.windows.forEach((w, i) => {
        if (b > snap.head! - w) {
          this.sumTotal[i]! += t;
          this.sumBad[i]! += bad;
        }
      });
    }
  }
}

/**
 * Sparse per-bucket counts of attribution cells (cause × node group ×
 * destination). Only bad events land here and each bucket holds at most
 * `maxCells` keys (the rest fold into one overflow cell), so a scan across
 * thousands of destinations cannot grow it without bound.
 */
export class CellRing {
  private readonly buckets: Array<Map<string, number> | undefined>;
  private head: number | null = null;
  static readonly OVERFLOW = 'other\u0000other\u0000other';

  constructor(readonly bucketMs: number, readonly size: number, readonly maxCells = 64) {
    this.buckets = new Array<Map<string, number> | undefined>(size);
  }

  private slot(b: number): number {
    return ((b % this.size) + this.size) % this.size;
  }

  advance(tMs: number): void {
    const target = Math.floor(tMs / this.bucketMs);
    if (this.head === null || target - this.head >= this.size) {
      if (this.head !== null) this.buckets.fill(undefined);
      this.head = target;
      return;
    }
    for (let k = this.head + 1; k <= target; k++) this.buckets[this.slot(k)] = undefined;
    if (target > this.head) this.head = target;
  }

  add(tMs: number, key: string): void {
    this.advance(tMs);
    const b = Math.floor(tMs / this.bucketMs);
    if (b <= this.head! - this.size) return;
    const s = this.slot(b);
    const m = this.buckets[s] ?? new Map<string, number>();
    this.buckets[s] = m;
    const k = m.has(key) || m.size < this.maxCells ? key : CellRing.OVERFLOW;
    m.set(k, (m.get(k) ?? 0) + 1);
  }

  /** Summed cell counts over the newest `windowMs`. */
  totals(windowMs: number): Map<string, number> {
    const out = new Map<string, number>();
    if (this.head === null) return out;
    const n = Math.min(this.size, Math.ceil(windowMs / this.bucketMs));
    for (let b = this.head - n + 1; b <= this.head; b++) {
      for (const [k, v] of this.buckets[this.slot(b)] ?? []) out.set(k, (out.get(k) ?? 0) + v);
    }
    return out;
  }

  snapshot(): { head: number | null; buckets: Array<[number, Array<[string, number]>]> } {
    const buckets: Array<[number, Array<[string, number]>]> = [];
    if (this.head !== null) {
      for (let b = this.head - this.size + 1; b <= this.head; b++) {
        const m = this.buckets[this.slot(b)];
        if (m && m.size > 0) buckets.push([b, [...m]]);
      }
    }
    return { head: this.head, buckets };
  }

  restore(snap: { head: number | null; buckets: Array<[number, Array<[string, number]>]> }): void {
    this.buckets.fill(undefined);
    this.head = snap.head;
    if (snap.head === null) return;
    for (const [b, cells] of snap.buckets) {
      if (b <= snap.head - this.size || b > snap.head) continue;
      this.buckets[this.slot(b)] = new Map(cells);
    }
  }
}
