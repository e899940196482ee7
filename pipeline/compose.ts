import type { Client } from '@elastic/elasticsearch';
import type { Logger } from '../lib/log.js';
import type { Catalogue } from './slo/catalogue.js';
import type { PipelineConfig } from './enrich/config.js';
import type { Rekeyer, RekeyStage } from './rekey.js';
import { createCrossHostRuleStage, createRuleStage, formatRuleError, loadRuleSet, reloadRules } from './rules/index.js';
import { createSloStage } from './slo/index.js';
import { createSloSummaryJob, type SloSummaryJob } from './slo/summary.js';
import type { Stage } from './stage.js';

// Builds the stage sets from the config: the SLO stage when a service
// catalogue is configured, the rule stages when rules are. Both modules are
// imported statically, so the type checker sees the whole path from a Kafka
// message to an alert. Stage state is persisted only by the pipeline's
// StateStore (snapshot()/restore()); the stages are given no state dir.
//
// This is also the one rule-reload path: reloadRules() below, called by
// rule-watch.ts on SIGHUP or a file change.

export interface ComposedStages {
  primary: Stage[];
  crossHost: RekeyStage[];
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
  if (deps.catalogue) {
    const stage = createSloStage(deps.catalogue, { log: deps.log });
    out.primary.push(stage);
    out.sloSummary = (es, opts) => createSloSummaryJob(stage, es, opts);
  }
  if (cfg.rules) {
    const rulesPath = cfg.rules;
    const load = () => loadRuleSet(rulesPath, { log: deps.log });
    const first = load();
    if (first.errors.length > 0) throw new StageLoadError(first.errors.map(formatRuleError));
    const ruleStage = createRuleStage(first.ruleset, { log: deps.log, rekey: deps.rekey });
    const cross = createCrossHostRuleStage(first.ruleset, { log: deps.log });
    out.primary.push(ruleStage);
    out.crossHost.push(cross);
    // Loaded completely first: any problem rejects the whole reload and the running rules stay.
    out.reloadRules = () => reloadRules(load, [ruleStage, cross]);
  }
  return out;
}
