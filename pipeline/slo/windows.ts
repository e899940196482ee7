// Sliding windows as bucketed counters: memory depends on the longest window,
// the accepted lateness and the bucket width, never on the event rate.
//
// Windows end at any bucket the caller names, not only at the newest one.
// Kafka delivers one partition (one host) at a time, so a replay or a
// catching-up consumer shows hours of one host before the first minute of the
// next; a late document must be judged against the windows around ITS time,
// which by then also hold the other hosts' counts for that time. Each bucket
// lives in a Fenwick tree over the ring's slots, so any window sum is two
// prefix sums: O(log n) per query and per event, however late it is.

import { Fenwick } from './fenwick.js';

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
 * total/bad counters in fixed buckets of `bucketMs`. Keeps the newest
 * `max(windows) + lateBuckets` buckets, so an event up to `lateBuckets` behind
 * the newest one still finds every window ending at its own bucket complete.
 */
export class BucketRing {
  readonly size: number;
  private readonly total: Fenwick;
  private readonly bad: Fenwick;
  /** Sums over every retained bucket: the prefix sum of the whole ring without a tree walk. */
  private allTotal = 0;
  private allBad = 0;
  /** Index (time / bucketMs) of the newest bucket; null until the first event. */
  private head: number | null = null;

  constructor(readonly bucketMs: number, readonly windows: readonly number[], readonly lateBuckets = Math.max(...windows)) {
    this.size = Math.max(...windows) + lateBuckets;
    this.total = new Fenwick(this.size);
    this.bad = new Fenwick(this.size);
  }

  private slot(b: number): number {
    return ((b % this.size) + this.size) % this.size;
  }

  bucketOf(tMs: number): number {
    return Math.floor(tMs / this.bucketMs);
  }

  private clear(): void {
    this.total.clear();
    this.bad.clear();
    this.allTotal = 0;
    this.allBad = 0;
  }

  /** Move the newest bucket forward to the one holding `tMs`; the oldest buckets are forgotten. */
  advance(tMs: number): void {
    const target = this.bucketOf(tMs);
    if (this.head === null) {
      this.head = target;
      return;
    }
    if (target <= this.head) return;
    if (target - this.head >= this.size) {
      this.clear();
      this.head = target;
      return;
    }
    // Slot of bucket k is the slot of bucket k - size: the one leaving the ring.
    for (let k = this.head + 1; k <= target; k++) {
      const s = this.slot(k);
      const t = this.total.get(s);
      if (t !== 0) {
        this.total.add(s, -t);
        this.allTotal -= t;
      }
      const b = this.bad.get(s);
      if (b !== 0) {
        this.bad.add(s, -b);
        this.allBad -= b;
      }
    }
    this.head = target;
  }

  /** Count one event. Returns false when it is older than everything the ring keeps (too late to count). */
  add(tMs: number, isBad: boolean, n = 1): boolean {
    this.advance(tMs);
    const b = this.bucketOf(tMs);
    if (b <= this.head! - this.size) return false;
    const s = this.slot(b);
    this.total.add(s, n);
    this.allTotal += n;
    if (isBad) {
      this.bad.add(s, n);
      this.allBad += n;
    }
    return true;
  }

  /** Oldest bucket still kept, or null before the first event. */
  oldestIndex(): number | null {
    return this.head === null ? null : this.head - this.size + 1;
  }

  headIndex(): number | null {
    return this.head;
  }

  /**
   * Sum of one tree over the retained buckets up to and including bucket `b`
   * (`base` = the tree's prefix just before the oldest bucket's slot). The
   * retained buckets run from slot(oldest) to the end of the array and wrap.
   */
  private upTo(f: Fenwick, all: number, base: number, b: number): number {
    const head = this.head!;
    if (b >= head) return all;
    const oldest = head - this.size + 1;
    if (b < oldest) return 0;
    const s = this.slot(b);
    return f.prefix(s) - base + (s < this.slot(oldest) ? all : 0);
  }

  /** Counts of buckets `from`..`to` inclusive (absolute indices); buckets not kept count 0. */
  range(from: number, to: number): Counts {
    if (this.head === null || to < from) return { total: 0, bad: 0 };
    const s0 = this.slot(this.head + 1);
    const bt = this.total.prefix(s0 - 1);
    const bb = this.bad.prefix(s0 - 1);
    return {
      total: this.upTo(this.total, this.allTotal, bt, to) - this.upTo(this.total, this.allTotal, bt, from - 1),
      bad: this.upTo(this.bad, this.allBad, bb, to) - this.upTo(this.bad, this.allBad, bb, from - 1),
    };
  }

  /**
   * Counts of every window ending at the bucket holding `atMs` (default: the
   * newest bucket), in the order of `windows`. The end is shared, so this
   * walks the trees 2 + 2 * windows times, each O(log size).
   */
  sumsAt(atMs?: number): Counts[] {
    if (this.head === null) return this.windows.map(() => ({ total: 0, bad: 0 }));
    const end = atMs === undefined ? this.head : this.bucketOf(atMs);
    const s0 = this.slot(this.head + 1);
    const bt = this.total.prefix(s0 - 1);
    const bb = this.bad.prefix(s0 - 1);
    const endT = this.upTo(this.total, this.allTotal, bt, end);
    const endB = this.upTo(this.bad, this.allBad, bb, end);
    return this.windows.map((w) => ({
      total: endT - this.upTo(this.total, this.allTotal, bt, end - w),
      bad: endB - this.upTo(this.bad, this.allBad, bb, end - w),
    }));
  }

  /** Counts of the i-th window, ending at the bucket holding `atMs` (default: the newest bucket). */
  sum(i: number, atMs?: number): Counts {
    return this.sumsAt(atMs)[i]!;
  }

  snapshot(): RingSnapshot {
    const buckets: Array<[number, number, number]> = [];
    if (this.head !== null) {
      const total = this.total.values();
      const bad = this.bad.values();
      for (let b = this.head - this.size + 1; b <= this.head; b++) {
        const s = this.slot(b);
        if (total[s]! > 0 || bad[s]! > 0) buckets.push([b, total[s]!, bad[s]!]);
      }
    }
    return { head: this.head, buckets };
  }

  /** Accepts snapshots of rings of any size (older versions kept fewer buckets); buckets it cannot keep are dropped. */
  restore(snap: RingSnapshot): void {
    this.clear();
    this.head = snap.head;
    if (snap.head === null) return;
    const total = new Float64Array(this.size);
    const bad = new Float64Array(this.size);
    for (const [b, t, x] of snap.buckets) {
      if (b <= snap.head - this.size || b > snap.head) continue;
      const s = this.slot(b);
      total[s] = t;
      bad[s] = x;
      this.allTotal += t;
      this.allBad += x;
    }
    this.total.load(total);
    this.bad.load(bad);
  }
}

/**
 * Sparse per-bucket counts of attribution cells (cause × node group ×
 * destination), kept as long as the minute buckets are, so an incident found
 * late is attributed from the cells of its own time. Only bad events land
 * here and each bucket holds at most `maxCells` keys (the rest fold into one
 * overflow cell), so a scan across thousands of destinations cannot grow it
 * without bound.
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

  /** Counts `n` bad events in `key` (negative: takes a partition's counts back out; a cell never goes below 0). */
  add(tMs: number, key: string, n = 1): void {
    this.advance(tMs);
    const b = Math.floor(tMs / this.bucketMs);
    if (b <= this.head! - this.size) return;
    const s = this.slot(b);
    const m = this.buckets[s] ?? new Map<string, number>();
    this.buckets[s] = m;
    const k = m.has(key) || m.size < this.maxCells ? key : CellRing.OVERFLOW;
    const v = (m.get(k) ?? 0) + n;
    if (v > 0) m.set(k, v);
    else m.delete(k);
  }

  /**
   * Summed cell counts over the `windowMs` ending with the bucket holding
   * `atMs` (default: the newest bucket). O(buckets in the window x cells),
   * which is fine for what it serves: one call per incident opened.
   */
  totals(windowMs: number, atMs?: number): Map<string, number> {
    const out = new Map<string, number>();
    if (this.head === null) return out;
    const end = Math.min(this.head, atMs === undefined ? this.head : Math.floor(atMs / this.bucketMs));
    const n = Math.min(this.size, Math.ceil(windowMs / this.bucketMs));
    for (let b = Math.max(end - n + 1, this.head - this.size + 1); b <= end; b++) {
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
