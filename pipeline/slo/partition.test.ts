import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';
import { loadCatalogue } from './catalogue.js';
import { createSloStage, type SloStage } from './index.js';
import { sloInstanceState, sloPartitionStage } from './partition.js';

// SLO counts per partition, judged over the sum: the seed storm split by host
// over 6 "partitions" must give the alert one stage gives over the whole
// storm, and a partition's counts must move to another instance intact.

const cat = loadCatalogue(new URL('../../config/services.yaml', import.meta.url).pathname);
const storm = generateStorm();
const PARTS = 6;
const partitionOf = (d: ConnectionDoc): number => [...d.host.name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % PARTS;
const json = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

const statusOf = (s: SloStage) => json(s.statuses());
const key = (a: AlertDoc) => ({ at: a['@timestamp'], reason: a.event.reason, id: a.event.id });

describe('SLO partition views', () => {
  it('counting through per-partition views judges exactly as one stage over all documents', () => {
    const whole = createSloStage(cat);
    const wholeAlerts = storm.docs.flatMap((d) => whole.process(structuredClone(d)));
    const shared = createSloStage(cat);
    const views = Array.from({ length: PARTS }, () => sloPartitionStage(shared));
    const alerts = storm.docs.flatMap((d) => views[partitionOf(d)]!.process(structuredClone(d)));
    expect(wholeAlerts).toHaveLength(1);
    expect(alerts.map(key)).toEqual(wholeAlerts.map(key));
    expect(statusOf(shared)).toEqual(statusOf(whole));
  });

  it('a partition revoked here and restored on another instance takes exactly its counts along, and back', () => {
    const half = storm.docs.slice(0, Math.floor(storm.docs.length / 2));
    const a = createSloStage(cat);
    const viewsA = Array.from({ length: PARTS }, () => sloPartitionStage(a));
    for (const d of half) viewsA[partitionOf(d)]!.process(structuredClone(d));
    const ref = createSloStage(cat);
    for (const d of half) ref.process(structuredClone(d));
    const total = (s: SloStage) => s.statuses().flatMap((st) => st.slos.map((x) => `${x.period_total}/${x.period_bad}`));
    const sum = (s: SloStage) => s.statuses().flatMap((st) => st.slos.map((x) => x.period_total)).reduce((n, v) => n + v, 0);
    expect(total(a)).toEqual(total(ref));
    // Instance b (fresh) is given partitions 3..5: a takes their counts out, b adds them.
    const b = createSloStage(cat);
    b.restore(json(sloInstanceState(a).snapshot!()));
    const viewsB = new Map<number, ReturnType<typeof sloPartitionStage>>();
    for (let p = 3; p < PARTS; p++) {
      const snap = json(viewsA[p]!.snapshot!());
      viewsA[p]!.dispose();
      const v = sloPartitionStage(b);
      v.restore!(snap);
      viewsB.set(p, v);
    }
    expect(sum(a)).toBeGreaterThan(0);
    expect(sum(b)).toBeGreaterThan(0);
    expect(sum(a) + sum(b)).toBe(sum(ref));
    // Given back to a: the sums are whole again.
    for (const [p, v] of viewsB) {
      const snap = json(v.snapshot!());
      v.dispose();
      viewsA[p] = sloPartitionStage(a);
      viewsA[p]!.restore!(snap);
    }
    expect(sum(b)).toBe(0);
    expect(total(a)).toEqual(total(ref));
  });

  it('the instance part of the state carries no window counts (they live in the partitions)', () => {
    const s = createSloStage(cat);
    const v = sloPartitionStage(s);
    for (const d of storm.docs.slice(0, 500)) v.process(structuredClone(d));
    const inst = sloInstanceState(s).snapshot!() as { services: Record<string, { slos: Record<string, unknown> }> };
    for (const svc of Object.values(inst.services)) expect(svc.slos).toEqual({});
    const ledger = JSON.stringify(v.snapshot!());
    expect(ledger.length).toBeGreaterThan(10);
  });
});
