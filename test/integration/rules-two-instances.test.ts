import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { encodeConnection } from '../../lib/avro.js';
import { esClientOptions, kafkaConfig } from '../../lib/connect.js';
import { ipToBytes } from '../../lib/ip.js';
import { INDEX_ALERTS, TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_REKEY } from '../../lib/names.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { createCrossHostRuleStage, createRuleStage, loadRuleSet } from '../../pipeline/rules/index.js';
import { repoRoot } from '../../pipeline/rules/paths.js';
import { runPipeline } from '../../pipeline/run.js';
import type { RekeyStage } from '../../pipeline/rekey.js';
import type { Stage } from '../../pipeline/stage.js';
import { ensureTopics } from '../../pipeline/topics.js';
import { skipUnless } from '../helpers/env.js';
import { record } from '../helpers/records.js';

// The shipped rules on two real pipeline instances sharing one consumer
// group. Kafka keys records by host and the hosts are spread over all
// partitions, so each instance sees only part of an attack:
//  - an admin-port fan-out from an unmonitored source, seen only from the
//    12 targets' ingress records;
//  - a pivot chain A -> B -> C, each hop reported by both of its ends.
// Each must raise exactly one alert in connaudit-alerts: the re-key hop brings
// each group (source.ip; the joining host) to one owner, and the same
// connection reported by two hosts is counted once.

const FANOUT_RULE = '4182cd62-16d8-4f75-8972-287f52dd18b7';
const PIVOT_RULE = '1d224526-9685-4de4-897e-2c5c493f9217';

const run = randomBytes(4).toString('hex');
const oct = parseInt(run.slice(0, 2), 16);
const log = pino({ level: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const kafka = new Kafka({ ...kafkaConfig(`itest-rules2-${run}`), logLevel: logLevel.NOTHING });
const es = new Client(esClientOptions());
const ATTACKER = `10.93.${oct}.250`;
const [A, B, C] = [1, 2, 3].map((i) => `10.94.${oct}.${i}`) as [string, string, string];
const host = (ip: string) => `itest-rules-${run}-${ip.replace(/\./g, '-')}`;

async function endOffsets(topic: string) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.high }));
  } finally {
    await admin.disconnect();
  }
}

async function groupAt(groupId: string, topic: string) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.setOffsets({ groupId, topic, partitions: await endOffsets(topic) });
  } finally {
    await admin.disconnect();
  }
}

/** Records which hosts an instance's primary consumer saw, so the test can prove the work was split. */
const recorder = (seen: Set<string>): Stage => ({ name: 'seen-hosts', process: (d) => { seen.add(d.host.name); return []; } });

/** Wraps the cross-host stage to record which re-keyed documents of this run it received. */
function crossRecorder(inner: RekeyStage, got: string[]): RekeyStage {
  return {
    ...inner,
    name: inner.name,
    processRekeyed(doc, by, key) {
      if (doc.host.name.startsWith(`itest-rules-${run}-`)) got.push(`${by}=${key} ${doc.source.ip}>${doc.destination.ip}`);
      return inner.processRekeyed(doc, by, key);
    },
    tick: (t) => inner.tick?.(t) ?? [],
    snapshot: () => inner.snapshot?.(),
    restore: (st) => inner.restore?.(st),
  };
}

function messages(): Array<{ key: string; partition: number; value: Buffer }> {
  const out: Array<{ key: string; partition: number; value: Buffer }> = [];
  const nowUs = Date.now() * 1000;
  let n = 0;
  // One partition per host (as key hashing would do), spread round-robin so both instances own some.
  const partitionOf = new Map<string, number>();
  const add = (over: Partial<ConnectionRecord> & { host: string }, startOffsetS: number, durS: number) => {
    const r = record(n++, { ...over, start_us: nowUs + startOffsetS * 1e6, end_us: nowUs + (startOffsetS + durS) * 1e6 });
    if (!partitionOf.has(over.host)) partitionOf.set(over.host, partitionOf.size % 6);
    out.push({ key: over.host, partition: partitionOf.get(over.host)!, value: encodeConnection(r) });
  };
  // Fan-out: 12 targets, each reporting the inbound RDP/SMB/SSH attempt (the attacker runs no sensor).
  for (let i = 0; i < 12; i++) {
    const dst = `10.95.${oct}.${i + 1}`;
    add({ host: host(dst), direction: 'ingress', src_ip: ipToBytes(ATTACKER), dst_ip: ipToBytes(dst), src_port: 50000 + i, dst_port: [22, 445, 3389][i % 3]!, conn_state: 'REJ', close_reason: 'refused', comm: 'sshd' }, i * 5, 0.1);
  }
  // Pivot chain: A -> B on 22 (a long session), then B -> C on 445; each hop from both ends.
  const hop1 = { src_ip: ipToBytes(A), dst_ip: ipToBytes(B), src_port: 41001, dst_port: 22, comm: 'ssh' };
  const hop2 = { src_ip: ipToBytes(B), dst_ip: ipToBytes(C), src_port: 41002, dst_port: 445, comm: 'smbclient' };
  add({ host: host(A), direction: 'egress', ...hop1 }, 0, 600);
  add({ host: host(B), direction: 'ingress', ...hop1 }, 0, 600);
  add({ host: host(B), direction: 'egress', ...hop2 }, 120, 30);
  add({ host: host(C), direction: 'ingress', ...hop2 }, 120, 30);
  return out;
}

describe('shipped rules on two pipeline instances', () => {
  afterAll(async () => {
    await es.close();
  });

  it('raise exactly one fan-out and one pivot-chain alert although each instance sees only some hosts', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    await ensureTopics(kafka);
    const group = `itest-rules2-${run}`;
    await groupAt(group, TOPIC_CONNECTIONS);
    await groupAt(group, TOPIC_AGENT_HEALTH);
    await groupAt(`${group}-rekey`, TOPIC_REKEY);
    const { ruleset, errors } = loadRuleSet(join(repoRoot(), 'rules'));
    expect(errors).toEqual([]);

    const seen = { a: new Set<string>(), b: new Set<string>() };
    const rekeyed = { a: [] as string[], b: [] as string[] };
    const start = (name: 'a' | 'b', ac: AbortController) =>
      runPipeline({
        config: {}, group, instance: name, log, exitWhenIdleS: 8, signal: ac.signal,
        stateDir: mkdtempSync(join(tmpdir(), 'ca-rules2-')),
        stages: (rekey) => ({ primary: [recorder(seen[name]), createRuleStage(ruleset, { rekey, log })], crossHost: [crossRecorder(createCrossHostRuleStage(ruleset, { log }), rekeyed[name])] }),
      });
    const a = start('a', new AbortController());
    const b = start('b', new AbortController());
    await new Promise((r) => setTimeout(r, 8000)); // both join before any record, so partitions are split
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: TOPIC_CONNECTIONS, messages: messages() });
    await producer.disconnect();
    expect(await Promise.all([a, b])).toEqual([0, 0]);

    const mine = (s: Set<string>) => [...s].filter((h) => h.startsWith(`itest-rules-${run}-`));
    expect(mine(seen.a).length + mine(seen.b).length).toBe(15);
    expect(mine(seen.a).length, 'instance a saw none of the hosts: the split did not happen').toBeGreaterThan(0);
    expect(mine(seen.b).length, 'instance b saw none of the hosts: the split did not happen').toBeGreaterThan(0);

    await es.indices.refresh({ index: INDEX_ALERTS });
    const find = async (ruleId: string, sourceIp: string) =>
      (await es.search<AlertDoc>({ index: INDEX_ALERTS, size: 10, query: { bool: { filter: [{ term: { 'rule.id': ruleId } }, { term: { 'source.ip': sourceIp } }] } } })).hits.hits.map((h) => h._source!);
    const fanoutKey = `source.ip=${ATTACKER}`;
    const owners = (['a', 'b'] as const).filter((n) => rekeyed[n].some((r) => r.startsWith(`${fanoutKey} `)));
    expect(owners, `the fan-out group must have one owner; re-keyed: ${JSON.stringify(rekeyed)}`).toHaveLength(1);
    expect(rekeyed[owners[0]!].filter((r) => r.startsWith(`${fanoutKey} `)), 'the owner received every target').toHaveLength(12);
    const fanout = await find(FANOUT_RULE, ATTACKER);
    expect(fanout, 'fan-out alerts for the attacker').toHaveLength(1);
    expect(fanout[0]!.connaudit.alert.count).toBeGreaterThanOrEqual(10);
    const pivot = await find(PIVOT_RULE, A);
    expect(pivot, 'pivot-chain alerts starting at A').toHaveLength(1);
    expect(pivot[0]!.connaudit.alert.values).toEqual([A, B, C]);
  }, 120_000);
});
