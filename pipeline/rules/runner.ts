import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Logger } from '../../lib/log.js';
import { moduleOf } from './engines/registry.js';
import type { PivotEngine, PivotMessage, PivotResult } from './engines/pivot-chain.js';
import type { AnyEngine } from './rule-type.js';
import type { Engine } from './engines/engine.js';
import type { RuleDef } from './types.js';

// Holds one engine per rule of a subset (host-local or cross-host) and carries
// state across reloads and restarts: a rule keeps its state when its id and
// the parameters that shape state are unchanged.

export type { AnyEngine };

function engineFor(rule: RuleDef, stageStart: () => number | undefined): AnyEngine {
  return moduleOf(rule).engine(rule, { stageStart });
}

interface Saved { sig: string; state: unknown }

const GC_EVERY_MS = 60_000;

export class RuleRunner {
  engines = new Map<string, AnyEngine>();
  /** Engines that watch every document (Engine.see), kept apart so the hot path skips the rest. */
  private seers: Engine[] = [];
  /**
   * Pivot engines with a root decision waiting. Settling runs whenever a pivot
   * rule observes a document and on every tick; walking every pivot engine
   * each time made a library of many pivot rules cost per document in
   * proportion to its size, while only the engines that took a root can have
   * one due.
   */
  private waiting = new Set<PivotEngine>();
  /** States restored before their rule was loaded (or for a rule later re-enabled). */
  private parked = new Map<string, Saved>();
  private watermark = Number.NEGATIVE_INFINITY;
  private firstMs: number | undefined;
  /** Newest event time noted: when a rule added by a hot reload starts learning. */
  private newestMs: number | undefined;
  private lastGc = Number.NEGATIVE_INFINITY;
  /** Event time of the first document this stage saw: where new_terms learning periods begin. */
  private readonly start = (): number | undefined => this.firstMs;

  constructor(rules: RuleDef[], private readonly log?: Logger) {
    this.reload(rules);
  }

  reload(rules: RuleDef[]): void {
    const next = new Map<string, AnyEngine>();
    for (const r of rules) {
      if (!r.enabled) continue;
      const old = this.engines.get(r.id);
      if (old && old.e.rule.stateSignature === r.stateSignature) {
        // Same state shape: keep the state, swap in the new condition and metadata.
        const fresh = engineFor(r, this.start);
        fresh.e.restore(old.e.snapshot());
        next.set(r.id, fresh);
        continue;
      }
      // A rule that arrives (or restarts empty) while documents already flowed has
      // seen none of them: its new_terms learning begins now, not at the stage's
      // first document, or every term it meets would count as never seen.
      const loadedAt = this.newestMs;
      const e = engineFor(r, loadedAt === undefined ? this.start : () => loadedAt);
      const saved = this.parked.get(r.id);
      if (saved && saved.sig === r.stateSignature) {
        e.e.restore(saved.state);
        this.parked.delete(r.id);
      }
      if (old) this.log?.info({ rule: r.id, name: r.name }, 'rule parameters changed: its state starts empty');
      next.set(r.id, e);
    }
    this.engines = next;
    this.waiting = new Set([...next.values()].flatMap((en) => (en.kind === 'pivot' && en.e.nextDue() < Number.POSITIVE_INFINITY ? [en.e] : [])));
    this.seers = [...next.values()].flatMap((en) => (en.kind === 'doc' && en.e.see ? [en.e] : []));
  }

  /** Called for every document the stage sees, matching or not. */
  noteTime(t: number): void {
    if (this.firstMs === undefined || t < this.firstMs) this.firstMs = t;
    if (this.newestMs === undefined || t > this.newestMs) this.newestMs = t;
  }

  /** noteTime, plus the engines that watch every document (see Engine.see). */
  noteDoc(doc: ConnectionDoc, t: number): void {
    this.noteTime(t);
    for (const e of this.seers) e.see!(doc, t);
  }

  observe(rule: RuleDef, doc: ConnectionDoc, t: number): AlertDoc[] {
    const en = this.engines.get(rule.id);
    if (!en || en.kind !== 'doc') return [];
    if (t > this.watermark) this.watermark = t;
    return en.e.observe(doc, t);
  }

  /** A matching document for a pivot rule, re-keyed under `key`. */
  pivotObserve(rule: RuleDef, doc: ConnectionDoc, key: string): PivotResult {
    const en = this.engines.get(rule.id);
    if (!en || en.kind !== 'pivot') return { alerts: [], forward: [] };
    const r = en.e.observe(doc, key);
    if (en.e.nextDue() < Number.POSITIVE_INFINITY) this.waiting.add(en.e);
    return r;
  }

  /** A pivot message addressed to a key this stage owns; a message for a rule no longer loaded is dropped. */
  pivotReceive(msg: PivotMessage): PivotResult {
    const en = this.engines.get(msg.rule);
    if (!en || en.kind !== 'pivot') return { alerts: [], forward: [] };
    return en.e.receive(msg);
  }

  /** Pivot root decisions due at event time `t`. Runs every tick: a root waits only its grace, not the GC period. */
  pivotSettle(t: number): PivotResult {
    const out: PivotResult = { alerts: [], forward: [] };
    for (const e of this.waiting) {
      if (e.nextDue() > t) continue;
      const r = e.settle(t);
      out.alerts.push(...r.alerts);
      out.forward.push(...r.forward);
      if (e.nextDue() === Number.POSITIVE_INFINITY) this.waiting.delete(e);
    }
    return out;
  }

  /**
   * Expiry walks every group, so it runs once per GC_EVERY_MS of event time,
   * not per batch: with per-batch GC a backtest's cost grew with state size
   * times batch count. Windows stay exact (engines expire on arrival too);
   * only idle memory is freed later.
   */
  tick(t: number): void {
    const w = Math.max(t, this.watermark);
    if (w - this.lastGc < GC_EVERY_MS) return;
    this.lastGc = w;
    for (const en of this.engines.values()) en.e.gc(w);
  }

  snapshot(): Record<string, Saved> {
    const out: Record<string, Saved> = Object.fromEntries(this.parked);
    for (const [id, en] of this.engines) out[id] = { sig: en.e.rule.stateSignature, state: en.e.snapshot() };
    return out;
  }

  restore(state: unknown): void {
    if (!state || typeof state !== 'object') return;
    for (const [id, saved] of Object.entries(state as Record<string, Saved>)) {
      const en = this.engines.get(id);
      if (en && en.e.rule.stateSignature === saved.sig) {
        en.e.restore(saved.state);
        if (en.kind === 'pivot' && en.e.nextDue() < Number.POSITIVE_INFINITY) this.waiting.add(en.e);
      } else this.parked.set(id, saved);
    }
  }
}
