import type { AlertDoc } from '../../../lib/alert.js';
import type { ConnectionDoc } from '../../../lib/ecs.js';
import { docNodeGroup, findService, matchDestinationService, serviceByName, type Catalogue, type ServiceSpec } from '../catalogue.js';
import { destinationLabel } from '../attribution.js';
import { anomalyCause, verdict, type Cause } from '../causes.js';
import { createSloStage, type SloCounters } from '../index.js';
import { round } from '../tracker.js';

// Everything the incident review shows, computed by replaying the documents
// through a fresh SLO stage: the report and the live pipeline use the same
// windows and the same judgement (judge.ts), whether the documents came from
// Elasticsearch or from a JSONL file. The documents are in time order, so the
// report vouches for the watermark itself (advanceWatermark): every minute it
// judges is complete, as the pipeline's are once all its sources passed them.

export interface BurnPoint {
  t: number;
  /** burn rate per SLO name and window. */
  rates: Record<string, { '5m': number; '1h': number; '30m': number; '6h': number }>;
}

export interface AttributionRow {
  slo: string;
  cause: Cause;
  node_group: string;
  destination: string;
  bad: number;
  share: number;
  burn_rate: number;
}

export interface TimelineAlert {
  t: number;
  id: string;
  rule: string;
  category: string;
  severity: string;
  reason: string;
  impact?: string;
}

export interface ReportModel {
  service: ServiceSpec;
  fromMs: number;
  toMs: number;
  generatedAt: string;
  source: string;
  totals: { events: number; bad: number; perSlo: Record<string, { total: number; bad: number }> };
  series: BurnPoint[];
  /** bad events per node group and cause */
  badByGroupCause: Array<{ node_group: string; counts: Record<string, number>; total: number }>;
  destinations: Array<{ destination: string; total: number; bad: number; anomalies: number }>;
  alerts: TimelineAlert[];
  /** The slo_impact alerts the judgement raised for this service, as the pipeline indexes them. */
  sloAlerts: AlertDoc[];
  attribution: AttributionRow[];
  /** What the stage did not count, or counted with a caveat (see SloCounters). */
  counters: SloCounters;
}

export interface BuildOptions {
  catalogue: Catalogue;
  service: string;
  fromMs: number;
  toMs: number;
  source: string;
  /** Alerts already indexed (other rules' alerts), merged into the timeline. */
  alerts?: AlertDoc[];
}

const UNKNOWN = 'unknown';

function sampleStep(rangeMs: number): number {
  // About 720 points at most, on whole minutes.
  return Math.max(1, Math.ceil(rangeMs / 60_000 / 720)) * 60_000;
}

/** `docs` must be in @timestamp order and may start before fromMs, to warm the windows. */
export function buildReport(docs: Iterable<ConnectionDoc>, o: BuildOptions): ReportModel {
  const spec = serviceByName(o.catalogue, o.service);
  if (!spec) throw new Error(`service '${o.service}' is not in the catalogue ${o.catalogue.path} (known: ${o.catalogue.services.map((s) => s.name).join(', ')})`);
  const stage = createSloStage(o.catalogue);
  const step = sampleStep(o.toMs - o.fromMs);
  let nextSample = o.fromMs;
  const series: BurnPoint[] = [];
  const perSlo: Record<string, { total: number; bad: number }> = Object.fromEntries(spec.slos.map((s) => [s.name, { total: 0, bad: 0 }]));
  const groups = new Map<string, Record<string, number>>();
  const dests = new Map<string, { total: number; bad: number; anomalies: number }>();
  const cells = new Map<string, number>();
  const alerts: TimelineAlert[] = [];
  const sloAlerts: AlertDoc[] = [];
  const keep = (raised: AlertDoc[]): void => {
    for (const a of raised) {
      if ((a.service as { name?: string } | undefined)?.name !== spec.name) continue;
      alerts.push(timelineAlert(a));
      sloAlerts.push(a);
    }
  };
  let events = 0;
  let bad = 0;

  const sample = (t: number): void => {
    const st = stage.status(spec.name);
    if (!st) return;
    series.push({ t, rates: Object.fromEntries(st.slos.map((s) => [s.name, { '5m': s.burn_rate['5m'], '30m': s.burn_rate['30m'], '1h': s.burn_rate['1h'], '6h': s.burn_rate['6h'] }])) });
  };

  for (const d of docs) {
    const t = Date.parse(d['@timestamp']);
    if (Number.isNaN(t) || t > o.toMs) continue;
    while (nextSample <= o.toMs && nextSample < t) {
      if (stage.eventTimeMs() !== null) keep(stage.advanceWatermark(nextSample));
      sample(nextSample);
      nextSample += step;
    }
    keep(stage.process(d));
    if (t < o.fromMs) continue;
    if (findService(o.catalogue, d)?.name !== spec.name) continue;
    events++;
    const group = docNodeGroup(o.catalogue, d) ?? UNKNOWN;
    const destination = destinationLabel(matchDestinationService(o.catalogue, d)?.name, d);
    const cause = anomalyCause(d, spec.slowConnectMs);
    const dest = dests.get(destination) ?? { total: 0, bad: 0, anomalies: 0 };
    dests.set(destination, dest);
    dest.total++;
    if (cause) dest.anomalies++;
    let isBad = false;
    for (const slo of spec.slos) {
      const v = verdict(d, slo);
      if (v === 'not_counted') continue;
      perSlo[slo.name]!.total++;
      if (v !== 'bad') continue;
      isBad = true;
      perSlo[slo.name]!.bad++;
      const key = [slo.name, cause ?? 'other', group, destination].join('\u0000');
      cells.set(key, (cells.get(key) ?? 0) + 1);
    }
    if (isBad) {
      bad++;
      dest.bad++;
      const g = groups.get(group) ?? {};
      groups.set(group, g);
      g[cause ?? 'other'] = (g[cause ?? 'other'] ?? 0) + 1;
    }
  }
  while (nextSample <= o.toMs && stage.eventTimeMs() !== null) {
    keep(stage.advanceWatermark(nextSample));
    sample(nextSample);
    nextSample += step;
  }
  // Every document up to --to has been read: judge the range's last minutes too.
  if (stage.eventTimeMs() !== null) keep(stage.advanceWatermark(o.toMs + 60_000));

  const sloByName = new Map(spec.slos.map((s) => [s.name, s]));
  const attribution: AttributionRow[] = [...cells].map(([key, n]) => {
    const [sloName, cause, group, destination] = key.split('\u0000') as [string, Cause, string, string];
    const slo = sloByName.get(sloName)!;
    const c = perSlo[sloName]!;
    return { slo: sloName, cause, node_group: group, destination, bad: n, share: round(n / c.bad), burn_rate: round(n / c.total / slo.budget) };
  }).sort((a, b) => b.burn_rate - a.burn_rate || b.bad - a.bad);

  for (const a of o.alerts ?? []) {
    if (!alerts.some((x) => x.id === a.event.id)) alerts.push(timelineAlert(a));
  }
  alerts.sort((a, b) => a.t - b.t);

  return {
    service: spec,
    fromMs: o.fromMs,
    toMs: o.toMs,
    generatedAt: new Date().toISOString(),
    source: o.source,
    totals: { events, bad, perSlo },
    series,
    badByGroupCause: [...groups].map(([node_group, counts]) => ({ node_group, counts, total: Object.values(counts).reduce((x, y) => x + y, 0) })).sort((a, b) => b.total - a.total),
    destinations: [...dests].map(([destination, v]) => ({ destination, ...v })).sort((a, b) => b.bad - a.bad || b.total - a.total).slice(0, 10),
    alerts: alerts.filter((a) => a.t >= o.fromMs && a.t <= o.toMs),
    sloAlerts: sloAlerts.filter((a) => Date.parse(a['@timestamp']) >= o.fromMs && Date.parse(a['@timestamp']) <= o.toMs + 60_000),
    attribution,
    counters: stage.counters(),
  };
}

function timelineAlert(a: AlertDoc): TimelineAlert {
  const out: TimelineAlert = {
    t: Date.parse(a['@timestamp']),
    id: a.event.id,
    rule: a.rule.name,
    category: a.rule.category,
    severity: a.rule.severity,
    reason: a.event.reason ?? a.rule.description,
  };
  const impact = (a.slo as { impact?: string } | undefined)?.impact;
  if (impact) out.impact = impact;
  return out;
}

/**
 * One sentence on the documents the judgement did not count, or counted with
 * a caveat; undefined when there were none. The report prints it, so a range
 * that looks healthy because its documents were left out says so.
 */
export function countersNote(c: SloCounters): string | undefined {
  const parts: string[] = [];
  if (c.no_record_kind > 0) parts.push(`${c.no_record_kind} without connaudit.record_kind were judged as final records`);
  if (c.interim > 0) parts.push(`${c.interim} interim records were not counted (their final records are)`);
  if (c.future > 0) parts.push(`${c.future} dated ahead of the wall clock were not counted`);
  if (c.too_late > 0) parts.push(`${c.too_late} older than the windows keep were not counted`);
  if (c.bad_timestamp > 0) parts.push(`${c.bad_timestamp} without a valid @timestamp were not counted`);
  return parts.length > 0 ? `Of the service's documents, ${parts.join('; ')}.` : undefined;
}
