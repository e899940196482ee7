import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { encodeConnection } from '../../lib/avro.js';
import { compressionType } from '../../lib/kafka-codecs.js';
import { createKafka, PRODUCER_SETTINGS } from '../../lib/kafka.js';
import { createLogger } from '../../lib/log.js';
import { NAME_PREFIX, namesFor, stateChangelogTopic } from '../../lib/names.js';
import { fromRoot } from '../../lib/paths.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { TOPIC_LAYOUT, ensureTopics } from '../../lib/topics.js';
import { rng } from '../gen/rng.js';
import { synthRecord } from '../gen/synth.js';
import { benchSpec } from './fleet-gen.js';
import { dueRecords, judge, summarise, type LatencySummary } from './e2e-core.js';
import { processCpuS, processRssMiB, scrapeBulk, selfCpuS, startPipeline, stopPipeline, waitReady, type Child } from './e2e-child.js';
import { deleteEsMatching, esClientFor, esCpuS, indexRefreshInterval, searchableCount } from './e2e-es.js';
import { Sampler } from './e2e-sampler.js';

// `connaudit bench e2e`: one paced run through the real path. A producer
// writes Avro single-object records (the agent's encoder) of the benchmark
// fleet to a topic of the run's own, each record closing (end_us) at the wall
// time it is produced. A `connaudit pipeline` child, started with
// CONNAUDIT_NAME_PREFIX so that its topics, consumer groups, templates and
// indices are the run's own, reads them with the shipped rules and service
// catalogue and indexes them. A sampler polls Elasticsearch (plain searches,
// never a forced refresh, which would hide the refresh interval being
// measured) for every Nth record's id and notes when it first became
// searchable. At the end every record is counted in Elasticsearch: records in
// against documents indexed. The child is its own process, so its CPU
// (/proc/PID/stat) is the pipeline's alone.

export interface E2eOptions {
  /** Records per second the producer writes. */
  rate: number;
  seconds: number;
  /** Pipeline --max-batch: documents per bulk request (default: the pipeline's). */
  maxBatch?: number;
  /** Pipeline config index_refresh_interval (default: the templates' 1s). */
  refreshInterval?: string;
  /** Every Nth record is sampled for its latency (default: about 50 samples a second). */
  sampleEvery?: number;
  /** Bounded lag: a record searchable later than this (s) fails the run. */
  maxLagS: number;
  /** How long to wait after production for the backlog to clear (default max(30, 2 × maxLagS)). */
  drainTimeoutS?: number;
  pollMs?: number;
  /** Write a V8 CPU profile of the pipeline child into this directory. */
  cpuProfDir?: string;
  /** Keep the run's topics and indices (to look at them); default: deleted. */
  keep?: boolean;
  env?: NodeJS.ProcessEnv;
  progress?: (line: string) => void;
}

export interface E2eRun {
  rate: number;
  seconds: number;
  achievedRate: number;
  produced: number;
  indexed: number;
  lost: number;
  deadLettered: number;
  alerts: number;
  /** Documents not yet searchable when production stopped. */
  backlogAtEnd: number;
  drainS: number;
  /** Close -> searchable, seconds. */
  latency: LatencySummary;
  samplesMissing: number;
  /** Elasticsearch bulk requests of the pipeline over the run, and their mean duration (s): the time it waits on Elasticsearch. */
  bulkRequests: number;
  bulkMeanS: number;
  /** Documents searchable per second from the start of production to the end of the drain: the pipeline's capacity when it fell behind. */
  indexedPerSec: number;
  /** Elasticsearch's process CPU over the run, in cores (its node stats; on a shared cluster this includes others' work). */
  esCores: number;
  /**
   * CPU milliseconds per document indexed, of the pipeline and of Elasticsearch:
   * what a machine needs per event, much less sensitive to other load than the
   * rates (on a shared cluster the Elasticsearch figure includes others' work).
   */
  pipelineCpuMsPerDoc: number;
  esCpuMsPerDoc: number;
  pipelineCpuS: number;
  /** Pipeline CPU over the run, in cores (1 = one core busy all the time). */
  pipelineCores: number;
  /** This process (producer + sampler) over the run, in cores. */
  benchCores: number;
  pipelinePeakRssMiB: number;
  loadAvg: { start: number; end: number };
  maxBatch: number | 'default';
  /** index.refresh_interval of the run's connections index, as Elasticsearch reports it. */
  refreshInterval: string;
  sustained: boolean;
  reasons: string[];
  prefix: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The fleet's records, built once; each send stamps ids and times onto a copy. */
function recordPool(size: number): ConnectionRecord[] {
  const r = rng(42);
  const out: ConnectionRecord[] = [];
  for (let i = 0; i < size; i++) out.push(synthRecord(benchSpec(i, size, r)));
  return out;
}

async function produce(producer: Producer, topic: string, o: E2eOptions, pool: ConnectionRecord[], runId: string, sampler: Sampler, sampleEvery: number, progress: (s: string) => void): Promise<{ produced: number; seconds: number }> {
  const codec = compressionType('zstd');
  const total = Math.round(o.rate * o.seconds);
  const tickMs = 20;
  // One send holds at most 2,000 records (as the agent's requests do), and at
  // most half a second's worth: bounded memory, and a record batch well under
  // the broker's message.max.bytes.
  const maxBurst = Math.max(1, Math.min(2000, Math.ceil(o.rate / 2)));
  const t0 = Date.now();
  // Bounded in count (total) and in time: a producer that cannot keep up stops at the run length + 10 %.
  const deadline = t0 + o.seconds * 1100;
  let sent = 0;
  let lastReport = t0;
  while (sent < total && Date.now() < deadline) {
    const now = Date.now();
    const n = Math.min(total - sent, dueRecords(o.rate, now - t0, sent, maxBurst));
    if (n === 0) {
      await sleep(tickMs);
      continue;
    }
    const closedUs = now * 1000;
    const messages = new Array<{ key: string; value: Buffer }>(n);
    for (let k = 0; k < n; k++) {
      const i = sent + k;
      const base = pool[i % pool.length]!;
      const id = `${runId}-${i}`;
      const rec: ConnectionRecord = { ...base, event_id: id, conn_uid: `C${id}`, start_us: closedUs - (base.end_us - base.start_us), end_us: closedUs };
      messages[k] = { key: rec.host, value: encodeConnection(rec) };
      if (i % sampleEvery === 0) sampler.add(id, now);
    }
    await producer.send({ topic, compression: codec, acks: -1, messages });
    sent += n;
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      progress(`  ${Math.round((lastReport - t0) / 1000)} s: ${sent} records produced, ${sampler.latencies.length} samples searchable, ${sampler.pending.size} pending`);
    }
  }
  return { produced: sent, seconds: (Date.now() - t0) / 1000 };
}

/** One paced run at o.rate for o.seconds against fresh, prefixed topics and indices. */
export async function runE2e(o: E2eOptions): Promise<E2eRun> {
  const progress = o.progress ?? (() => undefined);
  const runId = randomBytes(4).toString('hex');
  const prefix = `${NAME_PREFIX}bench-e2e-${runId}-`;
  const names = namesFor(prefix);
  const sampleEvery = o.sampleEvery ?? Math.max(1, Math.round(o.rate / 50));
  const pollMs = o.pollMs ?? 200;
  const drainTimeoutS = o.drainTimeoutS ?? Math.max(30, 2 * o.maxLagS);
  const dir = mkdtempSync(join(tmpdir(), 'connaudit-bench-e2e-'));
  const configFile = join(dir, 'pipeline.yaml');
  writeFileSync(configFile, [
    '# connaudit bench e2e: the shipped rules and service catalogue, state of its own',
    `rules: ${JSON.stringify(fromRoot('rules'))}`,
    `services: ${JSON.stringify(fromRoot('config', 'services.yaml'))}`,
    `state_dir: ${JSON.stringify(join(dir, 'state'))}`,
    ...(o.refreshInterval ? [`index_refresh_interval: ${o.refreshInterval}`] : []),
    '',
  ].join('\n'));

  const log = createLogger('bench-e2e', process.env.CONNAUDIT_LOG_LEVEL ?? 'warn');
  const kafka = createKafka({ clientId: `connaudit-bench-e2e-${runId}`, log, env: o.env });
  const es = esClientFor(o.env);
  const admin = kafka.admin();
  const producer = kafka.producer({ ...PRODUCER_SETTINGS });
  let child: Child | undefined;
  try {
    await admin.connect();
    // The run's topics exist before the producer writes, with the pipeline's partition layout.
    await ensureTopics(admin, TOPIC_LAYOUT.map((t) => ({ ...t, topic: `${prefix}${t.topic.slice(NAME_PREFIX.length)}` })));
    await producer.connect();
    progress(`bench e2e: ${o.rate} records/s for ${o.seconds} s into ${names.topicConnections} (pipeline child, indices ${prefix}connaudit-*)`);
    const pool = recordPool(20_000);

    child = startPipeline(prefix, configFile, join(dir, 'pipeline.log'), o);
    await waitReady(child, 180_000);
    const pid = child.proc.pid!;

    const refreshInterval = await indexRefreshInterval(es, names.indexConnections);
    const sampler = new Sampler(es, names.indexConnections, pollMs);
    sampler.start();
    const load0 = loadavg()[0]!;
    const cpu0 = processCpuS(pid);
    const esCpu0 = await esCpuS(es);
    const self0 = selfCpuS();
    const wall0 = Date.now();

    const { produced, seconds } = await produce(producer, names.topicConnections, o, pool, runId, sampler, sampleEvery, progress);
    const producedAt = Date.now();
    const backlogAtEnd = produced - (await searchableCount(es, names.indexConnections));

    // Drain: bounded in time; the backlog is cleared when every record is searchable.
    let drainS = Number.NaN;
    while (Date.now() - producedAt < drainTimeoutS * 1000) {
      if ((await searchableCount(es, names.indexConnections)) >= produced) {
        drainS = (Date.now() - producedAt) / 1000;
        break;
      }
      await sleep(100);
    }
    const bulk = await scrapeBulk(child);
    const sampleDeadline = Date.now() + 5_000;
    while (sampler.pending.size > 0 && Date.now() < sampleDeadline) await sleep(pollMs);
    await sampler.stop();
    const wall = (Date.now() - wall0) / 1000;
    const pipelineCpuS = processCpuS(pid) - cpu0;
    const esCpuUsed = (await esCpuS(es)) - esCpu0;
    const searchableAtEnd = await searchableCount(es, names.indexConnections);
    const benchCpuS = selfCpuS() - self0;
    const pipelinePeakRssMiB = processRssMiB(pid);
    const load1 = loadavg()[0]!;

    // The count: forced refresh now, so nothing written is missed.
    await es.indices.refresh({ index: [names.indexConnections, names.indexAlerts] });
    const indexed = await searchableCount(es, names.indexConnections);
    const alerts = await searchableCount(es, names.indexAlerts);
    const deadLettered = (await admin.fetchTopicOffsets(names.topicDlq)).reduce((n, p) => n + Number(p.high), 0);

    await stopPipeline(child);
    const latency = summarise(sampler.latencies);
    const achievedRate = produced / seconds;
    const counts = { rate: o.rate, achievedRate, produced, indexed, samplesMissing: sampler.pending.size, drainS, latency };
    const verdict = judge(counts, { maxLagS: o.maxLagS });
    return {
      rate: o.rate, seconds: Number(seconds.toFixed(1)), achievedRate: Math.round(achievedRate), produced, indexed, lost: produced - indexed - deadLettered, deadLettered, alerts,
      backlogAtEnd, drainS: Number(drainS.toFixed(2)), latency: roundLatency(latency), samplesMissing: sampler.pending.size,
      bulkRequests: bulk.count, bulkMeanS: bulk.count ? Number((bulk.sum / bulk.count).toFixed(3)) : Number.NaN,
      indexedPerSec: Math.round(searchableAtEnd / wall),
      esCores: Number((esCpuUsed / wall).toFixed(2)),
      pipelineCpuMsPerDoc: Number(((pipelineCpuS * 1000) / Math.max(1, searchableAtEnd)).toFixed(3)),
      esCpuMsPerDoc: Number(((esCpuUsed * 1000) / Math.max(1, searchableAtEnd)).toFixed(3)),
      pipelineCpuS: Number(pipelineCpuS.toFixed(1)), pipelineCores: Number((pipelineCpuS / wall).toFixed(2)), benchCores: Number((benchCpuS / wall).toFixed(2)), pipelinePeakRssMiB,
      loadAvg: { start: Number(load0.toFixed(2)), end: Number(load1.toFixed(2)) },
      maxBatch: o.maxBatch ?? 'default', refreshInterval,
      ...verdict, prefix,
    };
  } finally {
    if (child) await stopPipeline(child);
    await producer.disconnect().catch(() => undefined);
    if (!o.keep) {
      const topics = [...TOPIC_LAYOUT.map((t) => `${prefix}${t.topic.slice(NAME_PREFIX.length)}`), stateChangelogTopic(names.consumerGroup), stateChangelogTopic(names.rekeyGroup)];
      await admin.deleteTopics({ topics }).catch((err: Error) => progress(`  could not delete the run's topics: ${err.message}`));
      await admin.deleteGroups([names.consumerGroup, names.rekeyGroup]).catch(() => undefined);
      await deleteEsMatching(es, `${prefix}connaudit-*`).catch((err: Error) => progress(`  could not delete the run's indices and templates (${prefix}connaudit-*): ${err.message}`));
      rmSync(dir, { recursive: true, force: true });
    } else progress(`  kept: topics and indices ${prefix}*, pipeline config, state and log in ${dir}`);
    await admin.disconnect().catch(() => undefined);
    await es.close().catch(() => undefined);
  }
}

function roundLatency(l: LatencySummary): LatencySummary {
  const r = (x: number) => (Number.isNaN(x) ? x : Number(x.toFixed(3)));
  return { samples: l.samples, p50: r(l.p50), p99: r(l.p99), max: r(l.max) };
}

/** Removes what earlier runs kept (--keep) or left behind (a killed bench): every bench-e2e-* topic, group, index and template. */
export async function cleanE2e(env?: NodeJS.ProcessEnv, progress: (s: string) => void = () => undefined): Promise<{ topics: number; groups: number }> {
  const base = `${NAME_PREFIX}bench-e2e-`;
  const log = createLogger('bench-e2e', process.env.CONNAUDIT_LOG_LEVEL ?? 'warn');
  const admin = createKafka({ clientId: 'connaudit-bench-e2e-clean', log, env }).admin();
  const es = esClientFor(env);
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(base));
    if (topics.length) await admin.deleteTopics({ topics });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(base));
    if (groups.length) await admin.deleteGroups(groups).catch((err: Error) => progress(`  some groups were not deleted (still in use?): ${err.message}`));
    await deleteEsMatching(es, `${base}*`);
    progress(`bench e2e --clean: deleted ${topics.length} topics, ${groups.length} consumer groups, and the ${base}* indices and templates`);
    return { topics: topics.length, groups: groups.length };
  } finally {
    await admin.disconnect().catch(() => undefined);
    await es.close().catch(() => undefined);
  }
}
