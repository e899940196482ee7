import type { Client } from '@elastic/elasticsearch';
import type { Logger } from '../lib/log.js';
import type { Catalogue } from './slo/catalogue.js';
import type { PipelineConfig } from './enrich/config.js';
import type { Rekeyer, RekeyStage } from './rekey.js';
import { createCrossHostRuleStage, createRuleStage, formatRuleError, loadRuleSet, reloadRules } from './rules/index.js';
import { createSloStage, type SloStage } from './slo/index.js';
import { sloInstanceState, sloPartitionStage } from './slo/partition.js';
import { createSloSummaryJob, type SloSummaryJob } from './slo/summary.js';
import type { Stage } from './stage.js';

// Builds the stage sets from the config: the SLO stage when a service
// catalogue is configured, the rule stages when rules are. Both modules are
// imported statically, so the type checker sees the whole path from a Kafka
// message to an alert. Stage state is persisted only by the pipeline's
// changelog (state-store.ts, via snapshot()/restore()).
//
// Rule stages keep windows per host (primary) or per re-key key (cross-host),
// so the pipeline runs one instance of them per input partition (tasks.ts):
// they come from the `partitioned` factories, which share one compiled rule
// set. The SLO stage judges over the instance's partitions and is built once;
// each partition counts into it through a view that keeps the partition's
// share (slo/partition.ts).
//
// This is also the one rule-reload path: reloadRules() below, called by
// rule-watch.ts on SIGHUP or a file change, reaches every live instance.

/** A fresh set of per-partition stages, and how to let go of it. */
export interface StageInstances<S> {
  own: S[];
  dispose(): void;
}

export interface ComposedStages {
  /** Stages that span the instance (one each; run before the per-partition ones). */
  primary: Stage[];
  crossHost: RekeyStage[];
  /** State that spans the instance without being a stage of its own (the SLO judgement): persisted per instance, never run. */
  instanceState?: Array<{ name: string; snapshot(): unknown; restore(s: unknown): void }>;
  /** Stages with state per input partition: one instance per partition (pipeline/tasks.ts). */
  partitioned?: {
    primary(): StageInstances<Stage>;
    /** Absent without cross-host rules: no rekey consumer runs. */
    crossHost?(): StageInstances<RekeyStage>;
  };
  /** Set when an SLO stage runs: builds its hourly summary job for an ES client. */
  sloSummary?: (es: Client, opts: { schedule?: string; log?: Logger }) => SloSummaryJob;
  /** Re-reads the rule files; on any error the running rules stay and the errors are returned. */
  reloadRules?: () => ReloadResult;
}

export interface ReloadResult {
  ok: boolean;
  errors: string[];
  rules: number;
}

export class StageLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'StageLoadError';
  }
}

export interface ComposeDeps {
  log: Logger;
  rekey: Rekeyer;
  catalogue?: Catalogue;
}

export function composeStages(cfg: PipelineConfig, deps: ComposeDeps): ComposedStages {
  const out: ComposedStages = { primary: [], crossHost: [] };
  let slo: SloStage | undefined;
  if (deps.catalogue) {
    const stage = createSloStage(deps.catalogue, { log: deps.log });
    slo = stage;
    // Judged once per instance over its partitions' counts; what the judgement keeps is persisted per instance.
    out.instanceState = [sloInstanceState(stage)];
    out.sloSummary = (es, opts) => createSloSummaryJob(stage, es, opts);
  }
  let rules: { primary(): StageInstances<Stage>; crossHost(): StageInstances<RekeyStage> } | undefined;
  if (cfg.rules) {
    const rulesPath = cfg.rules;
    const load = () => loadRuleSet(rulesPath, { log: deps.log });
    const first = load();
    if (first.errors.length > 0) throw new StageLoadError(first.errors.map(formatRuleError));
    let ruleset = first.ruleset;
    const live = new Set<{ reload(rs: typeof ruleset): void }>();
    // Instances are built with the rules in force and follow every reload until disposed.
    const instances = <S extends { reload(rs: typeof ruleset): void }>(make: () => S): StageInstances<S> => {
      const s = make();
      live.add(s);
      return { own: [s], dispose: () => live.delete(s) };
    };
    // The partition instances log the same "rule stage ready" line each; once is enough.
    const quiet = deps.log.child({}, { level: 'warn' });
    rules = {
      primary: () => instances(() => createRuleStage(ruleset, { log: quiet, rekey: deps.rekey })),
      crossHost: () => instances(() => createCrossHostRuleStage(ruleset, { log: quiet })),
    };
    const current = { reload: (rs: typeof ruleset) => { ruleset = rs; } };
    // Loaded completely first: any problem rejects the whole reload and the running rules stay.
    out.reloadRules = () => reloadRules(load, [current, ...live]);
  }
  if (slo || rules) {
    const sloStage = slo;
    const ruleStages = rules;
    out.partitioned = {
      // SLO first: it annotates slo.* that rules may test.
      primary: () => {
        const view = sloStage ? sloPartitionStage(sloStage) : undefined;
        const r = ruleStages?.primary();
        return { own: [...(view ? [view] : []), ...(r?.own ?? [])], dispose: () => { view?.dispose(); r?.dispose(); } };
      },
      crossHost: ruleStages?.crossHost,
    };
  }
  return out;
}

/**
 * Every stage as one instance, for runs without partitions (the pipeline
 * bench, in-process tools): the instance-wide stages, then one set of the
 * per-partition ones. The SLO stage counts through one partition view here.
 */
export function singleInstance(c: ComposedStages): { primary: Stage[]; crossHost: RekeyStage[] } {
  return {
    primary: [...c.primary, ...(c.partitioned?.primary().own ?? [])],
    crossHost: [...c.crossHost, ...(c.partitioned?.crossHost?.().own ?? [])],
  };
}
