// The SLO stage's event-time clock. A minute of event time is judged once
// every source has moved past it: Kafka keys records by host, so each host's
// records arrive in time order, but hosts (partitions) arrive interleaved, and
// judging a minute before the slower hosts' share of it has arrived would put
// the alert at another time, with other burn rates and another attribution,
// than the report over the same documents (which reads them in time order).
// This is the per-source watermark of stream processors (Flink's
// WatermarkStrategy with idleness): the watermark is the oldest "newest time"
// among the sources still sending; a source that has sent nothing for
// `idleMs` of WALL time is idle and no longer holds the others back (its late
// records are still counted, and their minutes judged again). Idleness is
// wall time, not event time: a partition that carries two hosts delivers each
// of them half as fast, and falls behind in event time without being idle.
// And only wall time while records flow counts: a pause of the whole pipeline
// (Elasticsearch down, a rebalance, a quiet night) silences every host at
// once and must not make the first partition to resume look like the only
// one sending. A gap between two calls counts for at most MAX_GAP_MS.
//
// A fleet that goes quiet altogether is told apart from a paused pipeline one
// level up, where Kafka's offsets are known: pipeline/watermark.ts marks an
// input partition idle only once it has been read to its end (lag 0) and the
// consumer is not stalled, and when every partition is, the pipeline vouches
// for its processing-time watermark (SloStage.advanceWatermark -> vouch()),
// so the last minutes are judged and their slo_impact alert raised.
//
// Records dated ahead of the wall clock by more than `maxAheadMs` are refused
// here: one host with a bad clock (or a forged record) must not drag the
// watermark days ahead and turn every real record into a late one.

export interface ClockOptions {
  /** A source that sent nothing for this long (wall clock while records flow) stops holding the watermark back. */
  idleMs: number;
  /** Records dated further than this ahead of the wall clock are not counted. */
  maxAheadMs: number;
  now: () => number;
}

const MAX_GAP_MS = 5_000;

export interface ClockSnapshot {
  /** Source and its newest event time. */
  sources: Array<[string, number]>;
  external: number | null;
}

export class EventClock {
  /** Per source: newest event time, and the activity time it was last heard from. */
  private readonly sources = new Map<string, { t: number; heard: number }>();
  /** Wall time the stage spent with records flowing (gaps capped at MAX_GAP_MS). */
  private activity = 0;
  private lastWall: number | null = null;
  private newest: number | null = null;
  /** A watermark the caller vouches for (the report's time-ordered input). */
  private external: number | null = null;

  constructor(readonly opts: ClockOptions) {}

  private active(): number {
    const w = this.opts.now();
    if (this.lastWall !== null) this.activity += Math.min(Math.max(0, w - this.lastWall), MAX_GAP_MS);
    this.lastWall = w;
    return this.activity;
  }

  /** Whether a record at `tMs` is too far ahead of the wall clock to count. */
  isFuture(tMs: number): boolean {
    return tMs > this.opts.now() + this.opts.maxAheadMs;
  }

  /**
   * Returns true when the source moved into a later minute (or is new): only
   * then can the watermark have closed a minute, so the caller need not
   * recompute it (a walk over every source) for every record.
   */
  observe(source: string, tMs: number): boolean {
    const prev = this.sources.get(source);
    const heard = this.active();
    let moved = true;
    if (prev === undefined) this.sources.set(source, { t: tMs, heard });
    else {
      moved = Math.floor(tMs / 60_000) > Math.floor(prev.t / 60_000);
      if (tMs > prev.t) prev.t = tMs;
      prev.heard = heard;
    }
    if (this.newest === null || tMs > this.newest) this.newest = tMs;
    return moved;
  }

  /** Everything up to `tMs` has been seen (only for callers that know: time-ordered input). */
  vouch(tMs: number): void {
    if (this.external === null || tMs > this.external) this.external = tMs;
  }

  newestMs(): number | null {
    return this.newest;
  }

  /** Event time up to which every active source has been seen, or null before the first record. */
  watermark(): number | null {
    if (this.newest === null) return this.external;
    let wm = Number.POSITIVE_INFINITY;
    const idleBefore = this.active() - this.opts.idleMs;
    for (const s of this.sources.values()) if (s.heard >= idleBefore && s.t < wm) wm = s.t;
    if (wm === Number.POSITIVE_INFINITY) wm = this.newest;
    if (this.external !== null && this.external > wm) wm = this.external;
    // Idle sources are forgotten once there are many, so a fleet's churn does not grow this map.
    if (this.sources.size > 4096) for (const [k, s] of this.sources) if (s.heard < idleBefore) this.sources.delete(k);
    return wm;
  }

  snapshot(): ClockSnapshot {
    return { sources: [...this.sources].map(([k, s]) => [k, s.t]), external: this.external };
  }

  /** Restored sources count as just heard from: each holds the watermark until it sends again or falls idle. */
  restore(s: ClockSnapshot | undefined, newestMs: number | null): void {
    this.sources.clear();
    const heard = this.active();
    for (const [k, t] of s?.sources ?? []) this.sources.set(k, { t, heard });
    this.external = s?.external ?? null;
    this.newest = newestMs;
  }
}
