import type { Client } from '@elastic/elasticsearch';
import type { ConnectionDoc } from '../lib/ecs.js';
import type { Logger } from '../lib/log.js';
import type { PipelineConfig } from './enrich/config.js';
import type { Rekeyer, RekeyStage } from './rekey.js';
import type { Stage } from './stage.js';

// Builds the stage sets from the config. The rules and SLO modules are owned
// by pipeline/rules and pipeline/slo and loaded only when the config asks for
// them, so `connaudit pipeline` without --config indexes connections with no
// stage at all, and a problem in one module names the module.

interface RuleErrorLike {
  file?: string;
  line?: number;
  col?: number;
  ruleId?: string;
  message?: string;
}

export const formatLoadError = (e: unknown): string => {
  if (typeof e === 'string') return e;
  const r = e as RuleErrorLike;
  return r.file ? `${r.file}:${r.line ?? 1}:${r.col ?? 1}: ${r.ruleId ? `${r.ruleId} -> ` : ''}${r.message ?? ''}` : (r.message ?? JSON.stringify(e));
};

interface Reloadable {
  reload(ruleset: unknown): void;
}

interface RulesModule {
  loadRuleSet(pathsOrDir: string | string[], opts: { log?: Logger }): { ruleset: unknown; errors: unknown[] };
  createRuleStage(ruleset: unknown, opts: { log?: Logger; rekey?: Rekeyer }): Stage & Reloadable;
  createCrossHostRuleStage?(ruleset: unknown, opts: { log?: Logger }): (RekeyStage & Reloadable) | undefined;
}

interface SloModule {
  createSloStage(catalogue: unknown, opts: { log?: Logger }): Stage;
}

/** The hourly connaudit-slo summary writer (pipeline/slo/summary.ts). */
export interface SummaryJob {
  start(): void;
  stop(): void;
  runOnce(): Promise<number>;
}

export interface ComposedStages {
  primary: Stage[];
  crossHost: RekeyStage[];
  /** Set when an SLO stage runs: builds its hourly summary job for an ES client. */
  sloSummary?: (es: Client, opts: { schedule?: string; log?: Logger }) => SummaryJob;
  /** Re-reads the rule files; on any error the running rules stay and the errors are returned. */
  reloadRules?: () => { ok: boolean; errors: string[]; rules: string };
}

export class StageLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'StageLoadError';
  }
}

async function importModule<T>(spec: string, what: string): Promise<T> {
  try {
    return (await import(spec)) as T;
  } catch (err) {
    throw new StageLoadError([`the config enables ${what}, but its module could not be loaded: ${(err as Error).message}`]);
  }
}

export async function composeStages(cfg: PipelineConfig, deps: { log: Logger; rekey: Rekeyer; catalogue?: unknown }): Promise<ComposedStages> {
  const out: ComposedStages = { primary: [], crossHost: [] };
  if (cfg.services && deps.catalogue !== undefined) {
    const slo = await importModule<SloModule>('./slo/index.js', 'the SLO stage (services:)');
    const stage = slo.createSloStage(deps.catalogue, { log: deps.log });
    out.primary.push(stage);
    const summary = await importModule<{ createSloSummaryJob(stage: unknown, es: Client, opts: { schedule?: string; log?: Logger }): SummaryJob }>('./slo/summary.js', 'the SLO summaries');
    out.sloSummary = (es, opts) => summary.createSloSummaryJob(stage, es, opts);
  }
  if (cfg.rules) {
    const rulesPath = cfg.rules;
    const mod = await importModule<RulesModule>('./rules/index.js', 'the rule stage (rules:)');
    const first = mod.loadRuleSet(rulesPath, { log: deps.log });
    if (first.errors.length > 0) throw new StageLoadError(first.errors.map(formatLoadError));
    const ruleStage = mod.createRuleStage(first.ruleset, { log: deps.log, rekey: deps.rekey });
    out.primary.push(ruleStage);
    const cross = mod.createCrossHostRuleStage?.(first.ruleset, { log: deps.log });
    if (cross) out.crossHost.push(cross);
    const count = (rs: unknown): string => String((rs as { rules?: unknown[] }).rules?.length ?? '?');
    out.reloadRules = () => {
      const next = mod.loadRuleSet(rulesPath, { log: deps.log });
      if (next.errors.length > 0) return { ok: false, errors: next.errors.map(formatLoadError), rules: count(next.ruleset) };
      ruleStage.reload(next.ruleset);
      cross?.reload(next.ruleset);
      return { ok: true, errors: [], rules: count(next.ruleset) };
    };
  }
  return out;
}

export type { ConnectionDoc };
