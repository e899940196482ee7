import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { loadCatalogue, parseCatalogue } from './catalogue.js';
import { createSloStage, type SloAnnotation } from './index.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';

const cat = loadCatalogue(new URL('../../config/services.yaml', import.meta.url).pathname);
const storm = generateStorm();
const clone = (d: ConnectionDoc): ConnectionDoc => structuredClone(d);

function run(docs: ConnectionDoc[], stage = createSloStage(cat)) {
  const alerts: AlertDoc[] = [];
  const out: ConnectionDoc[] = [];
  for (const d of docs) {
    const c = clone(d);
    alerts.push(...stage.process(c));
    out.push(c);
  }
  return { alerts, docs: out, stage };
}

const slo = (d: ConnectionDoc): SloAnnotation => d.slo as unknown as SloAnnotation;

describe('the seed storm through the SLO stage', () => {
  const { alerts, docs } = run(storm.docs);

  it('comes out as one slo_impact alert naming pool-b -> inventory as the top contributor', () => {
    expect(alerts).toHaveLength(1);
    const a = alerts[0]!;
    expect(a.rule.category).toBe('slo_impact');
    expect(a.rule.severity).toBe('critical');
    const contributors = a.connaudit.alert.contributors as Array<{ node_group: string; destination: string; cause: string; share: number }>;
    expect(contributors[0]).toMatchObject({ node_group: 'pool-b', destination: 'inventory', cause: 'reset' });
    expect(a.connaudit.alert.top_node_group).toBe('pool-b');
    // The healthy groups together spent less than a fifth of what pool-b did.
    const byGroup = (g: string): number => contributors.filter((c) => c.node_group === g).reduce((n, c) => n + c.share, 0);
    expect(byGroup('pool-a') + byGroup('pool-c')).toBeLessThan(byGroup('pool-b') / 5);
    expect(a.event.reason).toMatch(/^order: availability \(99\.9%\) burns [\d.]+x over 1h and [\d.]+x over 5m \(threshold 14\.4x\)\. Top contributors: reset on pool-b -> inventory/);
    expect(a.event.reason).toMatch(/slow_connect on pool-b -> inventory/);
    // It fires during the storm, not before it.
    expect(Date.parse(a['@timestamp'])).toBeGreaterThan(Date.parse(storm.stormStart));
    expect(Date.parse(a['@timestamp'])).toBeLessThan(Date.parse(storm.stormEnd));
    expect((a.slo as Record<string, unknown>).top_contributor).toMatchObject({ node_group: 'pool-b', cause: 'reset' });
    expect(a.connaudit.alert.event_ids.length).toBeGreaterThan(0);
  });

  it('marks pool-b bad events during the burn user_impacting and leaves the healthy groups alone', () => {
    const count = (impact: string, group: string): number => docs.filter((d) => slo(d).impact === impact && slo(d).node_group === group).length;
    expect(count('user_impacting', 'pool-b')).toBeGreaterThan(50);
    expect(count('user_impacting', 'pool-a') + count('user_impacting', 'pool-c')).toBeLessThanOrEqual(2);
    // pool-c's retransmit burst before the storm reached nobody.
    const burst = docs.filter((d) => slo(d).node_group === 'pool-c' && d['@timestamp'] < storm.stormStart && d.connaudit.retransmits >= 3);
    expect(burst.length).toBeGreaterThan(10);
    expect(new Set(burst.map((d) => slo(d).impact))).toEqual(new Set(['infrastructure_only']));
    expect(new Set(burst.map((d) => slo(d).cause))).toEqual(new Set(['retransmits']));
  });

  it('annotates every order document with the service, objective, burn rates and budget', () => {
    const d = docs.find((x) => slo(x).impact === 'user_impacting')!;
    const s = slo(d);
    expect(s.service).toEqual({ name: 'order', owner: 'team-checkout', environment: 'prod' });
    expect(Object.keys(s.burn_rate!).sort()).toEqual(['1d', '1h', '2h', '30m', '3d', '5m', '6h']);
    expect(s.burn_rate!['1h']).toBeGreaterThan(14.4);
    expect(s.budget_remaining).toBeLessThan(1);
    expect(s.destination_service).toBe('inventory');
    expect(docs.every((x) => slo(x)?.service.name === 'order')).toBe(true);
    // The storm's agents report no node group: the catalogue's host patterns fill it, on the document too.
    expect(storm.docs.every((x) => x.connaudit.node_group === undefined)).toBe(true);
    expect(docs.every((x) => x.connaudit.node_group === slo(x).node_group && /^pool-[abc]$/.test(x.connaudit.node_group ?? ""))).toBe(true);
  });
});

describe('state', () => {
  it('survives a restart mid-storm: snapshot, JSON, restore into a new stage gives the same alerts', () => {
    const whole = run(storm.docs).alerts;
    const cut = Math.floor(storm.docs.length * 0.62);
    const first = run(storm.docs.slice(0, cut));
    const restored = createSloStage(cat);
    restored.restore(JSON.parse(JSON.stringify(first.stage.snapshot())));
    const second = run(storm.docs.slice(cut), restored);
    expect([...first.alerts, ...second.alerts]).toEqual(whole);
  });

  it('restores state version 1 (one open incident, no incident list) without raising the incident again', () => {
    const whole = run(storm.docs).alerts;
    const cut = storm.docs.findIndex((d) => d['@timestamp'] > whole[0]!['@timestamp']) + 200;
    const first = run(storm.docs.slice(0, cut));
    expect(first.alerts).toEqual(whole);
    const v2 = JSON.parse(JSON.stringify(first.stage.snapshot())) as { nowMs: number; services: Record<string, { incidents: Array<Record<string, unknown>>; recentBad: string[]; slos: unknown }> };
    const v1 = {
      version: 1,
      nowMs: v2.nowMs,
      services: Object.fromEntries(Object.entries(v2.services).map(([name, s]) => {
        const open = s.incidents.at(-1);
        return [name, { incident: open ? { alertId: open.alertId, openedMs: open.openedMs, lastFiringMs: open.lastFiringMs } : null, recentBad: s.recentBad, slos: s.slos }];
      })),
    };
    expect(v1.services.order!.incident).not.toBeNull();
    const restored = createSloStage(cat);
    restored.restore(v1);
    expect(restored.status('order')).toEqual(first.stage.status('order'));
    expect(run(storm.docs.slice(cut), restored).alerts).toEqual([]);
  });

  it('judges a pair whose long window is not yet seen in full by the budget it consumed', () => {
    const c = parseCatalogue(`services:\n  - name: order\n    match: { process_names: [order-svc] }\n    slos:\n      - { name: av, type: availability, objective: 99, min_events: 1 }\n`);
    const failing = (minutes: number): ConnectionDoc[] => storm.docs
      .filter((d) => Date.parse(d['@timestamp']) < Date.parse(storm.from) + minutes * 60_000)
      .map((d) => ({ ...clone(d), connaudit: { ...d.connaudit, conn_state: 'REJ' as const, close_reason: 'refused' as const } }));
    // Every connection refused: a 100x burn. Ten minutes of it spent 1000 budget-minutes, more than an hour at 14.4x (864)...
    expect(run(failing(11), createSloStage(c)).alerts.map((a) => a.rule.severity)).toEqual(['critical']);
    // ...five minutes (500) did not.
    expect(run(failing(6), createSloStage(c)).alerts).toHaveLength(0);
  });

  it('counts only final records', () => {
    const stage = createSloStage(cat);
    const d = clone(storm.docs[0]!);
    d.connaudit.record_kind = 'interim';
    d.connaudit.conn_state = 'S1';
    stage.process(d);
    expect(stage.status('order')!.slos.every((s) => s.total_1h === 0)).toBe(true);
  });
});

describe('annotateAlert', () => {
  it('gives another rule\'s alert the slo.* of the service its triggering events belong to', () => {
    const { docs, stage } = run(storm.docs.filter((d) => d['@timestamp'] < '2025-03-14T10:30:00'));
    const bad = docs.find((d) => slo(d).impact === 'user_impacting')!;
    const alert = {
      '@timestamp': bad['@timestamp'],
      rule: { category: 'network_health' },
      connaudit: { alert: { event_ids: [bad.event.id] } },
    } as unknown as AlertDoc;
    stage.annotateAlert!(alert);
    expect(alert.slo).toMatchObject({ service: { name: 'order' }, impact: 'user_impacting', burning: true });
  });

  it('finds the service from the alert\'s own ECS fields when its events are unknown', () => {
    const stage = run(storm.docs.slice(0, 200)).stage;
    const alert = { '@timestamp': storm.from, rule: { category: 'unexpected_outbound' }, process: { name: 'order-svc' }, 'host.name': 'order-a-1', connaudit: { alert: { event_ids: ['nope'] } } } as unknown as AlertDoc;
    stage.annotateAlert!(alert);
    expect(alert.slo).toMatchObject({ service: { name: 'order' }, impact: 'none', burning: false });
    const stranger = { '@timestamp': storm.from, rule: { category: 'unexpected_outbound' }, process: { name: 'curl' }, connaudit: { alert: { event_ids: [] } } } as unknown as AlertDoc;
    stage.annotateAlert!(stranger);
    expect(stranger.slo).toBeUndefined();
  });
});
