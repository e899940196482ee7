import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Logger } from '../../lib/log.js';
import { loadCatalogue } from './catalogue.js';
import { verdict } from './causes.js';
import { createSloStage, type SloAnnotation } from './index.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';
import { round } from './tracker.js';

// kafkajs hands the pipeline one partition's batch at a time, and partitions
// are keyed by host: a replay (or a consumer catching up) shows the SLO stage
// hours of one host before the first minute of the next. The stage must find
// the same one incident whatever the interleaving, because it judges every
// document against windows that end at the document's own event time.

const cat = loadCatalogue(new URL('../../config/services.yaml', import.meta.url).pathname);
const storm = generateStorm();
const slo = (d: ConnectionDoc): SloAnnotation => d.slo as unknown as SloAnnotation;

const byHost = new Map<string, ConnectionDoc[]>();
for (const d of storm.docs) {
  const list = byHost.get(d.host.name) ?? [];
  list.push(d);
  byHost.set(d.host.name, list);
}
const hosts = [...byHost.keys()].sort();
const poolB = hosts.filter((h) => h.startsWith('order-b-'));
const healthy = hosts.filter((h) => !h.startsWith('order-b-'));

interface Sink {
  lines: Array<{ msg: string; obj: Record<string, unknown> }>;
  log: Logger;
}

function memoryLog(): Sink {
  const lines: Sink['lines'] = [];
  const put = (obj: unknown, msg?: string): void => void lines.push({ msg: msg ?? String(obj), obj: typeof obj === 'object' && obj ? (obj as Record<string, unknown>) : {} });
  const log = { info: put, warn: put, error: put, debug: put } as unknown as Logger;
  return { lines, log };
}

/**
 * Runs batches the way the pipeline does: every document of a batch through
 * process(), then tick() with the batch's newest event time.
 */
function runBatches(batches: ConnectionDoc[][], log?: Logger) {
  const stage = createSloStage(cat, log ? { log } : {});
  const alerts: AlertDoc[] = [];
  const docs: ConnectionDoc[] = [];
  for (const batch of batches) {
    let max = Number.NEGATIVE_INFINITY;
    for (const d of batch) {
      const c = structuredClone(d);
      alerts.push(...stage.process(c));
      docs.push(c);
      max = Math.max(max, Date.parse(c['@timestamp']));
    }
    alerts.push(...stage.tick(max));
  }
  return { alerts, docs, stage };
}

/** One batch per host, hosts in the given order: the worst case of a replay. */
const hostByHost = (order: string[]): ConnectionDoc[][] => order.map((h) => byHost.get(h)!);

/** Seeded chunks of each partition's backlog, partitions drained in turn (what a consumer fetch loop does). */
function partitioned(partitions: number, chunk: number, seed: number): ConnectionDoc[][] {
  let a = seed;
  const r = (): number => ((a = (a * 1103515245 + 12345) % 2147483648) / 2147483648);
  const queues: ConnectionDoc[][] = Array.from({ length: partitions }, () => []);
  hosts.forEach((h, i) => queues[(i * 5 + seed) % partitions]!.push(...byHost.get(h)!));
  // Within a partition, records stay in per-host order but hosts interleave by time, as one producer writes them.
  for (const q of queues) q.sort((x, y) => x['@timestamp'].localeCompare(y['@timestamp']));
  const out: ConnectionDoc[][] = [];
  while (queues.some((q) => q.length > 0)) {
    for (const q of queues) if (q.length > 0) out.push(q.splice(0, 1 + Math.floor(r() * chunk)));
  }
  return out;
}

function expectOneIncident(alerts: AlertDoc[], docs: ConnectionDoc[]): AlertDoc {
  const slos = alerts.filter((a) => a.rule.category === 'slo_impact');
  expect(slos.map((a) => (a.service as { name?: string } | undefined)?.name)).toEqual(['order']);
  const a = slos[0]!;
  expect(a.connaudit.alert.top_node_group).toBe('pool-b');
  const contributors = a.connaudit.alert.contributors as Array<{ node_group: string; destination: string; share: number }>;
  expect(contributors[0]).toMatchObject({ node_group: 'pool-b', destination: 'inventory' });
  expect((a.slo as Record<string, unknown>).top_contributor).toMatchObject({ node_group: 'pool-b', destination: 'inventory' });
  const share = (g: string): number => contributors.filter((c) => c.node_group === g).reduce((n, c) => n + c.share, 0);
  expect(share('pool-a') + share('pool-c')).toBeLessThan(share('pool-b') / 5);
  // The incident is in the storm, whichever host opened it.
  expect(Date.parse(a['@timestamp'])).toBeGreaterThan(Date.parse(storm.stormStart));
  // (Stamped at the end of the judged minute: the storm's last minute ends at stormEnd.)
  expect(Date.parse(a['@timestamp'])).toBeLessThanOrEqual(Date.parse(storm.stormEnd));
  // The storm's failures are marked as hurting users for every pool-b host but
  // the first to arrive: its early storm documents were judged before any
  // other host's share of the storm was known, and a document is annotated
  // once, when it passes (it is indexed right after).
  const impacting = (h: string): number => docs.filter((d) => d.host.name === h && slo(d).impact === 'user_impacting').length;
  const arrival = [...new Set(docs.filter((d) => d.host.name.startsWith('order-b-') && d['@timestamp'] >= storm.stormStart).map((d) => d.host.name))];
  expect(arrival.length).toBe(poolB.length);
  for (const h of arrival.slice(1)) expect(impacting(h), `${h}: user_impacting documents`).toBeGreaterThan(10);
  const poolBImpacting = poolB.reduce((n, h) => n + impacting(h), 0);
  expect(poolBImpacting).toBeGreaterThan(50);
  // The healthy groups' only user_impacting documents are their few random
  // resets during the incident: bad events, while thousands of good ones stay unmarked.
  const healthyImpacting = docs.filter((d) => slo(d).node_group !== 'pool-b' && slo(d).impact === 'user_impacting');
  expect(healthyImpacting.every((d) => slo(d).bad)).toBe(true);
  expect(healthyImpacting.length).toBeLessThan(poolBImpacting / 10);
  return a;
}

describe('the storm with event time out of order across partitions', () => {
  it.each([
    ['hosts in name order', hosts],
    ['pool-b hosts last', [...healthy, ...poolB]],
    ['pool-b hosts first', [...poolB, ...healthy]],
    ['reverse name order', [...hosts].reverse()],
    ['pool-b interleaved with the healthy hosts', [healthy[0]!, poolB[0]!, healthy[1]!, poolB[1]!, healthy[2]!, poolB[2]!, ...healthy.slice(3)]],
  ])('one slo_impact alert for order naming pool-b, host by host: %s', (_name, order) => {
    expect(new Set(order)).toEqual(new Set(hosts));
    const { alerts, docs } = runBatches(hostByHost(order));
    expectOneIncident(alerts, docs);
  });

  it.each([1, 2, 3])('one alert when six partitions are drained in seeded random chunks (seed %i)', (seed) => {
    const { alerts, docs } = runBatches(partitioned(6, 700, seed));
    expectOneIncident(alerts, docs);
  });

  it('a late partition joins the incident that an earlier partition already opened', () => {
    const sink = memoryLog();
    const first = poolB[0]!;
    const { alerts, docs } = runBatches(hostByHost([first, ...hosts.filter((h) => h !== first)]), sink.log);
    const a = expectOneIncident(alerts, docs);
    // The first host's hours alone opened the incident (its slow pairs, judged
    // by budget consumed, keep it burning to the end of its data)...
    const opened = sink.lines.filter((l) => l.msg === 'SLO incident opened');
    expect(opened.map((l) => l.obj.alertId)).toEqual([a.event.id]);
    // ...and the other hosts' storm, arriving afterwards and judged again minute by minute, fell inside it.
    expect(sink.lines.filter((l) => l.msg.startsWith('document')).map((l) => l.msg)).toEqual([]);
  });

  it('survives a restart in the middle of an out-of-order replay: same alerts, same annotations', () => {
    const batches = hostByHost([...poolB, ...healthy]);
    const whole = runBatches(batches);
    // Cut inside the second pool-b host: the incident is open, late data still to come.
    const second = batches[1]!;
    const cutBatches = [batches[0]!, second.slice(0, Math.floor(second.length / 2))];
    const restBatches = [second.slice(Math.floor(second.length / 2)), ...batches.slice(2)];
    const first = runBatches(cutBatches);
    const restarted = createSloStage(cat);
    restarted.restore(JSON.parse(JSON.stringify(first.stage.snapshot())));
    const alerts: AlertDoc[] = [];
    const docs: ConnectionDoc[] = [];
    for (const batch of restBatches) {
      for (const d of batch) {
        const c = structuredClone(d);
        alerts.push(...restarted.process(c));
        docs.push(c);
      }
      alerts.push(...restarted.tick(Math.max(...batch.map((d) => Date.parse(d['@timestamp'])))));
    }
    expect([...first.alerts, ...alerts]).toEqual(whole.alerts);
    expect([...first.docs, ...docs].map((d) => d.slo)).toEqual(whole.docs.map((d) => d.slo));
  });

  it('gives the same alert id for the same arrival order (ids are deterministic)', () => {
    const order = [...healthy, ...poolB];
    expect(runBatches(hostByHost(order)).alerts.map((x) => x.event.id)).toEqual(runBatches(hostByHost(order)).alerts.map((x) => x.event.id));
  });

  it('annotates a late document with burn rates as of its own time, over everything that has arrived', () => {
    // Every other host first: when the last pool-b host arrives, the newest time seen is long past the storm.
    const { docs } = runBatches(hostByHost([...healthy, ...poolB]));
    const last = poolB[poolB.length - 1]!;
    const spec = cat.services.find((s) => s.name === 'order')!.slos.find((s) => s.name === 'availability')!;
    const minute = (d: ConnectionDoc): number => Math.floor(Date.parse(d['@timestamp']) / 60_000);
    // Brute force: per-minute availability counts of what had arrived before
    // each of the last host's documents (all other hosts, and the last host up to that document).
    const perMinute = new Map<number, { total: number; bad: number }>();
    const count = (d: ConnectionDoc): void => {
      const v = verdict(d, spec);
      if (v === 'not_counted') return;
      const c = perMinute.get(minute(d)) ?? { total: 0, bad: 0 };
      c.total++;
      if (v === 'bad') c.bad++;
      perMinute.set(minute(d), c);
    };
    for (const d of docs) if (d.host.name !== last) count(d);
    let checked = 0;
    for (const d of docs.filter((x) => x.host.name === last)) {
      count(d);
      if (slo(d).name !== 'availability') continue;
      let total = 0;
      let bad = 0;
      for (let m = minute(d) - 59; m <= minute(d); m++) {
        total += perMinute.get(m)?.total ?? 0;
        bad += perMinute.get(m)?.bad ?? 0;
      }
      expect(slo(d).burn_rate!['1h'], `${d.event.id} at ${d['@timestamp']}`).toBe(round(bad / total / spec.budget));
      checked++;
    }
    expect(checked).toBeGreaterThan(200);
    // So the late host's storm documents carry the storm's burn, not the calm of the newest time seen...
    const inStorm = docs.filter((d) => d.host.name === last && Date.parse(d['@timestamp']) > Date.parse(storm.stormStart) + 40 * 60_000 && d['@timestamp'] < storm.stormEnd && slo(d).bad);
    expect(inStorm.length).toBeGreaterThan(5);
    expect(inStorm.every((d) => slo(d).burn_rate!['1h'] > 14.4 && slo(d).impact === 'user_impacting')).toBe(true);
    // ...and its documents well after the storm see the windows cool down again.
    const after = docs.filter((d) => d.host.name === last && Date.parse(d['@timestamp']) > Date.parse(storm.stormEnd) + 40 * 60_000);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((d) => slo(d).burn_rate!['5m'] === 0 && slo(d).impact === 'none')).toBe(true);
  });
});
