import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { recordToDoc } from '../lib/ecs.js';
import { TOPIC_DLQ, TOPIC_REKEY } from '../lib/names.js';
import { record } from '../test/helpers/records.js';
import { handleRekeyBatch } from './batch.js';
import type { RawBulk } from './bulk.js';
import type { InMessage, OutMessage, Producer } from './messages.js';
import { ForwardOutbox, localRekey, REKEY_HEADER_BY, REKEY_HEADER_KIND, type RekeyForward, type RekeyStage } from './rekey.js';
import { rekeyStages } from './stage-set.js';

// Forwards: a cross-host stage's own messages to the owner of another key,
// through TOPIC_REKEY (the rekey batch path) or in-process (localRekey).

const log = pino({ level: 'silent' });

/** Forwards a countdown to key `n-1` until 0: a cascade that ends by construction, like a capped pivot chain. */
function countdown(got: string[]): RekeyStage {
  let out: RekeyForward[] = [];
  return {
    name: 'countdown',
    processRekeyed(doc, by, key) {
      out.push({ by, key: '3', body: { n: 3, from: doc.event.id } });
      return [];
    },
    processForward(body, by, key) {
      const n = (body as { n: number }).n;
      got.push(`${by}=${key}:${n}`);
      if (n > 0) out.push({ by, key: String(n - 1), body: { n: n - 1 } });
      return [];
    },
    drainForwards() {
      const o = out;
      out = [];
      return o;
    },
  };
}

function kafka(failTopic?: string): Producer & { sent: Record<string, OutMessage[]>; fail: boolean } {
  const p = {
    sent: {} as Record<string, OutMessage[]>,
    fail: failTopic !== undefined,
    async send(topic: string, messages: OutMessage[]) {
      if (p.fail && topic === failTopic) throw new Error('broker unavailable');
      (p.sent[topic] ??= []).push(...messages);
    },
  };
  return p;
}

const bulk: RawBulk = async (ops) => ops.map(() => ({ status: 201 }));
const asIn = (msgs: OutMessage[], from = 0): InMessage[] =>
  msgs.map((m, i) => ({ topic: TOPIC_REKEY, partition: 0, offset: String(from + i), key: Buffer.from(String(m.key)), value: Buffer.from(String(m.value)), headers: m.headers }));

describe('forwards through the rekey topic', () => {
  it('publishes what the stages raise keyed like documents, and hands forwards back to processForward', async () => {
    const got: string[] = [];
    const stages = rekeyStages([countdown(got)]);
    const doc = recordToDoc(record(1));
    const p = kafka();
    const first = await handleRekeyBatch(asIn([{ key: 'related.ip=10.1.0.5', value: JSON.stringify(doc), headers: { [REKEY_HEADER_BY]: 'related.ip' } }]), { bulk, producer: p, log, stages });
    expect(first.rekeyed).toBe(1);
    const fwd = p.sent[TOPIC_REKEY]!;
    expect(fwd).toEqual([{ key: 'related.ip=3', value: JSON.stringify({ n: 3, from: doc.event.id }), headers: { [REKEY_HEADER_BY]: 'related.ip', [REKEY_HEADER_KIND]: 'forward' } }]);
    // consume what was published, batch after batch, until the cascade ends
    for (let from = 0; from < p.sent[TOPIC_REKEY]!.length; ) {
      const next = p.sent[TOPIC_REKEY]!.slice(from);
      from += next.length;
      await handleRekeyBatch(asIn(next, from), { bulk, producer: p, log, stages });
    }
    expect(got).toEqual(['related.ip=3:3', 'related.ip=2:2', 'related.ip=1:1', 'related.ip=0:0']);
  });

  it('dead-letters a forward that is not JSON and isolates a stage that throws on one', async () => {
    const broken: RekeyStage = { name: 'broken', processRekeyed: () => [], processForward: () => { throw new Error('bad chain'); } };
    const got: string[] = [];
    const stages = rekeyStages([broken, countdown(got)], log);
    const p = kafka();
    const headers = { [REKEY_HEADER_BY]: 'related.ip', [REKEY_HEADER_KIND]: 'forward' };
    const res = await handleRekeyBatch(asIn([{ key: 'related.ip=1', value: '{not json', headers }, { key: 'related.ip=0', value: '{"n":0}', headers }]), { bulk, producer: p, log, stages });
    expect(res).toMatchObject({ dlq: 1, alerts: 0 });
    expect(p.sent[TOPIC_DLQ]![0]!.headers['dlq-reason']).toBe('bad_record');
    expect(p.sent[TOPIC_DLQ]![0]!.headers['dlq-error']).toContain('rekey forward');
    expect(stages.errors).toBe(1);
    expect(got).toEqual(['related.ip=0:0']);
  });

  it('keeps forwards in the outbox when the send fails and sends them with the next batch', async () => {
    const got: string[] = [];
    const stages = rekeyStages([countdown(got)]);
    const outbox = new ForwardOutbox();
    const p = kafka(TOPIC_REKEY);
    const doc = recordToDoc(record(2));
    const msg = asIn([{ key: 'related.ip=10.1.0.5', value: JSON.stringify(doc), headers: { [REKEY_HEADER_BY]: 'related.ip' } }]);
    await expect(handleRekeyBatch(msg, { bulk, producer: p, log, stages, outbox })).rejects.toThrow('broker unavailable');
    expect(outbox.size).toBe(1);
    p.fail = false;
    const next = await handleRekeyBatch([], { bulk, producer: p, log, stages, outbox });
    expect(next.rekeyed).toBe(1);
    expect(outbox.size).toBe(0);
    expect(p.sent[TOPIC_REKEY]!.map((m) => m.key)).toEqual(['related.ip=3']);
  });

  it('localRekey delivers forwards in-process until none are left', () => {
    const got: string[] = [];
    const rk = localRekey([countdown(got)]);
    rk.request(recordToDoc(record(3)), 'related.ip', '10.1.0.5');
    expect(got).toEqual(['related.ip=3:3', 'related.ip=2:2', 'related.ip=1:1', 'related.ip=0:0']);
  });

  it('localRekey names the stage when forwards never stop', () => {
    let n = 0;
    const forever: RekeyStage = { name: 'forever', processRekeyed: () => [], processForward: () => [], drainForwards: () => [{ by: 'k', key: String(n++), body: {} }] };
    expect(() => localRekey([forever]).tick(0)).toThrow(/a stage in \[forever\] forwards in a loop/);
  });
});
