import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../lib/alert.js';
import type { ConnectionDoc } from '../lib/ecs.js';
import { INDEX_ALERTS, TOPIC_CONNECTIONS, TOPIC_REKEY } from '../lib/names.js';
import { generateStorm } from '../tools/gen/slo-storm.js';
import { AlertOutbox } from './alert-outbox.js';
import type { RawBulk } from './bulk.js';
import { tickOnce, type TickerOptions, type TickTarget } from './idle-ticker.js';
import type { OutMessage, Producer } from './messages.js';
import { ForwardOutbox, type RekeyStage } from './rekey.js';
import { Serial } from './serial.js';
import { loadCatalogue } from './slo/catalogue.js';
import { createSloStage } from './slo/index.js';
import { primaryStages, rekeyStages } from './stage-set.js';
import type { Stage } from './stage.js';
import { sourceKey, Watermarks } from './watermark.js';

// The idle ticker over in-memory Elasticsearch and Kafka, with a hand-driven
// wall clock: what a quiet fleet's last windows raise, and that it reaches
// Elasticsearch exactly once even when a delivery fails.

const log = pino({ level: 'silent' });
const IDLE = 2000;
const LATE = 1000;

function memoryEs() {
  const store = new Map<string, AlertDoc>();
  let failures = 0;
  const bulk: RawBulk = async (ops) => {
    if (failures > 0) {
      failures--;
      throw new Error('connect ECONNREFUSED 127.0.0.1:9200');
    }
    return ops.map((o) => {
      store.set(`${o.index}/${o.id}`, o.doc as AlertDoc);
      return { status: 201 };
    });
  };
  return { bulk, store, failNext: (n: number) => { failures = n; } };
}

function memoryKafka(): Producer & { sent: Record<string, OutMessage[]> } {
  const sent: Record<string, OutMessage[]> = {};
  return { sent, async send(topic, messages) { (sent[topic] ??= []).push(...messages); } };
}

const alertAt = (id: string, t: number): AlertDoc => ({
  '@timestamp': new Date(t).toISOString(),
  event: { id, kind: 'alert', category: ['network'], type: ['info'], severity: 47, risk_score: 47, start: new Date(t).toISOString(), end: new Date(t).toISOString(), dataset: 'connaudit.alerts', module: 'connaudit' },
  rule: { id, name: id, category: 'network_health', description: '', type: 'match', severity: 'medium' },
  connaudit: { alert: { group_key: id, count: 1, first_seen: new Date(t).toISOString(), last_seen: new Date(t).toISOString(), event_ids: [] } },
});

/** A stage whose "window" closes when event time passes `closesAt`; records every tick and watermark advance. */
function windowStage(name: string, closesAt: number, calls: string[]): Stage & RekeyStage {
  let fired = false;
  const close = (kind: string, t: number): AlertDoc[] => {
    calls.push(`${name} ${kind} ${t}`);
    if (fired || t < closesAt) return [];
    fired = true;
    return [alertAt(`${name}-window`, closesAt)];
  };
  return { name, process: () => [], processRekeyed: () => [], tick: (t) => close('tick', t), advanceWatermark: (t) => close('watermark', t) };
}

function harness(o: { primary: Stage[]; cross?: Array<Stage & RekeyStage>; wall: number }) {
  let wall = o.wall;
  const es = memoryEs();
  const kafka = memoryKafka();
  const consumer = { joined: true, busy: 0, assigned: { [TOPIC_CONNECTIONS]: [0, 1] } as Record<string, number[]> };
  const saves: string[] = [];
  const target = (group: string, set: TickTarget['set'], extra: Partial<TickTarget> = {}): TickTarget => ({
    group, set, watermarks: new Watermarks({ idleTimeoutMs: IDLE, allowedLatenessMs: LATE, now: () => wall }),
    consumer: () => consumer, serial: new Serial(), alertOutbox: new AlertOutbox(), save: () => { saves.push(group); }, ...extra,
  });
  const primary = target('g', primaryStages(o.primary, log));
  const crossSet = o.cross ? rekeyStages(o.cross, log) : undefined;
  const cross = crossSet ? target('g-rekey', crossSet, { consumer: () => ({ ...consumer, assigned: { [TOPIC_REKEY]: [0] } }), forwards: { outbox: new ForwardOutbox(), stages: () => crossSet.stages } }) : undefined;
  const opts: TickerOptions = { primary, cross, sinks: { bulk: es.bulk, producer: kafka, log, bulkOptions: { attempts: 1 } } };
  return { es, kafka, consumer, saves, primary, cross, opts, pass: (ms: number) => { wall += ms; }, wall: () => wall };
}

describe('idle ticker', () => {
  it('closes the windows of a fleet that went quiet, primary (vouched) and cross-host, and delivers their alerts once', async () => {
    const T = Date.parse('2026-01-05T10:00:00Z');
    const calls: string[] = [];
    const h = harness({ primary: [windowStage('p', T + 60_000, calls)], cross: [windowStage('x', T + 60_000, calls)], wall: T });
    h.primary.watermarks.observe(sourceKey(TOPIC_CONNECTIONS, 0), T - 5000);
    h.primary.watermarks.observe(sourceKey(TOPIC_CONNECTIONS, 1), T);
    // Still sending: the batches tick the stages; the ticker brings event time only to the watermark.
    expect(await tickOnce(h.opts)).toBe(0);
    expect(calls).toEqual([`p tick ${T - 5000 - LATE}`, `x tick ${T - 5000 - LATE}`]);
    calls.length = 0;
    // Nothing new for the idle timeout: the watermark follows the wall clock.
    h.pass(IDLE);
    expect(await tickOnce(h.opts)).toBe(0);
    expect(calls).toEqual([`p watermark ${T + IDLE - LATE}`, `x tick ${T + IDLE - LATE}`]);
    h.pass(60_000);
    expect(await tickOnce(h.opts)).toBe(2);
    expect([...h.es.store.keys()].sort()).toEqual([`${INDEX_ALERTS}/p-window`, `${INDEX_ALERTS}/x-window`]);
    expect(h.saves).toEqual(['g', 'g-rekey']);
    // The same watermark again ticks nothing.
    calls.length = 0;
    expect(await tickOnce(h.opts)).toBe(0);
    expect(calls).toEqual([]);
  });

  it('does not advance by processing time while the consumer is busy or retrying a batch', async () => {
    const T = Date.parse('2026-01-05T10:00:00Z');
    const calls: string[] = [];
    const h = harness({ primary: [windowStage('p', T + 60_000, calls)], wall: T });
    h.primary.watermarks.observe(sourceKey(TOPIC_CONNECTIONS, 0), T);
    h.consumer.busy = 1;
    h.pass(120_000);
    await tickOnce(h.opts);
    expect(calls).toEqual([`p tick ${T - LATE}`]);
    expect(h.es.store.size).toBe(0);
    h.consumer.busy = 0;
    expect(await tickOnce(h.opts)).toBe(1);
    expect(calls[1]).toBe(`p watermark ${T + 120_000 - LATE}`);
  });

  it('keeps an alert whose delivery failed and delivers it on the next tick: 1 raised, 1 indexed', async () => {
    const T = Date.parse('2026-01-05T10:00:00Z');
    const h = harness({ primary: [windowStage('p', T, [])], wall: T });
    h.primary.watermarks.observe(sourceKey(TOPIC_CONNECTIONS, 0), T - 10_000);
    h.pass(IDLE + LATE);
    h.es.failNext(1);
    await expect(tickOnce(h.opts)).rejects.toThrow(/ECONNREFUSED/);
    expect(h.es.store.size).toBe(0);
    expect(h.primary.alertOutbox.size).toBe(1);
    expect(await tickOnce(h.opts)).toBe(0);
    expect([...h.es.store.keys()]).toEqual([`${INDEX_ALERTS}/p-window`]);
    expect(h.primary.alertOutbox.size).toBe(0);
  });

  it('waits for a batch running on the same stage set (never interleaves with it)', async () => {
    const T = Date.parse('2026-01-05T10:00:00Z');
    const calls: string[] = [];
    const h = harness({ primary: [windowStage('p', T, calls)], wall: T });
    h.primary.watermarks.observe(sourceKey(TOPIC_CONNECTIONS, 0), T);
    h.pass(IDLE + LATE);
    let release!: () => void;
    const batch = h.primary.serial.run(() => new Promise<void>((r) => { calls.push('batch start'); release = () => { calls.push('batch end'); r(); }; }));
    const tick = tickOnce(h.opts);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual(['batch start']);
    release();
    await batch;
    expect(await tick).toBe(1);
    expect(calls).toEqual(['batch start', 'batch end', `p watermark ${T + IDLE}`]);
  });

  it('ticks the cross-host set only once the rekey consumer has read everything re-keyed', async () => {
    const T = Date.parse('2026-01-05T10:00:00Z');
    const calls: string[] = [];
    const h = harness({ primary: [], cross: [windowStage('x', T, calls)], wall: T });
    h.primary.watermarks.observe(sourceKey(TOPIC_CONNECTIONS, 0), T);
    h.cross!.watermarks.lag(sourceKey(TOPIC_REKEY, 0), 3);
    h.pass(IDLE + LATE);
    expect(await tickOnce(h.opts)).toBe(0);
    expect(calls).toEqual([]);
    h.cross!.watermarks.lag(sourceKey(TOPIC_REKEY, 0), 0);
    expect(await tickOnce(h.opts)).toBe(1);
    expect(calls).toEqual([`x tick ${T + IDLE}`]);
  });

  it('publishes the forwards a cross-host tick raised (pivot chains travelling to their next joint)', async () => {
    const T = Date.parse('2026-01-05T10:00:00Z');
    let pending = [{ by: 'related.ip', key: '10.0.0.2', body: { kind: 'pivot-chain' } }];
    const stage: Stage & RekeyStage = { name: 'x', process: () => [], processRekeyed: () => [], tick: () => [], drainForwards: () => { const out = pending; pending = []; return out; } };
    const h = harness({ primary: [], cross: [stage], wall: T });
    h.primary.watermarks.observe(sourceKey(TOPIC_CONNECTIONS, 0), T);
    h.pass(IDLE);
    await tickOnce(h.opts);
    expect(h.kafka.sent[TOPIC_REKEY]?.map((m) => m.key?.toString())).toEqual(['related.ip=10.0.0.2']);
    expect(h.saves).toEqual(['g-rekey']);
  });
});

describe('the SLO stage on a quiet fleet', () => {
  const cat = loadCatalogue(new URL('../config/services.yaml', import.meta.url).pathname);
  const storm = generateStorm();

  it('judges the last minutes once the input is idle: the storm alert comes at the same time as over the whole storm', async () => {
    const whole = createSloStage(cat);
    const all: AlertDoc[] = [];
    for (const d of storm.docs) all.push(...whole.process(structuredClone(d)));
    all.push(...whole.flush());
    expect(all.filter((a) => a.rule.category === 'slo_impact')).toHaveLength(1);
    const firedAt = Date.parse(all[0]!['@timestamp']);
    // The fleet goes quiet half way through the minute the alert is about.
    const cut = firedAt + 30_000;
    const docs: ConnectionDoc[] = storm.docs.filter((d) => Date.parse(d['@timestamp']) <= cut).map((d) => structuredClone(d));
    const slo = createSloStage(cat);
    const h = harness({ primary: [slo], wall: Date.now() });
    const before: AlertDoc[] = [];
    for (const d of docs) {
      before.push(...slo.process(d));
      h.primary.watermarks.observe(sourceKey(TOPIC_CONNECTIONS, 0), Date.parse(d['@timestamp']));
    }
    before.push(...slo.tick(cut));
    expect(before, 'without idleness the last minute is never judged').toEqual([]);
    h.pass(IDLE);
    expect(await tickOnce(h.opts)).toBe(1);
    const got = [...h.es.store.values()];
    expect(got).toHaveLength(1);
    expect(got[0]!.rule.category).toBe('slo_impact');
    expect(got[0]!['@timestamp']).toBe(all[0]!['@timestamp']);
  });
});
