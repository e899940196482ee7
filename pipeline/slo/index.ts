import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Logger } from '../../lib/log.js';
import type { Stage } from '../stage.js';
import { sloImpactAlert, type FiringSlo } from './alert.js';
import { cellKey, contributors, destinationLabel, topNodeGroup, type Contributor } from './attribution.js';
import { docNodeGroup, findService, matchDestinationService, type Catalogue, type ServiceSpec } from './catalogue.js';
import { anomalyCause, verdict, type Cause } from './causes.js';
import { Incidents, type Incident } from './incidents.js';
import { SloTracker, RETAINED_MS, type BurnRates, type TrackerSnapshot } from './tracker.js';
import { WINDOW_MINUTES } from './windows.js';
import { pseudoDocFromAlert, alertEventIds } from './alert-fields.js';

// The SLO stage: counts every catalogued service's connections into its SLOs'
// burn-rate windows, annotates each document with slo.*, and opens one
// incident (one slo_impact alert) per service while any multi-window pair
// fires. All time is event time (@timestamp), and every judgement about a
// document (pairs firing, burn rates, budget, attribution, "burning") is made
// AS OF that document's own time: Kafka hands us one partition, i.e. one
// host, at a time, so the newest time seen says nothing about where a given
// document sits. See tracker.ts for the windows and incidents.ts for how
// incidents found out of order are kept to one alert each.

export type Impact = 'user_impacting' | 'infrastructure_only' | 'none';

/**
 * The slo.* annotation. The numbers describe the service's most relevant SLO
 * for this event: the one it was bad for, else the one burning fastest.
 */
export interface SloAnnotation {
  service: { name: string; owner?: string; environment?: string };
  name?: string;
  type?: 'availability' | 'latency';
  objective?: number;
  period?: string;
  /** Burn rate per window: 1 = spending the budget exactly over the period. */
  burn_rate?: BurnRates;
  /** 1 = untouched, 0 = spent, below 0 = overspent, over the SLO period. */
  budget_remaining?: number;
  impact: Impact;
  /** This event is a bad event of at least one of the service's SLOs. */
  bad: boolean;
  /** This event's time falls in one of the service's incidents (a multi-window pair fired up to resolveAfterMs before it). */
  burning: boolean;
  cause?: Cause;
  node_group?: string;
  destination_service?: string;
}

export interface SloStageOptions {
  /** Where state is kept between runs when no pipeline stores snapshot() for us. */
  stateDir?: string;
  log?: Logger;
  /** Wall clock, only to pace state writes; never used for windows. */
  now?: () => number;
  /** Event time with no pair firing before an incident counts as over (default 30 min). */
  resolveAfterMs?: number;
}

interface ServiceState {
  spec: ServiceSpec;
  trackers: SloTracker[];
  incidents: Incidents;
  /** Most recent bad event ids, for the alert's evidence list (bounded). */
  recentBad: string[];
}

export interface ServiceStatus {
  service: string;
  burning: boolean;
  environment?: string;
  owner?: string;
  slos: Array<{
    name: string; type: 'availability' | 'latency'; objective: number; period: string; threshold_ms?: number;
    burn_rate: BurnRates; budget_remaining: number; total_1h: number; bad_1h: number; period_total: number; period_bad: number;
  }>;
}

export interface SloStage extends Stage {
  tick(eventTimeMs: number): AlertDoc[];
  annotateAlert(alert: AlertDoc): void;
  snapshot(): unknown;
  restore(state: unknown): void;
  /** Newest event time seen (ms), or null before the first document. */
  eventTimeMs(): number | null;
  status(service: string): ServiceStatus | undefined;
  statuses(): ServiceStatus[];
  /** Write state to stateDir now (no-op without one). */
  persist(): void;
}

// Version 2 keeps every recent incident (`incidents`) instead of the one open
// incident (`incident`), and its rings keep RETAINED_MS instead of the longest
// window. restore() still reads version 1: the rings have the same shape, and
// its open incident becomes the only known one.
const STATE_VERSION = 2;
const MAX_RECENT_BAD = 20;
const MAX_REMEMBERED_EVENTS = 20_000;
const PERSIST_EVERY_MS = 30_000;

interface StateFile {
  version: number;
  nowMs: number | null;
  services: Record<string, { incidents?: Incident[]; /** version 1 */ incident?: Incident | null; recentBad: string[]; slos: Record<string, TrackerSnapshot> }>;
}

interface Remembered {
  service: string;
  bad: boolean;
  anomaly: boolean;
}

export function createSloStage(catalogue: Catalogue, opts: SloStageOptions = {}): SloStage {
  const resolveAfterMs = opts.resolveAfterMs ?? 30 * 60_000;
  const wall = opts.now ?? Date.now;
  const services = new Map<string, ServiceState>();
  for (const spec of catalogue.services) {
    services.set(spec.name, { spec, trackers: spec.slos.map((s) => new SloTracker(s)), incidents: new Incidents(resolveAfterMs), recentBad: [] });
  }
  // event.id -> what the SLO stage concluded about it, so alerts from other
  // rules can be annotated from their triggering events. Insertion-ordered
  // Map as a bounded FIFO.
  const remembered = new Map<string, Remembered>();
  let nowMs: number | null = null;
  let lastPersist = 0;
  let warnedTime = false;
  let warnedLate = false;

  const stateFile = opts.stateDir ? join(opts.stateDir, 'slo-state.json') : undefined;

  /** Log (once each) the incidents the newest event time has moved past. */
  function settle(st: ServiceState): void {
    for (const inc of st.incidents.settle(nowMs!)) {
      opts.log?.info({ service: st.spec.name, alertId: inc.alertId, openedMs: inc.openedMs, lastFiringMs: inc.lastFiringMs }, 'SLO incident resolved');
    }
  }

  /** Judge the service's pairs as of event time `atMs`; open an incident (and raise its alert) if none covers it. */
  function evaluate(st: ServiceState, atMs: number, eventId: string): AlertDoc[] {
    settle(st);
    const firing: FiringSlo[] = [];
    for (const tr of st.trackers) {
      const pairs = tr.firingPairs(atMs);
      if (pairs.length > 0) firing.push({ tracker: tr, pairs });
    }
    if (firing.length === 0) return [];
    const known = st.incidents.find(atMs);
    if (known) {
      if (st.incidents.join(known, atMs, nowMs!) === 'joined_late' && known.lateFirings === 1) {
        opts.log?.info({ service: st.spec.name, alertId: known.alertId, atMs, nowMs }, 'late data joined a resolved SLO incident');
      }
      return [];
    }
    const cells: Contributor[] = [];
    for (const tr of st.trackers) {
      const f = firing.find((x) => x.tracker === tr);
      // Each SLO is attributed over the long window of its own firing pair;
      // a quiet SLO over the hour, so its slow start still shows.
      const win = f ? f.pairs[0]!.long : '1h';
      cells.push(...contributors(tr, WINDOW_MINUTES[win] * 60_000, tr.counts(win, atMs).total, atMs));
    }
    cells.sort((a, b) => b.burn_rate - a.burn_rate || b.bad - a.bad);
    // The id comes from the document that opened the incident, so the same
    // input in the same order (a redelivered batch, a backtest) gives the same
    // id and Elasticsearch overwrites instead of duplicating. A different
    // interleaving of partitions may open the incident on another document:
    // still one alert, under another id. Attribution and burn rates are read
    // as of that document's time, from whatever has arrived for it so far.
    const alert = sloImpactAlert({
      service: st.spec,
      firing,
      nowMs: atMs,
      firstEventId: eventId,
      eventIds: [...st.recentBad],
      cells,
      topNodeGroup: topNodeGroup(cells),
    });
    st.incidents.open(alert.event.id, atMs);
    opts.log?.warn({ service: st.spec.name, alertId: alert.event.id, atMs, nowMs, reason: alert.event.reason }, 'SLO incident opened');
    annotate(alert, st, { bad: true, anomaly: true }, atMs);
    if (cells[0]) (alert.slo as Record<string, unknown>).top_contributor = { ...cells[0] };
    return [alert];
  }

  function worstTracker(st: ServiceState, badFor: SloTracker[], atMs: number): SloTracker | undefined {
    const pool = badFor.length > 0 ? badFor : st.trackers;
    let best: SloTracker | undefined;
    for (const tr of pool) if (!best || tr.burnRate('1h', atMs) > best.burnRate('1h', atMs)) best = tr;
    return best;
  }

  function annotation(st: ServiceState, badFor: SloTracker[], anomaly: boolean, atMs: number): SloAnnotation {
    const s = st.spec;
    const burning = st.incidents.burningAt(atMs);
    const bad = badFor.length > 0;
    const impact: Impact = bad && burning ? 'user_impacting' : anomaly || bad ? 'infrastructure_only' : 'none';
    const ann: SloAnnotation = { service: { name: s.name }, impact, bad, burning };
    if (s.owner) ann.service.owner = s.owner;
    if (s.environment) ann.service.environment = s.environment;
    const tr = worstTracker(st, badFor, atMs);
    if (tr) {
      ann.name = tr.slo.name;
      ann.type = tr.slo.type;
      ann.objective = tr.slo.objective;
      ann.period = tr.slo.period;
      ann.burn_rate = tr.burnRates(atMs);
      ann.budget_remaining = tr.budgetRemaining(atMs);
    }
    return ann;
  }

  function annotate(alert: AlertDoc, st: ServiceState, r: { bad: boolean; anomaly: boolean }, atMs: number): void {
    const ann = annotation(st, r.bad ? st.trackers.filter((t) => t.counts('1h', atMs).bad > 0) : [], r.anomaly, atMs);
    alert.slo = ann as unknown as Record<string, unknown>;
  }

  function remember(id: string, r: Remembered): void {
    if (remembered.size >= MAX_REMEMBERED_EVENTS) remembered.delete(remembered.keys().next().value as string);
    remembered.set(id, r);
  }

  function process(doc: ConnectionDoc): AlertDoc[] {
    const t = Date.parse(doc['@timestamp']);
    if (Number.isNaN(t)) {
      if (!warnedTime) opts.log?.warn({ eventId: doc.event?.id, field: '@timestamp' }, 'document without a valid @timestamp is not counted in any SLO');
      warnedTime = true;
      return [];
    }
    nowMs = nowMs === null ? t : Math.max(nowMs, t);
    const spec = findService(catalogue, doc);
    if (!spec) return [];
    const st = services.get(spec.name)!;
    const group = docNodeGroup(catalogue, doc);
    // The catalogue fills the node group an agent and the pipeline config did
    // not set (docNodeGroup), so the indexed connection carries the same
    // connaudit.node_group its slo_impact alert names, and analysts can pivot
    // from one to the other.
    if (group !== undefined && doc.connaudit.node_group == null) doc.connaudit.node_group = group;
    const dest = matchDestinationService(catalogue, doc);
    const cause = anomalyCause(doc, spec.slowConnectMs);
    const destination = destinationLabel(dest?.name, doc);
    const badFor: SloTracker[] = [];
    for (const tr of st.trackers) {
      const v = verdict(doc, tr.slo);
      if (v === 'not_counted') continue;
      const isBad = v === 'bad';
      if (!tr.record(t, isBad, isBad ? cellKey(cause ?? 'other', group, destination) : undefined) && !warnedLate) {
        opts.log?.warn({ eventId: doc.event.id, '@timestamp': doc['@timestamp'], newest: new Date(nowMs).toISOString(), retainedMs: RETAINED_MS }, 'document is older than the SLO windows keep; not counted (further ones are not logged)');
        warnedLate = true;
      }
      if (isBad) badFor.push(tr);
    }
    if (badFor.length > 0) {
      st.recentBad.push(doc.event.id);
      if (st.recentBad.length > MAX_RECENT_BAD) st.recentBad.shift();
    }
    const alerts = evaluate(st, t, doc.event.id);
    const ann = annotation(st, badFor, cause !== undefined, t);
    if (badFor.length > 0 || cause !== undefined) ann.cause = cause ?? 'other';
    if (group !== undefined) ann.node_group = group;
    if (dest) ann.destination_service = dest.name;
    doc.slo = ann as unknown as Record<string, unknown>;
    remember(doc.event.id, { service: spec.name, bad: badFor.length > 0, anomaly: cause !== undefined });
    return alerts;
  }

  function tick(eventTimeMs: number): AlertDoc[] {
    if (!Number.isFinite(eventTimeMs)) return [];
    nowMs = nowMs === null ? eventTimeMs : Math.max(nowMs, eventTimeMs);
    const alerts: AlertDoc[] = [];
    // As of the batch's newest time, not the newest ever: the batch may be a
    // partition that lags the others, and its tail is what it can tell us about.
    for (const st of services.values()) {
      st.trackers.forEach((t) => t.advance(nowMs!));
      alerts.push(...evaluate(st, eventTimeMs, `tick:${eventTimeMs}`));
    }
    if (stateFile && wall() - lastPersist >= PERSIST_EVERY_MS) persist();
    return alerts;
  }

  function annotateAlert(alert: AlertDoc): void {
    if (alert.rule?.category === 'slo_impact' && alert.slo) return;
    const ids = alertEventIds(alert);
    const hits = ids.map((id) => remembered.get(id)).filter((r): r is Remembered => r !== undefined);
    let st: ServiceState | undefined;
    if (hits.length > 0) st = services.get(hits[0]!.service);
    if (!st) {
      const pseudo = pseudoDocFromAlert(alert);
      const spec = findService(catalogue, pseudo) ?? catalogue.services.find((s) => s.name === matchDestinationService(catalogue, pseudo)?.name);
      if (spec) st = services.get(spec.name);
    }
    if (!st) return;
    const mine = hits.filter((h) => h.service === st!.spec.name);
    const bad = mine.some((h) => h.bad);
    const anomaly = mine.some((h) => h.anomaly) || alert.rule?.category === 'network_health';
    // As of the alert's own time: a rule alert about a late partition's events is about then, not now.
    const at = Date.parse(alert['@timestamp']);
    annotate(alert, st, { bad, anomaly }, Number.isNaN(at) ? (nowMs ?? 0) : nowMs === null ? at : Math.min(at, nowMs));
  }

  function snapshot(): StateFile {
    const out: StateFile = { version: STATE_VERSION, nowMs, services: {} };
    for (const [name, st] of services) {
      out.services[name] = {
        incidents: st.incidents.list.map((i) => ({ ...i })),
        recentBad: [...st.recentBad],
        slos: Object.fromEntries(st.trackers.map((t) => [t.slo.name, t.snapshot()])),
      };
    }
    return out;
  }

  function restore(state: unknown): void {
    const s = state as StateFile | null;
    if (!s || typeof s !== 'object' || (s.version !== STATE_VERSION && s.version !== 1)) {
      opts.log?.warn({ version: (s as { version?: unknown } | null)?.version }, 'SLO state has an unknown version; starting with empty windows');
      return;
    }
    nowMs = s.nowMs;
    for (const [name, saved] of Object.entries(s.services ?? {})) {
      const st = services.get(name);
      // A service or SLO removed from the catalogue since the snapshot is dropped.
      if (!st) continue;
      const incidents = s.version === 1 ? (saved.incident ? [saved.incident] : []) : (saved.incidents ?? []);
      st.incidents = new Incidents(resolveAfterMs, incidents.map((i) => ({ ...i })));
      st.recentBad = saved.recentBad ?? [];
      for (const tr of st.trackers) {
        const snap = saved.slos[tr.slo.name];
        if (snap) tr.restore(snap);
      }
    }
  }

  function persist(): void {
    if (!stateFile) return;
    mkdirSync(opts.stateDir!, { recursive: true });
    const tmp = `${stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(snapshot()));
    renameSync(tmp, stateFile);
    lastPersist = wall();
  }

  if (stateFile) {
    let text: string | undefined;
    try {
      text = readFileSync(stateFile, 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      try {
        restore(JSON.parse(text));
      } catch (err) {
        opts.log?.error({ file: stateFile, err: (err as Error).message }, 'SLO state file is unreadable; starting with empty windows (delete it to silence this)');
      }
    }
  }

  function status(name: string): ServiceStatus | undefined {
    const st = services.get(name);
    if (!st) return undefined;
    if (nowMs !== null) st.trackers.forEach((t) => t.advance(nowMs!));
    const out: ServiceStatus = {
      service: name,
      burning: nowMs !== null && st.incidents.burningAt(nowMs),
      slos: st.trackers.map((t) => ({
        name: t.slo.name,
        type: t.slo.type,
        objective: t.slo.objective,
        period: t.slo.period,
        ...(t.slo.thresholdMs !== undefined ? { threshold_ms: t.slo.thresholdMs } : {}),
        burn_rate: t.burnRates(),
        budget_remaining: t.budgetRemaining(),
        total_1h: t.counts('1h').total,
        bad_1h: t.counts('1h').bad,
        period_total: t.periodCounts().total,
        period_bad: t.periodCounts().bad,
      })),
    };
    if (st.spec.environment) out.environment = st.spec.environment;
    if (st.spec.owner) out.owner = st.spec.owner;
    return out;
  }

  return {
    name: 'slo',
    process,
    tick,
    snapshot,
    restore,
    annotateAlert,
    eventTimeMs: () => nowMs,
    status,
    statuses: () => [...services.keys()].map((n) => status(n)!),
    persist,
  };
}

export { loadCatalogue, matchService, matchDestinationService, nodeGroupOf, type Catalogue } from './catalogue.js';
