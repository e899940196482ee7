import { describeEndpoints } from '../lib/connect.js';
import type { Logger } from '../lib/log.js';
import { createRegistry, startAdminServer, type AdminServer, type Health } from '../lib/metrics.js';
import { CONSUMER_GROUP, REKEY_GROUP, TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_REKEY } from '../lib/names.js';
import { TOPIC_LAYOUT } from '../lib/topics.js';
import { AlertOutbox } from './alert-outbox.js';
import { handleAgentHealthBatch, handleConnectionBatch, handleRekeyBatch, type BatchSinks } from './batch.js';
import type { BulkOptions } from './bulk.js';
import { composeStages, type ComposedStages } from './compose.js';
import { addStats, emptyStats, startRole, type OffsetReset, type Role } from './consumer-role.js';
import { loadServiceLookup } from './enrich/catalogue-lookup.js';
import type { PipelineConfig } from './enrich/config.js';
import { createEnricher, type ServiceLookup } from './enrich/enrich.js';
import { esFetchDocs, esRawBulk } from './es-sink.js';
import { PipelineMetrics } from './metrics.js';
import { ForwardOutbox, RekeyBuffer, type Rekeyer } from './rekey.js';
import { watchLag } from './lag.js';
import { watchRules } from './rule-watch.js';
import { connectElasticsearch, connectKafka, type EsSide, type KafkaSide } from './services.js';
import { primaryStages, rekeyStages, type StageSet } from './stage-set.js';
import type { RekeyStage } from './rekey.js';
import type { Stage, StageStat } from './stage.js';
import { StartAborted } from './startup.js';
import { StateStore } from './state-store.js';

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
  stateDir?: string;
  /** Distinguishes instances sharing a state dir. */
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
  primary: StageSet<Stage, []>;
  cross?: StageSet<RekeyStage, [string, string]>;
  lookup?: ServiceLookup;
  rekey: RekeyBuffer;
}

function buildStages(o: PipelineOptions): Stages {
  let lookup: ServiceLookup | undefined;
  let catalogue;
  if (o.config.services) ({ lookup, catalogue } = loadServiceLookup(o.config.services));
  const rekey = new RekeyBuffer();
  const composed = o.stages ? o.stages(rekey) : composeStages(o.config, { log: o.log, rekey, catalogue });
  const primary = primaryStages(composed.primary, o.log);
  const cross = composed.crossHost.length > 0 ? rekeyStages(composed.crossHost, o.log) : undefined;
  o.log.info({ stages: primary.names, crossHostStages: cross?.names ?? [] }, 'stages ready');
  return { composed, primary, cross, lookup, rekey };
}

function restoreState(store: StateStore, set: { restore(s: Record<string, unknown>): string[] }, log: Logger): void {
  const snap = store.load();
  if (!snap) return;
  const restored = set.restore(snap.stages);
  log.info({ file: store.file, savedAt: snap.savedAt, partitions: snap.partitions, restored }, 'stage state restored');
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

export async function runPipeline(o: PipelineOptions): Promise<number> {
  const log = o.log;
  const group = o.group ?? CONSUMER_GROUP;
  const rekeyGroup = o.group ? `${o.group}-rekey` : REKEY_GROUP;
  const stateDir = o.stateDir ?? o.config.state_dir ?? `.run/state/${group}`;
  const instance = o.instance ?? 'default';
  const offsetReset: OffsetReset = o.offsetReset ?? o.config.offset_reset ?? 'earliest';
  const topics = { connections: o.topics?.connections ?? TOPIC_CONNECTIONS, agentHealth: o.topics?.agentHealth ?? TOPIC_AGENT_HEALTH };
  log.info({ ...describeEndpoints(o.env), group, stateDir, instance, offsetReset }, 'starting pipeline');

  const stages = buildStages(o);
  const { primary, cross, composed, rekey } = stages;
  const health = new HealthState();
  const { metrics, server } = await startMetrics(o, health, () => (cross ? [primary, cross] : [primary]));
  const wait = (service: string) => ({
    log, signal: o.signal, timeoutMs: o.waitTimeoutMs,
    onWaiting: (waiting: boolean, err?: string) => {
      health.waitingFor = waiting ? service : undefined;
      health.lastError = err;
      metrics.waiting.set({ service }, waiting ? 1 : 0);
    },
  });

  let es: EsSide | undefined;
  let kafkaSide: KafkaSide | undefined;
  try {
    es = await connectElasticsearch(o.env, wait('Elasticsearch'));
    const layout = TOPIC_LAYOUT.map((t) => ({ ...t, topic: t.topic === TOPIC_CONNECTIONS ? topics.connections : t.topic === TOPIC_AGENT_HEALTH ? topics.agentHealth : t.topic }));
    kafkaSide = await connectKafka(`connaudit-pipeline-${instance}`, o.env, wait('Kafka'), layout);
  } catch (err) {
    await es?.close().catch(() => undefined);
    await server?.close();
    if (err instanceof StartAborted) {
      log.info({ service: err.service }, 'stopped before start: was waiting for a service');
      return 0;
    }
    throw err;
  }
  const { kafka, producer } = kafkaSide;

  const stores = { primary: new StateStore(stateDir, `${instance}.primary`, (o.config.snapshot_interval_s ?? 5) * 1000), rekey: new StateStore(stateDir, `${instance}.rekey`, (o.config.snapshot_interval_s ?? 5) * 1000) };
  restoreState(stores.primary, primary, log);
  if (cross) restoreState(stores.rekey, cross, log);

  const sinks: BatchSinks = {
    bulk: esRawBulk(es.bulk),
    fetchDocs: esFetchDocs(es.admin),
    producer,
    log,
    maxFutureSkewMs: o.config.max_future_skew_s !== undefined ? o.config.max_future_skew_s * 1000 : undefined,
    bulkOptions: { ...o.bulkOptions, observe: (s, outcome) => metrics.bulkSeconds.observe({ outcome }, s) },
  };
  const enrich = createEnricher(o.config, stages.lookup);
  // Hourly SLO summaries (node-cron) into connaudit-slo, when an SLO stage runs.
  const summaryJob = composed.sloSummary?.(es.admin, { schedule: o.config.slo_summary_cron, log });
  summaryJob?.start();

  const timers: NodeJS.Timeout[] = [];
  let unwatch: (() => void) | undefined;
  let unwatchLag: (() => void) | undefined;
  let stopping: Promise<number> | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => { resolveDone = r; });
  const roles: Array<{ role: Role; store: StateStore; set: { snapshot(): Record<string, unknown> } }> = [];
  const stop = (why: string, code: number): Promise<number> => {
    stopping ??= (async () => {
      health.stopping = true;
      log.info({ why }, 'stopping: finishing the current batch, committing, disconnecting');
      for (const t of timers) clearInterval(t);
      unwatch?.();
      unwatchLag?.();
      summaryJob?.stop();
      for (const r of roles) await r.role.consumer.disconnect().catch((err: Error) => log.warn({ err: err.message }, 'consumer disconnect failed'));
      for (const r of roles) r.store.save({ group, partitions: r.role.assigned, stages: r.set.snapshot() }, Date.now(), true);
      // A last summary, so a short run (a test, a backfill) leaves its SLO picture in connaudit-slo.
      if (summaryJob) await summaryJob.runOnce().catch((err: Error) => log.warn({ err: err.message }, 'final SLO summary failed'));
      await kafkaSide!.disconnect().catch(() => undefined);
      await es!.close().catch(() => undefined);
      await server?.close();
      const totals = emptyStats();
      for (const r of roles) addStats(totals, r.role.totals);
      log.info({ ...totals, stageErrors: primary.errors + (cross?.errors ?? 0) }, 'pipeline stopped');
      resolveDone(code);
      return code;
    })();
    return stopping;
  };

  const common = {
    kafka, offsetReset, maxBatch: o.maxBatch ?? 500, log, restartOnFailure: o.restartOnFailure ?? true,
    onCrash: (err: Error) => { void stop(`consumer crashed: ${err.message}`, 1); },
  };
  // Alerts of a batch whose delivery failed are owed to the next attempt (alert-outbox.ts).
  const primaryAlerts = new AlertOutbox();
  const main: Role = await startRole({
    ...common,
    groupId: group,
    topics: [topics.connections, topics.agentHealth],
    handle: async (topic, msgs) => {
      const s = topic === topics.agentHealth ? await handleAgentHealthBatch(msgs, sinks) : await handleConnectionBatch(msgs, { ...sinks, enrich, stages: primary, rekey: cross ? rekey : undefined, alertOutbox: primaryAlerts });
      metrics.batch(topic, s);
      return s;
    },
    onLag: (topic, partition, lag) => metrics.setLag(group, topic, partition, lag),
    afterCommit: () => stores.primary.save({ group, partitions: main.assigned, stages: primary.snapshot() }),
  });
  roles.push({ role: main, store: stores.primary, set: primary });
  if (cross) {
    // One outbox for all rekey batches: forwards of a failed batch go out with the next one.
    const outbox = new ForwardOutbox();
    const rekeyAlerts = new AlertOutbox();
    const rk: Role = await startRole({
      ...common,
      groupId: rekeyGroup,
      topics: [TOPIC_REKEY],
      handle: async (topic, msgs) => {
        const s = await handleRekeyBatch(msgs, { ...sinks, stages: cross, outbox, alertOutbox: rekeyAlerts });
        metrics.batch(topic, s);
        return s;
      },
      onLag: (topic, partition, lag) => metrics.setLag(rekeyGroup, topic, partition, lag),
      afterCommit: () => stores.rekey.save({ group: rekeyGroup, partitions: rk.assigned, stages: cross.snapshot() }),
    });
    roles.push({ role: rk, store: stores.rekey, set: cross });
  }
  health.roles = roles.map((r) => r.role);
  const lagGroups = [{ groupId: group, topics: [topics.connections, topics.agentHealth] }, ...(cross ? [{ groupId: rekeyGroup, topics: [TOPIC_REKEY] }] : [])];
  unwatchLag = watchLag(kafka, lagGroups, (g, t, p, lag) => metrics.setLag(g, t, p, lag), log, o.lagIntervalMs ?? 15_000);
  unwatch = composed.reloadRules && o.config.rules ? watchRules(o.config.rules, composed.reloadRules, log) : undefined;
  timers.push(idleWatch(roles.map((r) => r.role), o.exitWhenIdleS, (s) => void stop(`idle for ${s}s (--exit-when-idle)`, 0)));
  timers.push(throughputLog(roles.map((r) => r.role), log, o.throughputIntervalMs ?? 10_000));
  o.signal?.addEventListener('abort', () => { void stop('stop requested', 0); }, { once: true });
  if (o.signal?.aborted) void stop('stop requested', 0);
  return done;
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
