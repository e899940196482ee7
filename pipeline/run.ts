import { describeEndpoints } from '../lib/connect.js';
import type { Logger } from '../lib/log.js';
import { createRegistry, startAdminServer, type AdminServer, type Health } from '../lib/metrics.js';
import { CONSUMER_GROUP, REKEY_GROUP, stateChangelogTopic, TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_REKEY } from '../lib/names.js';
import { changelogTopicConfig, TOPIC_LAYOUT } from '../lib/topics.js';
import { AlertOutbox } from './alert-outbox.js';
import { handleAgentHealthBatch, handleConnectionBatch, handleRekeyBatch, type BatchSinks } from './batch.js';
import type { BulkOptions } from './bulk.js';
import { composeStages, type ComposedStages } from './compose.js';
import { addStats, emptyStats, startRole, type OffsetReset, type Role, type RoleOptions } from './consumer-role.js';
import { loadServiceLookup } from './enrich/catalogue-lookup.js';
import type { PipelineConfig } from './enrich/config.js';
import { createEnricher, type ServiceLookup } from './enrich/enrich.js';
import { esFetchDocs, esRawBulk } from './es-sink.js';
import { PipelineMetrics } from './metrics.js';
import { LocalLifecycle, lifecycleSettings } from './lifecycle.js';
import { ForwardOutbox, RekeyBuffer, type Rekeyer } from './rekey.js';
import { watchLag } from './lag.js';
import { watchRules } from './rule-watch.js';
import { connectElasticsearch, connectKafka, type EsSide, type KafkaSide } from './services.js';
import { primaryStages, rekeyStages, type StageSet } from './stage-set.js';
import type { RekeyStage } from './rekey.js';
import type { Stage, StageStat } from './stage.js';
import { StartAborted } from './startup.js';
import { ChangelogStore } from './state-store.js';
import { RoleState } from './role-state.js';
import { startIdleTicker, type TickTarget } from './idle-ticker.js';
import { Serial } from './serial.js';
import { sourceKey, watermarkOptions, Watermarks } from './watermark.js';

// Assembles and runs one pipeline instance: the primary consumer
// (connections + agent health), and when cross-host rules exist, the rekey
// consumer in the same process. Resolves with the exit code once stopped.

export interface PipelineOptions {
  config: PipelineConfig;
  group?: string;
  /** Where partitions without a committed offset start; default config.offset_reset, else earliest. */
  offsetReset?: OffsetReset;
  maxBatch?: number;
  /** Stop after this many seconds without a message on any role (after joining). */
  exitWhenIdleS?: number;
  /** Distinguishes instances of one group (client ids, the changelog key of instance-wide state). */
  instance?: string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  bulkOptions?: BulkOptions;
  /** Default true: a failed batch restarts the member from the last commit. false: stop with exit 1. */
  restartOnFailure?: boolean;
  /** Abort to stop gracefully (tests; the CLI wires SIGINT/SIGTERM to it). */
  signal?: AbortSignal;
  throughputIntervalMs?: number;
  /** /metrics and /healthz listener; default config.metrics, else none. */
  metrics?: { port: number; host?: string } | false;
  /** Called once the listener is bound (tests use port 0). */
  onAdminServer?: (server: AdminServer) => void;
  /** How often consumer lag is read from the broker (default 15 s). */
  lagIntervalMs?: number;
  /** Wait at most this long for Kafka and Elasticsearch at start (default: until stopped). */
  waitTimeoutMs?: number;
  /** Input topics other than the standard ones (tests with a topic of their own). */
  topics?: { connections?: string; agentHealth?: string };
  /**
   * Stages to run instead of those the config names (tests of the plumbing
   * itself). Receives the Rekeyer the primary stages must use.
   */
  stages?: (rekey: Rekeyer) => ComposedStages;
}

/** What /healthz reports: ready once both clusters answered and every consumer joined its group. */
class HealthState {
  waitingFor?: string;
  lastError?: string;
  stopping = false;
  roles: Role[] = [];

  health(): Health {
    const joined = this.roles.length > 0 && this.roles.every((r) => r.joined);
    const ok = !this.waitingFor && !this.stopping && joined;
    return { ok, detail: { waitingFor: this.waitingFor ?? null, lastError: this.lastError ?? null, stopping: this.stopping, consumersJoined: this.roles.filter((r) => r.joined).length, consumers: this.roles.length } };
  }
}

interface Stages {
  composed: ComposedStages;
  /** Whether the cross-host half (rekey consumer) runs. */
  crossHost: boolean;
  lookup?: ServiceLookup;
  rekey: RekeyBuffer;
}

function buildStages(o: PipelineOptions): Stages {
  let lookup: ServiceLookup | undefined;
  let catalogue;
  if (o.config.services) ({ lookup, catalogue } = loadServiceLookup(o.config.services));
  const rekey = new RekeyBuffer();
  const composed = o.stages ? o.stages(rekey) : composeStages(o.config, { log: o.log, rekey, catalogue });
  const crossHost = composed.crossHost.length > 0 || composed.partitioned?.crossHost !== undefined;
  const sample = composed.partitioned?.primary();
  sample?.dispose();
  o.log.info({ stages: composed.primary.map((s) => s.name), perPartition: sample?.own.map((s) => s.name) ?? [], crossHost }, 'stages ready');
  return { composed, crossHost, lookup, rekey };
}

async function startMetrics(o: PipelineOptions, health: HealthState, stages: () => Array<{ errors: number; stats(): StageStat[] }>) {
  const registry = createRegistry('pipeline');
  const metrics = new PipelineMetrics(registry, () => ({ errors: stages().reduce((n, s) => n + s.errors, 0), stats: stages().flatMap((s) => s.stats()) }));
  const want = o.metrics ?? (o.config.metrics ? { port: o.config.metrics.port, host: o.config.metrics.host } : false);
  let server: AdminServer | undefined;
  if (want) {
    try {
      server = await startAdminServer({ port: want.port, host: want.host, registry, health: () => health.health() });
      o.log.info({ metrics: `http://${want.host ?? '127.0.0.1'}:${server.port}/metrics`, healthz: `http://${want.host ?? '127.0.0.1'}:${server.port}/healthz` }, 'metrics and health listener ready');
      o.onAdminServer?.(server);
    } catch (err) {
      // Indexing matters more than its figures: carry on, and say how to fix it.
      o.log.error({ port: want.port, err: (err as Error).message }, 'cannot serve /metrics and /healthz (port in use?); indexing goes on without them. Set metrics.port in the config or --metrics-port');
    }
  }
  return { metrics, server };
}

/** Waits for Elasticsearch, then Kafka; undefined when stopped while waiting. */
async function connectServices(o: PipelineOptions, instance: string, topics: { connections: string; agentHealth: string }, changelogs: { primary: string; rekey: string }, crossHost: boolean, health: HealthState, metrics: PipelineMetrics): Promise<{ es: EsSide; kafkaSide: KafkaSide } | undefined> {
  const wait = (service: string) => ({
    log: o.log, signal: o.signal, timeoutMs: o.waitTimeoutMs,
    onWaiting: (waiting: boolean, err?: string) => {
      health.waitingFor = waiting ? service : undefined;
      health.lastError = err;
      metrics.waiting.set({ service }, waiting ? 1 : 0);
    },
  });
  let es: EsSide | undefined;
  try {
    es = await connectElasticsearch(o.env, wait('Elasticsearch'), lifecycleSettings(o.config.lifecycle), { refreshInterval: o.config.index_refresh_interval });
    const layout = [
      ...TOPIC_LAYOUT.map((t) => ({ ...t, topic: t.topic === TOPIC_CONNECTIONS ? topics.connections : t.topic === TOPIC_AGENT_HEALTH ? topics.agentHealth : t.topic })),
      { ...changelogTopicConfig(o.group ?? CONSUMER_GROUP), topic: changelogs.primary },
      ...(crossHost ? [{ ...changelogTopicConfig(o.group ?? CONSUMER_GROUP), topic: changelogs.rekey }] : []),
    ];
    return { es, kafkaSide: await connectKafka(`connaudit-pipeline-${instance}`, o.env, wait('Kafka'), layout) };
  } catch (err) {
    await es?.close();
    if (err instanceof StartAborted) {
      o.log.info({ service: err.service }, 'stopped before start: was waiting for a service');
      return undefined;
    }
    throw err;
  }
}

export async function runPipeline(o: PipelineOptions): Promise<number> {
  const log = o.log;
  const group = o.group ?? CONSUMER_GROUP;
  const rekeyGroup = o.group ? `${o.group}-rekey` : REKEY_GROUP;
  const instance = o.instance ?? 'default';
  const offsetReset: OffsetReset = o.offsetReset ?? o.config.offset_reset ?? 'earliest';
  const topics = { connections: o.topics?.connections ?? TOPIC_CONNECTIONS, agentHealth: o.topics?.agentHealth ?? TOPIC_AGENT_HEALTH };
  const changelogs = { primary: stateChangelogTopic(group), rekey: stateChangelogTopic(rekeyGroup) };
  log.info({ ...describeEndpoints(o.env), group, instance, offsetReset, stateChangelogs: Object.values(changelogs) }, 'starting pipeline');
  if (o.config.state_dir) log.warn({ state_dir: o.config.state_dir, changelogs }, 'state_dir is no longer used: stage state lives in the Kafka changelog topics; remove it from the config');

  const stages = buildStages(o);
  const { composed } = stages;
  const health = new HealthState();
  const states: Array<RoleState<Stage, StageSet<Stage, []>> | RoleState<RekeyStage, StageSet<RekeyStage, [string, string]>>> = [];
  const { metrics, server } = await startMetrics(o, health, () => states);
  const connected = await connectServices(o, instance, topics, changelogs, stages.crossHost, health, metrics).catch(async (err: unknown) => {
    await server?.close();
    throw err;
  });
  if (!connected) {
    await server?.close();
    return 0;
  }
  const { es, kafkaSide } = connected;

  const snapshotEveryMs = (o.config.snapshot_interval_s ?? 5) * 1000;
  const store = (topic: string) => new ChangelogStore({ kafka: kafkaSide.kafka, producer: kafkaSide.producer, topic, instance, log });
  const primaryState = new RoleState<Stage, StageSet<Stage, []>>({
    group, instance, store: store(changelogs.primary), stateful: [topics.connections], shared: composed.primary, instanceOnly: composed.instanceState, build: composed.partitioned?.primary,
    combine: (s) => primaryStages(s, log), snapshotEveryMs, metrics, log,
  });
  states.push(primaryState);
  const rekeyState = stages.crossHost
    ? new RoleState<RekeyStage, StageSet<RekeyStage, [string, string]>>({
      group: rekeyGroup, instance, store: store(changelogs.rekey), stateful: [TOPIC_REKEY], shared: composed.crossHost, build: composed.partitioned?.crossHost,
      combine: (s) => rekeyStages(s, log), snapshotEveryMs, metrics, log,
    })
    : undefined;
  if (rekeyState) states.push(rekeyState);
  // The changelog readers run before the consumers, so the first assignment can restore at once.
  try {
    for (const st of states) {
      await st.store.start();
      await st.instanceState.restore();
    }
  } catch (err) {
    for (const st of states) await st.store.stop().catch(() => undefined);
    await es.close();
    await kafkaSide.disconnect();
    await server?.close();
    throw err;
  }

  const sinks: BatchSinks = {
    bulk: esRawBulk(es.bulk),
    fetchDocs: esFetchDocs(es.admin),
    producer: kafkaSide.producer,
    log,
    maxFutureSkewMs: o.config.max_future_skew_s !== undefined ? o.config.max_future_skew_s * 1000 : undefined,
    bulkOptions: { ...o.bulkOptions, observe: (s, outcome) => metrics.bulkSeconds.observe({ outcome }, s) },
  };
  // Hourly SLO summaries (node-cron) into connaudit-slo, when an SLO stage runs.
  const summaryJob = composed.sloSummary?.(es.admin, { schedule: o.config.slo_summary_cron, log });
  summaryJob?.start();

  // Everything started from here on is undone by stop(), in reverse order.
  const cleanups: Array<() => void | Promise<void>> = [() => server?.close(), () => es!.close(), () => kafkaSide!.disconnect(), ...states.map((st) => () => st.store.stop())];
  if (summaryJob) {
    // A last summary, so a short run (a test, a backfill) leaves its SLO picture in connaudit-slo.
    cleanups.push(async () => { await summaryJob.runOnce().catch((err: Error) => log.warn({ err: err.message }, 'final SLO summary failed')); });
    cleanups.push(() => summaryJob.stop());
  }
  // Without ILM in the cluster, this process rolls the write aliases over and applies retention.
  if (es.boot.lifecycle === 'local') {
    const lifecycle = new LocalLifecycle(es.admin, es.boot.aliases, lifecycleSettings(o.config.lifecycle), log);
    lifecycle.start();
    cleanups.push(() => lifecycle.stop());
  }
  const roles: RoleEntry[] = [];
  let stopping: Promise<number> | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => { resolveDone = r; });
  const stop = (why: string, code: number): Promise<number> => {
    stopping ??= (async () => {
      health.stopping = true;
      log.info({ why }, 'stopping: finishing the current batch, committing, disconnecting');
      for (const undo of cleanups.reverse()) await Promise.resolve(undo()).catch((err: Error) => log.warn({ err: err.message }, 'shutdown step failed'));
      const totals = emptyStats();
      for (const r of roles) addStats(totals, r.role.totals);
      log.info({ ...totals, stageErrors: states.reduce((n, st) => n + st.errors, 0) }, 'pipeline stopped');
      resolveDone(code);
      return code;
    })();
    return stopping;
  };

  const consumers = { kafka: kafkaSide.kafka, offsetReset, maxBatch: o.maxBatch ?? 500, log, restartOnFailure: o.restartOnFailure ?? true, onCrash: (err: Error) => { void stop(`consumer crashed: ${err.message}`, 1); } };
  const marks = watermarkOptions(o.config.watermark);
  roles.push(await startPrimary(consumers, { group, topics, sinks, metrics, state: primaryState, stages, enrich: createEnricher(o.config, stages.lookup), watermarks: new Watermarks(marks) }));
  if (rekeyState) roles.push(await startRekey(consumers, { group: rekeyGroup, sinks, metrics, state: rekeyState, watermarks: new Watermarks(marks) }));
  for (const r of roles) {
    // Run in reverse: the consumer stops fetching (finishing its batch), the
    // state is written while this member still owns its partitions (no new
    // owner can have restored an older snapshot yet), then it leaves the group.
    cleanups.push(() => r.role.consumer.disconnect());
    cleanups.push(() => r.state.flush());
    cleanups.push(() => r.role.consumer.stop());
  }
  health.roles = roles.map((r) => r.role);
  cleanups.push(watchLag(kafkaSide.kafka, roles.map((r) => ({ groupId: r.group, topics: r.topics })), (g, t, p, lag) => metrics.setLag(g, t, p, lag), log, o.lagIntervalMs ?? 15_000));
  if (composed.reloadRules && o.config.rules) cleanups.push(watchRules(o.config.rules, composed.reloadRules, log));
  const timers = [
    idleWatch(roles.map((r) => r.role), o.exitWhenIdleS, (s) => void stop(`idle for ${s}s (--exit-when-idle)`, 0)),
    throughputLog(roles.map((r) => r.role), log, o.throughputIntervalMs ?? 10_000),
  ];
  cleanups.push(() => { for (const t of timers) clearInterval(t); });
  // Closes windows on a quiet fleet (event time moved by idle partitions); stopped before the consumers.
  const ticker = startIdleTicker({ primary: roles[0]!.tick, cross: roles[1]?.tick, sinks, onWatermark: (g, st) => metrics.setWatermark(g, st.ms, st.idlePartitions), onAlerts: (n) => metrics.tickAlerts(n) });
  cleanups.push(() => ticker.stop());
  o.signal?.addEventListener('abort', () => { void stop('stop requested', 0); }, { once: true });
  if (o.signal?.aborted) void stop('stop requested', 0);
  return done;
}

interface RoleEntry {
  role: Role;
  group: string;
  topics: string[];
  state: { flush(): Promise<void> };
  tick: TickTarget;
}

type ConsumerCommon = Pick<RoleOptions, 'kafka' | 'offsetReset' | 'maxBatch' | 'log' | 'restartOnFailure' | 'onCrash'>;

/** The primary consumer: connections (decode, enrich, stages, index) and agent health. */
async function startPrimary(common: ConsumerCommon, c: { group: string; topics: { connections: string; agentHealth: string }; sinks: BatchSinks; metrics: PipelineMetrics; state: RoleState<Stage, StageSet<Stage, []>>; stages: Stages; enrich: ReturnType<typeof createEnricher>; watermarks: Watermarks }): Promise<RoleEntry> {
  const { crossHost, rekey } = c.stages;
  // Alerts of a batch whose delivery failed are owed to the next attempt (alert-outbox.ts).
  const alertOutbox = new AlertOutbox();
  const serial = new Serial();
  const topics = [c.topics.connections, c.topics.agentHealth];
  const role: Role = await startRole({
    ...common,
    groupId: c.group,
    topics,
    handle: (topic, msgs) => serial.run(async () => {
      const s = topic === c.topics.agentHealth ? await handleAgentHealthBatch(msgs, c.sinks) : await handleConnectionBatch(msgs, { ...c.sinks, enrich: c.enrich, stages: c.state.setFor(topic, msgs[0]!.partition), rekey: crossHost ? rekey : undefined, alertOutbox, watermarks: c.watermarks });
      c.metrics.batch(topic, s);
      return s;
    }),
    onLag: (topic, partition, lag) => {
      c.metrics.setLag(c.group, topic, partition, lag);
      c.watermarks.lag(sourceKey(topic, partition), lag);
    },
    ...c.state.hooks(),
  });
  const tick: TickTarget = { group: c.group, set: c.state.tickable(), watermarks: c.watermarks, consumer: () => role, serial, alertOutbox, save: () => c.state.flush() };
  return { role, group: c.group, topics, state: c.state, tick };
}

/** The cross-host consumer: re-keyed documents and forwards through the cross-host rule stages. */
async function startRekey(common: ConsumerCommon, c: { group: string; sinks: BatchSinks; metrics: PipelineMetrics; state: RoleState<RekeyStage, StageSet<RekeyStage, [string, string]>>; watermarks: Watermarks }): Promise<RoleEntry> {
  // One outbox for all rekey batches (and idle ticks): forwards of a failed batch go out with the next one.
  const outbox = new ForwardOutbox();
  const alertOutbox = new AlertOutbox();
  const serial = new Serial();
  const role: Role = await startRole({
    ...common,
    groupId: c.group,
    topics: [TOPIC_REKEY],
    handle: (topic, msgs) => serial.run(async () => {
      const s = await handleRekeyBatch(msgs, { ...c.sinks, stages: c.state.setFor(topic, msgs[0]!.partition), outbox, alertOutbox, watermarks: c.watermarks });
      c.metrics.batch(topic, s);
      return s;
    }),
    onLag: (topic, partition, lag) => {
      c.metrics.setLag(c.group, topic, partition, lag);
      c.watermarks.lag(sourceKey(topic, partition), lag);
    },
    ...c.state.hooks(),
  });
  const tick: TickTarget = { group: c.group, set: c.state.tickable(), watermarks: c.watermarks, consumer: () => role, serial, alertOutbox, forwards: { outbox, stages: () => c.state.allStages() }, save: () => c.state.flush() };
  return { role, group: c.group, topics: [TOPIC_REKEY], state: c.state, tick };
}

/** With --exit-when-idle: calls `idle` once every role joined and saw no message for that long. */
function idleWatch(roles: Role[], idleS: number | undefined, idle: (s: number) => void): NodeJS.Timeout {
  return setInterval(() => {
    if (!idleS) return;
    if (roles.every((r) => r.joined && r.busy === 0 && Date.now() - r.lastActivity >= idleS * 1000)) idle(idleS);
  }, 250);
}

function throughputLog(roles: Role[], log: Logger, everyMs: number): NodeJS.Timeout {
  let last = emptyStats();
  let lastAt = Date.now();
  return setInterval(() => {
    const now = emptyStats();
    for (const r of roles) addStats(now, r.totals);
    const secs = (Date.now() - lastAt) / 1000;
    if (now.messages !== last.messages) log.info({ msgPerSec: Math.round((now.messages - last.messages) / secs), totals: now }, 'throughput');
    last = now;
    lastAt = Date.now();
  }, everyMs);
}
