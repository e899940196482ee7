import type { Logger } from '../../lib/log.js';
import type { Catalogue, ServiceSpec } from './catalogue.js';
import type { ClockSnapshot } from './clock.js';
import { Incidents, type Incident } from './incidents.js';
import { SloTracker, type TrackerSnapshot } from './tracker.js';

// What the SLO stage keeps per service, and its one serialized form. The
// pipeline writes snapshot() to its state changelog topic (pipeline/tasks.ts,
// InstanceState) and hands it back to restore() on start: the stage has no
// state file of its own.

const MAX_EVIDENCE = 200;
export const EVIDENCE_IN_ALERT = 20;

/**
 * The newest bad events by EVENT time (not arrival), so an alert judged as of
 * a minute names the bad events up to that minute, whichever partition
 * delivered them first. Keeps more than an alert lists: records of later
 * minutes may already have arrived when a minute is judged.
 */
export class Evidence {
  constructor(public items: Array<[number, string]> = []) {}

  add(tMs: number, id: string): void {
    const xs = this.items;
    if (xs.length >= MAX_EVIDENCE && tMs <= xs[0]![0]) return;
    let i = xs.length;
    while (i > 0 && (xs[i - 1]![0] > tMs || (xs[i - 1]![0] === tMs && xs[i - 1]![1] > id))) i--;
    if (xs[i - 1]?.[1] === id) return;
    xs.splice(i, 0, [tMs, id]);
    if (xs.length > MAX_EVIDENCE) xs.shift();
  }

  /** Ids of the newest EVIDENCE_IN_ALERT bad events at or before `atMs`, oldest first. */
  upTo(atMs: number): string[] {
    return this.items.filter(([t]) => t <= atMs).slice(-EVIDENCE_IN_ALERT).map(([, id]) => id);
  }
}

export interface ServiceState {
  spec: ServiceSpec;
  trackers: SloTracker[];
  incidents: Incidents;
  evidence: Evidence;
}

export function serviceStates(catalogue: Catalogue, resolveAfterMs: number): Map<string, ServiceState> {
  const out = new Map<string, ServiceState>();
  for (const spec of catalogue.services) {
    out.set(spec.name, { spec, trackers: spec.slos.map((s) => new SloTracker(s)), incidents: new Incidents(resolveAfterMs), evidence: new Evidence() });
  }
  return out;
}

/** What a document did to the SLO counts, by reason: every record the stage saw and did not count is in one of these. */
export interface SloCounters {
  /** @timestamp missing or not a time. */
  bad_timestamp: number;
  /** Dated further ahead of the wall clock than the stage accepts: not counted, never moves the clock. */
  future: number;
  /** Older than the rings keep: not counted. */
  too_late: number;
  /** Counted after its minute was judged: the minute is judged again. */
  late: number;
  /** Interim records: not counted (the connection's final record is). */
  interim: number;
  /** Without connaudit.record_kind (documents from other shippers): judged as final records. */
  no_record_kind: number;
}

export const emptyCounters = (): SloCounters => ({ bad_timestamp: 0, future: 0, too_late: 0, late: 0, interim: 0, no_record_kind: 0 });

// Version 3: minute attribution cells, the event clock, the judged minute and
// the counters. Versions 1 (one open incident) and 2 still restore: their
// rings have the same shape; their 5-minute cells are dropped.
export const STATE_VERSION = 3;

export interface StateFile {
  version: number;
  nowMs: number | null;
  judgedTo?: number | null;
  dirtyFrom?: number | null;
  clock?: ClockSnapshot;
  counters?: SloCounters;
  services: Record<string, {
    incidents?: Incident[];
    /** version 1 */
    incident?: Incident | null;
    recentBad?: string[];
    evidence?: Array<[number, string]>;
    slos: Record<string, TrackerSnapshot>;
  }>;
}

/** counts false: without the trackers' window counts (the pipeline keeps those per partition, slo/ledger.ts). */
export function snapshotServices(services: Map<string, ServiceState>, counts = true): StateFile['services'] {
  const out: StateFile['services'] = {};
  for (const [name, st] of services) {
    out[name] = {
      incidents: st.incidents.list.map((i) => ({ ...i })),
      evidence: st.evidence.items.map(([t, id]) => [t, id]),
      slos: counts ? Object.fromEntries(st.trackers.map((t) => [t.slo.name, t.snapshot()])) : {},
    };
  }
  return out;
}

/** Returns false (and logs) when the state is of an unknown version; the stage then starts empty. */
export function restoreServices(services: Map<string, ServiceState>, s: StateFile | null, resolveAfterMs: number, log?: Logger): boolean {
  if (!s || typeof s !== 'object' || ![1, 2, STATE_VERSION].includes(s.version)) {
    log?.warn({ version: (s as { version?: unknown } | null)?.version }, 'SLO state has an unknown version; starting with empty windows');
    return false;
  }
  for (const [name, saved] of Object.entries(s.services ?? {})) {
    const st = services.get(name);
    // A service or SLO removed from the catalogue since the snapshot is dropped.
    if (!st) continue;
    const incidents = s.version === 1 ? (saved.incident ? [saved.incident] : []) : (saved.incidents ?? []);
    st.incidents = new Incidents(resolveAfterMs, incidents.map((i) => ({ ...i })));
    st.evidence = new Evidence(saved.evidence ?? (saved.recentBad ?? []).map((id) => [s.nowMs ?? 0, id]));
    for (const tr of st.trackers) {
      const snap = saved.slos[tr.slo.name];
      if (snap) tr.restore(snap, s.version === STATE_VERSION);
    }
  }
  return true;
}
