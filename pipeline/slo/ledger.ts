import { RETAINED_MS } from './tracker.js';

// One input partition's share of the SLO counts. The SLO stage judges over
// the sum of the partitions its instance owns (a burn rate is a ratio over
// the whole service, never over one host); each partition also notes what it
// added here, and this ledger is the state that moves with the partition
// (pipeline/tasks.ts): the new owner adds it to its sums, the old owner takes
// it out. Same buckets as the trackers (minute, hour, minute cells), sparse.

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** [bucket index, total, bad] */
export type BucketCount = [number, number, number];
/** [minute bucket index, attribution cell, bad count] */
export type CellCount = [number, string, number];

export interface LedgerCounts {
  minutes: BucketCount[];
  hours: BucketCount[];
  cells: CellCount[];
}

export interface LedgerSnapshot {
  version: 1;
  newestMs: number | null;
  /** service -> SLO -> counts */
  services: Record<string, Record<string, LedgerCounts>>;
}

class Counts {
  readonly minutes = new Map<number, [number, number]>();
  readonly hours = new Map<number, [number, number]>();
  readonly cells = new Map<number, Map<string, number>>();

  add(tMs: number, isBad: boolean, cell: string | undefined): void {
    bump(this.minutes, Math.floor(tMs / MINUTE), isBad);
    bump(this.hours, Math.floor(tMs / HOUR), isBad);
    if (isBad && cell !== undefined) {
      const b = Math.floor(tMs / MINUTE);
      const m = this.cells.get(b) ?? new Map<string, number>();
      this.cells.set(b, m);
      m.set(cell, (m.get(cell) ?? 0) + 1);
    }
  }

  prune(oldestMs: number): void {
    for (const k of this.minutes.keys()) if (k * MINUTE < oldestMs) this.minutes.delete(k);
    for (const k of this.cells.keys()) if (k * MINUTE < oldestMs) this.cells.delete(k);
    for (const k of this.hours.keys()) if ((k + 1) * HOUR <= oldestMs) this.hours.delete(k);
  }

  toJSON(): LedgerCounts {
    return {
      minutes: [...this.minutes].map(([b, [t, x]]) => [b, t, x]),
      hours: [...this.hours].map(([b, [t, x]]) => [b, t, x]),
      cells: [...this.cells].flatMap(([b, m]) => [...m].map(([k, n]) => [b, k, n] as CellCount)),
    };
  }

  static from(c: LedgerCounts): Counts {
    const out = new Counts();
    for (const [b, t, x] of c.minutes) out.minutes.set(b, [t, x]);
    for (const [b, t, x] of c.hours) out.hours.set(b, [t, x]);
    for (const [b, k, n] of c.cells) {
      const m = out.cells.get(b) ?? new Map<string, number>();
      out.cells.set(b, m);
      m.set(k, n);
    }
    return out;
  }
}

function bump(m: Map<number, [number, number]>, b: number, isBad: boolean): void {
  const c = m.get(b);
  if (c) {
    c[0]++;
    if (isBad) c[1]++;
  } else m.set(b, [1, isBad ? 1 : 0]);
}

export class SloLedger {
  private readonly services = new Map<string, Map<string, Counts>>();
  private newestMs: number | null = null;
  private notes = 0;

  /** The stage counted one event of `service`/`slo` from this partition. */
  note(service: string, slo: string, tMs: number, isBad: boolean, cell?: string): void {
    let bySlo = this.services.get(service);
    if (!bySlo) this.services.set(service, (bySlo = new Map()));
    let c = bySlo.get(slo);
    if (!c) bySlo.set(slo, (c = new Counts()));
    c.add(tMs, isBad, cell);
    if (this.newestMs === null || tMs > this.newestMs) this.newestMs = tMs;
    // Buckets the trackers no longer keep cannot matter: forget them now and then.
    if (++this.notes % 10_000 === 0) this.prune();
  }

  private prune(): void {
    if (this.newestMs === null) return;
    for (const bySlo of this.services.values()) for (const c of bySlo.values()) c.prune(this.newestMs - RETAINED_MS);
  }

  /** Every service/SLO with its counts, for adding to (or taking out of) the trackers. */
  *entries(): Generator<[string, string, LedgerCounts]> {
    for (const [service, bySlo] of this.services) for (const [slo, c] of bySlo) yield [service, slo, c.toJSON()];
  }

  /** Event time of the oldest minute counted, or null. */
  oldestMs(): number | null {
    let min: number | null = null;
    for (const bySlo of this.services.values()) for (const c of bySlo.values()) for (const b of c.minutes.keys()) if (min === null || b * MINUTE < min) min = b * MINUTE;
    return min;
  }

  snapshot(): LedgerSnapshot {
    this.prune();
    const services: LedgerSnapshot['services'] = {};
    for (const [service, bySlo] of this.services) services[service] = Object.fromEntries([...bySlo].map(([slo, c]) => [slo, c.toJSON()]));
    return { version: 1, newestMs: this.newestMs, services };
  }

  static restore(s: unknown): SloLedger {
    const out = new SloLedger();
    const snap = s as LedgerSnapshot | null;
    if (!snap || snap.version !== 1) return out;
    out.newestMs = snap.newestMs;
    for (const [service, bySlo] of Object.entries(snap.services ?? {})) {
      out.services.set(service, new Map(Object.entries(bySlo).map(([slo, c]) => [slo, Counts.from(c)])));
    }
    return out;
  }
}
