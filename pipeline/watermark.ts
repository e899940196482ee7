// Event-time watermarks per input partition (topic:partition), as stream
// processors keep them. A partition's watermark is the newest event time it
// delivered minus the allowed lateness; the instance's watermark is the
// minimum over the partitions still sending, and it never goes back.
//
// Event time alone stops when records stop: on a fleet that goes quiet, the
// last windows would never close and their alerts never be raised. So a
// partition that delivered nothing for `idleTimeoutMs` of wall time, and that
// the consumer has read to its end (lag 0), is idle. Idle partitions stop
// holding the others back (Flink's WatermarkStrategy.withIdleness); once
// every partition is idle, the watermark follows processing time (the wall
// clock minus the allowed lateness), which is Kafka Streams' "stream time
// plus grace" with the wall clock standing in for the records that do not
// come. A record dated before the watermark when it arrives is late: the
// caller counts it (it is still indexed and evaluated, see batch.ts).
//
// A stalled consumer (a batch in flight or retrying against a failing
// Elasticsearch) is not a quiet fleet: the records it has not read are older
// than the wall clock, and advancing by processing time would make them all
// late. The caller says so with `stalled`, and the watermark then moves only
// by event time.

export const DEFAULT_IDLE_TIMEOUT_S = 30;
export const DEFAULT_ALLOWED_LATENESS_S = 60;

export interface WatermarkOptions {
  /** A caught-up partition that delivered nothing for this long (wall clock) is idle. */
  idleTimeoutMs: number;
  /** Subtracted from event time (and from processing time once all are idle). */
  allowedLatenessMs: number;
  /** Wall clock (ms); injectable for tests. */
  now?: () => number;
}

export interface WatermarkState {
  /** The instance watermark (ms), or null before any record. */
  ms: number | null;
  /** Every partition with records is idle: the watermark followed processing time. */
  allIdle: boolean;
  partitions: number;
  idlePartitions: number;
}

interface Source {
  newest: number;
  /** Wall time of the last record. */
  heard: number;
}

export const sourceKey = (topic: string, partition: number): string => `${topic}:${partition}`;

export class Watermarks {
  private readonly sources = new Map<string, Source>();
  /** Per partition: messages behind its end at the last commit (absent: not reported yet). */
  private readonly lags = new Map<string, number>();
  private emitted: number | null = null;
  private readonly now: () => number;

  constructor(readonly opts: WatermarkOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The watermark last computed (ms), or null before any record. */
  get current(): number | null {
    return this.emitted;
  }

  /** Whether a record at `tMs` arrives after the watermark passed it. */
  isLate(tMs: number): boolean {
    return this.emitted !== null && tMs < this.emitted;
  }

  /** One record of partition `source`, with its event time; returns whether it is late. */
  observe(source: string, tMs: number): boolean {
    const late = this.isLate(tMs);
    const heard = this.now();
    const s = this.sources.get(source);
    if (!s) this.sources.set(source, { newest: tMs, heard });
    else {
      if (tMs > s.newest) s.newest = tMs;
      s.heard = heard;
    }
    return late;
  }

  /** The consumer's lag on `source` after a commit: a partition with unread records is never idle. */
  lag(source: string, lag: number): void {
    this.lags.set(source, lag);
  }

  /** Every partition was read to its end at its last commit: nothing is waiting to be read. */
  caughtUp(): boolean {
    for (const lag of this.lags.values()) if (lag > 0) return false;
    return true;
  }

  /** Forgets partitions no longer assigned (after a rebalance), so they do not hold the watermark. */
  retain(assigned: Record<string, number[]>): void {
    const keep = new Set(Object.entries(assigned).flatMap(([t, ps]) => ps.map((p) => sourceKey(t, p))));
    for (const k of this.sources.keys()) if (!keep.has(k)) this.sources.delete(k);
    for (const k of this.lags.keys()) if (!keep.has(k)) this.lags.delete(k);
  }

  /** Recomputes the watermark; `stalled`: the consumer is not keeping up, so no processing-time advance. */
  advance(stalled = false): WatermarkState {
    const now = this.now();
    const lateness = this.opts.allowedLatenessMs;
    let activeMin = Number.POSITIVE_INFINITY;
    let idleMin = Number.POSITIVE_INFINITY;
    let newest = Number.NEGATIVE_INFINITY;
    let idle = 0;
    for (const [k, s] of this.sources) {
      if (s.newest > newest) newest = s.newest;
      const isIdle = now - s.heard >= this.opts.idleTimeoutMs && (this.lags.get(k) ?? 0) === 0;
      if (isIdle) {
        idle++;
        if (Math.max(s.newest, now) < idleMin) idleMin = Math.max(s.newest, now);
      } else if (s.newest < activeMin) activeMin = s.newest;
    }
    const partitions = this.sources.size;
    const allIdle = partitions > 0 && idle === partitions;
    let candidate: number | null = null;
    if (activeMin !== Number.POSITIVE_INFINITY) candidate = activeMin - lateness;
    else if (allIdle) candidate = (stalled ? newest : idleMin) - lateness;
    if (candidate !== null && (this.emitted === null || candidate > this.emitted)) this.emitted = candidate;
    return { ms: this.emitted, allIdle: allIdle && !stalled, partitions, idlePartitions: idle };
  }
}

/** The pipeline config's `watermark` section, with defaults, as options. */
export function watermarkOptions(cfg: { idle_timeout_s?: number; allowed_lateness_s?: number } | undefined): WatermarkOptions {
  return { idleTimeoutMs: (cfg?.idle_timeout_s ?? DEFAULT_IDLE_TIMEOUT_S) * 1000, allowedLatenessMs: (cfg?.allowed_lateness_s ?? DEFAULT_ALLOWED_LATENESS_S) * 1000 };
}
