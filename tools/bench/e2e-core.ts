// The pure parts of `connaudit bench e2e` (e2e.ts): pacing the producer,
// summarising latencies, and deciding whether a run sustained its rate and
// which rate to try next. Kept apart so they are tested without a broker.

/**
 * Records to send now so that `sent` catches up with `rate` per second after
 * `elapsedMs`. At most `maxBurst`: a producer that fell behind (a slow send, a
 * GC pause) catches up in bounded steps instead of one huge batch, and the
 * run reports the rate it really reached.
 */
export function dueRecords(rate: number, elapsedMs: number, sent: number, maxBurst: number): number {
  const want = Math.floor((rate * elapsedMs) / 1000);
  return Math.max(0, Math.min(maxBurst, want - sent));
}

/** The nearest-rank percentile (q in 0..1) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarise(values: readonly number[]): LatencySummary {
  const s = [...values].sort((a, b) => a - b);
  return { samples: s.length, p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s.length ? s[s.length - 1]! : Number.NaN };
}

/** What one paced run measured, as far as the verdict needs it. */
export interface RunCounts {
  rate: number;
  /** Records per second the producer really reached over the run. */
  achievedRate: number;
  produced: number;
  /** Documents searchable at the end (after the drain). */
  indexed: number;
  /** Sampled records that never became searchable. */
  samplesMissing: number;
  /** Seconds from the end of production until every record was searchable; NaN if never. */
  drainS: number;
  latency: LatencySummary;
}

export interface Limits {
  /** Latest a record may become searchable, seconds after its close (the bounded lag). */
  maxLagS: number;
  /** Share of the asked rate the producer must reach (default 0.95). */
  minRateShare?: number;
}

/** Sustained: nothing lost, the asked rate reached, and no record later than maxLagS. */
export function judge(r: RunCounts, l: Limits): { sustained: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (r.indexed !== r.produced) reasons.push(`${r.produced - r.indexed} of ${r.produced} records not searchable after the drain`);
  if (r.samplesMissing > 0) reasons.push(`${r.samplesMissing} sampled records never became searchable`);
  const share = l.minRateShare ?? 0.95;
  if (r.achievedRate < share * r.rate) reasons.push(`producer reached ${Math.round(r.achievedRate)}/s of ${r.rate}/s asked`);
  if (!(r.drainS <= l.maxLagS)) reasons.push(`backlog took ${Number.isNaN(r.drainS) ? 'longer than the drain timeout' : `${r.drainS.toFixed(1)} s`} to clear after production stopped (limit ${l.maxLagS} s)`);
  if (!(r.latency.max <= l.maxLagS)) reasons.push(`slowest sampled record searchable after ${r.latency.max.toFixed(2)} s (limit ${l.maxLagS} s)`);
  return { sustained: reasons.length === 0, reasons };
}

export interface SearchOptions {
  start: number;
  /** Multiply the rate by this while runs are sustained (default 2). */
  factor?: number;
  /** Stop bisecting once the failing rate is within this ratio of the sustained one (default 1.15). */
  resolution?: number;
  maxSteps: number;
}

/**
 * The next rate of the step search, or undefined when done: grow by `factor`
 * until a run fails, then bisect between the highest sustained and the lowest
 * failing rate. At most maxSteps runs, so the search is bounded in time.
 */
export function nextRate(history: ReadonlyArray<{ rate: number; sustained: boolean }>, o: SearchOptions): number | undefined {
  if (history.length >= o.maxSteps) return undefined;
  if (history.length === 0) return o.start;
  const passed = history.filter((h) => h.sustained).map((h) => h.rate);
  const failed = history.filter((h) => !h.sustained).map((h) => h.rate);
  const best = passed.length ? Math.max(...passed) : undefined;
  const worst = failed.length ? Math.min(...failed) : undefined;
  if (worst === undefined) return Math.round(best! * (o.factor ?? 2));
  if (best === undefined) {
    // Even the first rate failed: halve, down to a floor where a run still means something.
    const next = Math.round(worst / 2);
    return next >= 100 ? next : undefined;
  }
  if (worst / best <= (o.resolution ?? 1.15)) return undefined;
  return Math.round((best + worst) / 2);
}

/** The highest sustained rate of a search, or undefined if none was. */
export function highestSustained(history: ReadonlyArray<{ rate: number; sustained: boolean }>): number | undefined {
  const passed = history.filter((h) => h.sustained).map((h) => h.rate);
  return passed.length ? Math.max(...passed) : undefined;
}
