import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { AssignerProtocol, Kafka, Partitioners, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { encodeConnection } from '../../lib/avro.js';
import { esClientOptions, kafkaConfig } from '../../lib/connect.js';
import { ipToBytes } from '../../lib/ip.js';
import { INDEX_ALERTS, TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_REKEY } from '../../lib/names.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { createCrossHostRuleStage, createRuleStage, loadRuleSet } from '../../pipeline/rules/index.js';
import { fromRoot } from '../../lib/paths.js';
import { runPipeline } from '../../pipeline/run.js';
import type { RekeyStage } from '../../pipeline/rekey.js';
import type { Stage } from '../../pipeline/stage.js';
import { skipUnless } from '../helpers/env.js';
import { endOffsets, groupAt, prepareTopics } from '../helpers/kafka.js';
import { record } from '../helpers/records.js';

// The shipped rules on two real pipeline instances sharing one consumer
// group. Kafka keys records by host and the hosts are spread over all
// partitions, so each instance sees only part of an attack:
//  - an admin-port fan-out from an unmonitored source, seen only from the
//    12 targets' ingress records;
//  - a pivot chain A -> B -> C, each hop reported by both of its ends;
//  - a 4-hop pivot chain P1 -> ... -> P5 whose hosts are picked (from the
//    rekey group's actual assignment) so that consecutive joints P2, P3, P4
//    and the tail P5 are owned by alternating instances: the partial chain
//    must travel between the instances as forwards.
// Each must raise exactly one alert in connaudit-alerts: the re-key hop brings
// each group (source.ip; the joining host) to one owner, the same connection
// reported by two hosts is counted once, and no part of a chain (prefix or
// suffix) is reported on its own.

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
const MIN_US = 60e6;
type Inst = 'a' | 'b';

/** Records which hosts an instance's primary consumer saw, so the test can prove the work was split. */
const recorder = (seen: Set<string>): Stage => ({ name: 'seen-hosts', process: (d) => { seen.add(d.host.name); return []; } });

/** Wraps the cross-host stage to record which re-keyed documents and pivot forwards of this run it received. */
function crossRecorder(inner: RekeyStage, got: string[], forwards: Array<{ key: string; hops: number }>): RekeyStage {
  return {
    ...inner,
    name: inner.name,
    processRekeyed(doc, by, key) {
      if (doc.host.name.startsWith(`itest-rules-${run}-`)) got.push(`${by}=${key} ${doc.source.ip}>${doc.destination.ip}`);
      return inner.processRekeyed(doc, by, key);
    },
    processForward(body, by, key) {
      const m = body as { kind?: string; chain?: unknown[] };
      if (m.kind === 'pivot-chain') forwards.push({ key, hops: m.chain?.length ?? 0 });
      return inner.processForward?.(body, by, key) ?? [];
    },
    drainForwards: () => inner.drainForwards?.() ?? [],
    tick: (t) => inner.tick?.(t) ?? [],
    snapshot: () => inner.snapshot?.(),
    restore: (st) => inner.restore?.(st),
  };
}

/**
 * Which instance owns each partition of `topic` in `groupId`, once both
 * members hold some. Polled rather than slept for: the records must go out
 * after the split and before --exit-when-idle stops the instances.
 */
async function partitionOwners(groupId: string, topic: string): Promise<Map<number, Inst>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let i = 0; i < 60; i++) {
      const { groups } = await admin.describeGroups([groupId]);
      const owners = new Map<number, Inst>();
      for (const m of groups[0]?.members ?? []) {
        const inst: Inst | undefined = m.clientId.endsWith('-a') ? 'a' : m.clientId.endsWith('-b') ? 'b' : undefined;
        if (!inst || m.memberAssignment.length === 0) continue;
        for (const p of AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []) owners.set(p, inst);
      }
      if (new Set(owners.values()).size === 2) return owners;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`group ${groupId} never had both instances holding partitions of ${topic}`);
  } finally {
    await admin.disconnect();
  }
}

async function rekeyPartitions(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicMetadata({ topics: [TOPIC_REKEY] })).topics[0]!.partitions.length;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Hosts P1..P5 for the 4-hop chain: P2..P5 alternate between the instances
 * that own their re-key partition (the pipeline's murmur2 partitioner on the
 * key related.ip=<ip>), so joints P2, P3, P4 and the tail are never on the
 * instance that extended the chain before.
 */
function spreadChain(owners: Map<number, Inst>, partitions: number): { hosts: string[]; ownerOf(ip: string): Inst } {
  const partition = Partitioners.DefaultPartitioner();
  const meta = Array.from({ length: partitions }, (_, i) => ({ partitionErrorCode: 0, partitionId: i, leader: 0, replicas: [0], isr: [0] }));
  const ownerOf = (ip: string) => owners.get(partition({ topic: TOPIC_REKEY, partitionMetadata: meta, message: { key: `related.ip=${ip}`, value: null } }))!;
  const hosts = [`10.96.${oct}.1`];
  for (let i = 2; i < 250 && hosts.length < 5; i++) {
    const ip = `10.96.${oct}.${i}`;
    if (hosts.length === 1 || ownerOf(ip) !== ownerOf(hosts[hosts.length - 1]!)) hosts.push(ip);
  }
  if (hosts.length < 5) throw new Error(`could not spread 5 chain hosts over the rekey owners ${JSON.stringify([...owners])}`);
  return { hosts, ownerOf };
}

type Add = (over: Partial<ConnectionRecord> & { host: string }, startOffsetS: number, durS: number) => void;

/** Encodes records as the agent would, each host on one partition (as key hashing would do), spread round-robin so both instances own some. */
function encoder(nowUs: number) {
  const out: Array<{ key: string; partition: number; value: Buffer }> = [];
  const partitionOf = new Map<string, number>();
  let n = 0;
  const add: Add = (over, startOffsetS, durS) => {
    const r = record(n++, { ...over, start_us: nowUs + startOffsetS * 1e6, end_us: nowUs + (startOffsetS + durS) * 1e6 });
    if (!partitionOf.has(over.host)) partitionOf.set(over.host, partitionOf.size % 6);
    out.push({ key: over.host, partition: partitionOf.get(over.host)!, value: encodeConnection(r) });
  };
  return { add, take: () => out.splice(0) };
}

/** One admin hop, reported by both of its ends. */
function hopBothEnds(add: Add, src: string, dst: string, port: number, sport: number, startS: number, durS: number, comm = 'ssh'): void {
  const h = { src_ip: ipToBytes(src), dst_ip: ipToBytes(dst), src_port: sport, dst_port: port, comm };
  add({ host: host(src), direction: 'egress', ...h }, startS, durS);
  add({ host: host(dst), direction: 'ingress', ...h }, startS, durS);
}

/** All event times stay below nowUs + 10 min, so no root is decided before the clock records. */
function attack(add: Add, chain: string[]): void {
  // Fan-out: 12 targets, each reporting the inbound RDP/SMB/SSH attempt (the attacker runs no sensor).
  for (let i = 0; i < 12; i++) {
    const dst = `10.95.${oct}.${i + 1}`;
    add({ host: host(dst), direction: 'ingress', src_ip: ipToBytes(ATTACKER), dst_ip: ipToBytes(dst), src_port: 50000 + i, dst_port: [22, 445, 3389][i % 3]!, conn_state: 'REJ', close_reason: 'refused', comm: 'sshd' }, i * 5, 0.1);
  }
  // Pivot chain: A -> B on 22 (a long session), then B -> C on 445.
  hopBothEnds(add, A, B, 22, 41001, 0, 300);
  hopBothEnds(add, B, C, 445, 41002, 120, 30, 'smbclient');
  // 4-hop chain over SSH, SMB, RDP and WinRM, one hop every 2 minutes.
  [22, 445, 3389, 5985].forEach((port, i) => hopBothEnds(add, chain[i]!, chain[i + 1]!, port, 42001 + i, i * 120, 60));
}

/**
 * A chain is reported once event time is past its root's lateness margin
 * (ROOT_GRACE_MS, 15 min): later admin hops from each root host carry event
 * time 20 min on at the owners of A and P1. They go out only after the chains'
 * hops reached the cross-host stages, as a busy fleet's later records would.
 */
function clock(add: Add, roots: string[]): void {
  roots.forEach((root, i) => add({ host: host(root), direction: 'egress', src_ip: ipToBytes(root), dst_ip: ipToBytes(`10.97.${oct}.${i + 1}`), src_port: 43001 + i, dst_port: 22, comm: 'ssh' }, 20 * MIN_US / 1e6, 1));
}

describe('shipped rules on two pipeline instances', () => {
  afterAll(async () => {
    await es.close();
  });

  it('raise exactly one fan-out alert and one alert per pivot chain (3 and 4 hops) although each instance sees only some hosts', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    await prepareTopics(kafka);
    const group = `itest-rules2-${run}`;
    await groupAt(kafka, group, { [TOPIC_CONNECTIONS]: await endOffsets(kafka, TOPIC_CONNECTIONS), [TOPIC_AGENT_HEALTH]: await endOffsets(kafka, TOPIC_AGENT_HEALTH) });
    await groupAt(kafka, `${group}-rekey`, { [TOPIC_REKEY]: await endOffsets(kafka, TOPIC_REKEY) });
    const { ruleset, errors } = loadRuleSet(fromRoot('rules'));
    expect(errors).toEqual([]);

    const seen = { a: new Set<string>(), b: new Set<string>() };
    const rekeyed = { a: [] as string[], b: [] as string[] };
    const forwards = { a: [] as Array<{ key: string; hops: number }>, b: [] as Array<{ key: string; hops: number }> };
    const start = (name: Inst, ac: AbortController) =>
      runPipeline({
        // The attack is dated up to 20 min ahead of now (see clock()); the pipeline's future-skew guard must let it through.
        config: { max_future_skew_s: 3600 }, group, instance: name, log, exitWhenIdleS: 8, signal: ac.signal,
        stages: (rekey) => ({ primary: [recorder(seen[name]), createRuleStage(ruleset, { rekey, log })], crossHost: [crossRecorder(createCrossHostRuleStage(ruleset, { log }), rekeyed[name], forwards[name])] }),
      });
    const a = start('a', new AbortController());
    const b = start('b', new AbortController());
    // both join before any record, so partitions are split
    await partitionOwners(group, TOPIC_CONNECTIONS);
    const owners = await partitionOwners(`${group}-rekey`, TOPIC_REKEY);
    const { hosts: P, ownerOf } = spreadChain(owners, await rekeyPartitions());

    const enc = encoder(Date.now() * 1000);
    attack(enc.add, P);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: TOPIC_CONNECTIONS, messages: enc.take() });
    // Each hop reaches the owners of both its addresses, from both reporting ends.
    const hops: Array<[string, string]> = [[A, B], [B, C], ...[0, 1, 2, 3].map((i) => [P[i]!, P[i + 1]!] as [string, string])];
    const arrived = () => {
      const all = [...rekeyed.a, ...rekeyed.b];
      return hops.every(([s, d]) => [s, d].every((k) => all.filter((r) => r === `related.ip=${k} ${s}>${d}`).length === 2));
    };
    for (let i = 0; i < 120 && !arrived(); i++) await new Promise((r) => setTimeout(r, 250));
    expect(arrived(), `every hop re-keyed under both addresses; got ${JSON.stringify(rekeyed)}`).toBe(true);
    clock(enc.add, [A, P[0]!]);
    await producer.send({ topic: TOPIC_CONNECTIONS, messages: enc.take() });
    await producer.disconnect();
    expect(await Promise.all([a, b])).toEqual([0, 0]);

    const mine = (s: Set<string>) => [...s].filter((h) => h.startsWith(`itest-rules-${run}-`));
    expect(mine(seen.a).length + mine(seen.b).length).toBe(20);
    expect(mine(seen.a).length, 'instance a saw none of the hosts: the split did not happen').toBeGreaterThan(0);
    expect(mine(seen.b).length, 'instance b saw none of the hosts: the split did not happen').toBeGreaterThan(0);

    await es.indices.refresh({ index: INDEX_ALERTS });
    const find = async (ruleId: string, sourceIps: string[]) =>
      (await es.search<AlertDoc>({ index: INDEX_ALERTS, size: 20, query: { bool: { filter: [{ term: { 'rule.id': ruleId } }, { terms: { 'source.ip': sourceIps } }] } } })).hits.hits.map((h) => h._source!);
    const fanoutKey = `source.ip=${ATTACKER}`;
    const fanOwners = (['a', 'b'] as const).filter((n) => rekeyed[n].some((r) => r.startsWith(`${fanoutKey} `)));
    expect(fanOwners, `the fan-out group must have one owner; re-keyed: ${JSON.stringify(rekeyed)}`).toHaveLength(1);
    expect(rekeyed[fanOwners[0]!].filter((r) => r.startsWith(`${fanoutKey} `)), 'the owner received every target').toHaveLength(12);
    const fanout = await find(FANOUT_RULE, [ATTACKER]);
    expect(fanout, 'fan-out alerts for the attacker').toHaveLength(1);
    expect(fanout[0]!.connaudit.alert.count).toBeGreaterThanOrEqual(10);

    // The 4-hop chain travelled as forwards: its i-hop part reached joint P(i+1) on that host's owner, alternating a/b.
    const travelled = P.slice(1).map((k, i) => `${k}:${i + 1}:${(['a', 'b'] as const).filter((n) => forwards[n].some((f) => f.key === k && f.hops === i + 1)).join('+')}`);
    expect(travelled, `pivot forwards: ${JSON.stringify(forwards)}`).toEqual(P.slice(1).map((k, i) => `${k}:${i + 1}:${ownerOf(k)}`));
    for (let i = 2; i < P.length; i++) expect(ownerOf(P[i]!), `joint ${P[i]} is owned by the other instance than ${P[i - 1]}`).not.toBe(ownerOf(P[i - 1]!));

    // Exactly two pivot-chain alerts from every host of this run: A -> B -> C and the whole 4-hop chain.
    const pivots = await find(PIVOT_RULE, [A, B, C, ...P]);
    expect(pivots.map((p) => p.connaudit.alert.values).sort(), 'pivot-chain alerts of this run').toEqual([[A, B, C], P].sort());
    const four = pivots.find((p) => (p.source as { ip: string }).ip === P[0])!;
    const fourHops = (four.connaudit.alert as unknown as { hops: Array<{ source: string; destination: string; port: number }> }).hops;
    expect(fourHops.map((h) => `${h.source}>${h.destination}:${h.port}`)).toEqual([0, 1, 2, 3].map((i) => `${P[i]}>${P[i + 1]}:${[22, 445, 3389, 5985][i]}`));
    expect(four.connaudit.alert.count).toBe(4);
    expect((four.destination as { ip: string }).ip).toBe(P[4]);
  }, 120_000);
});
