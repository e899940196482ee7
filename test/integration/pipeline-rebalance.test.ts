import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { encodeConnection } from '../../lib/avro.js';
import { kafkaConfig } from '../../lib/connect.js';
import { ipToBytes } from '../../lib/ip.js';
import { INDEX_ALERTS, TOPIC_REKEY } from '../../lib/names.js';
import { runPipeline, type PipelineOptions } from '../../pipeline/run.js';
import { skipUnless } from '../helpers/env.js';
import { endOffsets, groupAt } from '../helpers/kafka.js';
import { esClient } from '../helpers/pipeline-io.js';
import { record } from '../helpers/records.js';
import { RULE_HEAD, ruleDir } from '../helpers/rules.js';

// Window state must follow its partition. Two real pipeline instances share
// one consumer group on topics of this test's own; six hosts, one per
// partition, each make a fan-out to 8 destinations (the rule fires at 6).
// The first 4 connections of every host are processed before the partitions
// move, the last 4 after: only state that moved with the partition can count
// all 8, so every host must raise exactly one alert.
//  - rebalance: instance b joins between the halves and takes over some partitions;
//  - crash: instance a (a child process) is SIGKILLed between the halves, and
//    b gets its partitions once the broker notices (session timeout).

const RULE_ID = '6a0c1f7e-3b52-4d0e-9f3a-0c5d2b7e41a9';
const run = randomBytes(4).toString('hex');
const oct = parseInt(run.slice(0, 2), 16);
const log = pino({ level: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const kafka = new Kafka({ ...kafkaConfig(`itest-rebalance-${run}`), logLevel: logLevel.NOTHING });
const es = esClient();
const root = new URL('../..', import.meta.url).pathname;
const PARTITIONS = 6;
const HALF = 4;

const rules = ruleDir({
  'fanout.yaml': `${RULE_HEAD(RULE_ID, 'Host fan-out (rebalance test)')}  type: value_count
  group_by: [host.name]
  distinct: [destination.ip]
  threshold: 6
  window: 30m
  suppress: 2h
  condition: {field: host.name, prefix: chl-${run}-}
`,
});

type Inst = 'a' | 'b';

/** Which instance owns each partition of `topic` once `want` says so (polled). */
async function owners(groupId: string, topic: string, want: (o: Map<number, Inst>) => boolean, what: string): Promise<Map<number, Inst>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let last = new Map<number, Inst>();
    for (let i = 0; i < 240; i++) {
      const { groups } = await admin.describeGroups([groupId]);
      const o = new Map<number, Inst>();
      for (const m of groups[0]?.members ?? []) {
        const inst: Inst | undefined = m.clientId.endsWith('-a') ? 'a' : m.clientId.endsWith('-b') ? 'b' : undefined;
        if (!inst || m.memberAssignment.length === 0) continue;
        for (const p of AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []) o.set(p, inst);
      }
      if (groups[0]?.state === 'Stable' && want(o)) return o;
      last = o;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`group ${groupId} never reached: ${what}; last owners ${JSON.stringify([...last])}`);
  } finally {
    await admin.disconnect();
  }
}

async function committedAll(groupId: string, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return ends.every((e) => t!.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
  } finally {
    await admin.disconnect();
  }
}

async function until(what: string, pred: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const hostOf = (scenario: string, p: number) => `chl-${run}-${scenario}-p${p}`;

/** Connections `from`..`to`-1 of every host's fan-out, each host on its own partition, dated in the recent past. */
async function produceHalf(topic: string, scenario: string, from: number, to: number, baseUs: number): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  const messages = [];
  for (let p = 0; p < PARTITIONS; p++) {
    for (let i = from; i < to; i++) {
      const r = record(p * 100 + i, { host: hostOf(scenario, p), direction: 'egress', src_ip: ipToBytes(`10.77.${oct}.${p + 1}`), dst_ip: ipToBytes(`10.78.${p}.${i + 1}`), dst_port: 22, start_us: baseUs + i * 10e6, end_us: baseUs + i * 10e6 + 1e6 });
      messages.push({ key: r.host, partition: p, value: encodeConnection(r) });
    }
  }
  await producer.send({ topic, messages });
  await producer.disconnect();
}

async function alertsByHost(scenario: string): Promise<Record<string, number>> {
  await es.indices.refresh({ index: INDEX_ALERTS });
  const res = await es.search<AlertDoc>({ index: INDEX_ALERTS, size: 100, query: { bool: { filter: [{ term: { 'rule.id': RULE_ID } }, { prefix: { 'host.name': `chl-${run}-${scenario}-` } }] } } });
  const out: Record<string, number> = {};
  for (const h of res.hits.hits) {
    const name = (h._source!.host as { name: string }).name;
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

const oneEach = (scenario: string) => Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [hostOf(scenario, p), 1]));

async function setup(scenario: string): Promise<{ topic: string; health: string; group: string }> {
  const topic = `itest-rebalance-${scenario}-${run}`;
  const health = `itest-rebalance-health-${scenario}-${run}`;
  const group = `itest-rebalance-${scenario}-${run}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }, { topic: health, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  // The re-key topic is shared with other tests: start this group's re-key consumer at its end.
  await groupAt(kafka, `${group}-rekey`, { [TOPIC_REKEY]: await endOffsets(kafka, TOPIC_REKEY) });
  return { topic, health, group };
}

const optsFor = (s: { topic: string; health: string; group: string }, instance: Inst, snapshotIntervalS = 5) => ({
  config: { rules, max_future_skew_s: 600, snapshot_interval_s: snapshotIntervalS },
  group: s.group,
  instance,
  topics: { connections: s.topic, agentHealth: s.health },
});

function startChild(opts: ReturnType<typeof optsFor>): ChildProcess {
  const script = `
    const { runPipeline } = await import(${JSON.stringify(join(root, 'dist/pipeline/run.js'))});
    const { createLogger } = await import(${JSON.stringify(join(root, 'dist/lib/log.js'))});
    const code = await runPipeline({ ...JSON.parse(process.env.PIPE_OPTS), log: createLogger('pipeline') });
    process.exit(code);`;
  return spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, PIPE_OPTS: JSON.stringify(opts), CONNAUDIT_LOG_LEVEL: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, stdio: ['ignore', 'inherit', 'inherit'] });
}

describe('window state follows its partition (two real pipeline instances, real Kafka and Elasticsearch)', () => {
  const children: ChildProcess[] = [];
  const stops: AbortController[] = [];
  const topics: string[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of stops) s.abort();
    const admin = kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await es.close();
  });

  const inProcess = (o: ReturnType<typeof optsFor>): { stop: AbortController; done: Promise<number>; metrics: () => Promise<string> } => {
    const stop = new AbortController();
    stops.push(stop);
    let port: number | undefined;
    const done = runPipeline({ ...(o as PipelineOptions), log, signal: stop.signal, metrics: { port: 0 }, onAdminServer: (srv) => { port = srv.port; } });
    return { stop, done, metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text() };
  };

  /** A counter's value from a /metrics text (0 when absent). */
  const metric = (text: string, name: string, labels: string): number => {
    const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.split(',').every((kv) => l.includes(kv)));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  it('a fan-out whose events straddle a rebalance (instance b joins) raises exactly one alert per host', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    const s = await setup('join');
    topics.push(s.topic, s.health);
    const baseUs = (Date.now() - 10 * 60_000) * 1000;
    const a = inProcess(optsFor(s, 'a'));
    await owners(s.group, s.topic, (o) => o.size === PARTITIONS && [...o.values()].every((i) => i === 'a'), 'a owns every partition');
    await produceHalf(s.topic, 'join', 0, HALF, baseUs);
    await until('instance a committed the first half', () => committedAll(s.group, s.topic), 60_000);

    const b = inProcess(optsFor(s, 'b'));
    const after = await owners(s.group, s.topic, (o) => o.size === PARTITIONS && new Set(o.values()).size === 2, 'a and b share the partitions');
    const moved = [...after].filter(([, i]) => i === 'b').map(([p]) => p);
    expect(moved.length, 'some partitions moved to b').toBeGreaterThan(0);
    await produceHalf(s.topic, 'join', HALF, 2 * HALF, baseUs);
    await until('both instances committed the second half', () => committedAll(s.group, s.topic), 60_000);
    // b found the state of every partition it was given in the changelog, and wrote its own.
    const m = await b.metrics();
    expect(metric(m, 'connaudit_pipeline_state_restores_total', `group="${s.group}",outcome="found"`)).toBeGreaterThanOrEqual(moved.length);
    expect(metric(m, 'connaudit_pipeline_state_snapshot_bytes_total', `group="${s.group}"`)).toBeGreaterThan(0);
    a.stop.abort();
    b.stop.abort();
    expect(await Promise.all([a.done, b.done])).toEqual([0, 0]);

    expect(await alertsByHost('join'), `one alert per host; partitions ${JSON.stringify(moved)} moved to b`).toEqual(oneEach('join'));
  }, 150_000);

  it('an instance SIGKILLed in the middle of a window: the other gets its partitions and still raises each alert once', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    if (!existsSync(join(root, 'dist/pipeline/run.js'))) throw new Error('dist/ is not built: run npx tsc -p tsconfig.json');
    const s = await setup('kill');
    topics.push(s.topic, s.health);
    const baseUs = (Date.now() - 10 * 60_000) * 1000;
    // Snapshots at most hourly: after its first batch, a partition's committed
    // offset runs ahead of its snapshot, so the new owner must re-read from the
    // snapshot's offset (a seek back), not from the committed one.
    const child = startChild(optsFor(s, 'a', 3600));
    children.push(child);
    const b = inProcess(optsFor(s, 'b', 3600));
    const before = await owners(s.group, s.topic, (o) => o.size === PARTITIONS && new Set(o.values()).size === 2, 'a and b share the partitions');
    const ofA = [...before].filter(([, i]) => i === 'a').map(([p]) => p);
    await produceHalf(s.topic, 'kill', 0, HALF / 2, baseUs);
    await until('both instances committed the first quarter', () => committedAll(s.group, s.topic), 60_000);
    await produceHalf(s.topic, 'kill', HALF / 2, HALF, baseUs);
    await until('both instances committed the first half', () => committedAll(s.group, s.topic), 60_000);

    child.kill('SIGKILL');
    await owners(s.group, s.topic, (o) => o.size === PARTITIONS && [...o.values()].every((i) => i === 'b'), 'b owns every partition after a was killed');
    await produceHalf(s.topic, 'kill', HALF, 2 * HALF, baseUs);
    await until('b committed the second half', () => committedAll(s.group, s.topic), 60_000);
    const m = await b.metrics();
    expect(metric(m, 'connaudit_pipeline_state_restores_total', `group="${s.group}",outcome="found"`), 'b restored a\'s partitions from the changelog').toBeGreaterThanOrEqual(ofA.length);
    // The second quarter of a's partitions was read again (already indexed: duplicates, not new documents).
    expect(metric(m, 'connaudit_pipeline_duplicates_total', ''), 're-read from the snapshot offset').toBeGreaterThanOrEqual(ofA.length * (HALF / 2));
    b.stop.abort();
    expect(await b.done).toBe(0);

    expect(await alertsByHost('kill'), `one alert per host; partitions ${JSON.stringify(ofA)} were a's`).toEqual(oneEach('kill'));
  }, 150_000);
});
