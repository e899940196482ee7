import { rmSync } from 'node:fs';
import { encodeConnection } from '../../lib/avro.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { createLogger } from '../../lib/log.js';
import { fromRoot } from '../../lib/paths.js';
import { handleConnectionBatch } from '../../pipeline/batch.js';
import { composeStages, singleInstance } from '../../pipeline/compose.js';
import { loadServiceLookup } from '../../pipeline/enrich/catalogue-lookup.js';
import { loadConfig, type PipelineConfig } from '../../pipeline/enrich/config.js';
import { formatRuleError, loadRuleSet } from '../../pipeline/rules/index.js';
import { createEnricher, type Enricher } from '../../pipeline/enrich/enrich.js';
import type { InMessage } from '../../pipeline/messages.js';
import { decodeToDoc } from '../../pipeline/batch.js';
import { localRekey, type LocalRekey, type Rekeyer } from '../../pipeline/rekey.js';
import { primaryStages } from '../../pipeline/stage-set.js';
import type { Stage } from '../../pipeline/stage.js';
import { TOPIC_CONNECTIONS, TOPIC_DLQ } from '../../lib/names.js';
import { benchSpec } from './fleet-gen.js';
import { rng } from '../gen/rng.js';
import { synthRecord } from '../gen/synth.js';
import { writeRareRules } from '../gen/rare-rules.js';

// The pipeline's processing cost without Kafka or Elasticsearch: Avro
// single-object records, in batches, through handleConnectionBatch, the same
// function the consumer calls for every batch (decode, content hash, enrich,
// SLO stage, rule stages, bulk operations), with stages built by the
// pipeline's own composeStages from config/pipeline.yaml and
// config/services.yaml. Elasticsearch is replaced by a bulk call that accepts
// every document, and Kafka by a producer that only counts what it is given
// (dead letters). Cross-host rules run in-process through localRekey, as in
// `rules backtest`: the same stage code, without the rekey topic hop.
//
// One process, one thread: events/s is one core's worth. The machine is
// shared, so each run also reports events per CPU-second of this process
// (user + system), which other load dilutes much less than wall time.

export interface PipelineBenchOptions {
  /** Generated rarely matching rules, spread over every rule type, on top of the shipped rules. */
  rules: number;
  records: number;
  runs?: number;
  /** Messages per batch (a consumer batch). */
  batch?: number;
  /** Every `corruptEvery`-th record is cut short so it cannot decode (0: none). Exercises the dead-letter count. */
  corruptEvery?: number;
  /** Also run once more with a timer around each stage, for the per-stage shares. */
  stageShares?: boolean;
  progress?: (line: string) => void;
}

export interface PipelineRun {
  seconds: number;
  eventsPerSec: number;
  eventsPerCpuSec: number;
  docs: number;
  dlq: number;
  alerts: number;
}

export interface PipelineBenchResult {
  records: number;
  rules: { shipped: number; generated: number; loaded: number };
  batch: number;
  runs: PipelineRun[];
  /** Median and range over the runs. */
  eventsPerSec: { median: number; min: number; max: number };
  eventsPerCpuSec: { median: number; min: number; max: number };
  /** Input accounting, the same in every run: records = docs + dlq. */
  docs: number;
  dlq: number;
  /** Dead letters handed to the producer (must equal dlq). */
  dlqSent: number;
  alerts: number;
  /** Share of processing time per part, from one extra timed run (absent without stageShares). */
  stageShare?: Record<string, number>;
  /** The same parts in microseconds of wall time per event (timed run). */
  stageMicrosPerEvent?: Record<string, number>;
  /**
   * CPU cost of the rule stages alone (host-local and cross-host, in-process),
   * in microseconds per event, with the shipped rules and with the shipped plus
   * the generated ones, and their ratio (absent with --rules 0, or without
   * stageShares). Measured on the same prepared documents, runs interleaved.
   */
  ruleStageCpuMicros?: { shipped: number; withGenerated: number; ratio: number; events: number };
  /** Time to load and compile the rules and the catalogue, ms (first run). */
  setupMs: number;
  peakRssMiB: number;
}

/** M encoded records of the benchmark fleet (deterministic). */
export function benchMessages(n: number, corruptEvery = 0): InMessage[] {
  const r = rng(42);
  const out: InMessage[] = [];
  for (let i = 0; i < n; i++) {
    let value = encodeConnection(synthRecord(benchSpec(i, n, r)));
    if (corruptEvery > 0 && i % corruptEvery === corruptEvery - 1) value = value.subarray(0, 12);
    out.push({ topic: TOPIC_CONNECTIONS, partition: 0, offset: String(i), key: null, value });
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

interface Timers { enrich: number; stages: Map<string, number> }

function timedEnricher(e: Enricher, t: Timers): Enricher {
  return (doc: ConnectionDoc) => {
    const t0 = performance.now();
    e(doc);
    t.enrich += performance.now() - t0;
  };
}

function timedStage(s: Stage, t: Timers): Stage {
  t.stages.set(s.name, 0);
  return {
    name: s.name,
    process(doc) {
      const t0 = performance.now();
      const out = s.process(doc);
      t.stages.set(s.name, t.stages.get(s.name)! + performance.now() - t0);
      return out;
    },
    tick: s.tick ? (ms) => s.tick!(ms) : undefined,
    annotateAlert: s.annotateAlert ? (a) => s.annotateAlert!(a) : undefined,
  };
}

interface Built { enrich: Enricher; stages: Stage[]; local: LocalRekey }

/** config/pipeline.yaml with `extra` rule folders layered after its own. */
function benchConfig(extra: string[]): PipelineConfig {
  const cfg = loadConfig(fromRoot('config', 'pipeline.yaml'));
  const base = cfg.rules === undefined ? [] : Array.isArray(cfg.rules) ? cfg.rules : [cfg.rules];
  cfg.rules = [...base, ...extra];
  return cfg;
}

function ruleCount(extra: string[]): number {
  const r = loadRuleSet(benchConfig(extra).rules!);
  if (r.errors.length > 0) throw new Error(`bench pipeline: the rules do not load:\n${r.errors.map(formatRuleError).join('\n')}`);
  return r.ruleset.rules.length;
}

function build(rulesDirs: string[], timers?: Timers): Built {
  const cfg = benchConfig(rulesDirs);
  const log = createLogger('bench-pipeline', 'error');
  const { lookup, catalogue } = cfg.services ? loadServiceLookup(cfg.services) : { lookup: undefined, catalogue: undefined };
  // The primary rule stage hands cross-host work to this Rekeyer; it is wired
  // to the cross-host stages once composeStages has built them.
  let local: LocalRekey | undefined;
  const rekey: Rekeyer = { request: (doc, by, key) => local!.request(doc, by, key) };
  const composed = singleInstance(composeStages(cfg, { log, rekey, catalogue }));
  local = localRekey(composed.crossHost);
  const enrich = createEnricher(cfg, lookup);
  return {
    enrich: timers ? timedEnricher(enrich, timers) : enrich,
    stages: timers ? composed.primary.map((s) => timedStage(s, timers)) : composed.primary,
    local,
  };
}

/**
 * Documents as the rule stage receives them (decoded, enriched, through the
 * SLO stage), for timing the rule stages on their own. The SLO stage comes from
 * a build whose rule stage is skipped.
 */
function ruleInput(messages: InMessage[], n: number): ConnectionDoc[] {
  const b = build([]);
  const out: ConnectionDoc[] = [];
  for (const m of messages) {
    if (out.length >= n) break;
    const d = decodeToDoc(m);
    if ('reason' in d && !('event' in d)) continue;
    const doc = d as ConnectionDoc;
    b.enrich(doc);
    for (const s of b.stages) if (s.name !== 'rules') s.process(doc);
    out.push(doc);
  }
  return out;
}

/** CPU microseconds per event of the rule stages of `b` (ticked per `batch` docs, as the batch loop does). */
function ruleStagePass(docs: ConnectionDoc[], b: Built, batch: number): number {
  const rules = b.stages.find((s) => s.name === 'rules');
  if (!rules) throw new Error('bench pipeline: config/pipeline.yaml loads no rules');
  const cpu0 = process.cpuUsage();
  let maxT = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i]!;
    rules.process(d);
    const t = Date.parse(d['@timestamp']);
    if (t > maxT) maxT = t;
    if ((i + 1) % batch === 0 || i === docs.length - 1) {
      rules.tick?.(maxT);
      b.local.tick(maxT);
      b.local.take();
    }
  }
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / docs.length;
}

interface Pass { seconds: number; cpuSec: number; docs: number; dlq: number; dlqSent: number; alerts: number }

async function pass(messages: InMessage[], b: Built, batch: number): Promise<Pass> {
  const log = createLogger('bench-pipeline', 'error');
  let dlqSent = 0;
  const deps = {
    bulk: async (ops: unknown[]) => ops.map(() => ({ status: 201 })),
    producer: { send: async (topic: string, msgs: unknown[]) => { if (topic === TOPIC_DLQ) dlqSent += msgs.length; } },
    log,
    enrich: b.enrich,
    stages: primaryStages(b.stages, log),
  };
  const out = { docs: 0, dlq: 0, alerts: 0 };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < messages.length; i += batch) {
    const s = await handleConnectionBatch(messages.slice(i, i + batch), deps);
    out.docs += s.docs;
    out.dlq += s.dlq;
    out.alerts += s.alerts;
    if (!Number.isNaN(s.maxEventTimeMs)) b.local.tick(s.maxEventTimeMs);
    out.alerts += b.local.take().length;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { ...out, dlqSent, seconds, cpuSec: (cpu.user + cpu.system) / 1e6 };
}

export async function benchPipeline(o: PipelineBenchOptions): Promise<PipelineBenchResult> {
  const runs = o.runs ?? 3;
  const batch = o.batch ?? 1000;
  const say = o.progress ?? (() => {});
  const rareDir = writeRareRules(o.rules);
  try {
    say(`bench pipeline: encoding ${o.records} records`);
    const messages = benchMessages(o.records, o.corruptEvery ?? 0);
    const shipped = ruleCount([]);
    const loaded = ruleCount([rareDir]);
    const results: PipelineRun[] = [];
    let first: Pass | undefined;
    let setupMs = 0;
    for (let r = 0; r < runs; r++) {
      const s0 = performance.now();
      const b = build([rareDir]);
      if (r === 0) setupMs = Math.round(performance.now() - s0);
      const p = await pass(messages, b, batch);
      first ??= p;
      if (p.docs !== first.docs || p.dlq !== first.dlq || p.alerts !== first.alerts) {
        throw new Error(`bench pipeline: run ${r + 1} counted ${p.docs} docs, ${p.dlq} dead letters, ${p.alerts} alerts; run 1 counted ${first.docs}, ${first.dlq}, ${first.alerts}. The stages are not deterministic on the same input; report this as a bug`);
      }
      const run = { seconds: Number(p.seconds.toFixed(3)), eventsPerSec: Math.round(o.records / p.seconds), eventsPerCpuSec: Math.round(o.records / p.cpuSec), docs: p.docs, dlq: p.dlq, alerts: p.alerts };
      results.push(run);
      say(`bench pipeline: run ${r + 1}/${runs}: ${run.eventsPerSec} events/s, ${run.eventsPerCpuSec} events/CPU-s, ${run.alerts} alerts`);
    }
    let stageShare: Record<string, number> | undefined;
    let stageMicrosPerEvent: Record<string, number> | undefined;
    if (o.stageShares) {
      const timers: Timers = { enrich: 0, stages: new Map() };
      const b = build([rareDir], timers);
      // decodeToDoc is called inside handleConnectionBatch; its cost is timed on its own, on the same input.
      const d0 = performance.now();
      for (const m of messages) decodeToDoc(m);
      const decode = performance.now() - d0;
      const p = await pass(messages, b, batch);
      const total = p.seconds * 1000;
      const stageMs = [...timers.stages.values()].reduce((a, x) => a + x, 0);
      const part = (ms: number) => Number((ms / total).toFixed(3));
      stageShare = { decode: part(decode), enrich: part(timers.enrich) };
      for (const [name, ms] of timers.stages) stageShare[`stage:${name}`] = part(ms);
      stageShare.batchRest = part(Math.max(0, total - decode - timers.enrich - stageMs));
      stageMicrosPerEvent = Object.fromEntries(Object.entries(stageShare).map(([k, v]) => [k, Number(((v * total * 1000) / o.records).toFixed(2))]));
    }
    let ruleStageCpuMicros: PipelineBenchResult['ruleStageCpuMicros'];
    if (o.stageShares && o.rules > 0) {
      const docs = ruleInput(messages, Math.min(o.records, 50_000));
      const shipped: number[] = [];
      const withGenerated: number[] = [];
      for (let r = 0; r < runs; r++) {
        // Interleaved, each with fresh stages, so both see the same machine load.
        shipped.push(ruleStagePass(docs, build([]), batch));
        withGenerated.push(ruleStagePass(docs, build([rareDir]), batch));
      }
      const a = median(shipped);
      const b = median(withGenerated);
      ruleStageCpuMicros = { shipped: Number(a.toFixed(2)), withGenerated: Number(b.toFixed(2)), ratio: Number((b / a).toFixed(2)), events: docs.length };
      say(`bench pipeline: rule stages alone, CPU µs per event: ${ruleStageCpuMicros.shipped} with the shipped rules, ${ruleStageCpuMicros.withGenerated} with ${o.rules} more (${ruleStageCpuMicros.ratio}×)`);
    }
    return {
      records: o.records,
      rules: { shipped, generated: o.rules, loaded },
      batch,
      runs: results,
      eventsPerSec: spread(results.map((x) => x.eventsPerSec)),
      eventsPerCpuSec: spread(results.map((x) => x.eventsPerCpuSec)),
      docs: first!.docs,
      dlq: first!.dlq,
      dlqSent: first!.dlqSent,
      alerts: first!.alerts,
      stageShare,
      stageMicrosPerEvent,
      ...(ruleStageCpuMicros ? { ruleStageCpuMicros } : {}),
      setupMs,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    rmSync(rareDir, { recursive: true, force: true });
  }
}
