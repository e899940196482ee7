import type { AlertDoc } from '../lib/alert.js';
import type { ConnectionDoc } from '../lib/ecs.js';
import type { Logger } from '../lib/log.js';
import type { RekeyStage } from './rekey.js';
import type { Stage, StageStat } from './stage.js';

// Runs an ordered list of stages as one: SLO first (it annotates slo.* that
// rules may test), then rules. Every alert, whichever stage raised it, is then
// offered to every stage's annotateAlert, so a rule alert carries slo.* too.
// A stage that throws on one document is logged and skipped for that document
// only: one bug in one rule must not stop indexing for the fleet.

type StageCommon = Omit<Stage, 'process'>;

export class StageSet<S extends StageCommon, A extends unknown[]> {
  errors = 0;

  constructor(
    readonly stages: S[],
    private readonly run: (stage: S, doc: ConnectionDoc, ...args: A) => AlertDoc[],
    private readonly log?: Logger,
  ) {}

  get names(): string[] {
    return this.stages.map((s) => s.name);
  }

  process(doc: ConnectionDoc, ...args: A): AlertDoc[] {
    const out: AlertDoc[] = [];
    for (const s of this.stages) {
      try {
        out.push(...this.run(s, doc, ...args));
      } catch (err) {
        this.errors++;
        this.log?.error({ stage: s.name, eventId: doc.event.id, err: (err as Error).message }, 'stage failed on a document; skipped for this document');
      }
    }
    return out;
  }

  tick(eventTimeMs: number): AlertDoc[] {
    const out: AlertDoc[] = [];
    for (const s of this.stages) {
      if (!s.tick) continue;
      try {
        out.push(...s.tick(eventTimeMs));
      } catch (err) {
        this.errors++;
        this.log?.error({ stage: s.name, eventTimeMs, err: (err as Error).message }, 'stage tick failed');
      }
    }
    return out;
  }

  /** The watermark passed `eventTimeMs` with nothing pending (see Stage.advanceWatermark). */
  advanceWatermark(eventTimeMs: number): AlertDoc[] {
    const out: AlertDoc[] = [];
    for (const s of this.stages) {
      try {
        if (s.advanceWatermark) out.push(...s.advanceWatermark(eventTimeMs));
        else if (s.tick) out.push(...s.tick(eventTimeMs));
      } catch (err) {
        this.errors++;
        this.log?.error({ stage: s.name, eventTimeMs, err: (err as Error).message }, 'stage watermark advance failed');
      }
    }
    return out;
  }

  annotate(alerts: AlertDoc[]): void {
    for (const a of alerts) for (const s of this.stages) s.annotateAlert?.(a);
  }

  /** Every stage's per-rule figures, for /metrics. */
  stats(): StageStat[] {
    return this.stages.flatMap((s) => s.ruleStats?.() ?? []);
  }

  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const s of this.stages) if (s.snapshot) out[s.name] = s.snapshot();
    return out;
  }

  restore(state: Record<string, unknown>): string[] {
    const restored: string[] = [];
    for (const s of this.stages) {
      if (s.restore && state[s.name] !== undefined) {
        s.restore(state[s.name]);
        restored.push(s.name);
      }
    }
    return restored;
  }
}

export const primaryStages = (stages: Stage[], log?: Logger) => new StageSet<Stage, []>(stages, (s, doc) => s.process(doc), log);

export const rekeyStages = (stages: RekeyStage[], log?: Logger) =>
  new StageSet<RekeyStage, [string, string]>(stages, (s, doc, by, key) => s.processRekeyed(doc, by, key), log);
