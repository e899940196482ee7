import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Stage } from '../stage.js';

// The backtest loop: the same stages as the pipeline, fed from a file in
// event-time order, ticking the stages as event time advances (the pipeline
// ticks once per batch; here once per TICK_EVERY documents). At the end of the
// file, stages that wait for event time to pass (a pivot chain's root waits
// its lateness margin) are flushed: no later document can change them.

const TICK_EVERY = 1000;

/** The rule stage's end-of-input hook; not part of the pipeline's Stage contract, which never ends. */
const hasFlush = (s: Stage): s is Stage & { flush(): AlertDoc[] } => typeof (s as { flush?: unknown }).flush === 'function';

export interface BacktestResult {
  events: number;
  alerts: number;
  elapsedMs: number;
}

export async function runBacktest(
  docs: AsyncIterable<ConnectionDoc>,
  prepare: (doc: ConnectionDoc) => void,
  stages: Stage[],
  onAlert: (a: AlertDoc) => void,
): Promise<BacktestResult> {
  const started = performance.now();
  let events = 0;
  let alerts = 0;
  let maxT = Number.NEGATIVE_INFINITY;
  const emit = (list: AlertDoc[]) => {
    for (const a of list) {
      for (const s of stages) s.annotateAlert?.(a);
      alerts++;
      onAlert(a);
    }
  };
  for await (const doc of docs) {
    prepare(doc);
    events++;
    const t = Date.parse(doc['@timestamp']);
    if (t > maxT) maxT = t;
    for (const s of stages) emit(s.process(doc));
    if (events % TICK_EVERY === 0) for (const s of stages) emit(s.tick?.(maxT) ?? []);
  }
  if (events > 0) for (const s of stages) emit(s.tick?.(maxT) ?? []);
  for (const s of stages) if (hasFlush(s)) emit(s.flush());
  return { events, alerts, elapsedMs: performance.now() - started };
}
