import { Client } from '@elastic/elasticsearch';
import { Kafka, Partitioners, logLevel, type Producer as KafkaProducer } from 'kafkajs';
import { describeEndpoints, esClientOptions, kafkaConfig } from '../lib/connect.js';
import type { Logger } from '../lib/log.js';
import { CONSUMER_GROUP, REKEY_GROUP, TOPIC_AGENT_HEALTH, TOPIC_CONNECTIONS, TOPIC_REKEY } from '../lib/names.js';
import { AlertOutbox } from './alert-outbox.js';
import { handleAgentHealthBatch, handleConnectionBatch, handleRekeyBatch, type BatchSinks } from './batch.js';
import type { BulkOptions } from './bulk.js';
import { composeStages, type ComposedStages } from './compose.js';
import { addStats, emptyStats, startRole, type Role } from './consumer-role.js';
import { loadServiceLookup } from './enrich/catalogue-lookup.js';
import type { PipelineConfig } from './enrich/config.js';
import { createEnricher, type ServiceLookup } from './enrich/enrich.js';
import { bootstrapElasticsearch } from './es-bootstrap.js';
import { LocalLifecycle, lifecycleSettings } from './lifecycle.js';
import { esRawBulk } from './es-sink.js';
import type { Producer } from './messages.js';
import { ForwardOutbox, RekeyBuffer, type Rekeyer } from './rekey.js';
import { watchRules } from './rule-watch.js';
import { primaryStages, rekeyStages } from './stage-set.js';
import { StateStore } from './state-store.js';
import { ensureTopics } from '../lib/topics.js';

// Assembles and runs one pipeline instance: the primary consumer
// (connections + agent health), and when cross-host rules exist, the rekey
// consumer in the same process. Resolves with the exit code once stopped.

export interface PipelineOptions {
  config: PipelineConfig;
  group?: string;
  fromBeginning?: boolean;
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
  /**
   * Stages to run instead of those the config names (tests of the plumbing
   * itself). Receives the Rekeyer the primary stages must use.
   */
  stages?: (rekey: Rekeyer) => ComposedStages;
}

function kafkaProducer(p: KafkaProducer): Producer {
  return {
    async send(topic, messages) {
      await p.send({ topic, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) });
    },
  };
}

function kafkaLogCreator(log: Logger) {
  return () => ({ level, log: entry }: { level: number; log: { message: string; [k: string]: unknown } }) => {
    const { message, timestamp: _t, logger: _l, ...rest } = entry;
    if (level === logLevel.ERROR) log.error({ kafka: rest }, message);
    else if (level === logLevel.WARN) log.warn({ kafka: rest }, message);
    else log.debug({ kafka: rest }, message);
  };
}

export async function runPipeline(o: PipelineOptions): Promise<number> {
  const log = o.log;
  const group = o.group ?? CONSUMER_GROUP;
  const rekeyGroup = o.group ? `${o.group}-rekey` : REKEY_GROUP;
  const maxBatch = o.maxBatch ?? 500;
  const stateDir = o.stateDir ?? o.config.state_dir ?? `.run/state/${group}`;
  const instance = o.instance ?? 'default';
  log.info({ ...describeEndpoints(o.env), group, stateDir, instance }, 'starting pipeline');

  const es = new Client(esClientOptions(o.env));
  const boot = await bootstrapElasticsearch(es, log, undefined, lifecycleSettings(o.config.lifecycle));
  // Without ILM in the cluster, this process rolls the aliases over and applies retention.
  const localLifecycle = boot.lifecycle === 'local' ? new LocalLifecycle(es, boot.aliases, lifecycleSettings(o.config.lifecycle), log) : undefined;
  localLifecycle?.start();

  let lookup: ServiceLookup | undefined;
  let catalogue: unknown;
  if (o.config.services) ({ lookup, catalogue } = await loadServiceLookup(o.config.services));
  const rekey = new RekeyBuffer();
  const composed = o.stages ? o.stages(rekey) : await composeStages(o.config, { log, rekey, catalogue });
  const primary = primaryStages(composed.primary, log);
  const cross = composed.crossHost.length > 0 ? rekeyStages(composed.crossHost, log) : undefined;
  log.info({ stages: primary.names, crossHostStages: cross?.names ?? [] }, 'stages ready');

  const stores = { primary: new StateStore(stateDir, `${instance}.primary`, (o.config.snapshot_interval_s ?? 5) * 1000), rekey: new StateStore(stateDir, `${instance}.rekey`, (o.config.snapshot_interval_s ?? 5) * 1000) };
  const restore = (store: StateStore, set: { restore(s: Record<string, unknown>): string[] }) => {
    const snap = store.load();
    if (!snap) return;
    const restored = set.restore(snap.stages);
    log.info({ file: store.file, savedAt: snap.savedAt, partitions: snap.partitions, restored }, 'stage state restored');
  };
  restore(stores.primary, primary);
  if (cross) restore(stores.rekey, cross);

  const kafka = new Kafka({ ...kafkaConfig(`connaudit-pipeline-${instance}`, o.env), logCreator: kafkaLogCreator(log) });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const changes = await ensureTopics(admin);
    if (changes.created.length || changes.widened.length) log.info(changes, 'prepared Kafka topics');
  } finally {
    await admin.disconnect();
  }
  // The murmur2 default partitioner is Java-compatible, so a re-key lands where any Kafka client would put it.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const sinks: BatchSinks = { bulk: esRawBulk(es), producer: kafkaProducer(producer), log, bulkOptions: o.bulkOptions };
  const enrich = createEnricher(o.config, lookup);

  // Hourly SLO summaries (node-cron) into connaudit-slo, when an SLO stage runs.
  const summaryJob = composed.sloSummary?.(es, { schedule: o.config.slo_summary_cron, log });
  summaryJob?.start();

  let idleTimer: NodeJS.Timeout | undefined;
  let tputTimer: NodeJS.Timeout | undefined;
  let unwatch: (() => void) | undefined;
  let stopping: Promise<number> | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => { resolveDone = r; });
  const roles: Array<{ role: Role; store: StateStore; set: { snapshot(): Record<string, unknown> } }> = [];
  const stop = (why: string, code: number): Promise<number> => {
    stopping ??= (async () => {
      log.info({ why }, 'stopping: finishing the current batch, committing, disconnecting');
      clearInterval(idleTimer);
      clearInterval(tputTimer);
      unwatch?.();
      summaryJob?.stop();
      await localLifecycle?.stop();
      for (const r of roles) await r.role.consumer.disconnect().catch((err: Error) => log.warn({ err: err.message }, 'consumer disconnect failed'));
      for (const r of roles) r.store.save({ group, partitions: r.role.assigned, stages: r.set.snapshot() }, Date.now(), true);
      // A last summary, so a short run (a test, a backfill) leaves its SLO picture in connaudit-slo.
      if (summaryJob) await summaryJob.runOnce().catch((err: Error) => log.warn({ err: err.message }, 'final SLO summary failed'));
      await producer.disconnect().catch(() => undefined);
      await es.close().catch(() => undefined);
      const totals = emptyStats();
      for (const r of roles) addStats(totals, r.role.totals);
      log.info({ ...totals, stageErrors: primary.errors + (cross?.errors ?? 0) }, 'pipeline stopped');
      resolveDone(code);
      return code;
    })();
    return stopping;
  };

  const common = { kafka, fromBeginning: o.fromBeginning ?? false, maxBatch, log, restartOnFailure: o.restartOnFailure ?? true, onCrash: (err: Error) => { void stop(`consumer crashed: ${err.message}`, 1); } };
  // Alerts of a batch whose delivery failed are owed to the next attempt (alert-outbox.ts).
  const primaryAlerts = new AlertOutbox();
  const main = await startRole({
    ...common,
    groupId: group,
    topics: [TOPIC_CONNECTIONS, TOPIC_AGENT_HEALTH],
    handle: (topic, msgs) => (topic === TOPIC_AGENT_HEALTH ? handleAgentHealthBatch(msgs, sinks) : handleConnectionBatch(msgs, { ...sinks, enrich, stages: primary, rekey: cross ? rekey : undefined, alertOutbox: primaryAlerts })),
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
      handle: (_topic, msgs) => handleRekeyBatch(msgs, { ...sinks, stages: cross, outbox, alertOutbox: rekeyAlerts }),
      afterCommit: () => stores.rekey.save({ group: rekeyGroup, partitions: rk.assigned, stages: cross.snapshot() }),
    });
    roles.push({ role: rk, store: stores.rekey, set: cross });
  }
  unwatch = composed.reloadRules && o.config.rules ? watchRules(o.config.rules, composed.reloadRules, log) : undefined;

  idleTimer = setInterval(() => {
    if (!o.exitWhenIdleS) return;
    const quiet = roles.every((r) => r.role.joined && r.role.busy === 0 && Date.now() - r.role.lastActivity >= o.exitWhenIdleS! * 1000);
    if (quiet) void stop(`idle for ${o.exitWhenIdleS}s (--exit-when-idle)`, 0);
  }, 250);
  let last = emptyStats();
  let lastAt = Date.now();
  tputTimer = setInterval(() => {
    const now = emptyStats();
    for (const r of roles) addStats(now, r.role.totals);
    const secs = (Date.now() - lastAt) / 1000;
    if (now.messages !== last.messages) {
      log.info({ msgPerSec: Math.round((now.messages - last.messages) / secs), totals: now }, 'throughput');
    }
    last = now;
    lastAt = Date.now();
  }, o.throughputIntervalMs ?? 10_000);
  o.signal?.addEventListener('abort', () => { void stop('stop requested', 0); }, { once: true });
  if (o.signal?.aborted) void stop('stop requested', 0);
  return done;
}
