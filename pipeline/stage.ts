import type { AlertDoc } from '../lib/alert.js';
import type { ConnectionDoc } from '../lib/ecs.js';

// A stage sees every enriched connection document of the partitions this
// pipeline instance owns, in Kafka order (per host, so in event-time order per
// host). It may add fields to the document (the SLO stage adds slo.*) and
// return alerts. Time inside stages is event time (@timestamp), never the wall
// clock, so a backtest over a day of JSONL gives the same alerts as the live
// stream did.
//
// The same stages run in `connaudit pipeline` (over Kafka) and in
// `connaudit rules backtest` (over a file): that is what makes a backtest
// trustworthy.

export interface Stage {
  readonly name: string;
  /** Observe one document. May mutate `doc`. Returns alerts raised by it. */
  process(doc: ConnectionDoc): AlertDoc[];
  /**
   * Advance event time without a document (called once per batch with the
   * batch's newest @timestamp, in ms). Rules whose windows close raise here.
   */
  tick?(eventTimeMs: number): AlertDoc[];
  /**
   * Every document dated before `eventTimeMs` has been seen (the report's
   * time-ordered input; the pipeline once all its input partitions are idle,
   * see watermark.ts). Stages with their own per-source clock (SLO) judge up
   * to there; the others are ticked.
   */
  advanceWatermark?(eventTimeMs: number): AlertDoc[];
  /** Serializable state, stored by the pipeline after each committed batch. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /** Alerts may be annotated by later stages (the SLO stage adds slo.* to alerts). */
  annotateAlert?(alert: AlertDoc): void;
  /** Per-rule evaluation figures for /metrics (rule time, regex budget overruns). */
  ruleStats?(): StageStat[];
}

/**
 * Per-rule figures a stage may report (the rule stage does): read when
 * /metrics is scraped. Totals since the stage started.
 */
export interface StageStat {
  stage: string;
  rule: string;
  /** Documents the rule matched (condition held, no exception). */
  matches?: number;
  /** Mean condition time per evaluated document, from sampled timings (seconds). */
  meanEvalSeconds?: number;
  /** Documents over the per-event budget where this rule was the slowest condition. */
  budgetOverruns?: number;
}
