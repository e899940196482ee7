import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Logger } from '../../lib/log.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';
import { loadCatalogue, parseCatalogue } from './catalogue.js';
import { createSloStage } from './index.js';
import { buildReport } from './report/model.js';

// One SLO judgement: the report (documents in time order) and the live
// pipeline (six partitions keyed by host, drained a few documents at a time)
// must raise the same slo_impact alert: same time, same id, same burn rates,
// same attribution.

const cat = loadCatalogue(new URL('../../config/services.yaml', import.meta.url).pathname);
const storm = generateStorm();
const ms = (iso: string): number => Date.parse(iso);

interface Sink {
  lines: Array<{ level: string; msg: string; obj: Record<string, unknown> }>;
  log: Logger;
}

function memoryLog(): Sink {
  const lines: Sink['lines'] = [];
  const at = (level: string) => (obj: unknown, msg?: string): void => void lines.push({ level, msg: msg ?? String(obj), obj: typeof obj === 'object' && obj ? (obj as Record<string, unknown>) : {} });
  const log = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } as unknown as Logger;
  return { lines, log };
}

/** Six partitions keyed by host, each drained `chunk` documents per round: how a live consumer group sees the fleet. */
function liveBatches(docs: ConnectionDoc[], chunk: number): ConnectionDoc[][] {
  const hosts = [...new Set(docs.map((d) => d.host.name))].sort();
  const queues: ConnectionDoc[][] = Array.from({ length: 6 }, () => []);
  for (const d of docs) queues[hosts.indexOf(d.host.name) % 6]!.push(d);
  const out: ConnectionDoc[][] = [];
  while (queues.some((q) => q.length > 0)) for (const q of queues) if (q.length > 0) out.push(q.splice(0, chunk));
  return out;
}

/** The pipeline's use of a stage: every document of a batch through process(), then tick() with the batch's newest time. */
function runPipeline(batches: ConnectionDoc[][], stage = createSloStage(cat)): { alerts: AlertDoc[]; docs: ConnectionDoc[] } {
  const alerts: AlertDoc[] = [];
  const docs: ConnectionDoc[] = [];
  for (const batch of batches) {
    let max = Number.NEGATIVE_INFINITY;
    for (const d of batch) {
      const c = structuredClone(d);
      alerts.push(...stage.process(c));
      docs.push(c);
      max = Math.max(max, ms(c['@timestamp']));
    }
    alerts.push(...stage.tick(max));
  }
  return { alerts, docs };
}

/** What an analyst compares: when, how fast over which windows, and who spent the budget. */
function judgement(a: AlertDoc) {
  return {
    id: a.event.id,
    at: a['@timestamp'],
    reason: a.event.reason,
    burning: a.connaudit.alert.burning,
    contributors: a.connaudit.alert.contributors,
    top: a.connaudit.alert.top_node_group,
  };
}

const report = buildReport(storm.docs, { catalogue: cat, service: 'order', fromMs: ms(storm.from), toMs: ms(storm.to), source: 'test' });

describe('one SLO judgement for the report and the live pipeline', () => {

  it.each([1, 3, 8])('raises the same slo_impact alert from the report and from six live partitions drained %i documents at a time', (chunk) => {
    const live = runPipeline(liveBatches(storm.docs, chunk)).alerts.filter((a) => a.rule.category === 'slo_impact');
    expect(report.sloAlerts).toHaveLength(1);
    expect(live).toHaveLength(1);
    expect(judgement(live[0]!)).toEqual(judgement(report.sloAlerts[0]!));
    expect(report.sloAlerts[0]!.connaudit.alert.top_node_group).toBe('pool-b');
  });

  it('stamps the alert at the end of the minute it was judged, and its id does not depend on which document arrived first', () => {
    const a = report.sloAlerts[0]!;
    expect(ms(a['@timestamp']) % 60_000).toBe(0);
    // The documents of each minute in a seeded random order: another document arrives first everywhere.
    let seed = 7;
    const r = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const shuffled = storm.docs.map((d) => ({ d, k: Math.floor(ms(d['@timestamp']) / 60_000) + r() })).sort((x, y) => x.k - y.k).map((x) => x.d);
    expect(shuffled.map((d) => d.event.id)).not.toEqual(storm.docs.map((d) => d.event.id));
    const live = runPipeline(liveBatches(shuffled, 2)).alerts;
    expect(live.map(judgement)).toEqual([judgement(a)]);
  });
});

// A catalogue with one availability SLO at 99.9%: 14.4x over 1h means 1.44% of connections failing.
const small = parseCatalogue(`services:\n  - name: order\n    match: { process_names: [order-svc] }\n    slos:\n      - { name: av, type: availability, objective: 99.9 }\n`);
const t0 = ms('2025-03-14T08:00:00.000Z');

/** `minutes` of traffic from the storm's first hour, re-dated from t0, with connections refused in [outFrom, outTo) minutes. */
function outage(minutes: number, outFrom: number, outTo: number): ConnectionDoc[] {
  const base = storm.docs.filter((d) => ms(d['@timestamp']) < ms(storm.from) + minutes * 60_000);
  return base.map((d) => {
    const c = structuredClone(d);
    const m = (ms(d['@timestamp']) - ms(storm.from)) / 60_000;
    c['@timestamp'] = new Date(t0 + m * 60_000).toISOString();
    if (m >= outFrom && m < outTo && d.network.direction === 'egress') {
      c.connaudit.conn_state = 'REJ';
      c.connaudit.close_reason = 'refused';
    }
    return c;
  }).sort((x, y) => ms(x['@timestamp']) - ms(y['@timestamp']));
}

describe('the end of a backtest input', () => {
  it('judges the last minutes on flush(), so a file that ends just after the incident opened still raises it', () => {
    const [expected] = report.sloAlerts;
    // Every document up to the end of the minute the report judged as firing, and none after.
    const cut = storm.docs.filter((d) => ms(d['@timestamp']) < ms(expected!['@timestamp']));
    const stage = createSloStage(cat);
    expect(runPipeline(cut.map((d) => [d]), stage).alerts).toEqual([]);
    expect(stage.flush().map(judgement)).toEqual([judgement(expected!)]);
  });
});

describe('a long window not yet seen in full is judged by budget consumed', () => {
  it('pages on an outage that starts 30 minutes after the data begins and runs 20 minutes', () => {
    const docs = outage(60, 30, 50);
    const { alerts } = runPipeline(docs.map((d) => [d]), createSloStage(small));
    expect(alerts.map((a) => a.rule.severity)).toEqual(['critical']);
    const pair = (alerts[0]!.connaudit.alert.burning as Array<{ pairs: Array<{ long: string; long_burn_rate: number; short_burn_rate: number }> }>)[0]!.pairs[0]!;
    expect(pair).toMatchObject({ long: '1h' });
    expect(pair.long_burn_rate).toBeGreaterThan(14.4);
    expect(pair.short_burn_rate).toBeGreaterThan(14.4);
    // Within the outage, not after it.
    expect(ms(alerts[0]!['@timestamp'])).toBeGreaterThan(t0 + 30 * 60_000);
    expect(ms(alerts[0]!['@timestamp'])).toBeLessThanOrEqual(t0 + 50 * 60_000);
    // The report over the same short export agrees.
    const r = buildReport(docs, { catalogue: small, service: 'order', fromMs: t0, toMs: t0 + 60 * 60_000, source: 'test' });
    expect(r.sloAlerts.map(judgement)).toEqual(alerts.map(judgement));
  });

  it('does not open a ticket for a short blip in a 2-hour-old 3-day window', () => {
    // 3 minutes of refusals in 2 hours: a 1x burn over what was seen of 3 days, far below a full 3 days' budget.
    const { alerts } = runPipeline(outage(120, 60, 63).map((d) => [d]), createSloStage(small));
    expect(alerts.filter((a) => a.rule.severity === 'low' || a.rule.severity === 'medium')).toEqual([]);
  });

  it('does not page on ten minutes of failure that spent less budget than an hour at 14.4x', () => {
    // 1 minute of failure in the first 10 minutes: burn over 10 minutes x 10 < 14.4 x 60.
    const { alerts } = runPipeline(outage(10, 9, 10).map((d) => [d]), createSloStage(small));
    expect(alerts).toEqual([]);
  });
});

describe('a record dated in the far future', () => {
  it('does not move the SLO clock: every real document after it is still counted, and the incident is still found', () => {
    const sink = memoryLog();
    const now = (): number => ms(storm.to) + 60_000;
    const clean = runPipeline(liveBatches(storm.docs, 4), createSloStage(cat, { now })).alerts;
    const stage = createSloStage(cat, { now, log: sink.log });
    const future = structuredClone(storm.docs[500]!);
    future['@timestamp'] = '2027-06-01T00:00:00.000Z';
    future.event.id = 'future-1';
    const docs = [...storm.docs.slice(0, 1000), future, ...storm.docs.slice(1000)];
    const { alerts, docs: out } = runPipeline(liveBatches(docs, 4), stage);
    expect(alerts.map(judgement)).toEqual(clean.map(judgement));
    expect(stage.eventTimeMs()).toBeLessThan(ms(storm.to) + 60_000);
    // Counted where a user can see it, and said once in the log.
    expect(stage.counters().future).toBe(1);
    expect(sink.lines.filter((l) => l.level === 'warn' && /ahead of the wall clock/.test(l.msg))).toHaveLength(1);
    // The record itself is indexed, marked as not counted.
    expect(out.find((d) => d.event.id === 'future-1')!.slo).toMatchObject({ counted: false });
    // No real document was refused as too late.
    expect(stage.counters().too_late).toBe(0);
  });
});

describe('documents without connaudit.record_kind', () => {
  it('are judged as final records, counted, and reported once in the log', () => {
    const sink = memoryLog();
    const stripped = storm.docs.map((d) => {
      const c = structuredClone(d);
      delete (c.connaudit as Partial<typeof c.connaudit>).record_kind;
      return c;
    });
    const stage = createSloStage(cat, { log: sink.log });
    const { alerts } = runPipeline(liveBatches(stripped, 4), stage);
    const withKind = runPipeline(liveBatches(storm.docs, 4)).alerts;
    expect(alerts.map(judgement)).toEqual(withKind.map(judgement));
    const n = stripped.filter((d) => d.process?.name === 'order-svc').length;
    expect(stage.counters().no_record_kind).toBe(n);
    expect(sink.lines.filter((l) => l.level === 'warn' && /record_kind/.test(l.msg))).toHaveLength(1);
    // The report says how many it judged that way.
    const r = buildReport(stripped, { catalogue: cat, service: 'order', fromMs: ms(storm.from), toMs: ms(storm.to), source: 'test' });
    expect(r.totals.bad).toBeGreaterThan(0);
    expect(r.counters.no_record_kind).toBeGreaterThan(0);
  });

  it('still leaves interim records out, and counts them as such', () => {
    const stage = createSloStage(cat);
    const d = structuredClone(storm.docs[0]!);
    d.connaudit.record_kind = 'interim';
    stage.process(d);
    expect(stage.status('order')!.slos.every((s) => s.total_1h === 0)).toBe(true);
    expect(stage.counters().interim).toBe(1);
  });
});
