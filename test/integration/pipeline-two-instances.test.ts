import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { AssignerProtocol, Kafka, Partitioners, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { encodeConnection } from '../../lib/avro.js';
import { esClientOptions, kafkaConfig } from '../../lib/connect.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { ipToBytes } from '../../lib/ip.js';
import { INDEX_ALERTS, TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_REKEY } from '../../lib/names.js';
import type { RekeyStage } from '../../pipeline/rekey.js';
import { runPipeline } from '../../pipeline/run.js';
import type { Stage } from '../../pipeline/stage.js';
import { skipUnless } from '../helpers/env.js';
import { endOffsets, groupAt, prepareTopics } from '../helpers/kafka.js';
import { record } from '../helpers/records.js';

// Two pipeline instances in one consumer group split the host-keyed
// partitions, so each sees only some hosts. A fan-in seen from many hosts
// toward one destination is only visible after the re-key hop: this test
// proves that with the re-key, exactly one instance sees all sources of the
// group and raises exactly one alert, whichever way partitions were split.

const run = randomBytes(4).toString('hex');
const log = pino({ level: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const kafka = new Kafka({ ...kafkaConfig(`itest-two-${run}`), logLevel: logLevel.NOTHING });
const es = new Client(esClientOptions());
const HOSTS = Array.from({ length: 8 }, (_, i) => `itest2-${run}-h${i}`);
const TARGET = `10.77.${parseInt(run.slice(0, 2), 16)}.${parseInt(run.slice(2, 4), 16)}`;



/**
 * Resolves once both instances hold partitions of `topic` in `groupId`.
 * Polled rather than slept for: the records must go out after the split and
 * before --exit-when-idle stops the instances (a fixed 8 s sleep lost that
 * race when the group formed in under a second).
 */
async function bothHold(groupId: string, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let i = 0; i < 120; i++) {
      const { groups } = await admin.describeGroups([groupId]);
      const holders = (groups[0]?.members ?? []).filter((m) => m.memberAssignment.length > 0 && (AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic]?.length ?? 0) > 0);
      if (new Set(holders.map((m) => m.clientId)).size === 2) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`group ${groupId} never had both instances holding partitions of ${topic}`);
  } finally {
    await admin.disconnect();
  }
}

/** Primary side: asks for every doc toward TARGET to be re-keyed by destination. Records which hosts this instance saw. */
const asker = (seen: Set<string>, rekey: { request(d: ConnectionDoc, by: string, key: string): void }): Stage => ({
  name: 'asker',
  process(doc) {
    if (doc.destination.ip !== TARGET) return [];
    seen.add(doc.host.name);
    rekey.request(doc, 'destination.ip', doc.destination.ip);
    return [];
  },
});

/** Cross-host side: distinct source hosts per destination; alerts once all HOSTS were seen. */
const fanIn = (instance: string): RekeyStage => {
  const sources = new Map<string, Set<string>>();
  return {
    name: 'fan-in',
    processRekeyed(doc, by, key) {
      if (by !== 'destination.ip') return [];
      const s = sources.get(key) ?? new Set<string>();
      sources.set(key, s);
      const before = s.size;
      s.add(doc.host.name);
      if (before === HOSTS.length - 1 && s.size === HOSTS.length) {
        const alert: AlertDoc = {
          '@timestamp': doc['@timestamp'],
          event: { id: `fanin-${run}-${key}`, kind: 'alert', category: ['network'], type: ['info'], severity: 47, risk_score: 47, start: doc['@timestamp'], end: doc['@timestamp'], dataset: 'connaudit.alerts', module: 'connaudit' },
          rule: { id: `itest-fanin-${run}`, name: 'fan-in', category: 'lateral_movement', description: 'test', type: 'value_count', severity: 'medium' },
          connaudit: { alert: { group_key: key, count: s.size, first_seen: doc['@timestamp'], last_seen: doc['@timestamp'], event_ids: [], values: [...s].sort(), instance } },
          'destination.ip': key,
        };
        return [alert];
      }
      return [];
    },
  };
};

describe('two pipeline instances with the re-key hop', () => {
  afterAll(async () => {
    await es.close();
  });

  it('raise exactly one fan-in alert that names every source host', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    await prepareTopics(kafka);
    const group = `itest2-${run}`;
    await groupAt(kafka, group, { [TOPIC_CONNECTIONS]: await endOffsets(kafka, TOPIC_CONNECTIONS), [TOPIC_AGENT_HEALTH]: await endOffsets(kafka, TOPIC_AGENT_HEALTH) });
    await groupAt(kafka, `${group}-rekey`, { [TOPIC_REKEY]: await endOffsets(kafka, TOPIC_REKEY) });

    const seen = { a: new Set<string>(), b: new Set<string>() };
    const start = (name: 'a' | 'b', ac: AbortController) =>
      runPipeline({
        config: {}, group, instance: name, log, exitWhenIdleS: 6, signal: ac.signal,
        stages: (rekey) => ({ primary: [asker(seen[name], rekey)], crossHost: [fanIn(name)] }),
      });
    const acA = new AbortController();
    const acB = new AbortController();
    const a = start('a', acA);
    const b = start('b', acB);
    // Let both join (one rebalance) before producing, so the work is really split.
    await bothHold(group, TOPIC_CONNECTIONS);
    await bothHold(`${group}-rekey`, TOPIC_REKEY);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: TOPIC_CONNECTIONS,
      // Explicit partitions spread the hosts over all six, so both members own some of them.
      messages: HOSTS.map((host, i) => ({ key: host, partition: i % 6, value: encodeConnection(record(i, { host, direction: 'egress', src_ip: ipToBytes(`10.66.0.${i + 1}`), dst_ip: ipToBytes(TARGET), dst_port: 445 })) })),
    });
    await producer.disconnect();
    expect(await Promise.all([a, b])).toEqual([0, 0]);

    // The hosts really were split between the instances.
    expect(seen.a.size + seen.b.size).toBe(HOSTS.length);
    expect(seen.a.size, 'instance a saw no host: the split did not happen').toBeGreaterThan(0);
    expect(seen.b.size, 'instance b saw no host: the split did not happen').toBeGreaterThan(0);

    await es.indices.refresh({ index: INDEX_ALERTS });
    const res = await es.search<AlertDoc>({ index: INDEX_ALERTS, query: { term: { 'rule.id': `itest-fanin-${run}` } } });
    expect(res.hits.hits).toHaveLength(1);
    expect((res.hits.hits[0]!._source!.connaudit.alert.values ?? []).length).toBe(HOSTS.length);
  }, 120_000);
});
