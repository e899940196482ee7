import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeConnection } from '../../lib/avro.js';
import { kafkaConfig } from '../../lib/connect.js';
import { TOPIC_DLQ } from '../../lib/names.js';
import { skipUnless } from '../helpers/env.js';
import { endOffsets } from '../helpers/kafka.js';
import { countConnections, esClient, readDlq } from '../helpers/pipeline-io.js';
import { record } from '../helpers/records.js';

// The pipeline SIGKILLed before its first commit on some partitions, then
// restarted: every record must be indexed. With the old "latest" reset, the
// partitions the group had never committed on started at their end on
// restart, and everything already in them was skipped without a word (563 of
// 600 in the measured run). The pipeline runs as a child process (the
// compiled dist/, as the CLI does) on topics of this test's own, so the
// partitions without a committed offset hold only this test's records.

const run = randomBytes(4).toString('hex');
const kafka = new Kafka({ ...kafkaConfig(`itest-restart-${run}`), logLevel: logLevel.NOTHING });
const es = esClient();
const root = new URL('../..', import.meta.url).pathname;
const PARTITIONS = 6;

function startChild(env: Record<string, string>): ChildProcess {
  const script = `
    const { runPipeline } = await import(${JSON.stringify(join(root, 'dist/pipeline/run.js'))});
    const { createLogger } = await import(${JSON.stringify(join(root, 'dist/lib/log.js'))});
    const o = JSON.parse(process.env.PIPE_OPTS);
    const code = await runPipeline({ ...o, config: {}, log: createLogger('pipeline') });
    process.exit(code);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env, CONNAUDIT_LOG_LEVEL: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, stdio: ['ignore', 'inherit', 'inherit'] });
  return child;
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

async function committed(groupId: string, topic: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return t!.partitions.sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
  } finally {
    await admin.disconnect();
  }
}

async function until(what: string, pred: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('pipeline killed before its first commit on some partitions (real Kafka and Elasticsearch)', () => {
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    const admin = kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics: [`itest-restart-${run}`, `itest-restart-health-${run}`] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await es.close();
  });

  it('restarts from the earliest offset where nothing was committed: exact count indexed, 0 lost, 0 dead-lettered', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    if (!existsSync(join(root, 'dist/pipeline/run.js'))) throw new Error('dist/ is not built: run npx tsc -p tsconfig.json');
    const topic = `itest-restart-${run}`;
    const healthTopic = `itest-restart-health-${run}`;
    const host = `restart-${run}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }, { topic: healthTopic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const dlqFrom = await endOffsets(kafka, TOPIC_DLQ);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    let n = 0;
    const send = async (partition: number, count: number) => {
      await producer.send({ topic, messages: Array.from({ length: count }, () => ({ partition, key: host, value: encodeConnection(record(n++, { host })) })) });
    };
    const group = `itest-restart-${run}`;
    const opts = { group, topics: { connections: topic, agentHealth: healthTopic }, maxBatch: 20, restartOnFailure: false };

    // Phase 1: only partition 0 has records; the pipeline commits there.
    await send(0, 100);
    const first = startChild({ PIPE_OPTS: JSON.stringify(opts) });
    children.push(first);
    await until('the first commit on partition 0', async () => (await committed(group, topic))[0] === 100, 90_000);
    // Records arrive on the other five partitions; the pipeline is killed before (or while) it gets to them.
    for (let p = 1; p < PARTITIONS; p++) await send(p, 50);
    first.kill('SIGKILL');
    await exited(first);
    const atKill = await committed(group, topic);
    // More records while it is down.
    for (let p = 1; p < PARTITIONS; p++) await send(p, 50);
    await producer.disconnect();
    expect(n).toBe(600);

    // Phase 2: restart; it must read every partition from its commit, or from the earliest offset where there is none.
    const second = startChild({ PIPE_OPTS: JSON.stringify({ ...opts, exitWhenIdleS: 4 }) });
    children.push(second);
    expect(await exited(second)).toBe(0);

    const indexed = await countConnections(es, host);
    const dead = await readDlq(kafka, dlqFrom, (h) => h['source-topic'] === topic);
    const uncommittedAtKill = atKill.filter((o) => o < 0).length;
    process.stderr.write(`restart fault test: in=${n} indexed=${indexed} dead-lettered=${dead.length} partitions without a commit at the kill=${uncommittedAtKill}/${PARTITIONS}\n`);
    expect({ in: n, indexed, deadLettered: dead.length }).toEqual({ in: 600, indexed: 600, deadLettered: 0 });
    expect(uncommittedAtKill).toBeGreaterThan(0);
    expect(await committed(group, topic)).toEqual([100, 100, 100, 100, 100, 100]);
  }, 240_000);
});
