import { createHash } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../lib/alert.js';
import { encodeConnection } from '../lib/avro.js';
import type { ConnectionDoc } from '../lib/ecs.js';
import { INDEX_AGENT_HEALTH, INDEX_ALERTS, INDEX_CONNECTIONS, TOPIC_CONNECTIONS, TOPIC_DLQ, TOPIC_REKEY } from '../lib/names.js';
import { decodeConnectionDoc } from '../lib/record-decode.js';
import { record } from '../test/helpers/records.js';
import { agentHealthCodec } from '../lib/agent-health.js';
import { AlertOutbox } from './alert-outbox.js';
import { handleAgentHealthBatch, handleConnectionBatch, handleRekeyBatch } from './batch.js';
import type { ItemResult, RawBulk } from './bulk.js';
import { legacyContentHash } from './integrity.js';
import { createEnricher } from './enrich/enrich.js';
import type { InMessage, OutMessage, Producer } from './messages.js';
import { RekeyBuffer, type Rekeyer, type RekeyStage } from './rekey.js';
import { primaryStages, rekeyStages } from './stage-set.js';
import type { Stage } from './stage.js';
import { Watermarks } from './watermark.js';

// The batch path end to end over in-memory parts: messages in, bulk actions,
// DLQ and rekey messages out. The integration tests run the same path against
// the real Kafka and Elasticsearch.

const log = pino({ level: 'silent' });

function source(values: Array<Buffer | null>, start = 100): InMessage[] {
  return values.map((value, i) => ({ topic: TOPIC_CONNECTIONS, partition: 0, offset: String(start + i), key: Buffer.from('web-1'), value }));
}

/** In-memory Elasticsearch: keeps the last version of each document by (index, _id). */
function memoryEs(reject: (index: string, id: string, doc: object) => ItemResult | undefined = () => undefined) {
  const store = new Map<string, object>();
  const bulk: RawBulk = async (ops) =>
    ops.map((o) => {
      const r = reject(o.index, o.id, o.doc);
      if (r) return r;
      store.set(`${o.index}/${o.id}`, o.doc);
      return { status: 201 };
    });
  const docs = (index: string) => [...store.entries()].filter(([k]) => k.startsWith(`${index}/`)).map(([, v]) => v);
  return { bulk, store, docs };
}

function memoryKafka(): Producer & { sent: Record<string, OutMessage[]> } {
  const sent: Record<string, OutMessage[]> = {};
  return {
    sent,
    async send(topic, messages) {
      (sent[topic] ??= []).push(...messages);
    },
  };
}

const alertFor = (doc: ConnectionDoc, rule: string): AlertDoc => ({
  '@timestamp': doc['@timestamp'],
  event: { id: `${rule}-${doc.event.id}`, kind: 'alert', category: ['network'], type: ['info'], severity: 47, risk_score: 47, start: doc.event.start, end: doc.event.end, dataset: 'connaudit.alerts', module: 'connaudit' },
  rule: { id: rule, name: rule, category: 'network_health', description: '', type: 'match', severity: 'medium' },
  connaudit: { alert: { group_key: doc.host.name, count: 1, first_seen: doc['@timestamp'], last_seen: doc['@timestamp'], event_ids: [doc.event.id] } },
});

const garbage = Buffer.from('this is not avro at all');

describe('handleConnectionBatch', () => {
  it('indexes every decodable record under its event id and dead-letters the garbage with its reason', async () => {
    const es = memoryEs();
    const kafka = memoryKafka();
    const recs = [record(1), record(2), record(3)];
    const msgs = source([encodeConnection(recs[0]!), garbage, encodeConnection(recs[1]!), encodeConnection(recs[2]!)]);
    const stats = await handleConnectionBatch(msgs, { bulk: es.bulk, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([]), now: () => new Date('2025-11-22T12:00:00Z') });
    expect(stats).toMatchObject({ messages: 4, docs: 3, dlq: 1, rejected: 0, alerts: 0 });
    expect([...es.store.keys()].sort()).toEqual(recs.map((r) => `${INDEX_CONNECTIONS}/${r.event_id}`).sort());
    const doc = es.store.get(`${INDEX_CONNECTIONS}/${recs[0]!.event_id}`) as ConnectionDoc;
    expect(doc.event.ingested).toBe('2025-11-22T12:00:00.000Z');
    expect(doc.connaudit.destination_external).toBe(false);
    const dead = kafka.sent[TOPIC_DLQ]!;
    expect(dead).toHaveLength(1);
    expect(dead[0]!.value).toEqual(garbage);
    expect(dead[0]!.key).toEqual(Buffer.from('web-1'));
    expect(dead[0]!.headers).toMatchObject({ 'dlq-reason': 'bad_magic', 'source-topic': TOPIC_CONNECTIONS, 'source-partition': '0', 'source-offset': '101' });
    expect(dead[0]!.headers['dlq-error']).toContain('C3 01');
  });

  it.each([
    ['too_short', Buffer.from([0xc3])],
    ['unknown_schema', Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 0xab), Buffer.from([0])])],
    ['bad_body', Buffer.concat([encodeConnection(record(1)).subarray(0, 10), Buffer.from([0xff, 0xff, 0xff])])],
    ['empty', null],
  ])('dead-letters a %s message', async (reason, value) => {
    const kafka = memoryKafka();
    await handleConnectionBatch(source([value]), { bulk: memoryEs().bulk, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([]) });
    expect(kafka.sent[TOPIC_DLQ]![0]!.headers['dlq-reason']).toBe(reason);
  });

  it('dead-letters the one document Elasticsearch rejects, with ES reason and the original bytes, and indexes the rest', async () => {
    const bad = record(2);
    const es = memoryEs((_i, id) => (id === bad.event_id ? { status: 400, error: { type: 'strict_dynamic_mapping_exception', reason: 'mapping set to strict, dynamic introduction of [x] within [connaudit] is not allowed' } } : undefined));
    const kafka = memoryKafka();
    const values = [encodeConnection(record(1)), encodeConnection(bad), encodeConnection(record(3))];
    const stats = await handleConnectionBatch(source(values), { bulk: es.bulk, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([]) });
    expect(stats).toMatchObject({ docs: 2, rejected: 1, dlq: 1 });
    expect(es.docs(INDEX_CONNECTIONS)).toHaveLength(2);
    const dead = kafka.sent[TOPIC_DLQ]![0]!;
    expect(dead.value).toEqual(values[1]);
    expect(dead.headers).toMatchObject({ 'dlq-reason': 'es_rejected', 'source-offset': '101' });
    expect(dead.headers['dlq-error']).toBe(`${INDEX_CONNECTIONS}/${bad.event_id}: strict_dynamic_mapping_exception: mapping set to strict, dynamic introduction of [x] within [connaudit] is not allowed`);
  });

  it('produces nothing to Kafka and fails the batch when Elasticsearch stays unavailable', async () => {
    const kafka = memoryKafka();
    const down: RawBulk = async () => { throw new Error('connect ECONNREFUSED'); };
    await expect(handleConnectionBatch(source([encodeConnection(record(1)), garbage]), { bulk: down, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([]), bulkOptions: { attempts: 2, sleep: async () => undefined } })).rejects.toThrow(/ECONNREFUSED/);
    expect(kafka.sent).toEqual({});
  });

  it('keeps the alerts of a failed attempt and indexes them with the redelivery, even when the stage does not raise them again', async () => {
    const kafka = memoryKafka();
    const es = memoryEs();
    let up = false;
    const flaky: RawBulk = async (ops) => { if (!up) throw new Error('connect ECONNREFUSED'); return es.bulk(ops); };
    // Like a suppressed rule: it alerts on the first sight of a document only.
    const seen = new Set<string>();
    const once: Stage = { name: 'once', process: (d) => (seen.has(d.event.id) ? [] : (seen.add(d.event.id), [alertFor(d, 'once')])) };
    const deps = { bulk: flaky, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([once]), alertOutbox: new AlertOutbox(), bulkOptions: { attempts: 1, sleep: async () => undefined } };
    const msgs = source([encodeConnection(record(1))]);
    await expect(handleConnectionBatch(msgs, deps)).rejects.toThrow(/ECONNREFUSED/);
    expect(deps.alertOutbox.size).toBe(1);
    up = true;
    const stats = await handleConnectionBatch(msgs, deps);
    expect(stats.alerts).toBe(0); // the stage stayed quiet on the redelivery ...
    expect(es.docs(INDEX_ALERTS)).toHaveLength(1); // ... and the alert was still indexed, once
    expect(deps.alertOutbox.size).toBe(0);
  });

  it('runs SLO then rules on enriched docs, ticks with the newest event time, annotates every alert, and indexes alerts by id', async () => {
    const calls: string[] = [];
    const slo: Stage = {
      name: 'slo',
      process(doc) {
        calls.push(`slo:${doc.event.id}:${doc.connaudit.source_zone}`);
        doc.slo = { impact: 'none' };
        return [];
      },
      annotateAlert(a) { a.slo = { impact: 'user_impacting' }; },
    };
    const ticks: number[] = [];
    const rules: Stage = {
      name: 'rules',
      process(doc) {
        calls.push(`rules:${doc.event.id}:${String((doc.slo as { impact: string }).impact)}`);
        return doc.event.id === record(2).event_id ? [alertFor(doc, 'r1')] : [];
      },
      tick(ms) {
        ticks.push(ms);
        return [];
      },
    };
    const es = memoryEs();
    const msgs = source([encodeConnection(record(1)), encodeConnection(record(2))]);
    const stats = await handleConnectionBatch(msgs, { bulk: es.bulk, producer: memoryKafka(), log, enrich: createEnricher({ zones: { a: ['10.1.0.0/16'] } }), stages: primaryStages([slo, rules]) });
    expect(calls).toEqual([`slo:${record(1).event_id}:a`, `rules:${record(1).event_id}:none`, `slo:${record(2).event_id}:a`, `rules:${record(2).event_id}:none`]);
    expect(ticks).toEqual([Math.floor(record(2).end_us / 1000)]);
    expect(stats.alerts).toBe(1);
    const alert = es.store.get(`${INDEX_ALERTS}/r1-${record(2).event_id}`) as AlertDoc;
    expect(alert.slo).toEqual({ impact: 'user_impacting' });
  });

  it('keeps going when a stage throws on one document', async () => {
    const flaky: Stage = { name: 'flaky', process(doc) { if (doc.event.id === record(1).event_id) throw new Error('boom'); return [alertFor(doc, 'ok')]; } };
    const set = primaryStages([flaky], log);
    const es = memoryEs();
    const stats = await handleConnectionBatch(source([encodeConnection(record(1)), encodeConnection(record(2))]), { bulk: es.bulk, producer: memoryKafka(), log, enrich: createEnricher({}), stages: set });
    expect(stats).toMatchObject({ docs: 2, alerts: 1 });
    expect(set.errors).toBe(1);
  });

  it('publishes re-key requests after indexing, once per (doc, by, key), and the rekey side runs the cross-host stages', async () => {
    const buf = new RekeyBuffer();
    const asker = (rk: Rekeyer): Stage => ({
      name: 'asker',
      process(doc) {
        rk.request(doc, 'destination.ip', doc.destination.ip);
        rk.request(doc, 'destination.ip', doc.destination.ip);
        rk.request(doc, 'source.ip', doc.source.ip);
        return [];
      },
    });
    const kafka = memoryKafka();
    const es = memoryEs();
    const stats = await handleConnectionBatch(source([encodeConnection(record(1)), encodeConnection(record(2))]), { bulk: es.bulk, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([asker(buf)]), rekey: buf });
    expect(stats.rekeyed).toBe(4);
    const out = kafka.sent[TOPIC_REKEY]!;
    expect(out.map((m) => m.key)).toEqual(['destination.ip=10.2.0.9', 'source.ip=10.1.0.5', 'destination.ip=10.2.0.9', 'source.ip=10.1.0.5']);
    expect(out[0]!.headers).toEqual({ 'rekey-by': 'destination.ip' });

    const seen: string[] = [];
    const fanout: RekeyStage = { name: 'fanout', processRekeyed(doc, by, key) { seen.push(`${by}=${key}`); return by === 'source.ip' ? [alertFor(doc, 'x')] : []; } };
    const rekeyIn: InMessage[] = out.map((m, i) => ({ topic: TOPIC_REKEY, partition: 0, offset: String(i), key: Buffer.from(String(m.key)), value: Buffer.from(String(m.value)), headers: m.headers }));
    rekeyIn.push({ topic: TOPIC_REKEY, partition: 0, offset: '9', key: Buffer.from('nope'), value: Buffer.from('{}'), headers: {} });
    const rkKafka = memoryKafka();
    const rkEs = memoryEs();
    const rs = await handleRekeyBatch(rekeyIn, { bulk: rkEs.bulk, producer: rkKafka, log, stages: rekeyStages([fanout]) });
    expect(seen).toEqual(['destination.ip=10.2.0.9', 'source.ip=10.1.0.5', 'destination.ip=10.2.0.9', 'source.ip=10.1.0.5']);
    expect(rs).toMatchObject({ alerts: 2, dlq: 1, docs: 0 });
    expect(rkEs.docs(INDEX_CONNECTIONS)).toHaveLength(0);
    expect(rkEs.docs(INDEX_ALERTS)).toHaveLength(2);
    expect(rkKafka.sent[TOPIC_DLQ]![0]!.headers['dlq-reason']).toBe('bad_record');
  });
});

describe('handleAgentHealthBatch', () => {
  it('indexes health reports and dead-letters undecodable ones', async () => {
    const rec = { event_id: 'h1', host: 'web-1', ts_us: 1_763_770_000_000_000, agent_version: '0.1.0', started_us: 1_763_760_000_000_000, interval_s: 10, records_total: 5, records_produced: 4, ringbuf_drops: 1, ringbuf_drops_per_cpu: [1, 0], sampled_out: 0, filtered: 0, spool_records: 0, spool_bytes: 0, spool_dropped: 0, kafka_errors: 0, kafka_connected: true };
    const es = memoryEs();
    const kafka = memoryKafka();
    const msgs = source([agentHealthCodec().encode(rec), encodeConnection(record(1))]);
    const stats = await handleAgentHealthBatch(msgs, { bulk: es.bulk, producer: kafka, log });
    expect(stats).toMatchObject({ docs: 1, dlq: 1 });
    expect(es.store.get(`${INDEX_AGENT_HEALTH}/h1`)).toMatchObject({ host: { name: 'web-1' }, connaudit: { agent_health: { ringbuf_drops: 1, records_produced: 4 } } });
    expect(kafka.sent[TOPIC_DLQ]![0]!.headers['dlq-reason']).toBe('unknown_schema');
  });
});

/** In-memory Elasticsearch with op_type create: an existing id answers 409 and keeps the stored document. */
function createAwareEs() {
  const store = new Map<string, Record<string, unknown>>();
  const bulk: RawBulk = async (ops) =>
    ops.map((o) => {
      const k = `${o.index}/${o.id}`;
      if (o.create && store.has(k)) return { status: 409, error: { type: 'version_conflict_engine_exception', reason: 'document already exists' } };
      store.set(k, structuredClone(o.doc) as Record<string, unknown>);
      return { status: 201 };
    });
  const fetchDocs = async (index: string, ids: string[]) => new Map(ids.filter((id) => store.has(`${index}/${id}`)).map((id) => [id, store.get(`${index}/${id}`)!]));
  return { bulk, fetchDocs, store };
}

describe('tamper resistance and event-time skew', () => {
  const now = () => new Date('2025-11-22T12:00:00Z');

  it('a redelivered identical record is a no-op; a different record with the same id is dead-lettered as a conflict, alerted, and the stored document kept', async () => {
    const es = createAwareEs();
    const kafka = memoryKafka();
    const deps = { bulk: es.bulk, fetchDocs: es.fetchDocs, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([]), now };
    const genuine = record(1, { host: 'web-1' });
    const first = await handleConnectionBatch(source([encodeConnection(genuine), encodeConnection(record(2))]), deps);
    expect(first).toMatchObject({ messages: 2, docs: 2, duplicates: 0, conflicts: 0, dlq: 0 });
    const storedBefore = structuredClone(es.store.get(`${INDEX_CONNECTIONS}/${genuine.event_id}`));
    expect((storedBefore!.event as { hash?: string }).hash).toMatch(/^[0-9a-f]{64}$/);

    // Redelivery of the same record (event.ingested differs, the content does not), plus a forged rewrite of it.
    const forged = { ...genuine, dst_port: 4444, src_bytes: 1 };
    const second = await handleConnectionBatch(source([encodeConnection(genuine), encodeConnection(forged)], 200), { ...deps, now: () => new Date('2025-11-22T13:00:00Z') });
    expect(second).toMatchObject({ messages: 2, docs: 0, duplicates: 1, conflicts: 1, dlq: 1, dlqByReason: { id_conflict: 1 } });
    expect(es.store.get(`${INDEX_CONNECTIONS}/${genuine.event_id}`)).toEqual(storedBefore);
    const dead = kafka.sent[TOPIC_DLQ]!;
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers['dlq-reason']).toBe('id_conflict');
    expect(dead[0]!.headers['source-offset']).toBe('201');
    expect(dead[0]!.value).toEqual(encodeConnection(forged));
    const alerts = [...es.store.entries()].filter(([k]) => k.startsWith(`${INDEX_ALERTS}/`)).map(([, v]) => v as unknown as AlertDoc);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.rule.id).toBe('connaudit-document-id-conflict');
    expect(alerts[0]!.connaudit.alert.event_ids).toEqual([genuine.event_id]);
    expect((alerts[0] as unknown as { host: { name: string } }).host.name).toBe('web-1');
  });

  it('event.hash is the SHA-256 of the message bytes; a replayed record whose document an older pipeline hashed as JSON is still a duplicate, a rewrite still a conflict', async () => {
    const es = createAwareEs();
    const kafka = memoryKafka();
    const deps = { bulk: es.bulk, fetchDocs: es.fetchDocs, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([]), now };
    const old = record(7, { host: 'web-2' });
    const bytes = encodeConnection(old);
    await handleConnectionBatch(source([bytes]), deps);
    const key = `${INDEX_CONNECTIONS}/${old.event_id}`;
    expect((es.store.get(key)!.event as { hash?: string }).hash).toBe(createHash('sha256').update(bytes).digest('hex'));
    // As an older pipeline stored it: the hash of the decoded document's JSON.
    (es.store.get(key)!.event as { hash?: string }).hash = legacyContentHash(decodeConnectionDoc(bytes));
    const replay = await handleConnectionBatch(source([bytes, encodeConnection({ ...old, dst_port: 4444 })], 300), deps);
    expect(replay).toMatchObject({ messages: 2, docs: 0, duplicates: 1, conflicts: 1, dlqByReason: { id_conflict: 1 } });
  });

  it('a record dated ahead of the clock by more than the skew goes to the DLQ before any stage sees it, and never moves a stage clock', async () => {
    const es = createAwareEs();
    const kafka = memoryKafka();
    const ticks: number[] = [];
    const seen: string[] = [];
    const clockStage: Stage = { name: 'clock', process: (d) => { seen.push(d.event.id); return []; }, tick: (t) => { ticks.push(t); return []; } };
    const okRec = record(1);
    // 2027: far ahead of the injected clock.
    const future = record(2, { start_us: Date.parse('2027-01-01T00:00:00Z') * 1000, end_us: Date.parse('2027-01-01T00:00:01Z') * 1000 });
    const slight = record(3, { start_us: Date.parse('2025-11-22T12:03:00Z') * 1000, end_us: Date.parse('2025-11-22T12:04:00Z') * 1000 });
    const stats = await handleConnectionBatch(source([encodeConnection(okRec), encodeConnection(future), encodeConnection(slight)]), { bulk: es.bulk, fetchDocs: es.fetchDocs, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([clockStage]), now });
    expect(stats).toMatchObject({ messages: 3, docs: 2, dlq: 1, dlqByReason: { future_event_time: 1 } });
    expect(seen).toEqual([okRec.event_id, slight.event_id]);
    expect(ticks).toEqual([Date.parse('2025-11-22T12:04:00Z')]);
    const dead = kafka.sent[TOPIC_DLQ]!;
    expect(dead[0]!.headers['dlq-reason']).toBe('future_event_time');
    expect(dead[0]!.headers['dlq-error']).toMatch(/2027-01-01.*more than 300 s ahead/);

    // A tighter skew catches the slightly-ahead record too.
    const strict = await handleConnectionBatch(source([encodeConnection(record(4, { start_us: Date.parse('2025-11-22T12:03:00Z') * 1000, end_us: Date.parse('2025-11-22T12:04:00Z') * 1000 }))]), { bulk: es.bulk, producer: kafka, log, enrich: createEnricher({}), stages: primaryStages([]), now, maxFutureSkewMs: 60_000 });
    expect(strict).toMatchObject({ docs: 0, dlq: 1 });
  });
});

describe('late records (after the watermark passed them)', () => {
  it('are counted, indexed and seen by every stage: in = out, none dropped', async () => {
    const es = memoryEs();
    const kafka = memoryKafka();
    const seen: string[] = [];
    const stages = primaryStages([{ name: 'seen', process: (d) => { seen.push(d.event.id); return []; } }]);
    const fresh = [0, 1, 2, 3, 4].map((i) => record(1000 + i));
    const old = [0, 1, 2].map((i) => record(i));
    const newest = Date.parse(new Date(fresh[4]!.end_us / 1000).toISOString());
    let wall = newest;
    const watermarks = new Watermarks({ idleTimeoutMs: 2000, allowedLatenessMs: 1000, now: () => wall });
    const deps = { bulk: es.bulk, producer: kafka, log, enrich: createEnricher({}), stages, watermarks, now: () => new Date(wall) };
    const first = await handleConnectionBatch(source(fresh.map((r) => encodeConnection(r))), deps);
    expect(first).toMatchObject({ messages: 5, docs: 5, late: 0 });
    // The partition goes quiet: the watermark follows the wall clock.
    wall += 10_000;
    expect(watermarks.advance()).toMatchObject({ ms: wall - 1000, allIdle: true });
    const second = await handleConnectionBatch(source(old.map((r) => encodeConnection(r)), 200), deps);
    expect(second).toMatchObject({ messages: 3, docs: 3, dlq: 0, late: 3 });
    expect(seen).toEqual([...fresh, ...old].map((r) => r.event_id));
    expect(es.docs(INDEX_CONNECTIONS)).toHaveLength(8);
    expect(kafka.sent[TOPIC_DLQ]).toBeUndefined();
  });
});
