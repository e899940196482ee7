import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Logger } from '../../lib/log.js';
import type { RuleDef } from './types.js';

// Rule evaluation cost, counted per rule, for /metrics (the pipeline publishes
// stage.stats()). Timing every rule on every event would cost more than most
// conditions, so the hot path takes two clock readings per event and:
//   - every SAMPLE_EVERY-th event times each rule's condition on its own, which
//     gives each rule's mean evaluation time;
//   - an event whose evaluation exceeds the budget is an overrun: its
//     conditions are timed again one by one (they are pure) and the overrun is
//     counted against the slowest rule, which is logged (at most once a minute
//     per rule). Evaluation is not cut short: RE2 regexes are linear, so every
//     rule still gets its answer, and skipping rules would lose alerts quietly.

export const DEFAULT_BUDGET_MS = 5;
export const SAMPLE_EVERY = 64;
const LOG_EVERY_MS = 60_000;

export interface RuleStat {
  id: string;
  name: string;
  /** Documents the rule matched (its condition held and no exception did). */
  matches: number;
  /** Condition evaluations timed (1 in SAMPLE_EVERY events) and their total time. */
  sampled: number;
  sampledMs: number;
  /** Mean condition time per event, from the samples (ms). */
  meanMs: number;
  /** Events over the budget where this rule was the slowest condition. */
  overruns: number;
}

export interface RuleStageStats {
  events: number;
  budgetMs: number;
  /** Events whose rule evaluation took longer than budgetMs. */
  overruns: number;
  rules: RuleStat[];
}

interface Entry { rule: RuleDef; matches: number; sampled: number; sampledMs: number; overruns: number; loggedAt: number }

export class RuleStats {
  private entries = new Map<string, Entry>();
  private events = 0;
  private overruns = 0;

  constructor(readonly budgetMs = DEFAULT_BUDGET_MS, private readonly log?: Logger) {}

  /** Keeps the counts of rules that stay (by id) across a reload. */
  setRules(rules: RuleDef[]): void {
    const next = new Map<string, Entry>();
    for (const r of rules) {
      const old = this.entries.get(r.id);
      next.set(r.id, old ? { ...old, rule: r } : { rule: r, matches: 0, sampled: 0, sampledMs: 0, overruns: 0, loggedAt: Number.NEGATIVE_INFINITY });
    }
    this.entries = next;
  }

  /** True when this event should be timed rule by rule. */
  begin(): boolean {
    this.events++;
    return this.events % SAMPLE_EVERY === 0;
  }

  matched(rule: RuleDef): void {
    const e = this.entries.get(rule.id);
    if (e) e.matches++;
  }

  sample(rule: RuleDef, ms: number): void {
    const e = this.entries.get(rule.id);
    if (e) { e.sampled++; e.sampledMs += ms; }
  }

  /**
   * Called with the event's total evaluation time; on an overrun, finds and
   * counts the slowest of the rules that were evaluated for it (`evaluated`,
   * resolved by `ruleAt`). Only those: re-running every loaded rule made each
   * overrun (on a loaded machine, a GC pause is one) cost as much as the
   * unindexed stage did, in proportion to the library's size.
   */
  end(doc: ConnectionDoc, ms: number, evaluated: readonly number[], ruleAt: (i: number) => RuleDef): void {
    if (ms <= this.budgetMs) return;
    this.overruns++;
    let worst: Entry | undefined;
    let worstMs = -1;
    for (const i of evaluated) {
      const e = this.entries.get(ruleAt(i).id);
      if (!e) continue;
      const t0 = performance.now();
      e.rule.condition(doc);
      const dt = performance.now() - t0;
      if (dt > worstMs) { worstMs = dt; worst = e; }
    }
    if (!worst) return;
    worst.overruns++;
    const now = Date.now();
    if (now - worst.loggedAt >= LOG_EVERY_MS) {
      worst.loggedAt = now;
      this.log?.warn({ rule: worst.rule.id, name: worst.rule.name, file: `${worst.rule.file}:${worst.rule.line}`, eventMs: Number(ms.toFixed(3)), ruleMs: Number(worstMs.toFixed(3)), budgetMs: this.budgetMs, event: doc.event.id, overruns: worst.overruns },
        'rule evaluation over its per-event budget: simplify this rule\'s condition (long regexes, long value lists) or raise the rule stage budget (budgetMs)');
    }
  }

  snapshot(): RuleStageStats {
    return {
      events: this.events,
      budgetMs: this.budgetMs,
      overruns: this.overruns,
      rules: [...this.entries.values()].map((e) => ({
        id: e.rule.id, name: e.rule.name, matches: e.matches, sampled: e.sampled, sampledMs: e.sampledMs,
        meanMs: e.sampled ? e.sampledMs / e.sampled : 0, overruns: e.overruns,
      })),
    };
  }
}
