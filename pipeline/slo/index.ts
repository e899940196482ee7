import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { timestampMs } from '../../lib/event-time.js';
import type { Logger } from '../../lib/log.js';
import type { Stage } from '../stage.js';
import { alertSubject, annotateAlertAt, annotateOpened, annotation, RememberedEvents, uncounted } from './annotate.js';
import { cellKey, destinationLabel } from './attribution.js';
import { docNodeGroup, findService, matchDestinationService, type Catalogue } from './catalogue.js';
import { anomalyCause, recordKind, verdict } from './causes.js';
import { EventClock } from './clock.js';
import { Judge, type Opened } from './judge.js';
import type { SloLedger } from './ledger.js';
import { emptyCounters, restoreServices, serviceStates, snapshotServices, STATE_VERSION, type SloCounters, type StateFile } from './state.js';
import { serviceStatus, type ServiceStatus } from './status.js';
import { RETAINED_MS, type SloTracker } from './tracker.js';

// The SLO stage: counts every catalogued service's connections into its SLOs'
// burn-rate windows, annotates each document with slo.*, and opens one
// incident (one slo_impact alert) per service while any multi-window pair
// fires. All time is event time (@timestamp). The pieces, each in its file:
// clock.ts (per-source watermark, far-future guard), judge.ts (the one
// judgement, minute by minute behind the watermark), annotate.ts (slo.* on
// documents and alerts), state.ts (what is kept and its snapshot), status.ts.

export type { Impact, SloAnnotation } from './annotate.js';
export type { ServiceStatus } from './status.js';
export type { SloCounters } from './state.js';

export interface SloStageOptions {
  log?: Logger;
  /** Wall clock: to refuse records dated too far ahead of it and to tell idle hosts; never used for windows. */
  now?: () => number;
  /** Event time with no pair firing before an incident counts as over (default 30 min). */
  resolveAfterMs?: number;
  /** A host that sent nothing for this long (wall clock) stops holding judgement back (default 60 s). */
  idleMs?: number;
  /** Records dated more than this ahead of the wall clock are not counted (default 10 min). */
  maxAheadMs?: number;
}

export interface SloStage extends Stage {
  /** Observe one document; what it counted is also noted in `ledger` (its partition's share). */
  process(doc: ConnectionDoc, ledger?: SloLedger): AlertDoc[];
  tick(eventTimeMs: number): AlertDoc[];
  /**
   * For callers that know every document up to `tMs` has been seen (the
   * report, reading in time order): judge up to there.
   */
  advanceWatermark(tMs: number): AlertDoc[];
  /** End of input (a backtest's file): no later document can change what was seen, so judge up to the newest. */
  flush(): AlertDoc[];
  annotateAlert(alert: AlertDoc): void;
  /** counts false: everything but the window counts (they are kept per partition, in ledgers). */
  snapshot(opts?: { counts?: boolean }): unknown;
  restore(state: unknown): void;
  /** Adds a partition's counts to the windows (its partition was assigned here); the minutes they touch are judged again. */
  attach(ledger: SloLedger): void;
  /** Takes a partition's counts out of the windows (its partition went elsewhere). */
  detach(ledger: SloLedger): void;
  /** Newest event time counted (ms), or null before the first document. */
  eventTimeMs(): number | null;
  status(service: string): ServiceStatus | undefined;
  statuses(): ServiceStatus[];
  /** Documents of catalogued services the stage did not count, or counted with a caveat, by reason. */
  counters(): SloCounters;
}

export function createSloStage(catalogue: Catalogue, opts: SloStageOptions = {}): SloStage {
  const resolveAfterMs = opts.resolveAfterMs ?? 30 * 60_000;
  const log = opts.log;
  let services = serviceStates(catalogue, resolveAfterMs);
  const clock = new EventClock({ idleMs: opts.idleMs ?? 60_000, maxAheadMs: opts.maxAheadMs ?? 10 * 60_000, now: opts.now ?? Date.now });
  let judge = new Judge([...services.values()], log);
  const remembered = new RememberedEvents();
  let counters = emptyCounters();
  let firstMs: number | null = null;
  const warned = new Set<keyof SloCounters>();

  /** Count it, and say it once in the log: every record left out is visible somewhere. */
  function note(reason: keyof SloCounters, fields: Record<string, unknown>, msg: string): void {
    counters[reason]++;
    if (warned.has(reason)) return;
    warned.add(reason);
    log?.warn({ ...fields, counter: reason }, `${msg} (further ones are counted in slo counters.${reason}, not logged)`);
  }

  const finish = (opened: Opened[]): AlertDoc[] => opened.map(annotateOpened);

  function process(doc: ConnectionDoc, ledger?: SloLedger): AlertDoc[] {
    const spec = findService(catalogue, doc);
    if (!spec) return [];
    const st = services.get(spec.name)!;
    const t = timestampMs(doc);
    if (Number.isNaN(t)) {
      note('bad_timestamp', { eventId: doc.event?.id, field: '@timestamp' }, 'document without a valid @timestamp is not counted in any SLO');
      doc.slo = uncounted(st) as unknown as Record<string, unknown>;
      return [];
    }
    if (clock.isFuture(t)) {
      note('future', { eventId: doc.event.id, '@timestamp': doc['@timestamp'], maxAheadMs: clock.opts.maxAheadMs }, 'document dated ahead of the wall clock is not counted in any SLO and does not move its clock; check the sending host\'s clock');
      doc.slo = uncounted(st) as unknown as Record<string, unknown>;
      return [];
    }
    const kind = recordKind(doc);
    if (kind === 'missing') note('no_record_kind', { eventId: doc.event.id }, 'document without connaudit.record_kind is judged as a final record (one document per connection, as other shippers write them)');
    else if (kind === 'interim') counters.interim++;
    const moved = clock.observe(doc.host?.name ?? '', t);
    const group = docNodeGroup(catalogue, doc);
    // The catalogue fills the node group an agent and the pipeline config did
    // not set, so the indexed connection carries the same connaudit.node_group
    // its slo_impact alert names, and analysts can pivot from one to the other.
    if (group !== undefined && doc.connaudit.node_group == null) doc.connaudit.node_group = group;
    const dest = matchDestinationService(catalogue, doc);
    const cause = anomalyCause(doc, spec.slowConnectMs);
    const destination = destinationLabel(dest?.name, doc);
    const badFor: SloTracker[] = [];
    let counted = false;
    let late = false;
    for (const tr of st.trackers) {
      const v = verdict(doc, tr.slo);
      if (v === 'not_counted') continue;
      const isBad = v === 'bad';
      const cell = isBad ? cellKey(cause ?? 'other', group, destination) : undefined;
      if (!tr.record(t, isBad, cell)) {
        note('too_late', { eventId: doc.event.id, '@timestamp': doc['@timestamp'], retainedMs: RETAINED_MS }, 'document is older than the SLO windows keep; not counted');
        continue;
      }
      ledger?.note(spec.name, tr.slo.name, t, isBad, cell);
      counted = true;
      if (isBad) badFor.push(tr);
    }
    if (counted) {
      if (firstMs === null || t < firstMs) firstMs = t;
      late = judge.counted(t);
      if (late) {
        counters.late++;
        // Normal when partitions drain unevenly: said once, at info; the count is in counters.late.
        if (counters.late === 1) log?.info({ eventId: doc.event.id, '@timestamp': doc['@timestamp'], host: doc.host?.name }, 'SLO: records arrived for minutes already judged; those minutes are judged again (further ones are counted in counters.late)');
      }
    }
    if (badFor.length > 0) st.evidence.add(t, doc.event.id);
    const alerts = finish(late ? judge.rejudgeMinute(t) : moved ? judge.advance(clock.watermark(), firstMs) : []);
    const ann = annotation(st, badFor, cause !== undefined, t, judge.ahead(t));
    if (badFor.length > 0 || cause !== undefined) ann.cause = cause ?? 'other';
    if (group !== undefined) ann.node_group = group;
    if (dest) ann.destination_service = dest.name;
    doc.slo = ann as unknown as Record<string, unknown>;
    remembered.set(doc.event.id, { service: spec.name, bad: badFor.length > 0, anomaly: cause !== undefined });
    return alerts;
  }

  /**
   * Once per batch. The batch's newest time is NOT a watermark (the batch is
   * one partition, which may run ahead of the others), so it moves nothing:
   * the tick judges again the minutes that counted late records.
   */
  function tick(_eventTimeMs: number): AlertDoc[] {
    return finish([...judge.rejudge(), ...judge.advance(clock.watermark(), firstMs)]);
  }

  function advanceWatermark(tMs: number): AlertDoc[] {
    if (!Number.isFinite(tMs) || clock.isFuture(tMs)) return [];
    const opened = judge.rejudge();
    // The pipeline vouches with the wall clock once its input is idle, which
    // may be far past the newest record (a replay of old data). Judge.advance
    // skips to the minutes the rings still hold after such a jump, so the
    // minutes that hold records are judged first: none of them is skipped.
    const newest = clock.newestMs();
    if (newest !== null && tMs > newest + 60_000) {
      clock.vouch(newest + 60_000);
      opened.push(...judge.advance(clock.watermark(), firstMs));
    }
    clock.vouch(tMs);
    return finish([...opened, ...judge.advance(clock.watermark(), firstMs)]);
  }

  function flush(): AlertDoc[] {
    const newest = clock.newestMs();
    return newest === null ? [] : advanceWatermark(newest + 60_000);
  }

  function annotateAlert(alert: AlertDoc): void {
    if (alert.rule?.category === 'slo_impact' && alert.slo) return;
    const subject = alertSubject(alert, catalogue, services, remembered);
    if (!subject) return;
    // As of the alert's own time: a rule alert about a late partition's events is about then, not now.
    const at = Date.parse(alert['@timestamp']);
    const now = clock.newestMs();
    annotateAlertAt(alert, subject.st, subject, Number.isNaN(at) ? (now ?? 0) : now === null ? at : Math.min(at, now));
  }

  function snapshot(opts: { counts?: boolean } = {}): StateFile {
    return {
      version: STATE_VERSION,
      nowMs: clock.newestMs(),
      judgedTo: judge.judgedTo,
      dirtyFrom: judge.dirtyFrom,
      clock: clock.snapshot(),
      counters: { ...counters },
      services: snapshotServices(services, opts.counts ?? true),
    };
  }

  function merge(ledger: SloLedger, sign: 1 | -1): void {
    for (const [service, slo, counts] of ledger.entries()) {
      // A service or SLO removed from the catalogue since: nothing to add to.
      const tr = services.get(service)?.trackers.find((x) => x.slo.name === slo);
      tr?.merge(counts, sign);
    }
    if (sign === 1) {
      const oldest = ledger.oldestMs();
      if (oldest !== null) {
        if (firstMs === null || oldest < firstMs) firstMs = oldest;
        judge.counted(oldest);
      }
    }
  }

  function restore(state: unknown): void {
    const s = state as StateFile | null;
    const fresh = serviceStates(catalogue, resolveAfterMs);
    if (!restoreServices(fresh, s, resolveAfterMs, log)) return;
    services = fresh;
    judge = new Judge([...services.values()], log);
    const v = s!;
    clock.restore(v.clock, v.nowMs);
    counters = { ...emptyCounters(), ...(v.counters ?? {}) };
    // Older states judged every document as it came: start judging at the newest time they saw.
    judge.judgedTo = v.version === STATE_VERSION ? (v.judgedTo ?? null) : v.nowMs === null ? null : Math.floor(v.nowMs / 60_000);
    judge.dirtyFrom = v.dirtyFrom ?? null;
    firstMs = null;
    for (const st of services.values()) for (const tr of st.trackers) {
      const f = tr.firstMs();
      if (f !== null && (firstMs === null || f < firstMs)) firstMs = f;
    }
  }

  return {
    name: 'slo',
    process,
    tick,
    advanceWatermark,
    flush,
    snapshot,
    restore,
    attach: (l) => merge(l, 1),
    detach: (l) => merge(l, -1),
    annotateAlert,
    eventTimeMs: () => clock.newestMs(),
    status: (name) => {
      const st = services.get(name);
      return st ? serviceStatus(st, clock.newestMs()) : undefined;
    },
    statuses: () => [...services.values()].map((st) => serviceStatus(st, clock.newestMs())),
    counters: () => ({ ...counters }),
  };
}

export { loadCatalogue, matchService, matchDestinationService, nodeGroupOf, type Catalogue } from './catalogue.js';
