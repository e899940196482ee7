import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { timestampMs } from '../../lib/event-time.js';
import type { Logger } from '../../lib/log.js';
import { localRekey, type Rekeyer, type RekeyForward, type RekeyStage } from '../rekey.js';
import type { Stage } from '../stage.js';
import { parsePivotMessage, type PivotResult } from './engines/pivot-chain.js';
import { isHostLocal, PIVOT_BY, rekeyBy, rekeyKeys } from './locality.js';
import { RuleIndex } from './rule-index.js';
import { RuleRunner } from './runner.js';
import { RuleStats, type RuleStageStats } from './stats.js';
import type { RuleDef, RuleSet } from './types.js';

// The rule stages. The primary stage runs host-local rules on the partitions
// this instance owns and hands each matching document of a cross-host rule to
// the Rekeyer (pipeline/rekey.ts). Without a Rekeyer (backtest, `rules test`,
// unit tests) it embeds the cross-host stage behind localRekey(): the same
// code paths, requests and forwards included, in one process.

export interface RuleStageOptions {
  log?: Logger;
  rekey?: Rekeyer;
  /** Per-event rule evaluation budget (ms); an event over it is counted against its slowest rule. */
  budgetMs?: number;
}

export type RuleStage = Stage & {
  reload(ruleset: RuleSet): void;
  readonly ruleCount: number;
  /** End of input (backtest, fixtures): decides what waits for event time to pass, e.g. pivot roots. */
  flush(): AlertDoc[];
  /** Evaluation cost per rule and budget overruns, for /metrics (see stats.ts). */
  stats(): RuleStageStats;
};
export type CrossHostRuleStage = RekeyStage & Required<Pick<RekeyStage, 'processForward' | 'drainForwards' | 'flush'>> & {
  reload(ruleset: RuleSet): void;
  readonly ruleCount: number;
};

const eventMs = (doc: ConnectionDoc): number => {
  const t = timestampMs(doc);
  return Number.isNaN(t) ? Date.parse(doc.event.end) : t;
};

const applies = (r: RuleDef, doc: ConnectionDoc): boolean => r.condition(doc) && !r.exceptions(doc);

/** applies(), with the condition timed for the rule's cost figures (stats.ts samples 1 event in SAMPLE_EVERY). */
function sampledApplies(stats: RuleStats, r: RuleDef, doc: ConnectionDoc): boolean {
  const t0 = performance.now();
  const held = r.condition(doc);
  stats.sample(r, performance.now() - t0);
  return held && !r.exceptions(doc);
}

/** Frozen, so a caller that tried to add to it would fail loudly instead of sharing state. */
const NO_FORWARDS = Object.freeze([]) as unknown as RekeyForward[];

/** The shared "no alerts" of the hot path: most documents raise none, and an empty array per document is garbage. */
const NONE: AlertDoc[] = [];

/**
 * Redelivered documents (at-least-once through the rekey topic) must not count
 * twice. A ring of the last `cap` ids evicts in O(1): evicting via
 * Set.values().next() is O(holes) in V8 once many entries were deleted, which
 * made a 1M-event backtest quadratic.
 */
class RecentIds {
  private readonly ids = new Set<string>();
  private readonly ring: Array<string | undefined>;
  private pos = 0;
  constructor(cap = 200_000) {
    this.ring = new Array<string | undefined>(cap);
  }
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    const old = this.ring[this.pos];
    if (old !== undefined) this.ids.delete(old);
    this.ring[this.pos] = id;
    this.pos = (this.pos + 1) % this.ring.length;
    this.ids.add(id);
    return true;
  }
}

export function createCrossHostRuleStage(ruleset: RuleSet, opts: { log?: Logger } = {}): CrossHostRuleStage {
  let rules: RuleDef[] = [];
  // Each route's rules with their own index: a re-keyed document is tested only
  // against the rules of its route whose indexed guard holds (rule-index.ts).
  let byRoute = new Map<string, { rules: RuleDef[]; index: RuleIndex }>();
  const runner = new RuleRunner([], opts.log);
  const recent = new RecentIds();
  const setRules = (rs: RuleSet) => {
    rules = rs.rules.filter((r) => r.enabled && !isHostLocal(r));
    const lists = new Map<string, RuleDef[]>();
    for (const r of rules) {
      const by = rekeyBy(r);
      const list = lists.get(by);
      if (list) list.push(r);
      else lists.set(by, [r]);
    }
    byRoute = new Map([...lists].map(([by, list]) => [by, { rules: list, index: new RuleIndex(list) }]));
    runner.reload(rules);
  };
  setRules(ruleset);
  // Pivot messages for other keys leave as forwards (keyed like the documents of
  // that host, so they reach its owner); see engines/pivot-chain.ts.
  let forwards: RekeyForward[] = [];
  let maxSeen = Number.NEGATIVE_INFINITY;
  const take = (r: PivotResult): AlertDoc[] => {
    for (const m of r.forward) forwards.push({ by: PIVOT_BY, key: m.key, body: m });
    return r.alerts;
  };
  return {
    name: 'rules-cross-host',
    get ruleCount() { return rules.length; },
    processRekeyed(doc, by, key) {
      const route = byRoute.get(by);
      if (!route || !recent.add(`${by}\u0000${key}\u0000${doc.event.id}`)) return [];
      const t = eventMs(doc);
      runner.noteTime(t);
      if (t > maxSeen) maxSeen = t;
      const alerts: AlertDoc[] = [];
      let pivot = false;
      for (const i of route.index.candidates(doc)) {
        const r = route.rules[i]!;
        if (!applies(r, doc)) continue;
        const en = runner.engines.get(r.id);
        if (en?.kind === 'pivot') {
          pivot = true;
          alerts.push(...take(runner.pivotObserve(r, doc, key)));
        } else alerts.push(...runner.observe(r, doc, t));
      }
      // Roots are decided as event time passes, not only on tick: a caller that
      // never ticks (the --diff side of a backtest) must not pile them up.
      if (pivot) alerts.push(...take(runner.pivotSettle(maxSeen)));
      return alerts;
    },
    processForward(body, by, key) {
      if (by !== PIVOT_BY) return [];
      return take(runner.pivotReceive(parsePivotMessage(body, key)));
    },
    drainForwards() {
      // Asked after every re-keyed document in-process; most raise no forward.
      if (forwards.length === 0) return NO_FORWARDS;
      const out = forwards;
      forwards = [];
      return out;
    },
    tick(t) {
      const alerts = take(runner.pivotSettle(Math.max(t, maxSeen)));
      // GC no further than the documents seen: a far-future tick (end of a --diff
      // backtest) must not drop the outs that the roots just settled will join.
      if (Number.isFinite(maxSeen)) runner.tick(Math.min(t, maxSeen));
      return alerts;
    },
    flush: () => take(runner.pivotSettle(Number.POSITIVE_INFINITY)),
    snapshot: () => runner.snapshot(),
    restore: (s) => runner.restore(s),
    reload: setRules,
  };
}

export function createRuleStage(ruleset: RuleSet, opts: RuleStageOptions = {}): RuleStage {
  let local: RuleDef[] = [];
  let cross: Array<{ rule: RuleDef; by: string; keys: (d: ConnectionDoc) => string[] }> = [];
  const runner = new RuleRunner([], opts.log);
  const embedded = opts.rekey ? null : createCrossHostRuleStage({ ...ruleset, rules: [] }, opts);
  const inProcess = embedded ? localRekey([embedded]) : null;
  const rekey: Rekeyer = opts.rekey ?? inProcess!;
  const stats = new RuleStats(opts.budgetMs, opts.log);
  let index = new RuleIndex([]);
  const ruleAt = (i: number): RuleDef => (i < local.length ? local[i]! : cross[i - local.length]!.rule);
  const setRules = (rs: RuleSet) => {
    local = rs.rules.filter((r) => r.enabled && isHostLocal(r));
    cross = rs.rules.filter((r) => r.enabled && !isHostLocal(r)).map((rule) => ({ rule, by: rekeyBy(rule), keys: rekeyKeys(rule) }));
    stats.setRules([...local, ...cross.map((c) => c.rule)]);
    index = new RuleIndex([...local, ...cross.map((c) => c.rule)]);
    runner.reload(local);
    embedded?.reload(rs);
    opts.log?.info({ hostLocal: local.length, crossHost: cross.length, rekey: opts.rekey ? 'kafka' : 'in-process' }, 'rule stage ready');
  };
  setRules(ruleset);

  const stage: RuleStage = {
    name: 'rules',
    get ruleCount() { return local.length + cross.length; },
    process(doc) {
      const started = performance.now();
      const t = eventMs(doc);
      runner.noteDoc(doc, t);
      let alerts: AlertDoc[] = NONE;
      const sampled = stats.begin();
      // Only the rules whose indexed guard holds (rule-index.ts), host-local ones first.
      let sent: Set<string> | undefined;
      const candidates = index.candidates(doc);
      for (const i of candidates) {
        if (i < local.length) {
          const r = local[i]!;
          if (!(sampled ? sampledApplies(stats, r, doc) : applies(r, doc))) continue;
          stats.matched(r);
          const raised = runner.observe(r, doc, t);
          if (raised.length > 0) alerts = alerts === NONE ? raised.slice() : (alerts.push(...raised), alerts);
          continue;
        }
        const c = cross[i - local.length]!;
        if (!(sampled ? sampledApplies(stats, c.rule, doc) : applies(c.rule, doc))) continue;
        stats.matched(c.rule);
        for (const key of c.keys(doc)) {
          const id = `${c.by}\u0000${key}`;
          sent ??= new Set();
          if (sent.has(id)) continue;
          sent.add(id);
          rekey.request(doc, c.by, key);
        }
      }
      if (inProcess) {
        const raised = inProcess.take();
        if (raised.length > 0) alerts = alerts === NONE ? raised : (alerts.push(...raised), alerts);
      }
      stats.end(doc, performance.now() - started, candidates, ruleAt);
      return alerts === NONE ? [] : alerts;
    },
    stats: () => stats.snapshot(),
    ruleStats: () => stats.snapshot().rules.map((r) => ({ stage: 'rules', rule: r.id, matches: r.matches, meanEvalSeconds: r.meanMs / 1000, budgetOverruns: r.overruns })),
    tick(t) {
      runner.tick(t);
      if (!inProcess) return [];
      inProcess.tick(t);
      return inProcess.take();
    },
    flush() {
      if (!inProcess) return [];
      inProcess.flush();
      return inProcess.take();
    },
    snapshot() {
      // The pipeline's StateStore saves this after each committed batch.
      return { version: 1, local: runner.snapshot(), cross: embedded?.snapshot?.() };
    },
    restore(s) {
      const x = s as { version?: number; local?: unknown; cross?: unknown } | null;
      if (!x || x.version !== 1) {
        opts.log?.warn('rule state has an unknown format; starting with empty rule state');
        return;
      }
      runner.restore(x.local);
      if (x.cross !== undefined) embedded?.restore?.(x.cross);
    },
    reload: setRules,
  };
  return stage;
}
