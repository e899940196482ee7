import type { AlertDoc } from '../../lib/alert.js';
import { alertEventIds, pseudoDocFromAlert } from './alert-fields.js';
import { findService, matchDestinationService, type Catalogue } from './catalogue.js';
import type { Opened } from './judge.js';
import type { BurnRates, SloTracker } from './tracker.js';
import type { Cause } from './causes.js';
import type { ServiceState } from './state.js';

// The slo.* fields on connection documents and alerts. Every number is read
// as of the document's (or alert's) own event time, over what has arrived so
// far: a document is indexed right after the stage saw it, so it carries what
// was known then; the slo_impact alert carries the judged minute's numbers.

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
  /** false when the stage did not count this document (see the stage's counters: future, too_late, interim). */
  counted?: boolean;
  cause?: Cause;
  node_group?: string;
  destination_service?: string;
}

function serviceField(st: ServiceState): SloAnnotation['service'] {
  const s = st.spec;
  return { name: s.name, ...(s.owner ? { owner: s.owner } : {}), ...(s.environment ? { environment: s.environment } : {}) };
}

/** Only the service: for a document the stage did not count. */
export function uncounted(st: ServiceState): SloAnnotation {
  return { service: serviceField(st), impact: 'none', bad: false, burning: false, counted: false };
}

function worstTracker(st: ServiceState, badFor: SloTracker[], atMs: number): SloTracker | undefined {
  const pool = badFor.length > 0 ? badFor : st.trackers;
  let best: SloTracker | undefined;
  for (const tr of pool) if (!best || tr.burnRate('1h', atMs) > best.burnRate('1h', atMs)) best = tr;
  return best;
}

/**
 * `ahead`: the document's minute is not judged yet (its partition runs ahead
 * of the others). It is indexed now, so it is marked burning when a pair
 * fires as of its own time over what has arrived; the alert waits for the
 * minute's judgement.
 */
export function annotation(st: ServiceState, badFor: SloTracker[], anomaly: boolean, atMs: number, ahead = false): SloAnnotation {
  const burning = st.incidents.burningAt(atMs) || (ahead && st.trackers.some((t) => t.firingPairs(atMs).length > 0));
  const bad = badFor.length > 0;
  const impact: Impact = bad && burning ? 'user_impacting' : anomaly || bad ? 'infrastructure_only' : 'none';
  const ann: SloAnnotation = { service: serviceField(st), impact, bad, burning };
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

/** slo.* of an alert: bad when its events were, as of `atMs`. */
export function annotateAlertAt(alert: AlertDoc, st: ServiceState, r: { bad: boolean; anomaly: boolean }, atMs: number): void {
  const ann = annotation(st, r.bad ? st.trackers.filter((t) => t.counts('1h', atMs).bad > 0) : [], r.anomaly, atMs);
  alert.slo = ann as unknown as Record<string, unknown>;
}

/** What the stage concluded about an event, so other rules' alerts about it can be annotated. Bounded FIFO. */
export interface Remembered {
  service: string;
  bad: boolean;
  anomaly: boolean;
}

const MAX_REMEMBERED_EVENTS = 20_000;

export class RememberedEvents {
  private readonly map = new Map<string, Remembered>();

  set(id: string, r: Remembered): void {
    if (this.map.size >= MAX_REMEMBERED_EVENTS) this.map.delete(this.map.keys().next().value as string);
    this.map.set(id, r);
  }

  get(id: string): Remembered | undefined {
    return this.map.get(id);
  }
}

/** The slo_impact alert of a newly opened incident, annotated as of its judged minute, with its top contributor. */
export function annotateOpened({ st, alert, asOfMs }: Opened): AlertDoc {
  annotateAlertAt(alert, st, { bad: true, anomaly: true }, asOfMs);
  const top = (alert.connaudit.alert.contributors as unknown[])[0];
  if (top) (alert.slo as Record<string, unknown>).top_contributor = { ...(top as object) };
  return alert;
}

/**
 * The service another rule's alert is about: the service of its triggering
 * events when the stage saw them, else the one its own ECS fields match.
 */
export function alertSubject(alert: AlertDoc, catalogue: Catalogue, services: Map<string, ServiceState>, remembered: RememberedEvents): { st: ServiceState; bad: boolean; anomaly: boolean } | undefined {
  const hits = alertEventIds(alert).map((id) => remembered.get(id)).filter((r): r is Remembered => r !== undefined);
  let st = hits.length > 0 ? services.get(hits[0]!.service) : undefined;
  if (!st) {
    const pseudo = pseudoDocFromAlert(alert);
    const spec = findService(catalogue, pseudo) ?? catalogue.services.find((s) => s.name === matchDestinationService(catalogue, pseudo)?.name);
    if (spec) st = services.get(spec.name);
  }
  if (!st) return undefined;
  const mine = hits.filter((h) => h.service === st.spec.name);
  return { st, bad: mine.some((h) => h.bad), anomaly: mine.some((h) => h.anomaly) || alert.rule?.category === 'network_health' };
}
