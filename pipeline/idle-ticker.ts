import type { AlertDoc } from '../lib/alert.js';
import { TOPIC_REKEY } from '../lib/names.js';
import type { AlertOutbox } from './alert-outbox.js';
import { alertOps, deliver, type BatchSinks } from './batch.js';
import type { ForwardOutbox, RekeyStage } from './rekey.js';
import type { Serial } from './serial.js';
import type { Watermarks, WatermarkState } from './watermark.js';

// Moves event time when records do not. Batches tick the stages with what
// they carry; on a fleet that has gone quiet no batch comes, so windows that
// wait for event time to pass (pivot-chain roots, SLO minutes) would never
// close. Once a second this ticker reads the input partitions' watermark
// (watermark.ts: idle partitions advance by processing time) and, when it has
// moved, ticks the primary stage set with it, then the cross-host set with
// the primary's watermark, once the rekey consumer has read everything
// already re-keyed (its input comes from the primary: what the primary has
// passed and the rekey consumer has read is all there is up to there). The
// alerts this raises go out as a batch's do: through the consumer's
// AlertOutbox (a failed delivery is retried on the next tick or batch, never
// lost), and pivot forwards through its ForwardOutbox. Each set runs under
// its consumer's Serial, so a tick never interleaves with a batch.

export interface TickedSet {
  tick(eventTimeMs: number): AlertDoc[];
  advanceWatermark(eventTimeMs: number): AlertDoc[];
  annotate(alerts: AlertDoc[]): void;
}

export interface TickTarget {
  group: string;
  set: TickedSet;
  watermarks: Watermarks;
  /** The consumer: joined, its assignment, and chunks in flight (a busy or retrying consumer is stalled). */
  consumer(): { joined: boolean; busy: number; assigned: Record<string, number[]> } | undefined;
  serial: Serial;
  alertOutbox: AlertOutbox;
  /** Cross-host set: the pivot forwards its tick raises, published to the rekey topic. */
  forwards?: { outbox: ForwardOutbox; stages(): readonly RekeyStage[] };
  /** Persists the set's state (after its tick raised something and it was delivered). */
  save(): void | Promise<void>;
}

export interface TickerOptions {
  primary: TickTarget;
  cross?: TickTarget;
  sinks: BatchSinks;
  /** Default 1000 ms. */
  everyMs?: number;
  onWatermark?(group: string, state: WatermarkState): void;
  onAlerts?(n: number): void;
}

/** Per target: the watermark its stages were last ticked with. */
const ticked = new WeakMap<TickTarget, number>();

/** What one target is ticked with now, or null (not joined, stalled, nothing new). */
function tickTime(t: TickTarget, upstream: WatermarkState | undefined, onWatermark: TickerOptions['onWatermark']): { ms: number; vouched: boolean; state: WatermarkState } | null {
  const c = t.consumer();
  if (!c?.joined) return null;
  t.watermarks.retain(c.assigned);
  const own = t.watermarks.advance(c.busy > 0);
  let ms: number | null;
  let vouched: boolean;
  if (!upstream) {
    ms = own.ms;
    vouched = own.allIdle;
  } else {
    // Re-keyed documents still unread (lag) or in a batch may be older than
    // the primary's watermark: wait until the rekey consumer has caught up.
    if (upstream.ms === null || c.busy > 0 || !t.watermarks.caughtUp()) return null;
    ms = upstream.ms;
    vouched = false;
  }
  if (ms === null) return null;
  // What this set's windows are closed up to (for the cross-host set: the primary's, not its own input's).
  onWatermark?.(t.group, { ...own, ms });
  const last = ticked.get(t);
  if (last !== undefined && ms <= last) return null;
  return { ms, vouched, state: own };
}

async function runTarget(t: TickTarget, time: { ms: number; vouched: boolean } | null, o: TickerOptions): Promise<number> {
  if (!time && t.alertOutbox.size === 0 && !(t.forwards && t.forwards.outbox.size > 0)) return 0;
  return t.serial.run(async () => {
    let alerts: AlertDoc[] = [];
    if (time) {
      alerts = time.vouched ? t.set.advanceWatermark(time.ms) : t.set.tick(time.ms);
      ticked.set(t, time.ms);
      t.forwards?.outbox.collect(t.forwards.stages());
      t.set.annotate(alerts);
    }
    const owed = t.alertOutbox.take(alerts);
    if (owed.length > 0) {
      await deliver(alertOps(owed), [], o.sinks);
      t.alertOutbox.delivered();
    }
    const forwarded = t.forwards && t.forwards.outbox.size > 0 ? await t.forwards.outbox.publish(o.sinks.producer, TOPIC_REKEY) : 0;
    if (alerts.length > 0 || forwarded > 0) {
      await t.save();
      o.sinks.log.info({ group: t.group, watermark: time ? new Date(time.ms).toISOString() : undefined, alerts: alerts.length, forwarded, delivered: owed.length }, 'event time moved without records (idle partitions): closed windows delivered');
    }
    o.onAlerts?.(alerts.length);
    return alerts.length;
  });
}

/** One round: the primary set, then the cross-host set. Resolves with the alerts raised. */
export async function tickOnce(o: TickerOptions): Promise<number> {
  const p = tickTime(o.primary, undefined, o.onWatermark);
  let n = await runTarget(o.primary, p, o);
  if (o.cross) {
    const upstream = o.primary.watermarks.advance(true);
    n += await runTarget(o.cross, tickTime(o.cross, upstream, o.onWatermark), o);
  }
  return n;
}

export interface IdleTicker {
  stop(): Promise<void>;
}

export function startIdleTicker(o: TickerOptions): IdleTicker {
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = tickOnce(o)
      .catch((err: Error) => o.sinks.log.warn({ err: err.message }, 'idle tick failed (Elasticsearch or Kafka unreachable?); its alerts stay owed and go out with the next tick or batch'))
      .finally(() => { running = undefined; });
  }, o.everyMs ?? 1000);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
